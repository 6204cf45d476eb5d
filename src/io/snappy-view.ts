// Snappy page decompression without a copy per page. hysnappy's WASM decoder (faster than hyparquet's
// JavaScript port) returns a fresh copy of every page: garbage in proportion to the file, which V8
// collects only once a lot of it has piled up. The same WASM module, instantiated here, hands
// back a view of its memory instead: valid until the next call, for decoders that copy the values out at
// once. hysnappy is pinned (1.1.1): if its module ever cannot be found this way, the copying decoder is used.
import { snappyUncompressor } from "hysnappy";
import { INPUT_AT, memoryBytes, snappyInstance, type WasmMemory } from "./snappy-wasm.js";

export type Uncompress = (input: Uint8Array, outputLength: number) => Uint8Array;

/**
 * A decoder whose input is written where it decodes from: `input(n, outputLength)` is a view of n bytes of
 * its memory to fill (a file read straight into it, instead of into a buffer copied from), then
 * `uncompressInput(n, outputLength)` decodes those bytes as the decoder decodes a copy of them, with the
 * same checks. Each view is valid until the decoder's next call.
 */
export interface InPlaceSnappy {
  input(n: number, outputLength: number): Uint8Array;
  uncompressInput(n: number, outputLength: number): Uint8Array;
}

/**
 * A view-returning decoder with a WASM instance and memory of its own: a page it returns stays valid
 * until its own next call, whatever other decoders do meanwhile (a reader keeps one per column, so a
 * column's page can be decoded a batch at a time while the other columns read theirs). `inPlace` decodes
 * from the same memory (absent with hysnappy's own decoder, whose memory cannot be written).
 */
export function snappyUncompressView(): Uncompress & { inPlace?: InPlaceSnappy } {
  const view = viewDecoder();
  return view ? Object.assign(checkedSnappy(view.uncompress), { inPlace: view.inPlace }) : checkedSnappy(snappyUncompressor());
}

/** A decoder whose every page is a copy of its own (for a caller that keeps pages), on the same module. */
export function snappyUncompressCopy(): Uncompress {
  const view = viewDecoder()?.uncompress;
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
    checkDeclared(input, outputLength);
    return decode(input, outputLength);
  };
}

function checkDeclared(input: Uint8Array, outputLength: number): void {
  const declared = snappyDeclaredLength(input);
  if (declared !== outputLength)
    throw new Error(declared < 0 ? "invalid snappy length header" : `snappy stream holds ${declared} bytes, the page header says ${outputLength}`);
}

function viewDecoder(): { uncompress: Uncompress; inPlace: InPlaceSnappy } | undefined {
  const exports = snappyInstance("uncompress");
  if (exports === null) return undefined;
  const { memory, uncompress } = exports as { memory?: WasmMemory; uncompress?: (at: number, length: number, out: number) => number };
  if (!memory?.buffer || typeof uncompress !== "function") return undefined;
  // The n bytes at INPUT_AT decoded to just after them.
  const decode = (n: number, outputLength: number): Uint8Array => {
    const outAt = INPUT_AT + n;
    const bytes = memoryBytes(memory, outAt + outputLength);
    const result = uncompress(INPUT_AT, n, outAt);
    if (result === -1) throw new Error("invalid snappy length header");
    if (result === -2) throw new Error("missing eof marker");
    if (result === -3) throw new Error("premature end of input");
    if (result) throw new Error(`failed to uncompress data ${result}`);
    return bytes.subarray(outAt, outAt + outputLength);
  };
  const inPlace: InPlaceSnappy = {
    input: (n, outputLength) => memoryBytes(memory, INPUT_AT + n + outputLength).subarray(INPUT_AT, INPUT_AT + n),
    uncompressInput: (n, outputLength) => {
      checkDeclared(memoryBytes(memory, INPUT_AT + n).subarray(INPUT_AT, INPUT_AT + n), outputLength);
      return decode(n, outputLength);
    },
  };
  const view: Uncompress = (input, outputLength) => {
    memoryBytes(memory, INPUT_AT + input.length + outputLength).set(input, INPUT_AT);
    return decode(input.length, outputLength);
  };
  return { uncompress: view, inPlace };
}
