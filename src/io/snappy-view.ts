// Snappy page decompression without a copy per page. hysnappy's WASM decoder (faster than hyparquet's
// JavaScript port) returns a fresh copy of every page: garbage in proportion to the file, which V8
// collects only once a lot of it has piled up. The same WASM module, instantiated here, hands
// back a view of its memory instead: valid until the next call, for decoders that copy the values out at
// once. hysnappy is pinned (1.1.1): if its module ever cannot be found this way, the copying decoder is used.
import { snappyUncompressor } from "hysnappy";
import { INPUT_AT, memoryBytes, snappyInstance, type WasmMemory } from "./snappy-wasm.js";

export type Uncompress = (input: Uint8Array, outputLength: number) => Uint8Array;

/**
 * A view-returning decoder with a WASM instance and memory of its own: a page it returns stays valid
 * until its own next call, whatever other decoders do meanwhile (a reader keeps one per column, so a
 * column's page can be decoded a batch at a time while the other columns read theirs).
 */
export function snappyUncompressView(): Uncompress {
  return checkedSnappy(viewDecoder() ?? snappyUncompressor());
}

/** A decoder whose every page is a copy of its own (for a caller that keeps pages), on the same module. */
export function snappyUncompressCopy(): Uncompress {
  const view = viewDecoder();
  return checkedSnappy(view ? (input, outputLength) => view(input, outputLength).slice() : snappyUncompressor());
}

/** The uncompressed length a snappy stream declares in its preamble (a varint of up to 5 bytes); -1 if malformed. */
export function snappyDeclaredLength(input: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < 5 && i < input.length; i++) {
    const b = input[i]!;
    n += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return n;
  }
  return -1;
}

/**
 * hysnappy writes as many bytes as the stream declares, not as many as the page header says: a stream
 * that declares another length than the page would come back padded with stale memory (read as values)
 * or overrun its output. Refused here, before it runs.
 */
export function checkedSnappy(decode: Uncompress): Uncompress {
  return (input, outputLength) => {
    const declared = snappyDeclaredLength(input);
    if (declared !== outputLength)
      throw new Error(declared < 0 ? "invalid snappy length header" : `snappy stream holds ${declared} bytes, the page header says ${outputLength}`);
    return decode(input, outputLength);
  };
}

function viewDecoder(): Uncompress | undefined {
  const exports = snappyInstance("uncompress");
  if (exports === null) return undefined;
  const { memory, uncompress } = exports as { memory?: WasmMemory; uncompress?: (at: number, length: number, out: number) => number };
  if (!memory?.buffer || typeof uncompress !== "function") return undefined;
  return (input, outputLength) => {
    const outAt = INPUT_AT + input.length;
    const bytes = memoryBytes(memory, outAt + outputLength);
    bytes.set(input, INPUT_AT);
    const result = uncompress(INPUT_AT, input.length, outAt);
    if (result === -1) throw new Error("invalid snappy length header");
    if (result === -2) throw new Error("missing eof marker");
    if (result === -3) throw new Error("premature end of input");
    if (result) throw new Error(`failed to uncompress data ${result}`);
    return bytes.subarray(outAt, outAt + outputLength);
  };
}
