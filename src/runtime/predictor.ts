// The one prediction path: raw ride -> feature dict -> DictVectorizer vector -> estimator.
// Compiled once per artifact; every command (score, serve, stream, verify) calls these functions.

import type { ClassifierSpec, FeatureField, InputSpec, ModelArtifact } from "../artifact/types.js";
import { isDict, materialize, smallId, smallIdIn, type Column, type DictColumn } from "../columns.js";
import { InputError } from "../errors.js";
import { type ClassifierScorer, compileClassifier, compileRaw } from "./classifier.js";
import { coerceCategory, coerceNumber, isMissing } from "./coerce.js";
import { type BatchEstimate, compileTrees, type SparseBatch } from "./trees.js";
import { compileScalers, type Scaling } from "./scalers.js";
import { type FusedField, fusedLinear } from "./linear-fused.js";
import { compileXGBoost } from "./xgboost.js";

export interface RowError {
  /** 0-based row index within the batch. */
  row: number;
  field: string;
  reason: string;
}

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

type Part = string | number; // template literal text, or an input index

export interface CompileOptions {
  /** Threads a large batch may use (tree ensembles only; default 1: the calling thread alone). */
  threads?: number;
}

/** Compile an artifact into a predictor. Validation is the caller's job (readArtifact does it). */
export function compile(artifact: ModelArtifact, options: CompileOptions = {}): Predictor {
  const inputs = artifact.inputs;
  const nIn = inputs.length;
  const inputIndex = new Map(inputs.map((inp, i) => [inp.name, i]));
  // Stage 1: what each feature field reads and which vocabulary columns it may set (planFields).
  const { fields, nFields, fieldColumn, fieldInput, fieldParts, fieldVocab, fieldPairs } = planFields(artifact, inputIndex);
  // Stage 2: how a vectorized row becomes a prediction (compileScoring).
  const scoring = compileScoring(artifact, options);
  const { spec, classifier, scaling } = scoring;
  // A linear model of pairs and numbers scores typed columns in one pass per field (linear-fused.ts).
  const fused = fusedFor(scoring, fields, fieldPairs, fieldInput, fieldColumn, inputs);

  // Stage 3: a batch's inputs coerced into typed columns (loadColumn, loadDictionary), then vectorized
  // field by field (vectorizeField); predictColumns runs stages 3 and 4 (scoreRows) on every batch.
  // Per-batch work arrays, grown on demand and reused: one typed column per input and per field.
  let cap = 0;
  let bad = new Uint8Array(0); // 1: the row has an error
  let num: Float64Array[] = []; // number inputs (NaN = absent)
  const cat: (string | undefined)[][] = inputs.map(() => []); // category inputs (undefined = absent)
  // Category inputs read from a dictionary column get each row's entry (catEnt) and small id (catId:
  // smallId of its value; -1 absent, -2 not a small id), computed once per entry: pairs of small ids
  // then never touch a string, and cat[i] is filled from the entries only if a field asks (catStrings).
  let catId: Int32Array[] = [];
  let catEnt: Int32Array[] = [];
  const catIdValid = new Uint8Array(nIn);
  const catFilled = new Uint8Array(nIn); // cat[i] holds this batch's strings
  let fieldCol = new Int32Array(0); // [k * cap + r]: the vocabulary column field k sets for row r, -1 none
  let fieldVal = new Float64Array(0);
  function grow(n: number): void {
    if (n <= cap) return;
    cap = Math.max(n, 2 * cap);
    bad = new Uint8Array(cap);
    catId = inputs.map((inp) => new Int32Array(inp.type === "category" ? cap : 0));
    catEnt = inputs.map((inp) => new Int32Array(inp.type === "category" ? cap : 0));
    num = inputs.map((inp) => (inp.type === "category" ? new Float64Array(0) : new Float64Array(cap)));
    fieldCol = new Int32Array(nFields * cap);
    fieldVal = new Float64Array(nFields * cap);
  }

  /** Input i of rows 0..n-1 coerced into cat[i] or num[i]; a row's first bad input is its error. */
  function loadColumn(i: number, column: Column | undefined, n: number, errors: RowError[]): void {
    const spec = inputs[i]!;
    const isCat = spec.type === "category";
    const c = cat[i]!;
    const x = num[i]!;
    catIdValid[i] = 0;
    catFilled[i] = 1;
    if (column !== undefined && isDict(column)) {
      if (isCat) {
        loadDictionary(i, column, n, errors);
        return;
      }
      column = materialize(column);
    }
    const col = column;
    if (!isCat && col instanceof Float64Array && spec.default === undefined) {
      // Parquet doubles: NaN is missing; no boxing, no coercion.
      for (let r = 0; r < n; r++) {
        const v = col[r]!;
        if (v === v && v !== Infinity && v !== -Infinity) x[r] = v;
        else if (bad[r] === 0) {
          if (v === v) fail(r, spec.name, `expected a finite number, got ${v}`, errors);
          else if (spec.required) fail(r, spec.name, "is required but missing", errors);
          else x[r] = NaN;
        }
      }
      return;
    }
    for (let r = 0; r < n; r++) {
      if (bad[r] === 1) continue;
      try {
        const v = coerceValue(spec, col === undefined ? undefined : col[r]);
        if (isCat) c[r] = v as string | undefined;
        else x[r] = v === undefined ? NaN : (v as number);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        fail(r, e.field, e.reason, errors);
      }
    }
  }

  // The last dictionary seen per input, coerced: a row group's batches share one dictionary.
  type CoercedDictionary = ReturnType<typeof coerceDictionary>;
  const dictCache: (CoercedDictionary | undefined)[] = inputs.map(() => undefined);

  /** A dictionary column: each distinct value is coerced once, rows take their entry and its id by index. */
  function loadDictionary(i: number, col: DictColumn, n: number, errors: RowError[]): void {
    const spec = inputs[i]!;
    const { dictionary, indices } = col;
    let cached = dictCache[i];
    if (cached?.dictionary !== dictionary) cached = dictCache[i] = coerceDictionary(spec, dictionary);
    // Entry m stands for a missing value (index -1): the default, absent, or an error.
    const { problem, ids, usable } = cached;
    const m = dictionary.length;
    const id = catId[i]!;
    const ent = catEnt[i]!;
    // Set before the loop, not after: V8 compiles the hot loop on the stack (OSR) before anything after
    // it has run, and code after it then deoptimized on every call (a deopt per batch and column).
    catIdValid[i] = 1;
    catFilled[i] = 0;
    for (let r = 0; r < n; r++) {
      if (bad[r] === 1) continue;
      const j = indices[r]! < 0 ? m : indices[r]!;
      if (usable[j] === 1) {
        ent[r] = j;
        id[r] = ids[j]!;
      } else fail(r, spec.name, problem[j] ?? `dictionary index ${indices[r]} is past the column's ${m} entries`, errors);
    }
  }

  /** A dictionary input's entries coerced (cached while its batches share the dictionary). */
  function coercedEntries(i: number, dictionary: ArrayLike<unknown>): CoercedDictionary {
    let cached = dictCache[i];
    if (cached?.dictionary !== dictionary) cached = dictCache[i] = coerceDictionary(inputs[i]!, dictionary);
    return cached;
  }

  /** Input i's coerced values of rows 0..n-1 (rows already bad are left stale: their results are dropped). */
  function catStrings(i: number, n: number): (string | undefined)[] {
    const c = cat[i]!;
    if (catFilled[i] === 1) return c;
    const { coerced } = dictCache[i]!;
    const ent = catEnt[i]!;
    for (let r = 0; r < n; r++) if (bad[r] === 0) c[r] = coerced[ent[r]!];
    catFilled[i] = 1;
    return c;
  }

  /** Each entry coerced once, plus entry m for a missing value (index -1). */
  function coerceDictionary(spec: InputSpec, dictionary: ArrayLike<unknown>) {
    const m = dictionary.length;
    const coerced = new Array<string | undefined>(m + 1);
    const problem = new Array<string | undefined>(m + 1); // why entry j cannot be used, if it cannot
    for (let j = 0; j <= m; j++) {
      try {
        coerced[j] = coerceValue(spec, j < m ? dictionary[j] : undefined) as string | undefined;
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        problem[j] = e.reason;
      }
    }
    const usable = Uint8Array.from(problem, (p) => (p === undefined ? 1 : 0));
    return { dictionary, coerced, problem, usable, ids: Int32Array.from(coerced, (v) => (v === undefined ? -1 : idOf(v))) };
  }

  /**
   * A raw value as the model sees it: coerced, the input's default where missing, undefined where an
   * optional input is absent. Throws InputError naming the field.
   */
  function coerceValue(spec: InputSpec, v: unknown): string | number | undefined {
    if (isMissing(v)) {
      if (spec.default !== undefined) v = spec.default;
      else if (spec.required) throw new InputError(spec.name, "is required but missing");
      else return undefined;
    }
    return spec.type === "category" ? coerceCategory(spec.name, v) : coerceNumber(spec.name, v);
  }

  function idOf(v: string): number {
    const x = smallId(v);
    return x >= 0 ? x : -2;
  }

  function fail(r: number, field: string, reason: string, errors: RowError[]): void {
    bad[r] = 1;
    errors.push({ row: r, field, reason });
  }

  /** Field k's vocabulary column (and value) for rows 0..n-1, as DictVectorizer would set them. */
  function vectorizeField(k: number, n: number): void {
    const f: FeatureField = fields[k]!;
    const base = k * cap;
    if (f.kind === "number") {
      const x = num[fieldInput[k]!]!;
      const column = fieldColumn[k]!;
      for (let r = 0; r < n; r++) {
        const v = x[r]!;
        // An absent optional input gives DictVectorizer no key; a name outside the vocabulary, no column.
        fieldCol[base + r] = v === v && column >= 0 ? column : -1;
        fieldVal[base + r] = v;
      }
      return;
    }
    const pairs = fieldPairs[k]!;
    if (pairs !== null) {
      const { index, dense, width } = pairs;
      // Small ids come ready from dictionary columns, else each value is parsed (-2: not a small id).
      const ia = catIdValid[pairs.a] === 1 ? catId[pairs.a]! : null;
      const ib = catIdValid[pairs.b] === 1 ? catId[pairs.b]! : null;
      if (ia !== null && ib !== null && dense !== null) {
        // Both from dictionaries (Parquet zone ids): strings only for a pair that is not two small ids.
        for (let r = 0; r < n; r++) {
          let col = -1;
          if (bad[r] === 0) {
            const x = ia[r]!;
            const y = ib[r]!;
            if (x >= 0 && y >= 0) col = y < width && x * width + y < dense.length ? dense[x * width + y]! : -1;
            else if (x !== -1 && y !== -1) col = index().get(catStrings(pairs.a, n)[r]!)?.get(catStrings(pairs.b, n)[r]!) ?? -1;
          }
          fieldCol[base + r] = col;
          fieldVal[base + r] = 1;
        }
        return;
      }
      const a = catStrings(pairs.a, n);
      const b = catStrings(pairs.b, n);
      for (let r = 0; r < n; r++) {
        const av = a[r];
        const bv = b[r];
        let col = -1;
        if (bad[r] === 0 && av !== undefined && bv !== undefined) {
          const x = dense === null ? -2 : ia !== null ? ia[r]! : idOf(av);
          const y = x < 0 ? -2 : ib !== null ? ib[r]! : idOf(bv);
          // A pair of small ids reads the dense table (outside it: not in the vocabulary); anything else the Maps.
          if (y >= 0) col = y < width && x * width + y < dense!.length ? dense![x * width + y]! : -1;
          else col = index().get(av)?.get(bv) ?? -1;
        }
        fieldCol[base + r] = col;
        fieldVal[base + r] = 1;
      }
      return;
    }
    const vocab = fieldVocab[k]!;
    const parts = fieldParts[k]!;
    for (let r = 0; r < n; r++) {
      let s: string | undefined;
      if (parts === null) s = catStrings(fieldInput[k]!, n)[r];
      else {
        s = "";
        for (const p of parts) {
          if (typeof p === "string") s += p;
          else {
            const v = catStrings(p, n)[r];
            if (v === undefined) {
              s = undefined;
              break;
            }
            s += v;
          }
        }
      }
      // An unseen category contributes nothing, exactly as DictVectorizer.transform ignores it.
      fieldCol[base + r] = s === undefined ? -1 : (vocab.get(s) ?? -1);
      fieldVal[base + r] = 1;
    }
  }

  function predictColumns(columns: Columns, n: number, out?: Float64Array, probaOut?: Float64Array): BatchResult {
    const predictions = out && out.length >= n ? out : new Float64Array(n);
    const k = classifier?.k ?? 0;
    const probabilities = classifier ? (probaOut && probaOut.length >= n * k ? probaOut : new Float64Array(n * k)) : undefined;
    const errors: RowError[] = [];
    if (
      fused !== null &&
      fused(
        inputs.map((inp) => columns[inp.name]),
        n,
        predictions,
        coercedEntries,
      )
    )
      return { predictions, errors, threads: 1 };
    let threads = 1;
    grow(n);
    bad.fill(0, 0, n);
    for (let i = 0; i < nIn; i++) loadColumn(i, columns[inputs[i]!.name], n, errors);
    for (let k = 0; k < nFields; k++) vectorizeField(k, n);
    scaling?.apply(fieldCol, fieldVal, cap, nFields, n);
    threads = scoreRows(scoring, { col: fieldCol, val: fieldVal, stride: cap, nFields }, n, bad, predictions, probabilities);
    if (probabilities) for (let r = 0; r < n; r++) if (bad[r] === 1) probabilities.fill(NaN, r * k, r * k + k);
    if (nIn > 1 && errors.length > 1) errors.sort((a, b) => a.row - b.row);
    return probabilities ? { predictions, probabilities, errors, threads } : { predictions, errors, threads };
  }

  // Stage 5: one ride is a batch of one: the same code path as every batch.
  const one: unknown[][] = inputs.map(() => [undefined]);
  const oneColumns: Columns = Object.fromEntries(inputs.map((inp, i) => [inp.name, one[i]!]));
  const oneOut = new Float64Array(1);
  const oneProba = new Float64Array(classifier?.k ?? 0);
  function predict(ride: Readonly<Record<string, unknown>>): number {
    if (typeof ride !== "object" || ride === null || Array.isArray(ride)) throw new InputError("$", "a ride must be a JSON object");
    for (let i = 0; i < nIn; i++) one[i]![0] = ride[inputs[i]!.name];
    const { errors } = predictColumns(oneColumns, 1, oneOut, oneProba);
    for (let i = 0; i < nIn; i++) one[i]![0] = undefined; // hold no reference to the request
    if (errors.length) throw new InputError(errors[0]!.field, errors[0]!.reason);
    return oneOut[0]!;
  }
  function classify(ride: Readonly<Record<string, unknown>>): { index: number; probabilities: Float64Array } {
    if (!classifier) throw new Error(`${artifact.name} is not a classifier`);
    return { index: predict(ride), probabilities: oneProba };
  }

  return { artifact, name: artifact.name, version: artifact.version, inputs, classifier: spec, predict, classify, predictColumns };
}

/** The fused scorer of a plain linear model whose fields are dense pairs and numbers, else null. */
function fusedFor(s: Scoring, fields: FeatureField[], pairs: (PairIndex | null)[], fieldInput: number[], fieldColumn: number[], inputs: readonly InputSpec[]) {
  if (s.linear === null || s.linearDefaults !== null || s.scaling !== null || s.classifier !== null || s.trees !== null) return null;
  const plan: FusedField[] = [];
  for (const [k, f] of fields.entries()) {
    const p = pairs[k];
    if (f.kind === "number") plan.push({ kind: "number", input: fieldInput[k]!, column: fieldColumn[k]! });
    else if (p?.dense) plan.push({ kind: "pair", a: p.a, b: p.b, dense: p.dense, width: p.width });
    else return null;
  }
  const kinds = inputs.map((inp) => (inp.type === "category" ? "category" : inp.type === "number" && inp.default === undefined ? "number" : "other"));
  return fusedLinear(plan, s.linear.coef, s.linear.intercept, kinds);
}

// ---- stage 1: the feature fields ---------------------------------------------------------------------

/** Per feature field: what it reads and which vocabulary columns it may set. */
function planFields(artifact: ModelArtifact, inputIndex: Map<string, number>) {
  const vec = artifact.features.vectorizer;
  const vocab = new Map(vec.feature_names.map((name, i) => [name, i]));
  const fields = artifact.features.fields;
  // The vocabulary prefix ("PU_DO=") or the numeric feature's column (-1: not in the vocabulary).
  const fieldPrefix = fields.map((f) => f.name + vec.separator);
  const fieldColumn = fields.map((f) => (f.kind === "number" ? (vocab.get(f.name) ?? -1) : -1));
  const fieldInput = fields.map((f) => ("input" in f ? inputIndex.get(f.input)! : -1));
  const fieldParts = fields.map((f) => ("template" in f ? parseTemplate(f.template, inputIndex) : null));
  // category value -> column, per field, so the hot path does one Map lookup per categorical field.
  const fieldVocab = fields.map((f, k) => (f.kind === "category" ? vocabFor(vec.feature_names, fieldPrefix[k]!) : null));
  // "{A}<sep>{B}" templates (the course's PU_DO) are looked up as A then B, without building the string.
  const fieldPairs = fields.map((_, k) => pairIndex(fieldParts[k] ?? null, fieldVocab[k] ?? null));
  return { fields, nFields: fields.length, fieldPrefix, fieldColumn, fieldInput, fieldParts, fieldVocab, fieldPairs };
}

// ---- stage 2: the estimator -----------------------------------------------------------------------

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

// ---- helpers of stage 1 ---------------------------------------------------------------------------

function parseTemplate(template: string, inputIndex: Map<string, number>): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push(inputIndex.get(m[1]!)!);
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

interface PairIndex {
  a: number;
  b: number;
  /** left -> right -> column; built on first use (pairs of small ids never need it, and building it would slow start-up). */
  index(): Map<string, Map<string, number>>;
  /**
   * When both sides of every vocabulary value are small integers in canonical form (zone ids, "130"):
   * column = dense[a * width + b] (-1: not in the vocabulary), one array read instead of two Map lookups.
   */
  dense: Int32Array | null;
  width: number;
}

/**
 * A two-level index for a template of exactly two inputs around one literal, when every vocabulary
 * value splits on that literal in exactly one place (so the index answers exactly what the joined
 * string would). Otherwise null, and the string is built.
 */
function pairIndex(parts: Part[] | null, vocab: Map<string, number> | null): PairIndex | null {
  if (!parts || !vocab || parts.length !== 3) return null;
  const [a, lit, b] = parts;
  if (typeof a !== "number" || typeof lit !== "string" || typeof b !== "number" || lit === "") return null;
  // First pass, without building strings: every value splits once, and the two sides' small ids.
  const size = vocab.size;
  const xs = new Int32Array(size),
    ys = new Int32Array(size),
    cols = new Int32Array(size);
  let maxA = -1,
    maxB = -1,
    allInts = true,
    i = 0;
  for (const [value, col] of vocab) {
    const at = value.indexOf(lit);
    if (at < 0 || value.indexOf(lit, at + 1) >= 0) return null; // ambiguous: "1_2_3"
    const x = smallIdIn(value, 0, at),
      y = smallIdIn(value, at + lit.length, value.length);
    xs[i] = x;
    ys[i] = y;
    cols[i++] = col;
    if (x < 0 || y < 0) allInts = false;
    else {
      maxA = Math.max(maxA, x);
      maxB = Math.max(maxB, y);
    }
  }
  let built: Map<string, Map<string, number>> | undefined;
  const index = () => {
    if (built) return built;
    built = new Map();
    for (const [value, col] of vocab) {
      const at = value.indexOf(lit);
      const left = value.slice(0, at);
      let inner = built.get(left);
      if (!inner) built.set(left, (inner = new Map()));
      inner.set(value.slice(at + lit.length), col);
    }
    return built;
  };
  if (!allInts || maxA < 0) return { a, b, index, dense: null, width: 0 };
  const width = maxB + 1;
  const dense = new Int32Array((maxA + 1) * width).fill(-1);
  for (let j = 0; j < size; j++) dense[xs[j]! * width + ys[j]!] = cols[j]!;
  return { a, b, index, dense, width };
}

function vocabFor(featureNames: string[], prefix: string): Map<string, number> {
  const m = new Map<string, number>();
  featureNames.forEach((name, i) => {
    if (name.startsWith(prefix)) m.set(name.slice(prefix.length), i);
  });
  return m;
}
