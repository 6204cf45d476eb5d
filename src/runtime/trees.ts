// Tree ensembles over a batch, tree by tree: one tree's nodes stay in cache while every row of the batch
// passes it, instead of every row walking the whole forest (a 100-tree, depth-20 forest is ~260k nodes,
// far more than a core's cache). Each row still sums its trees in tree order, so the float operations,
// and the bits, are scikit-learn's.
import type { TreeEnsembleEstimator } from "../artifact/types.js";

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

export type BatchEstimate = (batch: SparseBatch, n: number, skip: Uint8Array, out: Float64Array) => void;

/**
 * Every tree's nodes in flat arrays, each tree contiguous and laid out breadth first so that a node's two
 * children are adjacent: a split at i goes to kid[i] (left) or kid[i] + 1 (right), and three arrays
 * describe a node. A leaf (feat -1) keeps its value in thr.
 */
interface Forest {
  roots: Int32Array;
  feat: Int32Array;
  thr: Float64Array;
  kid: Int32Array;
  /** 1 where a missing (NaN) value goes left; null when no tree has missing-value directions. */
  missingLeft: Uint8Array | null;
}

function flatten(est: TreeEnsembleEstimator): Forest {
  const total = est.trees.reduce((n, t) => n + t.feature.length, 0);
  const anyMissing = est.trees.some((t) => t.missing_left?.some((m) => m === 1));
  const f: Forest = {
    roots: new Int32Array(est.trees.length),
    feat: new Int32Array(total),
    thr: new Float64Array(total),
    kid: new Int32Array(total),
    missingLeft: anyMissing ? new Uint8Array(total) : null,
  };
  let next = 0;
  est.trees.forEach((t, k) => {
    f.roots[k] = next;
    // Breadth first: queue[j] is the source node placed at slot base + j.
    const base = next;
    const queue = [0];
    next++;
    for (let j = 0; j < queue.length; j++) {
      const src = queue[j]!;
      const at = base + j;
      const leaf = t.feature[src]! < 0;
      f.feat[at] = leaf ? -1 : t.feature[src]!;
      f.thr[at] = leaf ? t.value[src]! : t.threshold[src]!;
      if (f.missingLeft) f.missingLeft[at] = t.missing_left?.[src] ?? 0;
      if (leaf) continue;
      f.kid[at] = next;
      queue.push(t.left[src]!, t.right[src]!);
      next += 2;
    }
    if (queue.length !== t.feature.length) throw new Error(`internal: tree ${k} has ${t.feature.length - queue.length} unreachable nodes`);
  });
  return f;
}

export function compileTrees(est: TreeEnsembleEstimator): BatchEstimate {
  const { roots, feat, thr, kid, missingLeft } = flatten(est);
  const nTrees = roots.length;
  // scikit-learn's `tree` module compares float32(x) <= threshold: round the batch's values once.
  const f32 = est.compare === "float32";
  const init = est.init as number; // a regressor has one output (validateArtifact); classifiers use runtime/classifier.ts
  const scale = est.scale;
  const mean = est.aggregate === "mean";
  let rounded = new Float64Array(0);

  return (batch, n, skip, out) => {
    const { col, stride, nFields } = batch;
    let val = batch.val;
    if (f32) {
      if (rounded.length < val.length) rounded = new Float64Array(val.length);
      for (let k = 0; k < nFields; k++) for (let r = 0, at = k * stride; r < n; r++, at++) rounded[at] = Math.fround(val[at]!);
      val = rounded;
    }
    // Boosting accumulates raw = init; raw += scale * tree(x) stage by stage (predict_stages,
    // _predict_iterations); forests sum the trees then divide (_accumulate_prediction).
    out.fill(mean ? 0 : init, 0, n);
    if (nFields > 4) return walkAny(batch, n, skip, val, out);
    for (let t = 0; t < nTrees; t++) {
      const root = roots[t]!;
      for (let r = 0; r < n; r++) {
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
          const x = f === c0 ? v0 : f === c1 ? v1 : f === c2 ? v2 : f === c3 ? v3 : 0; // a feature no field sets is 0
          // NaN fails every comparison: it goes where missing_go_to_left says (right when absent).
          node = kid[node]! + (x <= thr[node]! || (x !== x && missingLeft !== null && missingLeft[node] === 1) ? 0 : 1);
        }
        out[r]! += mean ? thr[node]! : scale * thr[node]!;
      }
    }
    finish(n, skip, out);
  };

  function finish(n: number, skip: Uint8Array, out: Float64Array): void {
    if (mean) for (let r = 0; r < n; r++) out[r] = init + scale * (out[r]! / nTrees);
    for (let r = 0; r < n; r++) if (skip[r] === 1) out[r] = NaN;
  }

  /** Any number of fields: the row's value of a feature is searched among them at each node. */
  function walkAny({ col, stride, nFields }: SparseBatch, n: number, skip: Uint8Array, val: Float64Array, out: Float64Array): void {
    for (let t = 0; t < nTrees; t++) {
      for (let r = 0; r < n; r++) {
        if (skip[r] === 1) continue;
        let node = roots[t]!;
        let f: number;
        while ((f = feat[node]!) >= 0) {
          let x = 0;
          for (let k = 0, at = r; k < nFields; k++, at += stride) {
            if (col[at] === f) {
              x = val[at]!;
              break;
            }
          }
          node = kid[node]! + (x <= thr[node]! || (x !== x && missingLeft !== null && missingLeft[node] === 1) ? 0 : 1);
        }
        out[r]! += mean ? thr[node]! : scale * thr[node]!;
      }
    }
    finish(n, skip, out);
  }
}
