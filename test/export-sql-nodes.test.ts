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
import { beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../src/artifact/types.js";
import { importSource } from "../src/sklearn/source.js";
import { exportSql } from "../src/sql/script.js";
import {
  COURSE_RUN,
  courseBooster,
  expectedByRide,
  fixtureBoosters,
  type NamedModel,
  nextUp,
  prevDown,
  readRows,
  splitBoundaries,
  TEXT_COLUMNS,
  TREE_FIXTURES,
} from "./support/export-sql-cases.js";
import { BIN, FIXTURES as FIX, ROOT, SHARED } from "./support/paths.js";
import { type Cell, describeEngines, type SqlEngine } from "./support/sql-engines.js";

const JAN21 = join(SHARED, "green_tripdata_2021-01.parquet");
const haveCourse = existsSync(join(COURSE_RUN, "models_mlflow/model.xgb")) && existsSync(JAN21);
if (!haveCourse) console.warn("export-sql-nodes: ../shared (the course's XGBoost run, green 2021-01) not found: the big model's cases are skipped");

const BOOSTERS = ["reg-squarederror", "reg-tweedie", "binary-logistic"];

const models: NamedModel[] = [];
let course: ModelArtifact | undefined;
let rows: Cell[][] = [];
let realRows: Cell[][] = [];

/** Every numeric threshold of the models (at most 100 a model) and the float64s around its boundary, on sample rides. */
function thresholdRows(sample: Cell[][]): Cell[][] {
  const values = new Set<number>();
  for (const { artifact } of models)
    for (const { th, bound: b } of splitBoundaries(artifact, 100)) for (const v of [th, b, nextUp(b), prevDown(b), Math.fround(th)]) values.add(v);
  return [...values].map((v, k) => {
    const s = sample[(k * 7) % sample.length]!;
    return [`threshold-${k}`, s[1]!, s[2]!, v];
  });
}

/** Rows scored in the engine against ridepred's predictColumns: the number of rows, all bit-identical or the test fails. */
async function compare(e: SqlEngine, a: ModelArtifact, view: string, data: Cell[][]): Promise<number> {
  const got = await e.scored(view);
  const want = expectedByRide(a, data);
  expect(got.length).toBe(data.length);
  const wrong = got
    .filter((g) => !Object.is(g.predicted, want.get(g.ride_id)?.p) || g.reason !== want.get(g.ride_id)?.reason)
    .map((g) => `${g.ride_id}: ${g.predicted} (${g.reason}), ridepred ${JSON.stringify(want.get(g.ride_id))}`);
  expect(wrong.slice(0, 10), `${view}: ${wrong.length} rows differ`).toEqual([]);
  return got.length;
}

beforeAll(async () => {
  for (const n of TREE_FIXTURES) models.push({ name: n, artifact: await importSource(join(FIX, "sklearn", `${n}.p4.pkl`)) });
  models.push(...fixtureBoosters(BOOSTERS));
  const sample = (
    await readRows(`SELECT PULocationID, DOLocationID, trip_distance FROM '${join(ROOT, "examples/green_tripdata_2021-02_sample.parquet")}'`)
  ).map((r, i) => [`sample-${i}`, ...r]);
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
    course = courseBooster();
    // Real rides of the month the model was trained on (ids as strings in this file), in file order.
    realRows = (await readRows(`SELECT PULocationID, DOLocationID, trip_distance FROM '${JAN21}' LIMIT 5000`)).map((r, i) => [`2021-01-${i}`, ...r]);
  }
}, 300_000);

/** MariaDB cannot sum XGBoost's float32 steps in tree order: the booster is refused there (tested below). */
const engineSkipsCourse = (name: string) => name === "MariaDB";

describeEngines("export sql, trees as a node table, executed in", (name, opened) => {
  let engine: SqlEngine;
  beforeAll(async () => {
    engine = opened();
    await engine.load("rides", TEXT_COLUMNS, rows);
    if (realRows.length) await engine.load("real_rides", TEXT_COLUMNS, realRows);
  }, 300_000);

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
