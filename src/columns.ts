// The columns that flow input -> predictor -> sink. A column is an array-like of cells, or a
// dictionary-encoded column as Parquet stores categories: a zone id column of a million rows is a few
// hundred distinct strings and an Int32Array, and every stage can work on the few hundred.

/**
 * Row r holds dictionary[indices[r]], or null where indices[r] < 0. A dictionary is never changed once
 * made (batches of a row group share one): stages may keep what they derived from it, keyed by identity.
 */
export interface DictColumn {
  readonly dictionary: ArrayLike<unknown>;
  readonly indices: Int32Array;
}

export type Column = ArrayLike<unknown> | DictColumn;

export function isDict(c: Column): c is DictColumn {
  return (c as DictColumn).indices instanceof Int32Array && (c as DictColumn).dictionary !== undefined;
}

export function columnLength(c: Column): number {
  return isDict(c) ? c.indices.length : c.length;
}

/** The column as plain cells (a dictionary column is expanded): for code off the hot path. */
export function materialize(c: Column): ArrayLike<unknown> {
  if (!isDict(c)) return c;
  const { dictionary, indices } = c;
  const out = new Array<unknown>(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const j = indices[r]!;
    out[r] = j < 0 ? null : dictionary[j];
  }
  return out;
}

/** Rows keep[0..k) (ascending) of a column, keeping a dictionary column encoded and numbers typed. */
export function gather(c: Column, keep: Int32Array, k: number): Column {
  if (isDict(c)) return { dictionary: c.dictionary, indices: copyRuns(c.indices, keep, k, new Int32Array(k)) };
  if (c instanceof Float64Array) return copyRuns(c, keep, k, new Float64Array(k));
  const out = new Array<unknown>(k);
  for (let i = 0; i < k; i++) out[i] = c[keep[i]!];
  return out;
}

/** out[i] = src[keep[i]] for i < k, copying each stretch of consecutive kept rows at once. */
export function copyRuns<T extends Float64Array | Int32Array | Uint8Array>(src: T, keep: Int32Array, k: number, out: T): T {
  let i = 0;
  while (i < k) {
    const from = keep[i]!;
    let j = i + 1;
    while (j < k && keep[j] === from + (j - i)) j++;
    out.set(src.subarray(from, from + (j - i)), i);
    i = j;
  }
  return out;
}

/** Ids below this are "small": zone and vendor ids are such integers, and tables indexed by them replace string lookups. */
export const SMALL_IDS = 4096;

/**
 * "0".."4095" in canonical decimal form (no sign, no leading zero) -> its value; anything else -1.
 * Zone and vendor ids are such small integers: tables indexed by them replace string lookups.
 */
export function smallId(s: string): number {
  return smallIdIn(s, 0, s.length);
}

/** smallId of s.slice(start, end), without making the slice. */
export function smallIdIn(s: string, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > 4 || (n > 1 && s.charCodeAt(start) === 48)) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v < SMALL_IDS ? v : -1;
}

/** A number that is a small id (a whole number in 0..4095, whose category is smallId's text) -> itself; anything else, NaN included, -1. */
export function smallNumberId(v: number): number {
  return v >= 0 && v < SMALL_IDS && v === Math.floor(v) ? v : -1;
}

/**
 * Text cells as their UTF-8 bytes, for a column that is only passed through (a table's ride_id into a
 * table): row r is data[offsets[r], offsets[r + 1]), or NULL where nulls[r] is 1. No string is made per
 * cell. It is not a Column: only readers asked for it (BatchOptions.bytes) make one, and only sinks that
 * take it (Sink.takesBytes) are given one.
 */
export interface BytesColumn {
  readonly data: Uint8Array;
  /** n + 1 offsets into data. */
  readonly offsets: Int32Array;
  /** n flags, 1: NULL. */
  readonly nulls: Uint8Array;
}

export function isBytes(c: unknown): c is BytesColumn {
  return (c as BytesColumn).offsets instanceof Int32Array && (c as BytesColumn).nulls instanceof Uint8Array;
}

/** Rows keep[0..k) (ascending) of a bytes column; every row kept: the column itself. */
export function gatherBytes(c: BytesColumn, keep: Int32Array, k: number): BytesColumn {
  const n = c.nulls.length;
  if (k === n) return c;
  const { data, offsets, nulls } = c;
  let size = 0;
  for (let i = 0; i < k; i++) size += offsets[keep[i]! + 1]! - offsets[keep[i]!]!;
  const out = { data: new Uint8Array(size), offsets: new Int32Array(k + 1), nulls: copyRuns(nulls, keep, k, new Uint8Array(k)) };
  let i = 0;
  let at = 0;
  while (i < k) {
    // A stretch of consecutive kept rows is one copy of their bytes.
    const from = keep[i]!;
    let j = i + 1;
    while (j < k && keep[j] === from + (j - i)) j++;
    const start = offsets[from]!;
    out.data.set(data.subarray(start, offsets[from + (j - i)]!), at);
    for (let q = i; q < j; q++) out.offsets[q + 1] = at + offsets[from + (q - i) + 1]! - start;
    at += offsets[from + (j - i)]! - start;
    i = j;
  }
  return out;
}

/** A bytes column's cells as strings (null for NULL): for code off the hot path (rejects). */
export function bytesStrings(c: BytesColumn): (string | null)[] {
  const dec = new TextDecoder();
  return Array.from(c.nulls, (isNull, r) => (isNull ? null : dec.decode(c.data.subarray(c.offsets[r], c.offsets[r + 1]))));
}
