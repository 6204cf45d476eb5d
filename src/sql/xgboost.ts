// XGBoost boosters as SQL, with XGBoost's own rules as the predictor applies them (src/runtime/xgboost.ts):
// a feature compared as float32(x) < split (strict), a feature the vectorizer leaves unset is missing (the
// node's default direction) when the booster was fed a sparse matrix, 0 when dense; the margin a float32
// sum from the base margin, tree by tree in order (each step rounded to float32 by a cast); then the
// objective's transform, each step rounded to float32 as XGBoost's expf does.
import type { XGBoostEstimator } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import type { Dialect } from "./dialects.js";
import { type ColumnSource, fieldOf } from "./features.js";
import { float32Below as below } from "../runtime/float32.js";
import { float32Bound } from "./trees.js";

export interface XGBoostSql {
  chunks: string[];
  prediction(lastTotal: string): string;
}

const TREES_PER_CHUNK = 25;

export function xgboostSql(d: Dialect, est: XGBoostEstimator, sources: readonly ColumnSource[]): XGBoostSql {
  const float32 = d.float32;
  if (!float32)
    throw new RidepredError(
      `export sql: ${d.name} has no float32 type, which XGBoost's float32 sums need: ${est.sklearn_class} cannot be exported for ${d.name}`,
      1,
    );
  if (est.tree_group && new Set(est.tree_group).size > 1)
    throw new RidepredError(`export sql: ${est.sklearn_class} has several output groups, which export sql does not support yet`, 1);
  const chunks: string[] = [];
  for (let from = 0; from < est.trees.length; from += TREES_PER_CHUNK) {
    let acc = from === 0 ? float32(d.num(Math.fround(est.base_margin[0]!))) : `acc${from / TREES_PER_CHUNK - 1}`;
    for (let k = from; k < Math.min(est.trees.length, from + TREES_PER_CHUNK); k++) acc = float32(`${acc} + ${treeCase(d, est, k, sources)}`);
    chunks.push(acc);
  }
  return { chunks, prediction: xgboostPrediction(d, est) };
}

/** The prediction from the float32 margin: the objective's transform. */
export function xgboostPrediction(d: Dialect, est: XGBoostEstimator): (margin: string) => string {
  // The view's column is float64 everywhere (a REAL column would reach clients as float4 text, e.g. "19.57319").
  return (m) => d.double(transform(d, est.objective, m));
}

function treeCase(d: Dialect, est: XGBoostEstimator, k: number, sources: readonly ColumnSource[]): string {
  const t = est.trees[k]!;
  const missing = est.absent === "missing";
  const walk = (node: number): string => {
    const j = t.feature[node]!;
    if (j < 0) return d.num(t.value[node]!);
    const th = t.threshold[node]!;
    const left = () => walk(t.left[node]!);
    const right = () => walk(t.right[node]!);
    const defaultLeft = (t.missing_left?.[node] ?? 0) === 1;
    // Where an unset feature goes: the default direction, or as a 0 would.
    const unset = missing ? defaultLeft : 0 < th;
    const src = sources[j] ?? { kind: "zero" };
    if (src.kind === "zero") return unset ? left() : right();
    if (src.kind === "category") {
      const set = 1 < th; // the column holds 1 where the field equals one of its values
      if (set === unset) return set ? left() : right();
      const cond = src.hits.map((h) => `${fieldOf(h.field)} = ${d.str(h.value)}`).join(" OR ");
      return `CASE WHEN ${src.hits.length > 1 ? `(${cond})` : cond} THEN ${set ? left() : right()} ELSE ${unset ? left() : right()} END`;
    }
    // float32(x) < th (th a float32) exactly when float32(x) <= the float32 below th. An unset value
    // (NULL) fails the comparison and goes right, unless it is sent left explicitly: no subtree is written twice.
    const f = fieldOf(src.field);
    const less = th === -Infinity ? "FALSE" : th === Infinity ? `${f} IS NOT NULL` : `${f} <= ${d.num(float32Bound(below(th)))}`;
    return `CASE WHEN ${unset ? `(${f} IS NULL OR ${less})` : less} THEN ${left()} ELSE ${right()} END`;
  };
  return walk(0);
}

/** The objective's transform of the float32 margin, rounded to float32 at each step as the predictor does. */
function transform(d: Dialect, objective: XGBoostEstimator["objective"], m: string): string {
  const float32 = d.float32!;
  switch (objective) {
    case "reg:tweedie":
    case "count:poisson":
    case "reg:gamma":
      return float32(`exp(${m})`);
    case "reg:logistic":
    case "binary:logistic":
      return float32(`${d.num(1)} / ${float32(`${d.num(1)} + ${float32(`exp(-${m})`)}`)}`);
    default:
      return m;
  }
}
