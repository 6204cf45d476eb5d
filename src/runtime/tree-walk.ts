// The walk of a batch's rows through a forest, tree by tree: one tree's nodes stay in cache while every
// row passes it, instead of every row walking the whole forest (a 100-tree, depth-20 forest is ~260k
// nodes, far more than a core's cache). Each row still sums its trees in tree order, so the float
// operations, and the bits, are the library's: scikit-learn's trees and XGBoost's boosters (WalkParams
// says whose rules). The main thread and tree workers run this one code.

/**
 * A batch as the predictor vectorized it: for field k and row r (at k * stride + r), the vocabulary
 * column it sets (-1: none) and its value. A feature no field sets is 0, as in DictVectorizer's output.
 */
export interface SparseBatch {
  readonly col: Int32Array;
  readonly val: Float64Array;
  readonly stride: number;
  readonly nFields: number;
}

/**
 * Every tree's nodes in flat arrays, each tree contiguous and laid out breadth first so that a node's two
 * children are adjacent: a split at i goes to kid[i] (left) or kid[i] + 1 (right), and three arrays
 * describe a node. A leaf (feat -1) keeps its value in thr.
 */
export interface Forest {
  roots: Int32Array;
  feat: Int32Array;
  thr: Float64Array;
  kid: Int32Array;
  /** 1 where a missing (NaN) value goes left; null when no tree has missing-value directions. */
  missingLeft: Uint8Array | null;
}

/**
 * The walk's constants, as the estimator states them. scikit-learn: a feature no field sets is 0, sums in
 * float64. XGBoost (xgboost.ts): features and each partial sum rounded to float32, and a feature no field
 * sets is missing (DMatrix from a sparse matrix) or 0 or a scaler's default (dense input); its strict
 * x < split is stored as x <= the float32 just below split (the same test on float32 x).
 */
export interface WalkParams {
  /** Compare float32(x): scikit-learn's `tree` module (float32(x) <= threshold) and XGBoost. */
  f32: boolean;
  init: number;
  scale: number;
  mean: boolean;
  /** Each row's running sum rounded to float32 after every tree (XGBoost's float margin). */
  f32sum: boolean;
  /** The value of a feature no field sets (0, or NaN: missing); unsetOf, when given, per feature instead. */
  unset: number;
  unsetOf: Float64Array | null;
}

/** scikit-learn's rules with the estimator's constants. */
export function sklearnParams(p: { f32: boolean; init: number; scale: number; mean: boolean }): WalkParams {
  return { ...p, f32sum: false, unset: 0, unsetOf: null };
}

/** Rows [from, to) of a batch through every tree, into out[from..to); skipped rows get NaN. */
export type RangeWalk = (batch: SparseBatch, from: number, to: number, skip: Uint8Array, out: Float64Array) => void;

/** The walk over a range of rows: the one implementation the main thread and tree workers share. */
export function rangeWalker(forest: Forest, { f32, init, scale, mean, f32sum, unset, unsetOf }: WalkParams): RangeWalk {
  const { roots, feat, thr, kid, missingLeft } = forest;
  const nTrees = roots.length;
  let rounded = new Float64Array(0);

  return (batch, from, to, skip, out) => {
    const { col, stride, nFields } = batch;
    let val = batch.val;
    if (f32) {
      if (rounded.length < val.length) rounded = new Float64Array(val.length);
      for (let k = 0; k < nFields; k++) for (let r = from, at = k * stride + from; r < to; r++, at++) rounded[at] = Math.fround(val[at]!);
      val = rounded;
    }
    // Boosting accumulates raw = init; raw += scale * tree(x) stage by stage (predict_stages,
    // _predict_iterations); forests sum the trees then divide (_accumulate_prediction).
    out.fill(mean ? 0 : init, from, to);
    if (nFields > 4 || unsetOf !== null) walkAny(batch, from, to, skip, val, out);
    else
      for (let t = 0; t < nTrees; t++) {
        const root = roots[t]!;
        for (let r = from; r < to; r++) {
          if (skip[r] === 1) continue;
          // The row's few set features, held in locals for the whole walk (-2: no such field, never a feature).
          const c0 = nFields > 0 ? col[r]! : -2,
            c1 = nFields > 1 ? col[stride + r]! : -2,
            c2 = nFields > 2 ? col[2 * stride + r]! : -2,
            c3 = nFields > 3 ? col[3 * stride + r]! : -2;
          const v0 = nFields > 0 ? val[r]! : 0,
            v1 = nFields > 1 ? val[stride + r]! : 0,
            v2 = nFields > 2 ? val[2 * stride + r]! : 0,
            v3 = nFields > 3 ? val[3 * stride + r]! : 0;
          let node = root;
          let f: number;
          while ((f = feat[node]!) >= 0) {
            const x = f === c0 ? v0 : f === c1 ? v1 : f === c2 ? v2 : f === c3 ? v3 : unset;
            // NaN fails every comparison: it goes where missing_go_to_left says (right when absent).
            node = kid[node]! + (x <= thr[node]! || (x !== x && missingLeft !== null && missingLeft[node] === 1) ? 0 : 1);
          }
          const y = out[r]! + (mean ? thr[node]! : scale * thr[node]!);
          out[r] = f32sum ? Math.fround(y) : y;
        }
      }
    if (mean) for (let r = from; r < to; r++) out[r] = init + scale * (out[r]! / nTrees);
    for (let r = from; r < to; r++) if (skip[r] === 1) out[r] = NaN;
  };

  /** Any number of fields: the row's value of a feature is searched among them at each node. */
  function walkAny({ col, stride, nFields }: SparseBatch, from: number, to: number, skip: Uint8Array, val: Float64Array, out: Float64Array): void {
    for (let t = 0; t < nTrees; t++) {
      for (let r = from; r < to; r++) {
        if (skip[r] === 1) continue;
        let node = roots[t]!;
        let f: number;
        while ((f = feat[node]!) >= 0) {
          let x = unsetOf === null ? unset : unsetOf[f]!;
          for (let k = 0, at = r; k < nFields; k++, at += stride) {
            if (col[at] === f) {
              x = val[at]!;
              break;
            }
          }
          node = kid[node]! + (x <= thr[node]! || (x !== x && missingLeft !== null && missingLeft[node] === 1) ? 0 : 1);
        }
        const y = out[r]! + (mean ? thr[node]! : scale * thr[node]!);
        out[r] = f32sum ? Math.fround(y) : y;
      }
    }
  }
}
