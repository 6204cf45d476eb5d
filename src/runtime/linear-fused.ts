// A linear model read straight from typed columns: pair fields ("{A}_{B}") of two dictionary columns
// and number fields of Float64Array columns, the course's PU_DO + trip_distance on Parquet input. The
// general path takes a batch through load, coerce, vectorize and score, about nine passes over its rows
// and as many work arrays; this takes one pass per field and the final one. It scores a batch only if it
// can vouch for every row: any missing, non-finite or not-small-id value, or an index past its
// dictionary, makes it give the batch back, and the general path scores it and names each problem.
// Same bits: each row sums its fields' terms in field order starting from 0, then adds the intercept,
// exactly as scoreRows does (a pair's term is 1 * coef, which is coef).
import { isDict, type Column } from "../columns.js";

export type FusedField = { kind: "pair"; a: number; b: number; dense: Int32Array; width: number } | { kind: "number"; input: number; column: number };

/** A dictionary input's entries as the general path coerced them: entry m stands for a missing value. */
export interface CoercedEntries {
  /** smallId of the coerced entry; -1 absent (an optional input), -2 not a small id. */
  ids: Int32Array;
  /** 1: the entry coerced without a problem. */
  usable: Uint8Array;
}

export type Fused = (
  columns: readonly (Column | undefined)[],
  n: number,
  predictions: Float64Array,
  entries: (input: number, dictionary: ArrayLike<unknown>) => CoercedEntries,
) => boolean;

const UNUSABLE = -3;

const isDictColumn = (c: Column | undefined) => c !== undefined && isDict(c);

/**
 * The fused scorer, or null when the model is not of this shape. inputs: per input, "category" or
 * "number" (number inputs with a default go the general way, which fills it in).
 */
export function fusedLinear(fields: FusedField[], coef: Float64Array, intercept: number, inputs: ("category" | "number" | "other")[]): Fused | null {
  const used = new Set<number>();
  for (const f of fields) {
    if (f.kind === "pair") {
      if (inputs[f.a] !== "category" || inputs[f.b] !== "category") return null;
      used.add(f.a).add(f.b);
    } else {
      if (inputs[f.input] !== "number") return null;
      used.add(f.input);
    }
  }
  // Every input must be read by a field: an unused one would still need its checks.
  if (used.size !== inputs.length) return null;
  const tables = new WeakMap<CoercedEntries, Int32Array>();
  const tableOf = (e: CoercedEntries) => {
    let t = tables.get(e);
    if (!t) tables.set(e, (t = entryTable(e)));
    return t;
  };
  // Per field, the pair table of the last two dictionaries seen (a row group's batches share them).
  const pairs = fields.map(() => ({
    eA: undefined as Int32Array | undefined,
    eB: undefined as Int32Array | undefined,
    table: new Int32Array(0) as Int32Array,
  }));
  return (columns, n, predictions, entries) => {
    for (const f of fields) {
      if (f.kind === "pair" && !(isDictColumn(columns[f.a]) && isDictColumn(columns[f.b]))) return false;
      if (f.kind === "number" && !(columns[f.input] instanceof Float64Array)) return false;
    }
    predictions.fill(0, 0, n);
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.kind === "number") {
        if (!addNumbers(columns[f.input] as Float64Array, f.column, coef, n, predictions)) return false;
        continue;
      }
      const a = columns[f.a] as { dictionary: ArrayLike<unknown>; indices: Int32Array };
      const b = columns[f.b] as { dictionary: ArrayLike<unknown>; indices: Int32Array };
      const eA = tableOf(entries(f.a, a.dictionary));
      const eB = tableOf(entries(f.b, b.dictionary));
      if (eA.length * eB.length > MAX_PAIR_TABLE) {
        if (!addPairsByEntry(a.indices, eA, b.indices, eB, f, coef, n, predictions)) return false;
        continue;
      }
      const p = pairs[i]!;
      if (p.eA !== eA || p.eB !== eB) {
        p.table = pairTable(eA, eB, f);
        p.eA = eA;
        p.eB = eB;
      }
      if (!addPairs(a.indices, eA.length - 1, b.indices, eB.length - 1, p.table, coef, n, predictions)) return false;
    }
    for (let r = 0; r < n; r++) predictions[r] = predictions[r]! + intercept;
    return true;
  };
}

/** Per entry (m + 1 of them): its small id, -1 absent, -2 not a small id, UNUSABLE for a problem. */
function entryTable(e: CoercedEntries): Int32Array {
  const size = e.ids.length;
  const t = new Int32Array(size);
  for (let j = 0; j < size; j++) t[j] = e.usable[j] === 1 ? e.ids[j]! : UNUSABLE;
  return t;
}

/** + x * coef[column] for every row; false at a missing or non-finite value. */
function addNumbers(x: Float64Array, column: number, coef: Float64Array, n: number, predictions: Float64Array): boolean {
  for (let r = 0; r < n; r++) if (x[r]! - x[r]! !== 0) return false;
  if (column < 0) return true; // a number outside the vocabulary sets nothing
  const c = coef[column]!;
  for (let r = 0; r < n; r++) predictions[r] = predictions[r]! + x[r]! * c;
  return true;
}

/** Pair tables up to this many entries (4 MB; zone ids: 266 x 266); larger dictionaries look up by entry. */
const MAX_PAIR_TABLE = 1 << 20;
const NOTHING = -1; // the pair adds nothing: outside the vocabulary, or an absent (optional) input
const GIVE_BACK = -2; // the general path must look: a problem, or strings to look up

/**
 * Entry ja of A's dictionary and jb of B's (the last entry of each: the missing value) -> the pair's
 * column, NOTHING or GIVE_BACK, at ja * (entries of B) + jb: one look-up per row instead of three.
 */
function pairTable(eA: Int32Array, eB: Int32Array, f: { dense: Int32Array; width: number }): Int32Array {
  const { dense, width } = f;
  const table = new Int32Array(eA.length * eB.length);
  for (let ja = 0; ja < eA.length; ja++) {
    const x = eA[ja]!;
    for (let jb = 0; jb < eB.length; jb++) {
      const y = eB[jb]!;
      let t = NOTHING;
      if (x >= 0 && y >= 0) {
        const at = x * width + y;
        if (y < width && at < dense.length && dense[at]! >= 0) t = dense[at]!;
      } else if (x === UNUSABLE || y === UNUSABLE || (x !== -1 && y !== -1)) t = GIVE_BACK;
      table[ja * eB.length + jb] = t;
    }
  }
  return table;
}

/** + coef[pair's column] for every row whose pair is in the vocabulary; false where the general path must look. */
function addPairs(
  ia: Int32Array,
  mA: number,
  ib: Int32Array,
  mB: number,
  table: Int32Array,
  coef: Float64Array,
  n: number,
  predictions: Float64Array,
): boolean {
  // Entry m (the last) is the missing value: index -1 reads it. An index past it is not vouched for.
  const stride = mB + 1;
  for (let r = 0; r < n; r++) {
    const ja = ia[r]! < 0 ? mA : ia[r]!;
    const jb = ib[r]! < 0 ? mB : ib[r]!;
    if (ja > mA || jb > mB) return false;
    const t = table[ja * stride + jb]!;
    if (t >= 0) predictions[r] = predictions[r]! + coef[t]!;
    else if (t === GIVE_BACK) return false;
  }
  return true;
}

/** addPairs for dictionaries too large for a pair table: each row's entries, then the dense vocabulary. */
function addPairsByEntry(
  ia: Int32Array,
  eA: Int32Array,
  ib: Int32Array,
  eB: Int32Array,
  f: { dense: Int32Array; width: number },
  coef: Float64Array,
  n: number,
  predictions: Float64Array,
): boolean {
  const { dense, width } = f;
  const mA = eA.length - 1;
  const mB = eB.length - 1;
  for (let r = 0; r < n; r++) {
    const ja = ia[r]! < 0 ? mA : ia[r]!;
    const jb = ib[r]! < 0 ? mB : ib[r]!;
    if (ja > mA || jb > mB) return false;
    const x = eA[ja]!;
    const y = eB[jb]!;
    if (x >= 0 && y >= 0) {
      const at = x * width + y;
      if (y < width && at < dense.length) {
        const col = dense[at]!;
        if (col >= 0) predictions[r] = predictions[r]! + coef[col]!;
      }
    } else if (x === UNUSABLE || y === UNUSABLE || (x !== -1 && y !== -1)) return false;
  }
  return true;
}
