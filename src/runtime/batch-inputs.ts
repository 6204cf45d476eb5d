// Stage 3a of a predictor (predictor.ts): a batch's inputs coerced into typed columns, one per input,
// by the one coercion rule (coerce.ts). vectorize.ts (stage 3b) reads these columns.
import type { InputSpec } from "../artifact/types.js";
import { type Column, type DictColumn, isDict, materialize, smallId } from "../columns.js";
import { InputError } from "../errors.js";
import { coerceCategory, coerceNumber, isMissing } from "./coerce.js";

export interface RowError {
  /** 0-based row index within the batch. */
  row: number;
  field: string;
  reason: string;
}

/** A dictionary's entries coerced once each, plus entry m (the dictionary's length) for a missing value. */
export interface CoercedDictionary {
  readonly dictionary: ArrayLike<unknown>;
  readonly coerced: (string | undefined)[];
  /** Why entry j cannot be used, if it cannot. */
  readonly problem: (string | undefined)[];
  readonly usable: Uint8Array;
  /** smallId of each coerced entry: -1 absent, -2 not a small id. */
  readonly ids: Int32Array;
}

/**
 * A predictor's work arrays for stage 3, grown on demand and reused: one typed column per input and one
 * (vocabulary column, value) pair per feature field and row. A batch's contents are valid until the next.
 */
export class BatchWork {
  cap = 0;
  /** 1: the row has an error (its first one is in the batch's errors). */
  bad = new Uint8Array(0);
  /** Number inputs (NaN = absent). */
  num: Float64Array[] = [];
  /** Category inputs (undefined = absent). */
  readonly cat: (string | undefined)[][];
  // Category inputs read from a dictionary column get each row's entry (catEnt) and small id (catId:
  // smallId of its value; -1 absent, -2 not a small id), computed once per entry: pairs of small ids
  // then never touch a string, and cat[i] is filled from the entries only if a field asks (catStrings).
  catId: Int32Array[] = [];
  catEnt: Int32Array[] = [];
  readonly catIdValid: Uint8Array;
  /** 1: cat[i] holds this batch's strings. */
  readonly catFilled: Uint8Array;
  /** The last dictionary seen per input, coerced: a row group's batches share one dictionary. */
  readonly dictCache: (CoercedDictionary | undefined)[];
  /** [k * cap + r]: the vocabulary column field k sets for row r, -1 none. */
  fieldCol = new Int32Array(0);
  fieldVal = new Float64Array(0);

  constructor(
    readonly inputs: readonly InputSpec[],
    readonly nFields: number,
  ) {
    this.cat = inputs.map(() => []);
    this.catIdValid = new Uint8Array(inputs.length);
    this.catFilled = new Uint8Array(inputs.length);
    this.dictCache = inputs.map(() => undefined);
  }

  /** Room for n rows, every one of them good. */
  start(n: number): void {
    if (n > this.cap) this.grow(n);
    this.bad.fill(0, 0, n);
  }

  private grow(n: number): void {
    const cap = (this.cap = Math.max(n, 2 * this.cap));
    const { inputs } = this;
    this.bad = new Uint8Array(cap);
    this.catId = inputs.map((inp) => new Int32Array(inp.type === "category" ? cap : 0));
    this.catEnt = inputs.map((inp) => new Int32Array(inp.type === "category" ? cap : 0));
    this.num = inputs.map((inp) => (inp.type === "category" ? new Float64Array(0) : new Float64Array(cap)));
    this.fieldCol = new Int32Array(this.nFields * cap);
    this.fieldVal = new Float64Array(this.nFields * cap);
  }
}

/** Input i of rows 0..n-1 coerced into w.cat[i] or w.num[i]; a row's first bad input is its error. */
export function loadColumn(w: BatchWork, i: number, column: Column | undefined, n: number, errors: RowError[]): void {
  const spec = w.inputs[i]!;
  const isCat = spec.type === "category";
  w.catIdValid[i] = 0;
  w.catFilled[i] = 1;
  if (column !== undefined && isDict(column)) {
    if (isCat) loadDictionary(w, i, column, n, errors);
    else loadValues(w, i, materialize(column), n, errors);
  } else if (!isCat && column instanceof Float64Array && spec.default === undefined) loadDoubles(w, i, column, n, errors);
  else loadValues(w, i, column, n, errors);
}

/** Parquet doubles: NaN is missing; no boxing, no coercion. */
function loadDoubles(w: BatchWork, i: number, col: Float64Array, n: number, errors: RowError[]): void {
  const spec = w.inputs[i]!;
  const { bad } = w;
  const x = w.num[i]!;
  for (let r = 0; r < n; r++) {
    const v = col[r]!;
    if (v === v && v !== Infinity && v !== -Infinity) x[r] = v;
    else if (bad[r] === 0) {
      if (v === v) fail(bad, r, spec.name, `expected a finite number, got ${v}`, errors);
      else if (spec.required) fail(bad, r, spec.name, "is required but missing", errors);
      else x[r] = NaN;
    }
  }
}

/** Any other column (or none: every row missing): each value through the coercion rule. */
function loadValues(w: BatchWork, i: number, col: ArrayLike<unknown> | undefined, n: number, errors: RowError[]): void {
  const spec = w.inputs[i]!;
  const isCat = spec.type === "category";
  const { bad } = w;
  const c = w.cat[i]!;
  const x = w.num[i]!;
  for (let r = 0; r < n; r++) {
    if (bad[r] === 1) continue;
    try {
      const v = coerceValue(spec, col === undefined ? undefined : col[r]);
      if (isCat) c[r] = v as string | undefined;
      else x[r] = v === undefined ? NaN : (v as number);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      fail(bad, r, e.field, e.reason, errors);
    }
  }
}

/** A dictionary column: each distinct value is coerced once, rows take their entry and its id by index. */
function loadDictionary(w: BatchWork, i: number, col: DictColumn, n: number, errors: RowError[]): void {
  const spec = w.inputs[i]!;
  const { dictionary, indices } = col;
  // Entry m stands for a missing value (index -1): the default, absent, or an error.
  const { problem, ids, usable } = coercedEntries(w, i, dictionary);
  const m = dictionary.length;
  const { bad } = w;
  const id = w.catId[i]!;
  const ent = w.catEnt[i]!;
  // Set before the loop, not after: V8 compiles the hot loop on the stack (OSR) before anything after
  // it has run, and code after it then deoptimized on every call (a deopt per batch and column).
  w.catIdValid[i] = 1;
  w.catFilled[i] = 0;
  for (let r = 0; r < n; r++) {
    if (bad[r] === 1) continue;
    const j = indices[r]! < 0 ? m : indices[r]!;
    if (usable[j] === 1) {
      ent[r] = j;
      id[r] = ids[j]!;
    } else fail(bad, r, spec.name, problem[j] ?? `dictionary index ${indices[r]} is past the column's ${m} entries`, errors);
  }
}

/** Input i's dictionary, its entries coerced (kept while the input's batches share the dictionary). */
export function coercedEntries(w: BatchWork, i: number, dictionary: ArrayLike<unknown>): CoercedDictionary {
  let cached = w.dictCache[i];
  if (cached?.dictionary !== dictionary) cached = w.dictCache[i] = coerceDictionary(w.inputs[i]!, dictionary);
  return cached;
}

/** Input i's coerced values of rows 0..n-1 (rows already bad are left stale: their results are dropped). */
export function catStrings(w: BatchWork, i: number, n: number): (string | undefined)[] {
  const c = w.cat[i]!;
  if (w.catFilled[i] === 1) return c;
  const { coerced } = w.dictCache[i]!;
  const { bad } = w;
  const ent = w.catEnt[i]!;
  for (let r = 0; r < n; r++) if (bad[r] === 0) c[r] = coerced[ent[r]!];
  w.catFilled[i] = 1;
  return c;
}

function coerceDictionary(spec: InputSpec, dictionary: ArrayLike<unknown>): CoercedDictionary {
  const m = dictionary.length;
  const coerced = new Array<string | undefined>(m + 1);
  const problem = new Array<string | undefined>(m + 1);
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

/** smallId of a category value, -2 when it is not one. */
export function idOf(v: string): number {
  const x = smallId(v);
  return x >= 0 ? x : -2;
}

function fail(bad: Uint8Array, r: number, field: string, reason: string, errors: RowError[]): void {
  bad[r] = 1;
  errors.push({ row: r, field, reason });
}
