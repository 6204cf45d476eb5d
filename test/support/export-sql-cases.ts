// What the two `export sql` engine tests (export-sql, export-sql-nodes) share besides the engines:
// the fixture boosters, real rides read with DuckDB, ridepred's own answers, and the values at and
// around every tree threshold's float32 boundary.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ModelArtifact } from "../../src/artifact/types.js";
import { float32Below } from "../../src/runtime/float32.js";
import { compile } from "../../src/runtime/predictor.js";
import { float32Bound } from "../../src/sql/trees.js";
import { importBoosterFile } from "../../src/xgboost/import.js";
import { FIXTURES, ROOT } from "./paths.js";
import type { Cell, ColumnType } from "./sql-engines.js";

const XGB = join(FIXTURES, "xgboost");
/** The course's own XGBoost run (MLflow), when ../shared has it. */
export const COURSE_RUN = join(ROOT, "../shared/models/xgboost-mlflow-run");

/** The scikit-learn tree and ensemble fixtures (test/fixtures/sklearn/NAME.p4.pkl). */
export const TREE_FIXTURES = [
  "DecisionTreeRegressor",
  "DecisionTreeRegressor_tuple",
  "RandomForestRegressor",
  "ExtraTreesRegressor",
  "GradientBoostingRegressor",
  "GradientBoostingRegressor_zero",
  "GradientBoostingRegressor_dummy_median",
  "HistGradientBoostingRegressor",
];

/** A rides table with the ids as text: [ride_id, PULocationID, DOLocationID, trip_distance]. */
export const TEXT_COLUMNS: [string, ColumnType][] = [
  ["ride_id", "text"],
  ["PULocationID", "text"],
  ["DOLocationID", "text"],
  ["trip_distance", "double"],
];

export interface NamedModel {
  name: string;
  artifact: ModelArtifact;
}

/** The fixture boosters of these objectives (fed a sparse matrix), then one fed a dense matrix. */
export function fixtureBoosters(objectives: readonly string[]): NamedModel[] {
  const booster = (file: string, dv: string) => importBoosterFile(join(XGB, file), { preprocessor: join(XGB, dv) });
  return [
    ...objectives.map((b) => ({ name: `xgboost ${b}`, artifact: booster(`${b}.xgb`, "dv.b") })),
    { name: "xgboost dense", artifact: booster("dense.xgb", "dv_dense.b") },
  ];
}

/** The course's booster, or undefined where ../shared does not have it. */
export function courseBooster(): ModelArtifact | undefined {
  if (!existsSync(join(COURSE_RUN, "models_mlflow/model.xgb"))) return undefined;
  return importBoosterFile(join(COURSE_RUN, "models_mlflow/model.xgb"), { preprocessor: join(COURSE_RUN, "preprocessor/preprocessor.b") });
}

/** A query's rows, run in a throwaway in-process DuckDB (reading Parquet files). */
export async function readRows(sql: string): Promise<Cell[][]> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const c = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    return (await c.runAndReadAll(sql)).getRows() as Cell[][];
  } finally {
    c.closeSync();
  }
}

/** ridepred's own answer for each row [ride_id, PULocationID, DOLocationID, trip_distance]: the prediction, or null and the reject reason. */
export function expectedByRide(artifact: ModelArtifact, rows: Cell[][]): Map<string, { p: number | null; reason: string | null }> {
  const cols = { PULocationID: rows.map((r) => r[1]), DOLocationID: rows.map((r) => r[2]), trip_distance: rows.map((r) => r[3]) };
  const { predictions, errors } = compile(artifact).predictColumns(cols, rows.length);
  const reasons = new Map(errors.map((e) => [e.row, `${e.field}: ${e.reason}`]));
  return new Map(rows.map((r, i) => [r[0] as string, { p: reasons.has(i) ? null : predictions[i]!, reason: reasons.get(i) ?? null }]));
}

/**
 * A tree model's trip_distance thresholds (sorted, every k-th, at most `most`: the course's booster alone
 * has thousands), each with the largest float64 that takes its left branch in SQL.
 */
export function splitBoundaries(artifact: ModelArtifact, most: number): { th: number; bound: number }[] {
  const est = artifact.estimator;
  if (est.kind === "linear") return [];
  const col = artifact.features.vectorizer.feature_names.indexOf("trip_distance");
  const all = [...new Set(est.trees.flatMap((t) => t.threshold.filter((_, i) => t.feature[i] === col)))].sort((x, y) => x - y);
  const step = Math.max(1, Math.ceil(all.length / most));
  const out: { th: number; bound: number }[] = [];
  for (let n = 0; n < all.length; n += step) {
    const th = all[n]!;
    // scikit-learn: float32(x) <= th; XGBoost: float32(x) < th, th a float32 (<= the float32 below it).
    out.push({ th, bound: est.kind === "xgboost" ? float32Bound(float32Below(th)) : float32Bound(th) });
  }
  return out;
}

/** The next float64 up. */
export function nextUp(x: number): number {
  if (x === 0) return 5e-324;
  const b = new Float64Array([x]);
  const u = new BigInt64Array(b.buffer);
  u[0] = x > 0 ? u[0]! + 1n : u[0]! - 1n;
  return b[0]!;
}
export const prevDown = (x: number) => -nextUp(-x);
