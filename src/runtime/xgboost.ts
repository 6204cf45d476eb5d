// XGBoost boosters over a batch, walked by tree-walk.ts like scikit-learn's trees, with XGBoost's own rules (its CPU predictor):
// features as float32 (a DMatrix stores float), x < split_condition goes left, a missing feature takes
// the node's default direction, and each row's margin is a float32 sum starting at the base margin,
// adding its trees' leaves in tree order (PredictByAllTrees); then the objective's transform.
import type { XGBoostEstimator } from "../artifact/types.js";
import { float32Below } from "./float32.js";
import { type BatchEstimate, batchWalker, flatten } from "./trees.js";
import type { Forest, WalkParams } from "./tree-walk.js";

/** The objective's PredTransform, rounded to float32 like XGBoost's (expf, 1 / (1 + expf(-x))). */
function transformOf(objective: XGBoostEstimator["objective"]): ((margin: number) => number) | null {
  const f32 = Math.fround;
  switch (objective) {
    case "reg:tweedie":
    case "count:poisson":
    case "reg:gamma":
      return (m) => f32(Math.exp(m));
    case "reg:logistic":
    case "binary:logistic":
      return (m) => f32(1 / f32(1 + f32(Math.exp(-m))));
    default:
      return null;
  }
}

/**
 * A regression booster over a batch, walked by tree-walk.ts with XGBoost's rules (on tree workers too when
 * threads > 1). `defaults`: what each unset feature is after dense scaling (a Pipeline's scaler), instead of 0.
 */
export function compileXGBoost(est: XGBoostEstimator, _nFeatures: number, defaults: Float64Array | null = null, threads = 1): BatchEstimate {
  const forest = flatten(est, threads > 1);
  strictSplits(forest);
  const params: WalkParams = {
    f32: true,
    init: Math.fround(est.base_margin[0]!),
    scale: 1,
    mean: false,
    f32sum: true,
    // A feature the row does not set: missing (NaN) when the booster was fed a sparse matrix, else 0 (or the scaler's default).
    unset: est.absent === "missing" ? Number.NaN : 0,
    unsetOf: est.absent === "zero" && defaults ? Float64Array.from(defaults, Math.fround) : null,
  };
  const walk = batchWalker(forest, params, threads);
  const transform = transformOf(est.objective);
  if (transform === null) return walk;
  return (batch, n, skip, out) => {
    const used = walk(batch, n, skip, out);
    for (let r = 0; r < n; r++) if (skip[r] !== 1) out[r] = transform(out[r]!);
    return used;
  };
}

/**
 * XGBoost sends float32 x left when x < split; the walk tests x <= thr. Each split becomes the largest
 * float32 below it: no float32 lies between the two, so both tests agree on every float32 x (NaN aside,
 * which takes the default direction either way).
 */
export function strictSplits(forest: Forest): void {
  const { feat, thr } = forest;
  for (let i = 0; i < feat.length; i++) if (feat[i]! >= 0) thr[i] = float32Below(thr[i]!);
}

/**
 * A booster's margins for one row, as a classifier's raw outputs: one per output group (class), each a
 * float32 sum from its base margin over the group's trees in tree order. No transform: the classifier's
 * link (sigmoid, softmax) makes the probabilities.
 */
export function xgboostMargins(est: XGBoostEstimator, nFeatures: number) {
  const { roots, feat, thr, kid, missingLeft } = flatten(est, false);
  const defaultLeft = missingLeft ?? new Uint8Array(feat.length); // no default-left node: every missing value goes right
  const groups = est.base_margin.length;
  const group = Int32Array.from(est.tree_group ?? est.trees.map(() => 0));
  const dense = new Float64Array(nFeatures).fill(est.absent === "missing" ? Number.NaN : 0);
  const unset = dense[0] ?? 0;
  const base = est.base_margin.map(Math.fround);
  return {
    outputs: groups,
    raw(idx: Int32Array, val: Float64Array, nnz: number, out: Float64Array): void {
      for (let j = 0; j < nnz; j++) dense[idx[j]!] = Math.fround(val[j]!);
      for (let g = 0; g < groups; g++) out[g] = base[g]!;
      for (let t = 0; t < roots.length; t++) {
        let node = roots[t]!;
        let f: number;
        while ((f = feat[node]!) >= 0) {
          const x = dense[f]!;
          node = kid[node]! + (x !== x ? 1 - defaultLeft[node]! : x < thr[node]! ? 0 : 1);
        }
        const g = group[t]!;
        out[g] = Math.fround(out[g]! + thr[node]!);
      }
      for (let j = 0; j < nnz; j++) dense[idx[j]!] = unset;
    },
  };
}
