// XGBoost boosters over a batch, tree by tree like trees.ts, with XGBoost's own rules (its CPU predictor):
// features as float32 (a DMatrix stores float), x < split_condition goes left, a missing feature takes
// the node's default direction, and each row's margin is a float32 sum starting at the base margin,
// adding its trees' leaves in tree order (PredictByAllTrees); then the objective's transform.
import type { XGBoostEstimator } from "../artifact/types.js";
import { type BatchEstimate, flatten, type SparseBatch } from "./trees.js";

// Trees are laid out by trees.ts's flatten: breadth first, a split at i goes to kid[i] or kid[i] + 1, a leaf's value in thr.

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

/** `defaults`: what each unset feature is after dense scaling (a Pipeline's scaler), instead of 0. */
export function compileXGBoost(est: XGBoostEstimator, _nFeatures: number, defaults: Float64Array | null = null): BatchEstimate {
  const { roots, feat, thr, kid, missingLeft } = flatten(est, false);
  const defaultLeft = missingLeft ?? new Uint8Array(feat.length); // no default-left node: every missing value goes right
  const nTrees = roots.length;
  // A feature the row does not set: missing (NaN) when the booster was fed a sparse matrix, else 0.
  const unset = est.absent === "missing" ? Number.NaN : 0;
  const unsetOf = est.absent === "zero" && defaults ? Float64Array.from(defaults, Math.fround) : null;
  const base = Math.fround(est.base_margin[0]!);
  const transform = transformOf(est.objective);
  let rounded = new Float64Array(0);

  return (batch: SparseBatch, n: number, skip: Uint8Array, out: Float64Array) => {
    const { col, stride, nFields } = batch;
    if (rounded.length < batch.val.length) rounded = new Float64Array(batch.val.length);
    const val = rounded;
    for (let k = 0; k < nFields; k++) for (let r = 0, at = k * stride; r < n; r++, at++) val[at] = Math.fround(batch.val[at]!);
    out.fill(base, 0, n);
    for (let t = 0; t < nTrees; t++) {
      const root = roots[t]!;
      for (let r = 0; r < n; r++) {
        if (skip[r] === 1) continue;
        let node = root;
        let f: number;
        while ((f = feat[node]!) >= 0) {
          let x = unsetOf === null ? unset : unsetOf[f]!;
          for (let k = 0, at = r; k < nFields; k++, at += stride) {
            if (col[at] === f) {
              x = val[at]!;
              break;
            }
          }
          node = kid[node]! + (x !== x ? 1 - defaultLeft[node]! : x < thr[node]! ? 0 : 1);
        }
        out[r] = Math.fround(out[r]! + thr[node]!);
      }
    }
    for (let r = 0; r < n; r++) out[r] = skip[r] === 1 ? NaN : transform === null ? out[r]! : transform(out[r]!);
    return 1;
  };
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
