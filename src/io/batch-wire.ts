// A batch of output rows as it crosses to a worker thread: typed arrays in shared memory (no structured
// clone of them, no per-batch garbage in either heap), a dictionary column's entries only when they
// differ from the column's previous dictionary, other cells cloned. Column j of an n-row batch has the
// bytes [j * stride, (j + 1) * stride) of the memory (stride: n doubles), whatever its type: so the
// caller can build its columns there in the first place (wireColumns) and nothing is copied.
import { isDict } from "../columns.js";
import { type Borrowed, poison } from "./borrowed.js";
import { type ColumnMemory, isGeneratedIds, type OutBatch, type OutValues } from "./types.js";

/** One column of a batch as it crosses: typed arrays as (byte offset, length) in the batch's shared memory. */
export type Wire =
  | { t: "f64"; at: number; n: number }
  | { t: "dict"; at: number; n: number; entries?: ArrayLike<unknown> }
  | { t: "ids"; prefix: string; at: number; n: number }
  | { t: "cells"; values: ArrayLike<unknown> };

/** The typed array that crosses through shared memory for a column, if it has one. */
function typedOf(v: OutValues): Float64Array | Int32Array | undefined {
  if (isGeneratedIds(v)) return v.numbers;
  if (isDict(v)) return v.indices;
  return v instanceof Float64Array ? v : undefined;
}

/** Bytes of shared memory each column of an n-row batch takes. */
const strideOf = (n: number) => n * 8;

/** Bytes of shared memory an n-row batch of `columns` columns takes. */
export function wireBytes(columns: number, n: number): number {
  return Math.max(columns * strideOf(n), 8);
}

/** Views of memory (at least wireBytes(columns, n) bytes) where an n-row batch's columns are built in place. */
export function wireColumns(memory: SharedArrayBuffer, n: number): Borrowed<ColumnMemory> {
  const stride = strideOf(n);
  return {
    f64: (j) => new Float64Array(memory, j * stride, n),
    i32: (j) => new Int32Array(memory, j * stride, n),
  };
}

/**
 * Put a batch's n rows of typed arrays in memory (arrays may be longer than n; one built there by
 * wireColumns stays where it is) and describe every column.
 */
export function toWire(values: readonly OutValues[], n: number, memory: SharedArrayBuffer, lastDictionary: (ArrayLike<unknown> | undefined)[]): Wire[] {
  const stride = strideOf(n);
  return values.map((v, j): Wire => {
    const a = typedOf(v);
    if (!a) return { t: "cells", values: v as ArrayLike<unknown> };
    const at = j * stride;
    if (a.buffer !== memory) new Uint8Array(memory, at, n * a.BYTES_PER_ELEMENT).set(new Uint8Array(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT));
    else if (a.byteOffset !== at) throw new Error(`internal: column ${j} was built at byte ${a.byteOffset} of the batch's memory, not at its own ${at}`);
    if (isGeneratedIds(v)) return { t: "ids", prefix: v.prefix, at, n };
    if (!isDict(v)) return { t: "f64", at, n };
    if (lastDictionary[j] === v.dictionary) return { t: "dict", at, n };
    lastDictionary[j] = v.dictionary;
    return { t: "dict", at, n, entries: v.dictionary };
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
