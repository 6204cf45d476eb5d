// The one prediction path: raw ride -> feature dict -> DictVectorizer vector -> estimator.
// Compiled once per artifact; every command (score, serve, stream, verify) calls these functions.

import type { Estimator, FeatureField, InputSpec, ModelArtifact, TreeEnsembleEstimator } from "../artifact/types.js";
import { InputError } from "../errors.js";
import { coerceCategory, coerceNumber, isMissing } from "./coerce.js";

export interface RowError {
  /** 0-based row index within the batch. */
  row: number;
  field: string;
  reason: string;
}

export interface BatchResult {
  /** One prediction per row; NaN where the row was rejected (listed in errors). */
  predictions: Float64Array;
  errors: RowError[];
}

/** Columnar batch: one array per input name (any array-like: plain arrays, typed arrays). */
export type Columns = Record<string, ArrayLike<unknown> | undefined>;

export interface Predictor {
  readonly artifact: ModelArtifact;
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly InputSpec[];
  /** Score one ride given as an object keyed by input name. Throws InputError naming the field. */
  predict(ride: Readonly<Record<string, unknown>>): number;
  /** Score n rows of a columnar batch; a bad row is reported in errors, never dropped or zeroed. */
  predictColumns(columns: Columns, n: number, out?: Float64Array): BatchResult;
}

type Part = string | number; // template literal text, or an input index

/** Compile an artifact into a predictor. Validation is the caller's job (readArtifact does it). */
export function compile(artifact: ModelArtifact): Predictor {
  const inputs = artifact.inputs;
  const nIn = inputs.length;
  const inputIndex = new Map(inputs.map((inp, i) => [inp.name, i]));
  const vec = artifact.features.vectorizer;
  const vocab = new Map(vec.feature_names.map((name, i) => [name, i]));
  const fields = artifact.features.fields;
  const nFields = fields.length;

  // Per field: the vocabulary prefix ("PU_DO=") or the numeric feature's column (-1: not in the vocabulary).
  const fieldPrefix = fields.map((f) => f.name + vec.separator);
  const fieldColumn = fields.map((f) => (f.kind === "number" ? (vocab.get(f.name) ?? -1) : -1));
  const fieldInput = fields.map((f) => ("input" in f ? inputIndex.get(f.input)! : -1));
  const fieldParts = fields.map((f) => ("template" in f ? parseTemplate(f.template, inputIndex) : null));
  // category value -> column, per field, so the hot path does one Map lookup per categorical field.
  const fieldVocab = fields.map((f, k) => (f.kind === "category" ? vocabFor(vec.feature_names, fieldPrefix[k]!) : null));
  // "{A}<sep>{B}" templates (the course's PU_DO) are looked up as A then B, without building the string.
  const fieldPairs = fields.map((_, k) => pairIndex(fieldParts[k] ?? null, fieldVocab[k] ?? null));

  // Reused buffers: no allocation per row beyond the category strings themselves.
  const values: (string | number | undefined)[] = new Array(nIn);
  const idx = new Int32Array(nFields);
  const val = new Float64Array(nFields);
  const estimate = compileEstimator(artifact.estimator, vec.feature_names.length);

  /** Coerce raw values (already placed in `values`) into the sparse vector; returns its length. */
  function vectorize(): number {
    let nnz = 0;
    for (let k = 0; k < nFields; k++) {
      const f: FeatureField = fields[k]!;
      if (f.kind === "number") {
        const v = values[fieldInput[k]!];
        if (v === undefined) continue; // optional input absent: DictVectorizer sees no key
        const col = fieldColumn[k]!;
        if (col >= 0) {
          idx[nnz] = col;
          val[nnz++] = v as number;
        }
      } else {
        const pairs = fieldPairs[k];
        if (pairs !== null) {
          const a = values[pairs.a];
          const b = values[pairs.b];
          if (a === undefined || b === undefined) continue;
          const col = pairs.index.get(a as string)?.get(b as string);
          if (col !== undefined) {
            idx[nnz] = col;
            val[nnz++] = 1;
          }
          continue;
        }
        const parts = fieldParts[k];
        let s: string;
        if (parts === null) {
          const v = values[fieldInput[k]!];
          if (v === undefined) continue;
          s = v as string;
        } else {
          s = "";
          let missing = false;
          for (const p of parts) {
            if (typeof p === "string") s += p;
            else {
              const v = values[p];
              if (v === undefined) missing = true;
              s += v as string;
            }
          }
          if (missing) continue;
        }
        const col = fieldVocab[k]!.get(s);
        // An unseen category contributes nothing, exactly as DictVectorizer.transform ignores it.
        if (col !== undefined) {
          idx[nnz] = col;
          val[nnz++] = 1;
        }
      }
    }
    return nnz;
  }

  function load(i: number, raw: unknown): void {
    const spec = inputs[i]!;
    let v: unknown = raw;
    if (isMissing(v)) {
      if (spec.default !== undefined) v = spec.default;
      else if (spec.required) throw new InputError(spec.name, "is required but missing");
      else {
        values[i] = undefined;
        return;
      }
    }
    values[i] = spec.type === "category" ? coerceCategory(spec.name, v) : coerceNumber(spec.name, v);
  }

  function predict(ride: Readonly<Record<string, unknown>>): number {
    if (typeof ride !== "object" || ride === null || Array.isArray(ride)) throw new InputError("$", "a ride must be a JSON object");
    for (let i = 0; i < nIn; i++) load(i, ride[inputs[i]!.name]);
    return estimate(idx, val, vectorize());
  }

  function predictColumns(columns: Columns, n: number, out?: Float64Array): BatchResult {
    const predictions = out && out.length >= n ? out : new Float64Array(n);
    const errors: RowError[] = [];
    const cols = inputs.map((inp) => columns[inp.name]);
    for (let r = 0; r < n; r++) {
      try {
        for (let i = 0; i < nIn; i++) {
          const c = cols[i];
          load(i, c === undefined ? undefined : c[r]);
        }
        predictions[r] = estimate(idx, val, vectorize());
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        predictions[r] = NaN;
        errors.push({ row: r, field: e.field, reason: e.reason });
      }
    }
    return { predictions, errors };
  }

  return { artifact, name: artifact.name, version: artifact.version, inputs, predict, predictColumns };
}

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
  index: Map<string, Map<string, number>>;
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
  const index = new Map<string, Map<string, number>>();
  for (const [value, col] of vocab) {
    const at = value.indexOf(lit);
    if (at < 0 || value.indexOf(lit, at + 1) >= 0) return null; // ambiguous: "1_2_3"
    const left = value.slice(0, at);
    let inner = index.get(left);
    if (!inner) index.set(left, (inner = new Map()));
    inner.set(value.slice(at + lit.length), col);
  }
  return { a, b, index };
}

function vocabFor(featureNames: string[], prefix: string): Map<string, number> {
  const m = new Map<string, number>();
  featureNames.forEach((name, i) => {
    if (name.startsWith(prefix)) m.set(name.slice(prefix.length), i);
  });
  return m;
}

type Estimate = (idx: Int32Array, val: Float64Array, nnz: number) => number;

function compileEstimator(est: Estimator, nFeatures: number): Estimate {
  if (est.kind === "linear") {
    const coef = Float64Array.from(est.coef);
    const intercept = est.intercept;
    // Same order as scipy's csr_matvec then "+ intercept_", so results match scikit-learn bit for bit.
    return (idx, val, nnz) => {
      let acc = 0;
      for (let j = 0; j < nnz; j++) acc += val[j]! * coef[idx[j]!]!;
      return acc + intercept;
    };
  }
  return compileTrees(est, nFeatures);
}

function compileTrees(est: TreeEnsembleEstimator, nFeatures: number): Estimate {
  const dense = new Float64Array(nFeatures); // zero except at the row's touched columns
  // All trees in one set of flat typed arrays (children made absolute): one walk, no per-tree objects.
  const nTrees = est.trees.length;
  const total = est.trees.reduce((n, t) => n + t.feature.length, 0);
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const left = new Int32Array(total);
  const right = new Int32Array(total);
  const value = new Float64Array(total);
  const missingLeft = new Uint8Array(total);
  const roots = new Int32Array(nTrees);
  let base = 0;
  est.trees.forEach((t, k) => {
    roots[k] = base;
    for (let i = 0; i < t.feature.length; i++) {
      feature[base + i] = t.feature[i]!;
      threshold[base + i] = t.threshold[i]!;
      left[base + i] = base + t.left[i]!;
      right[base + i] = base + t.right[i]!;
      value[base + i] = t.value[i]!;
      missingLeft[base + i] = t.missing_left?.[i] ?? 0;
    }
    base += t.feature.length;
  });
  // scikit-learn's trees compare float32(x) <= threshold: round the row's values once, not per node.
  const f32 = est.compare === "float32";
  const { init, scale } = est;
  const mean = est.aggregate === "mean";
  return (idx, val, nnz) => {
    if (f32) for (let j = 0; j < nnz; j++) dense[idx[j]!] = Math.fround(val[j]!);
    else for (let j = 0; j < nnz; j++) dense[idx[j]!] = val[j]!;
    // Boosting accumulates raw = init; raw += scale * tree(x) stage by stage (predict_stages,
    // _predict_iterations); forests sum the trees then divide (_accumulate_prediction). Same order
    // of float operations as scikit-learn, so results agree bit for bit.
    let acc = mean ? 0 : init;
    for (let k = 0; k < nTrees; k++) {
      let node = roots[k]!;
      let f: number;
      while ((f = feature[node]!) >= 0) {
        const x = dense[f]!;
        // NaN fails every comparison: it goes where missing_go_to_left says (right when absent).
        node = x <= threshold[node]! || (x !== x && missingLeft[node] === 1) ? left[node]! : right[node]!;
      }
      acc += mean ? value[node]! : scale * value[node]!;
    }
    for (let j = 0; j < nnz; j++) dense[idx[j]!] = 0;
    return mean ? init + scale * (acc / nTrees) : acc;
  };
}
