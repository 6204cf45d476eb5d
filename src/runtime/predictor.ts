// The one prediction path: raw ride -> feature dict -> DictVectorizer vector -> estimator.
// Compiled once per artifact; every command (score, serve, stream, verify) calls these functions.

import type { ClassifierSpec, InputSpec, ModelArtifact } from "../artifact/types.js";
import type { Column } from "../columns.js";
import { InputError } from "../errors.js";
import { BatchWork, coercedEntries, loadColumn, type RowError } from "./batch-inputs.js";
import { type ClassifierScorer, compileClassifier, compileRaw } from "./classifier.js";
import { type FieldPlan, planFields } from "./fields.js";
import { type FusedField, fusedLinear } from "./linear-fused.js";
import { NumberIds } from "./number-ids.js";
import { type BatchEstimate, compileTrees, type SparseBatch } from "./trees.js";
import { compileScalers, type Scaling } from "./scalers.js";
import { vectorizeField } from "./vectorize.js";
import { compileXGBoost } from "./xgboost.js";

export type { RowError } from "./batch-inputs.js";

export interface BatchResult {
  /** One prediction per row (a classifier's: the index of the predicted class); NaN where the row was rejected (listed in errors). */
  predictions: Float64Array;
  /** Classifiers: k probabilities per row (row r's at [r * k, r * k + k)), in the order of classifier.classes. */
  probabilities?: Float64Array;
  errors: RowError[];
  /** Threads that computed this batch (tree ensembles may split a large batch; see CompileOptions). */
  threads: number;
}

/** Columnar batch: one column per input name (plain arrays, typed arrays, dictionary columns). */
export type Columns = Record<string, Column | undefined>;

export interface Predictor {
  readonly artifact: ModelArtifact;
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly InputSpec[];
  /** The classes and link of a classifier; null for a regressor. */
  readonly classifier: ClassifierSpec | null;
  /** Score one ride given as an object keyed by input name (a classifier: the class index). Throws InputError naming the field. */
  predict(ride: Readonly<Record<string, unknown>>): number;
  /** A classifier's class index and probabilities for one ride (the array is reused by the next call). Throws InputError. */
  classify(ride: Readonly<Record<string, unknown>>): { index: number; probabilities: Float64Array };
  /** Score n rows of a columnar batch; a bad row is reported in errors, never dropped or zeroed. out/probaOut: reused when large enough. */
  predictColumns(columns: Columns, n: number, out?: Float64Array, probaOut?: Float64Array): BatchResult;
}

export interface CompileOptions {
  /** Threads a large batch may use (tree ensembles only; default 1: the calling thread alone). */
  threads?: number;
}

/**
 * Compile an artifact into a predictor. Validation is the caller's job (readArtifact does it).
 * Every batch runs the same stages: its inputs coerced into typed columns (batch-inputs.ts), vectorized
 * field by field as planned once here (fields.ts, vectorize.ts), then scored (scoreRows below).
 */
export function compile(artifact: ModelArtifact, options: CompileOptions = {}): Predictor {
  const inputs = artifact.inputs;
  const nIn = inputs.length;
  const plan = planFields(artifact, new Map(inputs.map((inp, i) => [inp.name, i]))); // stage 1
  const { nFields } = plan;
  const scoring = compileScoring(artifact, options); // stage 2
  const { spec, classifier, scaling } = scoring;
  const work = new BatchWork(inputs, nFields); // stage 3's arrays, reused from batch to batch
  // A linear model of pairs and numbers scores typed columns in one pass per field (linear-fused.ts).
  const fused = fusedFor(scoring, plan, inputs);
  const entries = (i: number, dictionary: ArrayLike<unknown>) => coercedEntries(work, i, dictionary);
  // Category inputs given as numbers are taken as dictionary columns where they can be (number-ids.ts).
  const numberIds = inputs.map((inp) => (inp.type === "category" ? new NumberIds() : undefined));
  const cols: (Column | undefined)[] = inputs.map(() => undefined);

  /** Stages 3 and 4 on rows 0..n-1: predictions (and probabilities) written, rejected rows' errors pushed, threads returned. */
  function run(
    columns: readonly (Column | undefined)[],
    n: number,
    predictions: Float64Array,
    probabilities: Float64Array | undefined,
    errors: RowError[],
  ): number {
    work.start(n);
    for (let i = 0; i < nIn; i++) loadColumn(work, i, columns[i], n, errors);
    for (let k = 0; k < nFields; k++) vectorizeField(plan, work, k, n);
    const { bad, fieldCol, fieldVal, cap } = work;
    scaling?.apply(fieldCol, fieldVal, cap, nFields, n);
    const threads = scoreRows(scoring, { col: fieldCol, val: fieldVal, stride: cap, nFields }, n, bad, predictions, probabilities);
    if (probabilities) {
      const k = classifier!.k;
      for (let r = 0; r < n; r++) if (bad[r] === 1) probabilities.fill(NaN, r * k, r * k + k);
    }
    return threads;
  }

  function predictColumns(columns: Columns, n: number, out?: Float64Array, probaOut?: Float64Array): BatchResult {
    const predictions = out && out.length >= n ? out : new Float64Array(n);
    const k = classifier?.k ?? 0;
    const probabilities = classifier ? (probaOut && probaOut.length >= n * k ? probaOut : new Float64Array(n * k)) : undefined;
    const errors: RowError[] = [];
    for (let i = 0; i < nIn; i++) {
      const c = columns[inputs[i]!.name];
      cols[i] = c instanceof Float64Array && numberIds[i] !== undefined ? (numberIds[i]!.encode(c, n) ?? c) : c;
    }
    const done = fused !== null && fused(cols, n, predictions, entries);
    const threads = done ? 1 : run(cols, n, predictions, probabilities, errors);
    cols.fill(undefined); // hold no reference to the batch
    if (done) return { predictions, errors, threads };
    if (nIn > 1 && errors.length > 1) errors.sort((a, b) => a.row - b.row);
    return probabilities ? { predictions, probabilities, errors, threads } : { predictions, errors, threads };
  }

  // Stage 5: one ride is a batch of one: the same code path as every batch, its arrays kept from ride to ride.
  const one: unknown[][] = inputs.map(() => [undefined]);
  const oneOut = new Float64Array(1);
  const oneProba = new Float64Array(classifier?.k ?? 0);
  const oneErrors: RowError[] = [];
  function predict(ride: Readonly<Record<string, unknown>>): number {
    if (typeof ride !== "object" || ride === null || Array.isArray(ride)) throw new InputError("$", "a ride must be a JSON object");
    for (let i = 0; i < nIn; i++) one[i]![0] = ride[inputs[i]!.name];
    // Emptied only when it is not: setting an array's length calls into V8's runtime, too slow for every ride.
    if (oneErrors.length !== 0) oneErrors.length = 0;
    run(one, 1, oneOut, classifier ? oneProba : undefined, oneErrors);
    for (let i = 0; i < nIn; i++) one[i]![0] = undefined; // hold no reference to the request
    const e = oneErrors[0];
    if (e !== undefined) throw new InputError(e.field, e.reason);
    return oneOut[0]!;
  }
  function classify(ride: Readonly<Record<string, unknown>>): { index: number; probabilities: Float64Array } {
    if (!classifier) throw new Error(`${artifact.name} is not a classifier`);
    return { index: predict(ride), probabilities: oneProba };
  }

  return { artifact, name: artifact.name, version: artifact.version, inputs, classifier: spec, predict, classify, predictColumns };
}

/** The fused scorer of a plain linear model whose fields are dense pairs and numbers, else null. */
function fusedFor(s: Scoring, plan: FieldPlan, inputs: readonly InputSpec[]) {
  if (s.linear === null || s.linearDefaults !== null || s.scaling !== null || s.classifier !== null || s.trees !== null) return null;
  const fields: FusedField[] = [];
  for (const [k, f] of plan.fields.entries()) {
    const p = plan.fieldPairs[k];
    if (f.kind === "number") fields.push({ kind: "number", input: plan.fieldInput[k]!, column: plan.fieldColumn[k]! });
    else if (p?.dense) fields.push({ kind: "pair", a: p.a, b: p.b, dense: p.dense, width: p.width });
    else return null;
  }
  const kinds = inputs.map((inp) => (inp.type === "category" ? "category" : inp.type === "number" && inp.default === undefined ? "number" : "other"));
  return fusedLinear(fields, s.linear.coef, s.linear.intercept, kinds);
}

// ---- stage 2: how vectorized rows become predictions -----------------------------------------------------------------------

/**
 * How vectorized rows become predictions. A classifier scores row by row (k outputs each); a linear
 * regressor sums field by field over the whole batch; regression trees and boosters walk the batch tree by tree.
 */
interface Scoring {
  spec: ClassifierSpec | null;
  classifier: ClassifierScorer | null;
  linear: { coef: Float64Array; intercept: number } | null;
  /** A linear model on dense input adds sum(coef * default) once, then (value - default) per set feature. */
  linearDefaults: { offset: number; d: Float64Array } | null;
  trees: BatchEstimate | null;
  /** HistGradientBoosting's poisson/gamma losses: predict() is the log link's inverse of the raw sum. */
  expLink: boolean;
  /** Scalers between the vectorizer and the estimator; on dense input an unset feature may become non-zero. */
  scaling: Scaling | null;
  /** A classifier's row: its sparse vector (columns, values). */
  idx: Int32Array;
  val: Float64Array;
}

function compileScoring(artifact: ModelArtifact, options: CompileOptions): Scoring {
  const vec = artifact.features.vectorizer;
  const nFeatures = vec.feature_names.length;
  const spec = artifact.classifier ?? null;
  const classifier = spec ? compileClassifier(spec, compileRaw(artifact.estimator, nFeatures)) : null;
  const est = artifact.estimator;
  const linear = !classifier && est.kind === "linear" ? { coef: Float64Array.from(est.coef), intercept: est.intercept as number } : null;
  const scaling = compileScalers(artifact.features.scalers, nFeatures, vec.sparse !== false) ?? null;
  const defaults = scaling?.defaults ?? null;
  const linearDefaults = linear && defaults ? { offset: defaults.reduce((acc, d, c) => acc + linear.coef[c]! * d, 0), d: defaults } : null;
  const trees = classifier
    ? null
    : est.kind === "tree_ensemble"
      ? compileTrees(est, options.threads)
      : est.kind === "xgboost"
        ? compileXGBoost(est, nFeatures, defaults, options.threads)
        : null;
  const nFields = artifact.features.fields.length;
  const expLink = est.kind === "tree_ensemble" && est.link === "exp";
  return { spec, classifier, linear, linearDefaults, trees, expLink, scaling, idx: new Int32Array(nFields), val: new Float64Array(nFields) };
}

// ---- stage 4: scoring the vectorized rows --------------------------------------------------------

/** Predictions (and a classifier's probabilities) of rows 0..n-1 not marked bad; NaN for bad ones. Returns the threads used. */
function scoreRows(s: Scoring, batch: SparseBatch, n: number, bad: Uint8Array, predictions: Float64Array, probabilities: Float64Array | undefined): number {
  const { col: fieldCol, val: fieldVal, stride: cap, nFields } = batch;
  const { linear, linearDefaults, trees, classifier, idx, val } = s;
  if (linear !== null) {
    // Column-wise, with each row's float operations in scipy's csr_matvec order (acc = 0, + each present
    // field's term in field order), then + intercept_: the same bits as scikit-learn.
    const { coef, intercept } = linear;
    predictions.fill(linearDefaults?.offset ?? 0, 0, n);
    for (let k = 0; k < nFields; k++) {
      const base = k * cap;
      for (let r = 0; r < n; r++) {
        const col = fieldCol[base + r]!;
        if (col >= 0) predictions[r]! += linearDefaults ? (fieldVal[base + r]! - linearDefaults.d[col]!) * coef[col]! : fieldVal[base + r]! * coef[col]!;
      }
    }
    for (let r = 0; r < n; r++) predictions[r] = bad[r] === 1 ? NaN : predictions[r]! + intercept;
    return 1;
  }
  if (trees) {
    const threads = trees(batch, n, bad, predictions);
    if (s.expLink) for (let r = 0; r < n; r++) predictions[r] = Math.exp(predictions[r]!);
    return threads;
  }
  const k = classifier!.k;
  for (let r = 0; r < n; r++) {
    if (bad[r] === 1) {
      predictions[r] = NaN;
      continue;
    }
    // The row's sparse vector, in field order (the order scikit-learn sums in).
    let nnz = 0;
    for (let f = 0, at = r; f < nFields; f++, at += cap) {
      const col = fieldCol[at]!;
      if (col >= 0) {
        idx[nnz] = col;
        val[nnz++] = fieldVal[at]!;
      }
    }
    predictions[r] = classifier!.score(idx, val, nnz, probabilities!, r * k);
  }
  return 1;
}
