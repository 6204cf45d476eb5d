// `ridepred score` between PostgreSQL / DuckDB tables and files, through the real binary, against a real
// PostgreSQL cluster the test starts (test/support/postgres.ts) loaded with real rides from ../shared:
// predictions equal the file path's to the last bit; re-runs, --if-exists modes, killed and failing
// runs leave the target as they should; bad connections, tables and columns fail with exit 2 and one
// line; the password never appears in any output.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { parse } from "csv-parse/sync";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerArgs } from "./support/examples.js";
import { freePort, type PgCluster, postgresMissing, startPostgres } from "./support/postgres.js";
import { greenColumns, loadTable, readRides, type Row } from "./support/rides.js";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SHARED = join(ROOT, "../shared/data");
const FEB21 = join(SHARED, "green_tripdata_2021-02.parquet");
const JAN23 = join(SHARED, "green_tripdata_2023-01.parquet");
const SAMPLE_CSV = join(ROOT, "examples/green_tripdata_2021-02_sample.csv");
const noShared = existsSync(FEB21) && existsSync(JAN23) ? undefined : "../shared/data is absent (real rides needed)";
const missing = postgresMissing() ?? noShared;
if (missing) console.warn(`skipping PostgreSQL tests: ${missing}`);
if (noShared) console.warn(`skipping DuckDB tests: ${noShared}`);

let tmp: string;
/** Every stdout and stderr of the runs, to look for the password in. */
const outputs: string[] = [];

function ridepred(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env }, maxBuffer: 1 << 28 });
  outputs.push(r.stdout, r.stderr);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const readCsv = (path: string): Record<string, string>[] => parse(readFileSync(path), { columns: true });
/** ride_id -> predicted_duration of a file run's CSV output. */
const csvPredictions = (path: string) => new Map(readCsv(path).map((r) => [r.ride_id!, Number(r.predicted_duration)]));

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-db-"));
});

// Generous per-test time: each test runs the CLI several times over real months on a shared machine.
describe.skipIf(missing !== undefined)("score with PostgreSQL tables", { timeout: 240_000 }, () => {
  let pgc: PgCluster;
  let db: pg.Client;
  let feb: Row[];
  let url: (table: string) => string;
  /** The file run's predictions for the same rides. */
  let fileFeb: Map<string, number>;
  const rows = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows as Row[];
  /** A table's full contents, in ride_id order: to show a run changed nothing. */
  const snapshot = async (table: string) => rows(`SELECT * FROM ${table} ORDER BY ride_id`);
  const predictions = async (table: string) =>
    new Map((await rows(`SELECT ride_id, predicted_duration FROM ${table}`)).map((r) => [r.ride_id as string, r.predicted_duration as number]));

  beforeAll(async () => {
    pgc = await startPostgres();
    url = (table) => `${pgc.url}?table=${table}`;
    db = await pgc.client();
    feb = await readRides(FEB21);
    // trips: the file's rides, with a ride_id primary key named as the file run names them.
    const idCol = { name: "ride_id", type: "text PRIMARY KEY", value: (_r: Row, i: number) => `green_tripdata_2021-02_${i}` };
    await loadTable(db, "trips", [idCol, ...greenColumns()], feb);
    // small: the first 3,000 of them, for the runs that only need some rows.
    await db.query("CREATE TABLE small AS SELECT * FROM trips WHERE ride_id IN (SELECT ride_id FROM trips ORDER BY lpep_pickup_datetime, ride_id LIMIT 3000)");
    const r = ridepred(["score", FEB21, "-o", "feb.csv"]);
    expect(r.code, r.stderr).toBe(0);
    fileFeb = csvPredictions(join(tmp, "feb.csv"));
  }, 180_000);

  afterAll(async () => {
    await db?.end();
    await pgc?.stop();
  });

  it("table -> table: every prediction equals the file run's, bit for bit; typed columns; --json has rows_written", async () => {
    const r = ridepred(["score", url("trips"), "-o", url("preds"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rows_read: feb.length, scored: feb.length, rows_written: feb.length, rejected: 0 });
    expect(summary.input).toBe(`postgresql://postgres@127.0.0.1:${pgc.port}/ridepred?table=trips`);
    expect(await predictions("preds")).toEqual(fileFeb);
    const one = (await rows("SELECT * FROM preds WHERE ride_id = 'green_tripdata_2021-02_0'"))[0]!;
    expect(one).toEqual({
      ride_id: "green_tripdata_2021-02_0",
      pickup_datetime: new Date("2021-02-01T00:34:03Z"),
      PULocationID: "130",
      DOLocationID: "205",
      actual_duration: 17.916666666666668,
      predicted_duration: fileFeb.get("green_tripdata_2021-02_0"),
      diff: 17.916666666666668 - fileFeb.get("green_tripdata_2021-02_0")!,
      model_version: "2021-01.1",
    });
    const types = await rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'preds' ORDER BY ordinal_position");
    expect(types.map((t) => t.data_type)).toEqual([
      "text",
      "timestamp without time zone",
      "text",
      "text",
      "double precision",
      "double precision",
      "double precision",
      "text",
    ]);
    const pk = await rows(
      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'preds'::regclass AND i.indisprimary",
    );
    expect(pk).toEqual([{ attname: "ride_id" }]);
  });

  it("re-running a period (--where with {start} {end}) leaves the same rows: upsert updates, never duplicates", async () => {
    const args = ["score", url("trips"), "-o", url("feb_runs"), "--run-date", "2021-03-05", "--period", "previous-month"];
    const where = ["--where", `lpep_pickup_datetime >= {start} AND lpep_pickup_datetime < {end}`];
    const first = ridepred([...args, ...where, "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const inFeb = feb.filter(
      (r) => (r.lpep_pickup_datetime as Date) >= new Date("2021-02-01Z") && (r.lpep_pickup_datetime as Date) < new Date("2021-03-01Z"),
    ).length;
    expect(JSON.parse(first.stdout).rows_read).toBe(inFeb);
    expect(inFeb).toBeLessThan(feb.length); // the file holds rides from other months: --where kept them out
    const before = await snapshot("feb_runs");
    const again = ridepred([...args, ...where, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).rows_written).toBe(inFeb);
    expect(await snapshot("feb_runs")).toEqual(before);
    expect(before).toHaveLength(inFeb);
  });

  it("--if-exists replace empties the table first; append refuses a ride_id already there (exit 1, nothing written)", async () => {
    expect(ridepred(["score", url("trips"), "-o", url("modes")]).code).toBe(0);
    const r = ridepred(["score", url("small"), "-o", url("modes"), "--if-exists", "replace"]);
    expect(r.code, r.stderr).toBe(0);
    expect(Number((await rows("SELECT count(*) AS n FROM modes"))[0]!.n)).toBe(3000);
    const before = await snapshot("modes");
    const dup = ridepred(["score", url("small"), "-o", url("modes"), "--if-exists", "append"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/ride_id green_tripdata_2021-02_\d+ is already in table modes: nothing written/);
    expect(await snapshot("modes")).toEqual(before);
    // Append rows that are new: the rest of the trips.
    await db.query("CREATE TABLE rest AS SELECT * FROM trips WHERE ride_id NOT IN (SELECT ride_id FROM small)");
    const add = ridepred(["score", url("rest"), "-o", url("modes"), "--if-exists", "append", "--json"]);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout).rows_written).toBe(feb.length - 3000);
    expect(await predictions("modes")).toEqual(fileFeb);
  });

  it("--if-exists replace-period deletes the period's rows, then inserts: other days stay", async () => {
    expect(ridepred(["score", url("trips"), "-o", url("periods")]).code).toBe(0);
    const day = "pickup_datetime >= '2021-02-03' AND pickup_datetime < '2021-02-04'";
    const outside = await rows(`SELECT * FROM periods WHERE NOT (${day}) ORDER BY ride_id`);
    const r = ridepred([
      "score",
      url("trips"),
      "-o",
      url("periods"),
      "--if-exists",
      "replace-period",
      "--run-date",
      "2021-02-03",
      "--where",
      "lpep_pickup_datetime >= {start} AND lpep_pickup_datetime < {end}",
      "--filter-duration",
      "1..10",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await rows(`SELECT * FROM periods WHERE NOT (${day}) ORDER BY ride_id`)).toEqual(outside);
    const inDay = await rows(`SELECT actual_duration FROM periods WHERE ${day}`);
    expect(inDay.length).toBeGreaterThan(100);
    expect(inDay.every((x) => (x.actual_duration as number) >= 1 && (x.actual_duration as number) <= 10)).toBe(true);
  });

  it("table -> Parquet from integer ids, numeric distances, timestamptz and no ride_id column (--ride-id-prefix, primary-key order): equal to the file run", async () => {
    const jan = await readRides(JAN23);
    const cols = [
      { name: "trip_no", type: "bigint PRIMARY KEY", value: (r: Row) => r.__i },
      ...greenColumns({
        PULocationID: "integer",
        DOLocationID: "integer",
        trip_distance: "numeric",
        lpep_pickup_datetime: "timestamptz",
        lpep_dropoff_datetime: "timestamptz",
      }),
    ];
    await loadTable(
      db,
      "trips23",
      cols,
      jan
        .slice()
        .reverse()
        .map((r, i) => ({ ...r, __i: jan.length - 1 - i })),
    );
    // Loaded in reverse (trip_no = the file's row number): only the primary-key order gives the file's order back.
    const file = ridepred(["score", JAN23, "-o", "jan-file.parquet"]);
    expect(file.code, file.stderr).toBe(0);
    const noId = ridepred(["score", url("trips23"), "-o", "jan-table.parquet"]);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/no ride_id column: name one with --map COLUMN=ride_id .* or give --ride-id-prefix/);
    const r = ridepred(["score", url("trips23"), "-o", "jan-table.parquet", "--ride-id-prefix", "green_tripdata_2023-01_"]);
    expect(r.code, r.stderr).toBe(0);
    const read = async (f: string) => (await parquetReadObjects({ file: await asyncBufferFromFile(join(tmp, f)) })) as Row[];
    const [a, b] = [await read("jan-file.parquet"), await read("jan-table.parquet")];
    expect(b).toHaveLength(jan.length);
    expect(b.map((x) => [x.ride_id, x.PULocationID, x.predicted_duration, x.actual_duration])).toEqual(
      a.map((x) => [x.ride_id, x.PULocationID, x.predicted_duration, x.actual_duration]),
    );
  }, 120_000);

  it("CSV -> table: the same rows as CSV -> CSV", async () => {
    expect(ridepred(["score", SAMPLE_CSV, "-o", "sample.csv"]).code).toBe(0);
    const r = ridepred(["score", SAMPLE_CSV, "-o", url("from_csv"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rows_written).toBe(1000);
    const file = readCsv(join(tmp, "sample.csv"));
    const table = new Map((await rows("SELECT * FROM from_csv")).map((x) => [x.ride_id as string, x]));
    for (const f of file) {
      const t = table.get(f.ride_id!)!;
      expect([t.PULocationID, t.DOLocationID, t.predicted_duration, t.actual_duration]).toEqual([
        f.PULocationID,
        f.DOLocationID,
        Number(f.predicted_duration),
        Number(f.actual_duration),
      ]);
    }
  });

  it("a row that cannot be read ('abc' in a text distance column) fails the run (exit 1) leaving the target as it was; --rejects can be a table", async () => {
    await db.query(
      'CREATE TABLE dirty AS SELECT ride_id, lpep_pickup_datetime, lpep_dropoff_datetime, "PULocationID", "DOLocationID", trip_distance::text AS trip_distance FROM small',
    );
    await db.query("UPDATE dirty SET trip_distance = 'abc' WHERE ride_id = (SELECT min(ride_id) FROM dirty)");
    expect(ridepred(["score", url("small"), "-o", url("dirty_out")]).code).toBe(0);
    const before = await snapshot("dirty_out");
    const r = ridepred(["score", url("dirty"), "-o", url("dirty_out"), "--if-exists", "replace"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/table=dirty: row \d+: trip_distance: .*"abc"/);
    expect(await snapshot("dirty_out")).toEqual(before);
    const skip = ridepred(["score", url("dirty"), "-o", url("dirty_out"), "--rejects", url("dirty_rejects"), "--json"]);
    expect(skip.code, skip.stderr).toBe(0);
    expect(JSON.parse(skip.stdout)).toMatchObject({ rejected: 1, scored: 2999, rejected_by_field: { trip_distance: 1 } });
    const rej = await rows("SELECT field, trip_distance, ride_id FROM dirty_rejects");
    expect(rej).toEqual([{ field: "trip_distance", trip_distance: "abc", ride_id: (await rows("SELECT min(ride_id) AS id FROM dirty"))[0]!.id }]);
  });

  it("two rows of one run with the same ride_id: exit 1 naming it, before anything is written", async () => {
    await db.query("CREATE TABLE twice AS SELECT * FROM small UNION ALL (SELECT * FROM small ORDER BY ride_id LIMIT 1)");
    expect(ridepred(["score", url("small"), "-o", url("twice_out")]).code).toBe(0);
    const before = await snapshot("twice_out");
    for (const mode of ["upsert", "replace", "append"]) {
      const r = ridepred(["score", url("twice"), "-o", url("twice_out"), "--if-exists", mode]);
      expect(r.code, mode).toBe(1);
      expect(r.stderr).toMatch(/ride_id green_tripdata_2021-02_\d+ appears 2 times in this run: nothing written to table twice_out/);
      expect(await snapshot("twice_out")).toEqual(before);
    }
    const fresh = ridepred(["score", url("twice"), "-o", url("twice_new")]);
    expect(fresh.code).toBe(1);
    expect((await rows("SELECT to_regclass('twice_new') AS t"))[0]!.t).toBeNull(); // not even created
  });

  it("a run killed with SIGKILL mid-load leaves the target table unchanged", async () => {
    expect(ridepred(["score", url("small"), "-o", url("killed")]).code).toBe(0);
    const before = await snapshot("killed");
    const child = spawn(process.execPath, [BIN, "score", url("trips"), "-o", url("killed"), "--if-exists", "replace", "--batch-size", "64"], {
      cwd: tmp,
      stdio: "ignore",
    });
    // Listened for from the start: on a fast machine the run may end before the kill.
    const exited = new Promise((r) => child.once("exit", r));
    // Wait until its COPY into the staging table is under way, then kill it.
    let loading = false;
    for (let i = 0; i < 600 && !loading; i++) {
      const q = await rows("SELECT query FROM pg_stat_activity WHERE application_name = 'ridepred' AND query LIKE 'COPY \"ridepred_stage%'");
      loading = q.length > 0;
      if (!loading) await new Promise((r) => setTimeout(r, 50));
    }
    expect(loading).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGKILL");
    await exited;
    expect(await snapshot("killed")).toEqual(before);
  });

  it("PGPASSWORD and a 0600 password file (PGPASSFILE) fill in a URL without a password", () => {
    const bare = `postgresql://postgres@127.0.0.1:${pgc.port}/ridepred?table=small`;
    expect(ridepred(["score", bare, "-o", "env.csv"], { PGPASSWORD: pgc.password }).code).toBe(0);
    const pass = join(tmp, "pgpass");
    writeFileSync(pass, `# comment\n127.0.0.1:${pgc.port}:ridepred:postgres:${pgc.password.replace(/\\/g, "\\\\").replace(/:/g, "\\:")}\n`);
    chmodSync(pass, 0o600);
    const r = ridepred(["score", `postgresql://127.0.0.1:${pgc.port}/ridepred?table=small`, "-o", "pass.csv"], {
      PGPASSFILE: pass,
      PGUSER: "postgres",
      PGPASSWORD: "",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(tmp, "pass.csv"), "utf8")).toBe(readFileSync(join(tmp, "env.csv"), "utf8"));
  });

  it("examples/crontab and examples/k8s-cronjob.yaml, table to table: the connection from the environment (PG* variables, as from a Secret)", async () => {
    await db.query("CREATE SCHEMA analytics");
    await db.query("CREATE TABLE green_rides AS SELECT * FROM trips");
    const env = { PGHOST: "127.0.0.1", PGPORT: String(pgc.port), PGUSER: "postgres", PGPASSWORD: pgc.password, PGDATABASE: "ridepred" };
    const model = join(ROOT, "models/ride-duration.json");
    // crontab: the line that reads PostgreSQL, with this machine's paths and a fixed run date.
    const line = readFileSync(join(ROOT, "examples/crontab"), "utf8")
      .split("\n")
      .find((l) => /^[0-9*].*postgresql:/.test(l))!;
    const command = line
      .trim()
      .split(/\s+/)
      .slice(5)
      .join(" ")
      .replace("/usr/local/bin/ridepred", `${process.execPath} ${BIN}`)
      .replace("/srv/models/ride-duration.json", model)
      .replace(">> /var/log/ridepred/score-db.jsonl", "--run-date 2021-03-02 > cron.json");
    const cron = spawnSync("sh", ["-c", command], { cwd: tmp, encoding: "utf8", env: { ...process.env, ...env } });
    outputs.push(cron.stdout, cron.stderr);
    expect(cron.status, cron.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(tmp, "cron.json"), "utf8"));
    const n = Number((await rows("SELECT count(*) AS n FROM analytics.ride_predictions"))[0]!.n);
    expect(summary.rows_written).toBe(n);
    expect(summary.scored + summary.filtered + summary.rejected).toBe(summary.rows_read);
    expect(n).toBeGreaterThan(50_000);
    // k8s: the second CronJob's args, the Secret as environment variables; a re-run of the month.
    const yaml = readFileSync(join(ROOT, "examples/k8s-cronjob.yaml"), "utf8").split("\n---\n")[1]!;
    const args = containerArgs(yaml).map((a) => a.replace("/models/ride-duration.json", model));
    expect(yaml).toMatch(/secretRef: \{ name: ridepred-db \}/);
    const before = await rows("SELECT * FROM analytics.ride_predictions ORDER BY ride_id");
    const k8s = ridepred([...args, "--run-date", "2021-03-02"], env);
    expect(k8s.code, k8s.stderr).toBe(0);
    expect(JSON.parse(k8s.stdout).rows_written).toBe(n);
    expect(await rows("SELECT * FROM analytics.ride_predictions ORDER BY ride_id")).toEqual(before);
  });

  describe("bad inputs: exit 2, one line naming the server, table or column", () => {
    it("wrong password", () => {
      const r = ridepred(["score", `postgresql://postgres:wrong-pw@127.0.0.1:${pgc.port}/ridepred?table=trips`, "-o", "x.csv"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`cannot connect \\(127\\.0\\.0\\.1:${pgc.port}/ridepred\\): login refused for user postgres`));
      expect(r.stderr).not.toContain("wrong-pw");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
    it("unreachable port", async () => {
      const port = await freePort();
      const r = ridepred(["score", `postgresql://postgres:${encodeURIComponent(pgc.password)}@127.0.0.1:${port}/ridepred?table=trips`, "-o", "x.csv"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*connection refused`));
    });
    it("missing table, missing column, a column type that can never be an input", async () => {
      const t = ridepred(["score", url("nope"), "-o", "x.csv"]);
      expect(t.code).toBe(2);
      expect(t.stderr).toMatch(/table nope \(127\.0\.0\.1:\d+\/ridepred\): relation "nope" does not exist/);
      await db.query('CREATE TABLE no_distance AS SELECT ride_id, lpep_pickup_datetime, "PULocationID", "DOLocationID" FROM small');
      const c = ridepred(["score", url("no_distance"), "-o", "x.csv"]);
      expect(c.code).toBe(2);
      expect(c.stderr).toMatch(/table=no_distance: no column for model input trip_distance/);
      await db.query('CREATE TABLE bool_distance AS SELECT ride_id, "PULocationID", "DOLocationID", true AS trip_distance FROM small');
      const b = ridepred(["score", url("bool_distance"), "-o", "x.csv"]);
      expect(b.code).toBe(2);
      expect(b.stderr).toMatch(/table bool_distance: column trip_distance is boolean, which cannot be read as a number/);
      await db.query("CREATE TABLE narrow (ride_id text PRIMARY KEY, predicted_duration double precision)");
      const o = ridepred(["score", url("small"), "-o", url("narrow")]);
      expect(o.code).toBe(2);
      expect(o.stderr).toMatch(/table narrow has no column pickup_datetime, PULocationID, DOLocationID, actual_duration, diff, model_version/);
      expect(ridepred(["score", url("small"), "-o", url("narrow"), "--columns", "ride_id,predicted_duration"]).code).toBe(0);
    });
    it("the password appears in no output of any run", () => {
      expect(outputs.length).toBeGreaterThan(20);
      for (const o of outputs) {
        expect(o).not.toContain(pgc.password);
        expect(o).not.toContain(encodeURIComponent(pgc.password));
      }
    });
  });
});

describe.skipIf(noShared !== undefined)("score with DuckDB tables", { timeout: 240_000 }, () => {
  it("a second connection to a file opens after a garbage collection took the first one's instance object", async () => {
    // A DuckDB -> DuckDB run opens its source, then its sink, on the same file: if the source's instance
    // object was collected in between, DuckDB's instance cache busy-waited forever (seen as a hung test).
    const file = join(tmp, "gc.duckdb");
    const script = `
      import { duckdbConnect } from ${JSON.stringify(join(ROOT, "dist/io/duckdb-connect.js"))};
      const loc = { path: ${JSON.stringify(file)}, label: "gc" };
      const a = await duckdbConnect(loc);
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      const b = await duckdbConnect(loc);
      console.log(JSON.stringify((await b.runAndReadAll("SELECT 42::INTEGER")).getRows()));
      a.closeSync();
      b.closeSync();`;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.signal, "hung in DuckDB's instance cache").toBeNull();
    expect(r.stdout.trim(), r.stderr).toBe("[[42]]");
  });

  it("DuckDB -> DuckDB: predictions equal the file run's; a re-run upserts to the same rows", async () => {
    const file = join(tmp, "rides.duckdb");
    const inst = await DuckDBInstance.create(file);
    const conn = await inst.connect();
    await conn.run(
      `CREATE TABLE trips AS SELECT 'green_tripdata_2021-02_' || (row_number() OVER () - 1) AS ride_id, lpep_pickup_datetime, lpep_dropoff_datetime, PULocationID, DOLocationID, trip_distance FROM read_parquet('${FEB21}')`,
    );
    conn.closeSync();
    inst.closeSync();
    const loc = (t: string) => `duckdb:${file}?table=${t}`;
    const r = ridepred(["score", loc("trips"), "-o", loc("preds"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rows_written).toBe(61921);
    const again = ridepred(["score", loc("trips"), "-o", loc("preds")]);
    expect(again.code, again.stderr).toBe(0);
    const file2 = ridepred(["score", FEB21, "-o", "feb-duck.csv"]);
    expect(file2.code).toBe(0);
    const expected = csvPredictions(join(tmp, "feb-duck.csv"));
    const inst2 = await DuckDBInstance.create(file);
    const c2 = await inst2.connect();
    const got = (await c2.runAndReadAll("SELECT ride_id, predicted_duration, pickup_datetime::VARCHAR AS t FROM preds")).getRowObjectsJS();
    const types = (await c2.runAndReadAll("SELECT column_type FROM (DESCRIBE preds)")).getRowsJS().map((x) => x[0]);
    c2.closeSync();
    inst2.closeSync();
    expect(got).toHaveLength(61921);
    expect(new Map(got.map((g) => [g.ride_id as string, g.predicted_duration as number]))).toEqual(expected);
    expect(got.find((g) => g.ride_id === "green_tripdata_2021-02_0")!.t).toBe("2021-02-01 00:34:03");
    expect(types).toEqual(["VARCHAR", "TIMESTAMP", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE", "DOUBLE", "VARCHAR"]);
  }, 120_000);

  it("DuckDB --if-exists replace: the table holds only the new rows and keeps its own definition, index and key", async () => {
    const file = join(tmp, "rides.duckdb");
    const loc = (t: string) => `duckdb:${file}?table=${t}`;
    const setup = await DuckDBInstance.create(file);
    const c = await setup.connect();
    await c.run("CREATE TABLE few AS SELECT * FROM trips ORDER BY ride_id LIMIT 1000");
    await c.run("CREATE INDEX preds_pickup ON preds (pickup_datetime)");
    const ddl = (await c.runAndReadAll("SELECT sql FROM duckdb_tables() WHERE table_name = 'preds'")).getRowsJS()[0]![0];
    c.closeSync();
    setup.closeSync();
    const r = ridepred(["score", loc("few"), "-o", loc("preds"), "--if-exists", "replace", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rows_written).toBe(1000);
    const dup = ridepred(["score", loc("few"), "-o", loc("preds"), "--if-exists", "append"]);
    expect(dup.code).toBe(1); // the primary key is still there
    expect(dup.stderr).toMatch(/ride_id green_tripdata_2021-02_\d+ is already in table preds: nothing written/);
    const check = await DuckDBInstance.create(file);
    const c2 = await check.connect();
    const count = (
      await c2.runAndReadAll("SELECT count(*)::INTEGER, count(*) FILTER (WHERE ride_id IN (SELECT ride_id FROM few))::INTEGER FROM preds")
    ).getRowsJS()[0];
    const after = (await c2.runAndReadAll("SELECT sql FROM duckdb_tables() WHERE table_name = 'preds'")).getRowsJS()[0]![0];
    const indexes = (await c2.runAndReadAll("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'preds'")).getRowsJS().flat();
    c2.closeSync();
    check.closeSync();
    expect(count).toEqual([1000, 1000]);
    expect(after).toBe(ddl);
    expect(indexes).toEqual(["preds_pickup"]);
  }, 120_000);

  it("@duckdb/node-api (and pg) load only when a run uses such a URL", () => {
    const log = join(tmp, "loaded.txt");
    const hooks = join(tmp, "hooks.mjs");
    writeFileSync(
      hooks,
      `import { appendFileSync } from "node:fs";\nexport async function resolve(spec, ctx, next) {\n  if (/duckdb|^pg(-copy-streams)?$/.test(spec)) appendFileSync(${JSON.stringify(log)}, spec + "\\n");\n  return next(spec, ctx);\n}\n`,
    );
    const register = join(tmp, "register.mjs");
    writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
    const run = (args: string[]) => spawnSync(process.execPath, ["--import", register, BIN, ...args], { cwd: tmp, encoding: "utf8" });
    writeFileSync(log, "");
    expect(run(["score", SAMPLE_CSV, "-o", "hook.parquet"]).status).toBe(0);
    expect(readFileSync(log, "utf8")).toBe("");
    expect(run(["score", `duckdb:${join(tmp, "rides.duckdb")}?table=trips`, "-o", "hook.csv"]).status).toBe(0);
    expect(readFileSync(log, "utf8")).toMatch(/@duckdb\/node-api/);
  });
});
