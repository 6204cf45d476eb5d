// `ridepred score --in-database`, one case suite for PostgreSQL (a real cluster the test starts) and
// DuckDB (a file): the model runs inside the engine, and the output table equals a normal `score` run's
// table row for row (every value, predictions to the last bit), with the same summary; re-runs do not
// double-insert; a failing run leaves the months already written exactly as they were; jobs it cannot
// run are refused with exit 2.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PgCluster, postgresMissing, startPostgres } from "./support/postgres.js";
import { loadTable, readRides, type Row } from "./support/rides.js";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const JAN23 = join(ROOT, "../shared/data/green_tripdata_2023-01.parquet");
const noShared = existsSync(JAN23) ? undefined : "../shared/data is absent (real rides needed)";
if (noShared) console.warn(`skipping score --in-database tests: ${noShared}`);

function ridepred(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What a suite needs of a database holding table `trips` (green 2023-01 with a ride_id, plus a few bad rows). */
interface Db {
  url(table: string): string;
  /** Another database of the same kind: --in-database must refuse it. */
  otherUrl(table: string): string;
  exec(sql: string): Promise<void>;
  /** A table's rows in ride_id order, every value as the driver gives it. */
  snapshot(table: string): Promise<Row[]>;
  close(): Promise<void>;
}

/** Rides with a missing distance or pickup location: rejected, counted by field. */
const BAD = [
  ["bad-distance", "2023-01-10 10:00:00", "2023-01-10 10:12:00", 130, 205, null],
  ["bad-location", "2023-01-11 10:00:00", "2023-01-11 10:07:30", null, 205, 2.5],
];

function suite(name: string, skip: string | undefined, open: (dir: string) => Promise<Db>) {
  describe.skipIf(skip !== undefined)(`score --in-database, ${name}${skip ? ` (skipped: ${skip})` : ""}`, { timeout: 300_000 }, () => {
    let db: Db;
    let dir: string;
    const run = (...args: string[]) => ridepred(["score", db.url("trips"), ...args], dir);
    const period = ["--run-date", "2023-02-05", "--period", "previous-month", "--where", "lpep_pickup_datetime >= {start} AND lpep_pickup_datetime < {end}"];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "ridepred-indb-"));
      db = await open(dir);
    }, 300_000);
    afterAll(async () => {
      await db?.close();
    });

    it("the output table equals a normal run's row for row, predictions to the last bit; the same summary", async () => {
      const opts = [...period, "--on-error", "skip", "--filter-duration", "1..60", "--json"];
      const normal = run("-o", db.url("normal"), ...opts);
      expect(normal.code, normal.stderr).toBe(0);
      const inDb = run("-o", db.url("in_db"), "--in-database", ...opts);
      expect(inDb.code, inDb.stderr).toBe(0);
      const [a, b] = [JSON.parse(normal.stdout), JSON.parse(inDb.stdout)];
      for (const k of ["rows_read", "scored", "filtered", "rejected", "rows_written", "rejected_by_field", "model", "input", "output"])
        if (k !== "output") expect(b[k], k).toEqual(a[k]);
      expect(b.rejected_by_field).toEqual({ PULocationID: 1, trip_distance: 1 });
      expect(b.filtered).toBeGreaterThan(0);
      for (const k of ["mean", "std", "min", "max"]) expect(b.predictions[k]).toBeCloseTo(a.predictions[k], 9);
      const [want, got] = [await db.snapshot("normal"), await db.snapshot("in_db")];
      expect(got.length).toBe(a.rows_written);
      expect(got).toEqual(want);
      // toEqual compares numbers with Object.is: equal predictions are the same bits.
      expect(got.every((r, i) => Object.is(r.predicted_duration, want[i]!.predicted_duration))).toBe(true);
    });

    it("re-running a period gives the same rows, never duplicates (upsert, replace-period and replace)", async () => {
      for (const mode of ["upsert", "replace-period", "replace"]) {
        const args = ["-o", db.url(`again_${mode.replace("-", "_")}`), "--in-database", "--if-exists", mode, ...period, "--on-error", "skip", "--json"];
        const first = run(...args);
        expect(first.code, first.stderr).toBe(0);
        const before = await db.snapshot(`again_${mode.replace("-", "_")}`);
        expect(before.length).toBe(JSON.parse(first.stdout).scored);
        const again = run(...args);
        expect(again.code, again.stderr).toBe(0);
        expect(await db.snapshot(`again_${mode.replace("-", "_")}`)).toEqual(before);
      }
    });

    it("a failing run (a bad row under --on-error fail) leaves the previous months exactly as they were", async () => {
      const months = db.url("months");
      const dec = run(
        "-o",
        months,
        "--in-database",
        "--if-exists",
        "replace-period",
        "--run-date",
        "2023-01-05",
        "--period",
        "previous-month",
        "--on-error",
        "skip",
      );
      expect(dec.code, dec.stderr).toBe(0);
      const jan = run("-o", months, "--in-database", "--if-exists", "replace-period", ...period, "--on-error", "skip");
      expect(jan.code, jan.stderr).toBe(0);
      const before = await db.snapshot("months");
      expect(before.length).toBeGreaterThan(60_000);
      const failed = run("-o", months, "--in-database", "--if-exists", "replace-period", ...period);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/ride_id bad-(distance|location): (trip_distance|PULocationID): is required but missing .*nothing written/);
      expect(await db.snapshot("months")).toEqual(before);
    });

    it("refuses (exit 2) what it cannot run inside one database", () => {
      const other = run("-o", db.otherUrl("p"), "--in-database");
      expect(other.code).toBe(2);
      expect(other.stderr).toContain("--in-database needs the input and the output in the same database");
      const file = ridepred(["score", join(ROOT, "examples/green_tripdata_2021-02_sample.parquet"), "-o", db.url("p"), "--in-database"], dir);
      expect(file.code).toBe(2);
      expect(file.stderr).toContain("--in-database needs a table input and a table output");
      const rejects = run("-o", db.url("p"), "--in-database", "--rejects", join(dir, "r.csv"));
      expect(rejects.code).toBe(2);
      expect(rejects.stderr).toContain("--rejects cannot apply");
      const noId = ridepred(["score", db.url("no_ids"), "-o", db.url("p"), "--in-database"], dir);
      expect(noId.code).toBe(2);
      expect(noId.stderr).toContain("--in-database needs a ride_id column");
      for (const r of [other, file, rejects, noId]) expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
  });
}

let rides: Row[] = [];
beforeAll(async () => {
  if (!noShared) rides = await readRides(JAN23);
}, 120_000);

const id = (_r: Row, i: number) => `2023-01-${i}`;

suite("PostgreSQL", postgresMissing() ?? noShared, async () => {
  const pgc: PgCluster = await startPostgres();
  const other = await pgc.createDatabase("elsewhere");
  const c = await pgc.client();
  const cols = [
    { name: "ride_id", type: "text PRIMARY KEY", value: id },
    ...(
      [
        ["lpep_pickup_datetime", "timestamp"],
        ["lpep_dropoff_datetime", "timestamp"],
        ["PULocationID", "bigint"],
        ["DOLocationID", "bigint"],
        ["trip_distance", "double precision"],
      ] as const
    ).map(([name, type]) => ({ name, type, value: (r: Row) => r[name] })),
  ];
  await loadTable(c, "trips", cols, rides);
  for (const b of BAD) await c.query("INSERT INTO trips VALUES ($1, $2, $3, $4, $5, $6)", b);
  await c.query('CREATE TABLE no_ids AS SELECT lpep_pickup_datetime, lpep_dropoff_datetime, "PULocationID", "DOLocationID", trip_distance FROM trips');
  return {
    url: (t) => `${pgc.url}?table=${t}`,
    otherUrl: (t) => `${other}?table=${t}`,
    exec: async (sql) => void (await c.query(sql)),
    snapshot: async (t) => (await c.query(`SELECT * FROM "${t}" ORDER BY ride_id`)).rows,
    close: async () => {
      await c.end();
      await pgc.stop();
    },
  };
});

suite("DuckDB", noShared, async (dir) => {
  const file = join(dir, "rides.duckdb");
  const inst = await DuckDBInstance.create(file);
  const c = await inst.connect();
  await c.run(
    `CREATE TABLE trips AS SELECT '2023-01-' || (row_number() OVER () - 1) AS ride_id, lpep_pickup_datetime, lpep_dropoff_datetime, PULocationID, DOLocationID, trip_distance FROM read_parquet('${JAN23}')`,
  );
  for (const b of BAD) await c.run("INSERT INTO trips VALUES ($1, $2::TIMESTAMP, $3::TIMESTAMP, $4, $5, $6)", b as never);
  await c.run("CREATE TABLE no_ids AS SELECT * EXCLUDE (ride_id) FROM trips");
  c.closeSync();
  inst.closeSync();
  /** Tables are read by a fresh instance after each run: the CLI holds the file while it runs. */
  const read = async (sql: string) => {
    const i = await DuckDBInstance.create(file);
    const k = await i.connect();
    try {
      return (await k.runAndReadAll(sql)).getRowObjectsJS() as Row[];
    } finally {
      k.closeSync();
      i.closeSync();
    }
  };
  return {
    url: (t) => `duckdb:${file}?table=${t}`,
    otherUrl: (t) => `duckdb:${join(dir, "other.duckdb")}?table=${t}`,
    exec: async (sql) => void (await read(sql)),
    snapshot: (t) => read(`SELECT * FROM "${t}" ORDER BY ride_id`),
    close: async () => {},
  };
});
