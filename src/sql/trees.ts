// Trees and ensembles as SQL: one nested CASE per tree, summed in chunks of trees (one query layer
// per chunk, each adding its trees to the running total in the predictor's order of float64 operations).
//
// Thresholds. scikit-learn's `tree` module compares float32(x) <= t; an engine compares float64s. For
// each threshold t this emits T = the largest float64 x with float32(x) <= t, and x <= T then takes the
// same branch as scikit-learn for every float64 x (float32Bound). HistGradientBoosting compares float64
// values to float64 thresholds: t as it is. A category column is 1 or 0, so its split is decided here.
import type { TreeEnsembleEstimator, TreeSpec } from "../artifact/types.js";
import { float32Below } from "../runtime/float32.js";
import type { Dialect } from "./dialects.js";
import { type ColumnSource, fieldOf } from "./features.js";

const F32_MAX = 3.4028234663852886e38;
/** 2^128 - 2^103: the midpoint between float32's largest value and 2^128; it rounds to infinity. */
const F32_OVERFLOW = 3.4028235677973366e38;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The float32 after f (f a float32 value, not +Infinity). */
function nextFloat32(f: number): number {
  if (f === 0) return 2 ** -149;
  f32[0] = f;
  u32[0] = f > 0 ? u32[0]! + 1 : u32[0]! - 1;
  return f32[0]!;
}

/** The float64 before x (x finite and positive or negative, not zero). */
function prevFloat64(x: number): number {
  f64[0] = x;
  u64[0] = x > 0 ? u64[0]! - 1n : u64[0]! + 1n;
  return f64[0]!;
}

/**
 * The largest float64 x with Math.fround(x) <= t (round to nearest, ties to even): then for every float64
 * x, `x <= float32Bound(t)` exactly when `Math.fround(x) <= t`. +Infinity: always true; NaN: never.
 */
export function float32Bound(t: number): number {
  if (t !== t) return NaN;
  if (t === Infinity) return Infinity;
  let f = Math.fround(t); // the largest float32 <= t is f or the one before it
  if (f > t) f = f === Infinity ? F32_MAX : float32Below(f);
  if (f === -Infinity) return -F32_OVERFLOW; // only values rounding to -Infinity
  const next = f === F32_MAX ? 2 ** 128 : nextFloat32(f);
  const mid = (f + next) / 2; // exact: 25 significant bits
  return Math.fround(mid) <= t ? mid : prevFloat64(mid);
}

export interface TreesSql {
  /** One expression per chunk, each adding its trees to the previous chunk's total (alias acc<n>). */
  chunks: string[];
  /** The prediction from the last chunk's total (alias given). */
  prediction(lastTotal: string): string;
}

/** Trees per query layer: small enough for every engine's expression depth, large enough to stay few. */
const TREES_PER_CHUNK = 25;

export function treesSql(d: Dialect, est: TreeEnsembleEstimator, sources: readonly ColumnSource[]): TreesSql {
  const mean = est.aggregate === "mean";
  const init = est.init as number; // one output: several are refused before this
  const leaf = (v: number) => d.num(mean ? v : est.scale * v);
  const chunks: string[] = [];
  for (let from = 0; from < est.trees.length; from += TREES_PER_CHUNK) {
    // Boosting starts from init and adds scale * tree (predict_stages); forests sum from 0 and divide.
    let acc = from === 0 ? d.num(mean ? 0 : init) : `acc${from / TREES_PER_CHUNK - 1}`;
    for (const tree of est.trees.slice(from, from + TREES_PER_CHUNK)) acc = `(${acc} + ${treeCase(d, est, tree, sources, leaf)})`;
    chunks.push(acc);
  }
  return { chunks, prediction: ensemblePrediction(d, est) };
}

/** The prediction from the trees' total: boosting's total is it (init included); a forest's is averaged, then scaled from init. */
export function ensemblePrediction(d: Dialect, est: TreeEnsembleEstimator): (total: string) => string {
  const n = est.trees.length;
  return (total) => (est.aggregate === "mean" ? `(${d.num(est.init as number)} + ${d.num(est.scale)} * (${total} / ${d.num(n)}))` : total);
}

type Leaf = (value: number) => string;

function treeCase(d: Dialect, est: TreeEnsembleEstimator, t: TreeSpec, sources: readonly ColumnSource[], leaf: Leaf): string {
  const f32 = est.compare === "float32";
  const goesLeft = (v: number, th: number) => (f32 ? Math.fround(v) <= th : v <= th);
  const walk = (node: number): string => {
    const j = t.feature[node]!;
    if (j < 0) return leaf(t.value[node]!);
    const th = t.threshold[node]!;
    const left = () => walk(t.left[node]!);
    const right = () => walk(t.right[node]!);
    const src = sources[j] ?? { kind: "zero" };
    if (src.kind === "zero") return goesLeft(0, th) ? left() : right();
    if (src.kind === "category") {
      // The column is 1 where the field equals one of its values, else 0 (an absent field: 0).
      const one = goesLeft(1, th);
      const zero = goesLeft(0, th);
      if (one === zero) return one ? left() : right();
      const cond = src.hits.map((h) => `${fieldOf(h.field)} = ${d.str(h.value)}`).join(" OR ");
      return `CASE WHEN ${src.hits.length > 1 ? `(${cond})` : cond} THEN ${one ? left() : right()} ELSE ${zero ? left() : right()} END`;
    }
    // A number: its value, 0 when absent (DictVectorizer sets no column, the dense vector holds 0).
    const bound = f32 ? float32Bound(th) : th;
    if (bound !== bound) return right();
    if (bound === Infinity) return left();
    return `CASE WHEN COALESCE(${fieldOf(src.field)}, ${d.num(0)}) <= ${d.num(bound)} THEN ${left()} ELSE ${right()} END`;
  };
  return walk(0);
}

/** Nodes in all trees (for size messages). */
export function nodeCount(est: TreeEnsembleEstimator): number {
  return est.trees.reduce((n, t) => n + t.feature.length, 0);
}
