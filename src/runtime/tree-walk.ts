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
  // Where an unset feature is missing (NaN), it is replaced per node by a value that takes the node's
  // default direction through the plain x <= thr test: -Infinity goes left, +Infinity right. A node whose
  // split is NaN (no value goes left) keeps the general walk for the whole forest.
  const missingBox = unset !== unset ? missingValues(forest) : null;
  // Read back as a float64 inside the walk: a plain number from the closure made V8 box every looked-up value (2x slower).
  const unsetBox = Float64Array.of(unset);
  // Two rows' values by the fields matching a node's feature: [0, 16) row a, [16, 32) row b (see walkFew).
  const lookBox = new Float64Array(32);
  const fast = unsetOf === null && (unset === unset || missingBox !== null);
  const blocks = treeBlocks(roots, feat.length);
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
    if (fast && nFields <= 4 && !anyNaN(batch, val, from, to)) walkFew(batch, from, to, val, out);
    else walkAny(batch, from, to, skip, val, out);
    if (mean) for (let r = from; r < to; r++) out[r] = init + scale * (out[r]! / nTrees);
    for (let r = from; r < to; r++) if (skip[r] === 1) out[r] = NaN;
  };

  /** A leaf's value added to a row's running sum. */
  function add(out: Float64Array, r: number, leaf: number): void {
    const y = out[r]! + (mean ? leaf : scale * leaf);
    out[r] = f32sum ? Math.fround(y) : y;
  }

  /**
   * Up to four fields, no NaN among the values set: two rows pass each tree side by side (their loads and
   * compares overlap), and nothing in a step is branched on. A node's value is looked up, not searched
   * for: the fields that set the node's feature make a 4-bit index into a small table of the row's values
   * (index 0: the feature is unset), and the next node is kid + 1 - (x <= thr). Rows later skipped are
   * walked too (their result is replaced by NaN); an odd last row walks as a pair with itself.
   */
  function walkFew({ col, stride, nFields }: SparseBatch, from: number, to: number, val: Float64Array, out: Float64Array): void {
    const u = unsetBox[0]!;
    const entries = 1 << nFields;
    const two = nFields <= 2; // the course's models: two compares a step, not four
    // Locals, not the closure's variables: measurably faster in this loop.
    const { roots, feat, thr, kid } = forest;
    const look = lookBox;
    const missingAt = missingBox;
    for (let blk = 0; blk + 1 < blocks.length; blk++) {
      const t0 = blocks[blk]!;
      const t1 = blocks[blk + 1]!;
      for (let r = from; r < to; r += 2) {
        const q = r + 1 < to ? r + 1 : r;
        // A field the batch lacks has column -2: never a feature, never matched.
        const a0 = col[r]!,
          a1 = nFields > 1 ? col[stride + r]! : -2,
          a2 = nFields > 2 ? col[2 * stride + r]! : -2,
          a3 = nFields > 3 ? col[3 * stride + r]! : -2;
        const b0 = col[q]!,
          b1 = nFields > 1 ? col[stride + q]! : -2,
          b2 = nFields > 2 ? col[2 * stride + q]! : -2,
          b3 = nFields > 3 ? col[3 * stride + q]! : -2;
        look[0] = u;
        look[16] = u;
        for (let m = 1; m < entries; m++) {
          look[m] = val[FIRST[m]! * stride + r]!;
          look[16 + m] = val[FIRST[m]! * stride + q]!;
        }
        for (let t = t0; t < t1; t++) {
          let na = roots[t]!;
          let nb = na;
          let fa = feat[na]!;
          let fb = fa;
          while ((fa | fb) >= 0) {
            if (missingAt !== null) {
              look[0] = missingAt[na]!;
              look[16] = missingAt[nb]!;
            }
            const xa = look[two ? +(fa === a0) | (+(fa === a1) << 1) : +(fa === a0) | (+(fa === a1) << 1) | (+(fa === a2) << 2) | (+(fa === a3) << 3)]!;
            const xb = look[16 | (two ? +(fb === b0) | (+(fb === b1) << 1) : +(fb === b0) | (+(fb === b1) << 1) | (+(fb === b2) << 2) | (+(fb === b3) << 3))]!;
            na = kid[na]! + 1 - +(xa <= thr[na]!);
            nb = kid[nb]! + 1 - +(xb <= thr[nb]!);
            fa = feat[na]!;
            fb = feat[nb]!;
          }
          // One of the two reached its leaf: the other walks on alone (fa or fb is -1 at a leaf).
          for (; fa >= 0; fa = feat[na]!) {
            if (missingAt !== null) look[0] = missingAt[na]!;
            const xa = look[two ? +(fa === a0) | (+(fa === a1) << 1) : +(fa === a0) | (+(fa === a1) << 1) | (+(fa === a2) << 2) | (+(fa === a3) << 3)]!;
            na = kid[na]! + 1 - +(xa <= thr[na]!);
          }
          for (; fb >= 0; fb = feat[nb]!) {
            if (missingAt !== null) look[16] = missingAt[nb]!;
            const xb = look[16 | (two ? +(fb === b0) | (+(fb === b1) << 1) : +(fb === b0) | (+(fb === b1) << 1) | (+(fb === b2) << 2) | (+(fb === b3) << 3))]!;
            nb = kid[nb]! + 1 - +(xb <= thr[nb]!);
          }
          // add() inlined by hand: measurably faster on the bench's models.
          const ya = out[r]! + (mean ? thr[na]! : scale * thr[na]!);
          out[r] = f32sum ? Math.fround(ya) : ya;
          if (q !== r) {
            const yb = out[q]! + (mean ? thr[nb]! : scale * thr[nb]!);
            out[q] = f32sum ? Math.fround(yb) : yb;
          }
        }
      }
    }
  }

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
        add(out, r, thr[node]!);
      }
    }
  }
}

/** FIRST[m]: the lowest bit set in m, i.e. the first of the fields matching a feature (DictVectorizer's order). */
const FIRST = Int32Array.of(0, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0);

/** Nodes a block of trees holds at most (unless one tree is bigger): 16 bytes each, 64 KB, within a core's L2 cache. */
const BLOCK_NODES = 4096;

/** The first tree of each block, then the tree count: blocks of consecutive trees of BLOCK_NODES nodes at most. */
function treeBlocks(roots: Int32Array, nodes: number): Int32Array {
  const starts = [0];
  for (let t = 1; t < roots.length; t++) if (roots[t]! - roots[starts[starts.length - 1]!]! + treeSize(roots, t, nodes) > BLOCK_NODES) starts.push(t);
  starts.push(roots.length);
  return Int32Array.from(starts);
}

function treeSize(roots: Int32Array, t: number, nodes: number): number {
  return (t + 1 < roots.length ? roots[t + 1]! : nodes) - roots[t]!;
}

/** Per node, the value an unset (missing) feature takes: -Infinity where missing goes left, else +Infinity; null if a split is NaN. */
function missingValues({ feat, thr, missingLeft }: Forest): Float64Array | null {
  const at = new Float64Array(feat.length);
  for (let i = 0; i < feat.length; i++) {
    if (feat[i]! < 0) continue;
    if (thr[i] !== thr[i]) return null;
    at[i] = missingLeft !== null && missingLeft[i] === 1 ? -Infinity : Infinity;
  }
  return at;
}

/** Whether a value a field sets in rows [from, to) is NaN (the general walk then tests each value for it). */
function anyNaN({ col, stride, nFields }: SparseBatch, val: Float64Array, from: number, to: number): boolean {
  for (let k = 0; k < nFields; k++) for (let r = from, at = k * stride + from; r < to; r++, at++) if (val[at] !== val[at] && col[at]! >= 0) return true;
  return false;
}
