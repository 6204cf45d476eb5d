// A batch of output rows as it crosses to a worker thread: typed arrays copied into shared memory (no
// structured clone of them, no per-batch garbage in either heap), a dictionary column's entries only
// when they differ from the column's previous dictionary, other cells cloned.
import { isDict } from "../columns.js";
import { poison } from "./borrowed.js";
import { isGeneratedIds, type OutBatch, type OutValues } from "./types.js";

/** One column of a batch as it crosses: typed arrays as (byte offset, length) in the batch's shared memory. */
export type Wire =
  | { t: "f64"; at: number; n: number }
  | { t: "dict"; at: number; n: number; entries?: ArrayLike<unknown> }
  | { t: "ids"; prefix: string; at: number; n: number }
  | { t: "cells"; values: ArrayLike<unknown> };

const align8 = (x: number) => (x + 7) & ~7;

/** The typed array that crosses through shared memory for a column, if it has one. */
function typedOf(v: OutValues): Float64Array | Int32Array | undefined {
  if (isGeneratedIds(v)) return v.numbers;
  if (isDict(v)) return v.indices;
  return v instanceof Float64Array ? v : undefined;
}

/** Bytes of shared memory n rows of these columns take. */
export function wireBytes(values: readonly OutValues[], n: number): number {
  let bytes = 0;
  for (const v of values) {
    const a = typedOf(v);
    if (a) bytes += align8(n * a.BYTES_PER_ELEMENT);
  }
  return Math.max(bytes, 8);
}

/** Copy a batch's n rows of typed arrays into memory and describe every column (arrays may be longer than n). */
export function toWire(values: readonly OutValues[], n: number, memory: SharedArrayBuffer, lastDictionary: (ArrayLike<unknown> | undefined)[]): Wire[] {
  let at = 0;
  return values.map((v, j): Wire => {
    const a = typedOf(v);
    if (!a) return { t: "cells", values: v as ArrayLike<unknown> };
    const byteLength = n * a.BYTES_PER_ELEMENT;
    new Uint8Array(memory, at, byteLength).set(new Uint8Array(a.buffer, a.byteOffset, byteLength));
    const start = at;
    at += align8(byteLength);
    if (isGeneratedIds(v)) return { t: "ids", prefix: v.prefix, at: start, n };
    if (!isDict(v)) return { t: "f64", at: start, n };
    if (lastDictionary[j] === v.dictionary) return { t: "dict", at: start, n };
    lastDictionary[j] = v.dictionary;
    return { t: "dict", at: start, n, entries: v.dictionary };
  });
}

/** The worker's view of a batch: typed arrays view the memory; dictionaries are the column's current one. */
export function fromWire(n: number, memory: SharedArrayBuffer, columns: readonly Wire[], dictionaries: (ArrayLike<unknown> | undefined)[]): OutBatch {
  const values = columns.map((w, j): OutValues => {
    switch (w.t) {
      case "cells":
        return w.values;
      case "f64":
        return new Float64Array(memory, w.at, w.n);
      case "ids":
        return { prefix: w.prefix, numbers: new Float64Array(memory, w.at, w.n) };
      case "dict":
        if (w.entries) dictionaries[j] = w.entries;
        return { dictionary: dictionaries[j]!, indices: new Int32Array(memory, w.at, w.n) };
      default:
        throw new Error(`internal: unknown wire column ${(w as { t: string }).t}`);
    }
  });
  return { n, values };
}

/** Poison a batch's views of its memory as the memory is given back (under RIDEPRED_POISON_BUFFERS=1). */
export function releaseWire(batch: OutBatch): void {
  for (const v of batch.values) {
    if (v instanceof Float64Array) poison(v);
    else if (isGeneratedIds(v)) poison(v.numbers);
    else if (isDict(v)) poison(v.indices);
  }
}
