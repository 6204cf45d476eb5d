// A classifier's prediction: the estimator's raw outputs (one, or one per class), then the link to class
// probabilities and the label, with scikit-learn's own arithmetic (same operations in the same order,
// so probabilities agree to the last few bits and labels exactly).

import type { ClassifierSpec, Estimator, LinearEstimator, TreeEnsembleEstimator } from "../artifact/types.js";
import { xgboostMargins } from "./xgboost.js";

/** Raw outputs of one row, given as its sparse DictVectorizer vector (columns idx, values val, in field order). */
export interface RawScorer {
  readonly outputs: number;
  raw(idx: Int32Array, val: Float64Array, nnz: number, out: Float64Array): void;
}

export interface ClassifierScorer {
  /** Number of classes. */
  readonly k: number;
  /** One row: probabilities into proba[at .. at + k); returns the predicted class's index. */
  score(idx: Int32Array, val: Float64Array, nnz: number, proba: Float64Array, at: number): number;
}

/** The raw outputs of an estimator, as a classifier needs them (an estimator kind added later plugs in here). */
export function compileRaw(est: Estimator, nFeatures: number): RawScorer {
  if (est.kind === "linear") return linearRaw(est, nFeatures);
  if (est.kind === "tree_ensemble") return treesRaw(est, nFeatures);
  // An XGBoost booster's margins (binary: one; multi-class: one per class), before any transform.
  return xgboostMargins(est, nFeatures);
}

export function compileClassifier(spec: ClassifierSpec, raw: RawScorer): ClassifierScorer {
  const k = spec.classes.length;
  const m = raw.outputs;
  const r = new Float64Array(m);
  const link = LINKS[spec.link];
  const byRaw = spec.decision === "raw";
  return {
    k,
    score(idx, val, nnz, proba, at) {
      raw.raw(idx, val, nnz, r);
      link(r, m, proba, at, k);
      if (byRaw) return m === 1 ? (r[0]! > 0 ? 1 : 0) : argmax(r, 0, m);
      return argmax(proba, at, k);
    },
  };
}

/** numpy.argmax: the first maximum. */
function argmax(a: Float64Array, at: number, n: number): number {
  let best = 0;
  let v = a[at]!;
  for (let i = 1; i < n; i++) {
    const x = a[at + i]!;
    if (x > v) {
      v = x;
      best = i;
    }
  }
  return best;
}

/** scipy.special.expit for doubles: 1 / (1 + exp(-x)). */
const expit = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * numpy's sum of a contiguous float64 row (pairwise_sum in numpy's loops): below 8 values a plain loop
 * from 0, up to 128 eight interleaved partial sums, above that halves summed recursively.
 */
export function npSum(a: Float64Array, at: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[at + i]!;
    return s;
  }
  if (n <= 128) {
    const p = [a[at]!, a[at + 1]!, a[at + 2]!, a[at + 3]!, a[at + 4]!, a[at + 5]!, a[at + 6]!, a[at + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) p[j]! += a[at + i + j]!;
    let s = p[0]! + p[1]! + (p[2]! + p[3]!) + (p[4]! + p[5]! + (p[6]! + p[7]!));
    for (; i < n; i++) s += a[at + i]!;
    return s;
  }
  let n2 = n >> 1;
  n2 -= n2 % 8;
  return npSum(a, at, n2) + npSum(a, at + n2, n - n2);
}

function rowMax(a: Float64Array, n: number): number {
  let v = a[0]!;
  for (let i = 1; i < n; i++) if (a[i]! > v || a[i] !== a[i]) v = a[i]!; // np.max propagates NaN
  return v;
}

type Link = (raw: Float64Array, m: number, p: Float64Array, at: number, k: number) => void;

const LINKS: Record<ClassifierSpec["link"], Link> = {
  // LogisticRegression (binary), GradientBoosting (binomial), HistGradientBoosting (binary): [1 - p, p].
  logistic: (raw, _m, p, at) => {
    const y = expit(raw[0]!);
    p[at] = 1 - y;
    p[at + 1] = y;
  },
  // LogisticRegression one-vs-rest: expit each, then divide by the row's sum (_predict_proba_lr).
  logistic_ovr: (raw, m, p, at) => {
    for (let i = 0; i < m; i++) p[at + i] = expit(raw[i]!);
    const s = npSum(p, at, m);
    for (let i = 0; i < m; i++) p[at + i]! /= s;
  },
  // sklearn.utils.extmath.softmax: subtract the row max, exp, divide by the sum. One output s: softmax([-s, s]).
  softmax: (raw, m, p, at) => {
    if (m === 1) {
      const s = raw[0]!;
      const mx = Math.max(-s, s);
      p[at] = Math.exp(-s - mx);
      p[at + 1] = Math.exp(s - mx);
      const sum = p[at]! + p[at + 1]!;
      p[at]! /= sum;
      p[at + 1]! /= sum;
      return;
    }
    const mx = rowMax(raw, m);
    for (let i = 0; i < m; i++) p[at + i] = Math.exp(raw[i]! - mx);
    const s = npSum(p, at, m);
    for (let i = 0; i < m; i++) p[at + i]! /= s;
  },
  // GradientBoosting multinomial: nan_to_num(exp(raw - logsumexp(raw))), scipy's logsumexp.
  logsumexp: (raw, m, p, at) => {
    let mx = rowMax(raw, m);
    if (!Number.isFinite(mx)) mx = 0;
    for (let i = 0; i < m; i++) p[at + i] = Math.exp(raw[i]! - mx);
    const lse = Math.log(npSum(p, at, m)) + mx;
    for (let i = 0; i < m; i++) p[at + i] = nanToNum(Math.exp(raw[i]! - lse));
  },
  identity: (raw, m, p, at) => {
    for (let i = 0; i < m; i++) p[at + i] = raw[i]!;
  },
};

function nanToNum(x: number): number {
  if (x !== x) return 0;
  if (x === Infinity) return Number.MAX_VALUE;
  if (x === -Infinity) return -Number.MAX_VALUE;
  return x;
}

const initsOf = (init: number | number[], m: number): Float64Array => Float64Array.from({ length: m }, (_, i) => (typeof init === "number" ? init : init[i]!));

/** Per output: 0 + each present feature's value * coef in field order, then + intercept (scipy's csr_matvecs, then + intercept_). */
function linearRaw(est: LinearEstimator, nFeatures: number): RawScorer {
  const m = est.outputs ?? 1;
  const coef = Float64Array.from(est.coef);
  const intercept = initsOf(est.intercept, m);
  return {
    outputs: m,
    raw(idx, val, nnz, out) {
      for (let k = 0, base = 0; k < m; k++, base += nFeatures) {
        let acc = 0;
        for (let j = 0; j < nnz; j++) acc += val[j]! * coef[base + idx[j]!]!;
        out[k] = acc + intercept[k]!;
      }
    },
  };
}

/**
 * Tree ensembles with several outputs: boosting adds learning_rate * leaf to its class's output stage by
 * stage (predict_stages, _predict_iterations); forests add each tree's class frequencies (the leaf's counts
 * divided by their sum, once per leaf here) and divide by the number of trees (_accumulate_prediction).
 */
function treesRaw(est: TreeEnsembleEstimator, nFeatures: number): RawScorer {
  const m = est.outputs ?? 1;
  const w = est.value_width ?? 1;
  const nTrees = est.trees.length;
  const total = est.trees.reduce((n, t) => n + t.feature.length, 0);
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const left = new Int32Array(total);
  const right = new Int32Array(total);
  const missingLeft = new Uint8Array(total);
  const value = new Float64Array(total * w);
  const roots = new Int32Array(nTrees);
  let base = 0;
  est.trees.forEach((t, k) => {
    roots[k] = base;
    for (let i = 0; i < t.feature.length; i++) {
      feature[base + i] = t.feature[i]!;
      threshold[base + i] = t.threshold[i]!;
      left[base + i] = base + t.left[i]!;
      right[base + i] = base + t.right[i]!;
      missingLeft[base + i] = t.missing_left?.[i] ?? 0;
      for (let c = 0; c < w; c++) value[(base + i) * w + c] = t.value[i * w + c]!;
      if (est.normalize_leaves && t.feature[i]! < 0) {
        // predict_proba of one tree: counts / their sum (a sum of 0 divides by 1).
        let s = npSum(value, (base + i) * w, w);
        if (s === 0) s = 1;
        for (let c = 0; c < w; c++) value[(base + i) * w + c]! /= s;
      }
    }
    base += t.feature.length;
  });
  const f32 = est.compare === "float32";
  const mean = est.aggregate === "mean";
  const init = initsOf(est.init, m);
  const scale = est.scale;
  const dense = new Float64Array(nFeatures);
  const acc = new Float64Array(m);
  return {
    outputs: m,
    raw(idx, val, nnz, out) {
      if (f32) for (let j = 0; j < nnz; j++) dense[idx[j]!] = Math.fround(val[j]!);
      else for (let j = 0; j < nnz; j++) dense[idx[j]!] = val[j]!;
      if (mean) acc.fill(0);
      else acc.set(init);
      for (let t = 0; t < nTrees; t++) {
        let node = roots[t]!;
        let f: number;
        while ((f = feature[node]!) >= 0) {
          const x = dense[f]!;
          node = x <= threshold[node]! || (x !== x && missingLeft[node] === 1) ? left[node]! : right[node]!;
        }
        if (w === 1) {
          const o = t % m;
          acc[o] = mean ? acc[o]! + value[node]! : acc[o]! + scale * value[node]!;
        } else for (let c = 0; c < w; c++) acc[c] = mean ? acc[c]! + value[node * w + c]! : acc[c]! + scale * value[node * w + c]!;
      }
      for (let j = 0; j < nnz; j++) dense[idx[j]!] = 0;
      for (let o = 0; o < m; o++) out[o] = mean ? init[o]! + scale * (acc[o]! / nTrees) : acc[o]!;
    },
  };
}
