// `ridepred export sql` with trees as a node table walked by WITH RECURSIVE (src/sql/nodes.ts), executed
// in DuckDB, a real PostgreSQL and a real MariaDB: every fixture tree model exported in that form gives
// ridepred's own predictions bit for bit (the 1,000-ride sample, unseen and missing values, values at and
// around every threshold), and the real big booster in ../shared (the course's MLflow run: 100 trees,
// 63k nodes, 2.5 MB as CASE text) is switched to it automatically when its CASE form passes --max-bytes,
// with bit-identical predictions on real rides. Dialects without the form still refuse by size.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../src/artifact/types.js";
import { float32Below } from "../src/runtime/float32.js";
import { compile } from "../src/runtime/predictor.js";
import { importSource } from "../src/sklearn/source.js";
import { exportSql } from "../src/sql/script.js";
import { float32Bound } from "../src/sql/trees.js";
import { importBoosterFile } from "../src/xgboost/import.js";
import { mariadbMissing, startMariadb } from "./support/mariadb.js";
import { postgresMissing, startPostgres } from "./support/postgres.js";
import { type Cell, type ColumnType, duckdbEngine, mariadbEngine, postgresEngine, type SqlEngine } from "./support/sql-engines.js";

const ROOT = join(import.meta.dirname, "..");
const FIX = join(ROOT, "test/fixtures");
const BIN = join(ROOT, "bin/ridepred");
const JAN21 = join(ROOT, "../shared/data/green_tripdata_2021-01.parquet");
const COURSE_RUN = join(ROOT, "../shared/models/xgboost-mlflow-run");
const haveCourse = existsSync(join(COURSE_RUN, "models_mlflow/model.xgb")) && existsSync(JAN21);
if (!haveCourse) console.warn("export-sql-nodes: ../shared (the course's XGBoost run, green 2021-01) not found: the big model's cases are skipped");

const TREES = [
  "DecisionTreeRegressor",
  "DecisionTreeRegressor_tuple",
  "RandomForestRegressor",
  "ExtraTreesRegressor",
  "GradientBoostingRegressor",
  "GradientBoostingRegressor_zero",
  "GradientBoostingRegressor_dummy_median",
  "HistGradientBoostingRegressor",
];
const BOOSTERS = ["reg-squarederror", "reg-tweedie", "binary-logistic"];
const COLUMNS: [string, ColumnType][] = [
  ["ride_id", "text"],
  ["PULocationID", "text"],
  ["DOLocationID", "text"],
  ["trip_distance", "double"],
];

const models: { name: string; artifact: ModelArtifact }[] = [];
let course: ModelArtifact | undefined;
let rows: Cell[][] = [];
let realRows: Cell[][] = [];

async function read(sql: string): Promise<Cell[][]> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const c = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    return (await c.runAndReadAll(sql)).getRows() as Cell[][];
  } finally {
    c.closeSync();
  }
}

/** Every numeric threshold of the models (at most 100 a model) and the float64s around its boundary, on sample rides. */
function thresholdRows(sample: Cell[][]): Cell[][] {
  const values = new Set<number>();
  for (const { artifact } of models) {
    const est = artifact.estimator;
    if (est.kind === "linear") continue;
    const col = artifact.features.vectorizer.feature_names.indexOf("trip_distance");
    const all = [...new Set(est.trees.flatMap((t) => t.threshold.filter((_, i) => t.feature[i] === col)))].sort((x, y) => x - y);
    const step = Math.max(1, Math.ceil(all.length / 100));
    for (let n = 0; n < all.length; n += step) {
      const th = all[n]!;
      const b = est.kind === "xgboost" ? float32Bound(float32Below(th)) : float32Bound(th);
      for (const v of [th, b, nextUp(b), -nextUp(-b), Math.fround(th)]) values.add(v);
    }
  }
  return [...values].map((v, k) => {
    const s = sample[(k * 7) % sample.length]!;
    return [`threshold-${k}`, s[1]!, s[2]!, v];
  });
}

function nextUp(x: number): number {
  if (x === 0) return 5e-324;
  const b = new Float64Array([x]);
  const u = new BigInt64Array(b.buffer);
  u[0] = x > 0 ? u[0]! + 1n : u[0]! - 1n;
  return b[0]!;
}

/** Rows scored in the engine against ridepred's predictColumns: the number of rows, all bit-identical or the test fails. */
async function compare(e: SqlEngine, a: ModelArtifact, view: string, data: Cell[][]): Promise<number> {
  const got = await e.scored(view);
  const { predictions, errors } = compile(a).predictColumns(
    { PULocationID: data.map((r) => r[1]), DOLocationID: data.map((r) => r[2]), trip_distance: data.map((r) => r[3]) },
    data.length,
  );
  const rejected = new Map(errors.map((x) => [x.row, `${x.field}: ${x.reason}`]));
  const want = new Map(data.map((r, i) => [r[0] as string, { p: rejected.has(i) ? null : predictions[i]!, reason: rejected.get(i) ?? null }]));
  expect(got.length).toBe(data.length);
  const wrong = got
    .filter((g) => !Object.is(g.predicted, want.get(g.ride_id)?.p) || g.reason !== want.get(g.ride_id)?.reason)
    .map((g) => `${g.ride_id}: ${g.predicted} (${g.reason}), ridepred ${JSON.stringify(want.get(g.ride_id))}`);
  expect(wrong.slice(0, 10), `${view}: ${wrong.length} rows differ`).toEqual([]);
  return got.length;
}

beforeAll(async () => {
  for (const n of TREES) models.push({ name: n, artifact: await importSource(join(FIX, "sklearn", `${n}.p4.pkl`)) });
  const xgb = join(FIX, "xgboost");
  for (const b of BOOSTERS) models.push({ name: `xgboost ${b}`, artifact: importBoosterFile(join(xgb, `${b}.xgb`), { preprocessor: join(xgb, "dv.b") }) });
  models.push({ name: "xgboost dense", artifact: importBoosterFile(join(xgb, "dense.xgb"), { preprocessor: join(xgb, "dv_dense.b") }) });
  const sample = (await read(`SELECT PULocationID, DOLocationID, trip_distance FROM '${join(ROOT, "examples/green_tripdata_2021-02_sample.parquet")}'`)).map(
    (r, i) => [`sample-${i}`, ...r],
  );
  const [pu, dou] = [sample[0]![1] as string, sample[0]![2] as string];
  const edges: Cell[][] = [
    [`${pu}.0`, `0${dou}`, 3.5],
    ["999", "999", 2.5],
    [null, dou, 1],
    [pu, null, 1],
    [pu, dou, null],
    ["", dou, 1],
    [pu, dou, 0],
    [pu, dou, -1.5],
    [pu, dou, 1e300],
  ].map((r, i) => [`edge-${i}`, ...r]);
  rows = [...sample, ...edges, ...thresholdRows(sample)];
  if (haveCourse) {
    course = importBoosterFile(join(COURSE_RUN, "models_mlflow/model.xgb"), { preprocessor: join(COURSE_RUN, "preprocessor/preprocessor.b") });
    // Real rides of the month the model was trained on (ids as strings in this file), in file order.
    realRows = (await read(`SELECT PULocationID, DOLocationID, trip_distance FROM '${JAN21}' LIMIT 5000`)).map((r, i) => [`2021-01-${i}`, ...r]);
  }
}, 300_000);

function engineSuite(name: string, skip: string | undefined, open: () => Promise<{ engine: SqlEngine; stop: () => Promise<void> }>) {
  describe.skipIf(skip !== undefined)(`export sql, trees as a node table, executed in ${name}${skip ? ` (skipped: ${skip})` : ""}`, () => {
    let engine: SqlEngine;
    let stop: () => Promise<void> = async () => {};
    beforeAll(async () => {
      ({ engine, stop } = await open());
      await engine.load("rides", COLUMNS, rows);
      if (realRows.length) await engine.load("real_rides", COLUMNS, realRows);
    }, 300_000);
    afterAll(async () => {
      await engine?.close();
      await stop();
    });

    it("every fixture tree model (--trees nodes) gives ridepred's predictions bit for bit", async () => {
      const report: string[] = [];
      for (const m of models) {
        if (engine.dialect === "mysql" && m.artifact.estimator.kind === "xgboost") {
          expect(() => exportSql(m.artifact, { dialect: "mysql", table: "rides", trees: "nodes" })).toThrow(
            "XGBoost's node-table form needs float32 sums in tree order, which MariaDB/MySQL cannot do",
          );
          continue;
        }
        const view = `n_${m.name.replace(/\W/g, "_")}`;
        const r = exportSql(m.artifact, { dialect: engine.dialect, table: "rides", view, trees: "nodes" });
        expect(r.estimator.form).toBe("nodes");
        expect(r.sql).toContain("WITH RECURSIVE");
        await engine.exec(r.sql);
        report.push(`${m.name}: ${await compare(engine, m.artifact, view, rows)} rows bit-identical`);
      }
      console.log(`${name}, node table:\n  ${report.join("\n  ")}`);
    }, 600_000);

    it.skipIf(name === "MariaDB")(
      "as score --in-database uses it: temporary helper tables (and PostgreSQL's float32 sum in pg_temp)",
      async () => {
        for (const m of models.filter((x) => x.name === "RandomForestRegressor" || x.name === "xgboost binary-logistic")) {
          const view = `tmp_${m.name.replace(/\W/g, "_")}`;
          const r = exportSql(m.artifact, { dialect: engine.dialect, table: "rides", view, trees: "nodes", temporary: true });
          expect(r.setup.some((x) => /^DROP/.test(x))).toBe(false);
          for (const stmt of r.setup) await engine.exec(stmt);
          await engine.exec(`CREATE TEMPORARY VIEW "${view}" AS ${r.query}`);
          await compare(engine, m.artifact, view, rows);
        }
      },
      300_000,
    );

    it.skipIf(!haveCourse || engineSkipsCourse(name))(
      "the course's real booster (100 trees, 63k nodes) passes --max-bytes as CASE: exported as a node table, bit-identical on real rides",
      async () => {
        const r = exportSql(course!, { dialect: engine.dialect, table: "real_rides", view: "course_nodes", maxBytes: 1024 * 1024 });
        expect(r.estimator).toMatchObject({ trees: 100, form: "nodes" });
        expect(r.viewBytes).toBeLessThan(16 * 1024);
        const t0 = performance.now();
        await engine.exec(r.sql);
        const n = await compare(engine, course!, "course_nodes", realRows);
        console.log(
          `${name}: course booster as ${r.estimator.nodes} node rows, script ${r.bytes} bytes, view ${r.viewBytes}: ${n} real rides bit-identical in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
      },
      600_000,
    );
  });
}

/** MariaDB cannot sum XGBoost's float32 steps in tree order: the booster is refused there (tested above). */
const engineSkipsCourse = (name: string) => name === "MariaDB";

engineSuite("DuckDB", undefined, async () => ({ engine: await duckdbEngine(), stop: async () => {} }));
engineSuite("PostgreSQL", postgresMissing(), async () => {
  const pg = await startPostgres();
  return { engine: await postgresEngine(pg), stop: () => pg.stop() };
});
engineSuite("MariaDB", mariadbMissing(), async () => {
  const maria = await startMariadb();
  return { engine: await mariadbEngine(maria), stop: () => maria.stop() };
});

describe("choosing the form", () => {
  it("auto: CASE while it fits, the node table beyond --max-bytes; dialects without the form refuse by size", async () => {
    const gb = models.find((m) => m.name === "GradientBoostingRegressor")!.artifact;
    expect(exportSql(gb, { dialect: "postgres", table: "t" }).estimator.form).toBe("case");
    const small = exportSql(gb, { dialect: "postgres", table: "t", maxBytes: 8000 });
    expect(small.estimator.form).toBe("nodes");
    expect(small.helperTables).toEqual(["ride_predictions_nodes"]);
    expect(() => exportSql(gb, { dialect: "bigquery", table: "t", maxBytes: 8000 })).toThrow(
      /over --max-bytes 8000; .*node-table form \(duckdb, postgres, mysql\)/,
    );
    expect(() => exportSql(gb, { dialect: "postgres", table: "t", maxBytes: 1000 })).toThrow(
      /313 nodes in a node table\), over --max-bytes 1000; raise --max-bytes/,
    );
    expect(() => exportSql(gb, { dialect: "trino", table: "t", trees: "nodes" })).toThrow("--trees nodes: the node-table form is not available for trino");
  });

  it("the command line: --trees nodes, reported in --json; --trees with a linear model is refused", () => {
    const tmp = mkdtempSync(join(tmpdir(), "ridepred-nodes-"));
    const model = join(tmp, "rf.json");
    const imp = spawnSync(process.execPath, [BIN, "import", join(FIX, "sklearn/RandomForestRegressor.p4.pkl"), "-o", model], { encoding: "utf8" });
    expect(imp.status, imp.stderr).toBe(0);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, "export", "sql", ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const r = run(model, "--dialect", "duckdb", "--table", "rides", "--trees", "nodes", "-o", join(tmp, "rf.sql"), "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ helperTables: ["ride_predictions_nodes"], estimator: { form: "nodes" } });
    const lin = run("--dialect", "duckdb", "--table", "rides", "--trees", "nodes");
    expect(lin.status).toBe(1);
    expect(lin.stderr).toContain("--trees nodes: the model is linear, it has no trees");
    const bad = run(model, "--dialect", "duckdb", "--table", "rides", "--trees", "maybe");
    expect(bad.status).toBe(2);
  });
});
