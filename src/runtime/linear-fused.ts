// A linear model read straight from typed columns: pair fields ("{A}_{B}") of two dictionary columns
// and number fields of Float64Array columns, the course's PU_DO + trip_distance on Parquet input. The
// general path takes a batch through load, coerce, vectorize and score, about nine passes over its rows
// and as many work arrays; this takes one pass per field and the final one, or a single pass for one pair
// field and one number field (the course's shape), each row's pair term one look-up in a table of terms
// per pair of dictionaries. It scores a batch only if it
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
    table: new Float64Array(0) as Float64Array,
  }));
  const tableFor = (i: number, f: FusedField & { kind: "pair" }, eA: Int32Array, eB: Int32Array) => {
    const p = pairs[i]!;
    if (p.eA !== eA || p.eB !== eB) {
      p.table = pairWeights(eA, eB, f, coef);
      p.eA = eA;
      p.eB = eB;
    }
    return p.table;
  };
  // The course's shape, one pair field and one number field (in either order): one pass over the rows.
  const two = twoFields(fields);
  return (columns, n, predictions, entries) => {
    for (const f of fields) {
      if (f.kind === "pair" && !(isDictColumn(columns[f.a]) && isDictColumn(columns[f.b]))) return false;
      if (f.kind === "number" && !(columns[f.input] instanceof Float64Array)) return false;
    }
    if (two !== null) {
      const { pair, number, pairFirst } = two;
      const a = columns[pair.a] as { dictionary: ArrayLike<unknown>; indices: Int32Array };
      const b = columns[pair.b] as { dictionary: ArrayLike<unknown>; indices: Int32Array };
      const eA = tableOf(entries(pair.a, a.dictionary));
      const eB = tableOf(entries(pair.b, b.dictionary));
      if (eA.length * eB.length <= MAX_PAIR_TABLE) {
        const table = tableFor(pairFirst ? 0 : 1, pair, eA, eB);
        const x = columns[number.input] as Float64Array;
        const c = coef[number.column]!;
        const mA = eA.length - 1;
        const mB = eB.length - 1;
        return pairFirst
          ? pairThenNumber(a.indices, mA, b.indices, mB, table, x, c, intercept, n, predictions)
          : numberThenPair(a.indices, mA, b.indices, mB, table, x, c, intercept, n, predictions);
      }
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
      if (!addPairs(a.indices, eA.length - 1, b.indices, eB.length - 1, tableFor(i, f, eA, eB), n, predictions)) return false;
    }
    for (let r = 0; r < n; r++) predictions[r] = predictions[r]! + intercept;
    return true;
  };
}

/** Exactly one pair field and one number field whose feature is in the vocabulary, else null. */
function twoFields(fields: FusedField[]) {
  if (fields.length !== 2) return null;
  const [f0, f1] = fields as [FusedField, FusedField];
  if (f0.kind === "pair" && f1.kind === "number" && f1.column >= 0) return { pair: f0, number: f1, pairFirst: true };
  if (f0.kind === "number" && f1.kind === "pair" && f0.column >= 0) return { pair: f1, number: f0, pairFirst: false };
  return null;
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

/** Pair tables up to this many entries (8 MB; zone ids: 266 x 266); larger dictionaries look up by entry. */
const MAX_PAIR_TABLE = 1 << 20;

/**
 * Entry ja of A's dictionary and jb of B's -> the pair's term, at slot (ja + 1) * (entries of B) + jb + 1,
 * slot 0 of each side being the missing value (the entry after the dictionary's last, which index -1 reads):
 * the row's indices + 1 address it directly. The term is 0 + coef (a row's sum starts from 0), 0 where the
 * pair adds nothing (outside the vocabulary, or an absent optional input), and NaN where the general path
 * must look (a problem, or strings to look up): a sum that is not finite gives the batch back.
 */
function pairWeights(eA: Int32Array, eB: Int32Array, f: { dense: Int32Array; width: number }, coef: Float64Array): Float64Array {
  const { dense, width } = f;
  const mA = eA.length - 1;
  const mB = eB.length - 1;
  const table = new Float64Array(eA.length * eB.length);
  for (let sa = 0; sa <= mA; sa++) {
    const x = eA[sa === 0 ? mA : sa - 1]!;
    for (let sb = 0; sb <= mB; sb++) {
      const y = eB[sb === 0 ? mB : sb - 1]!;
      let t = 0;
      if (x >= 0 && y >= 0) {
        const at = x * width + y;
        if (y < width && at < dense.length && dense[at]! >= 0) t = 0 + coef[dense[at]!]!;
      } else if (x === UNUSABLE || y === UNUSABLE || (x !== -1 && y !== -1)) t = NaN;
      table[sa * (mB + 1) + sb] = t;
    }
  }
  return table;
}

/** + the pair's term for every row; false where the general path must look. */
function addPairs(ia: Int32Array, mA: number, ib: Int32Array, mB: number, table: Float64Array, n: number, predictions: Float64Array): boolean {
  // Slots 0..m of each side: index -1 (missing) is slot 0; any other index outside the dictionary is not vouched for.
  const stride = mB + 1;
  for (let r = 0; r < n; r++) {
    const sa = ia[r]! + 1;
    const sb = ib[r]! + 1;
    if (sa >>> 0 > mA || sb >>> 0 > mB) return false;
    const s = predictions[r]! + table[sa * stride + sb]!;
    if (s - s !== 0) return false;
    predictions[r] = s;
  }
  return true;
}

/** The course's row, pair field first: ((0 + pair term) + x * c) + intercept, in one pass; false where the general path must look. */
function pairThenNumber(
  ia: Int32Array,
  mA: number,
  ib: Int32Array,
  mB: number,
  table: Float64Array,
  x: Float64Array,
  c: number,
  intercept: number,
  n: number,
  predictions: Float64Array,
): boolean {
  const stride = mB + 1;
  for (let r = 0; r < n; r++) {
    const sa = ia[r]! + 1;
    const sb = ib[r]! + 1;
    if (sa >>> 0 > mA || sb >>> 0 > mB) return false;
    // The term is already 0 + coef; x non-finite or the term NaN make the sum non-finite.
    const s = table[sa * stride + sb]! + x[r]! * c + intercept;
    if (s - s !== 0) return false;
    predictions[r] = s;
  }
  return true;
}

/** Number field first: ((0 + x * c) + pair term) + intercept, in one pass; false where the general path must look. */
function numberThenPair(
  ia: Int32Array,
  mA: number,
  ib: Int32Array,
  mB: number,
  table: Float64Array,
  x: Float64Array,
  c: number,
  intercept: number,
  n: number,
  predictions: Float64Array,
): boolean {
  const stride = mB + 1;
  for (let r = 0; r < n; r++) {
    const sa = ia[r]! + 1;
    const sb = ib[r]! + 1;
    if (sa >>> 0 > mA || sb >>> 0 > mB) return false;
    const s = 0 + x[r]! * c + table[sa * stride + sb]! + intercept;
    if (s - s !== 0) return false;
    predictions[r] = s;
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
