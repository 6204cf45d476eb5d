// Snappy page decompression without a copy per page. hysnappy's WASM decoder (faster than hyparquet's
// JavaScript port) returns a fresh copy of every page: garbage in proportion to the file, which V8
// collects only once a lot of it has piled up. The same WASM module, instantiated here, hands
// back a view of its memory instead: valid until the next call, for decoders that copy the values out at
// once. hysnappy is pinned (1.1.1): if its module ever cannot be found this way, the copying decoder is used.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { snappyUncompressor } from "hysnappy";

export type Uncompress = (input: Uint8Array, outputLength: number) => Uint8Array;

const INPUT_AT = 68000; // where hysnappy puts the input: past the memory its C code uses

// The few WebAssembly calls used here (the project's TypeScript lib has no WebAssembly types).
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** hysnappy's WASM module, compiled once per thread (null: not found, the copying decoder is used). */
let compiled: object | null | undefined;

/**
 * A view-returning decoder with a WASM instance and memory of its own: a page it returns stays valid
 * until its own next call, whatever other decoders do meanwhile (a reader keeps one per column, so a
 * column's page can be decoded a batch at a time while the other columns read theirs).
 */
export function snappyUncompressView(): Uncompress {
  return checkedSnappy(viewDecoder() ?? snappyUncompressor());
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

function compileModule(): object | null {
  try {
    const source = readFileSync(join(dirname(createRequire(import.meta.url).resolve("hysnappy")), "uncompress.js"), "utf8");
    const wasm64 = /const wasm64 = '([A-Za-z0-9+/=]+)'/.exec(source)?.[1];
    return wasm64 ? new wasmApi.Module(Buffer.from(wasm64, "base64")) : null;
  } catch {
    return null;
  }
}

function viewDecoder(): Uncompress | undefined {
  if (compiled === undefined) compiled = compileModule();
  if (compiled === null) return undefined;
  let instance: { exports: Record<string, unknown> };
  try {
    instance = new wasmApi.Instance(compiled);
  } catch {
    return undefined;
  }
  const { memory, uncompress } = instance.exports as { memory?: WasmMemory; uncompress?: (at: number, length: number, out: number) => number };
  if (!memory?.buffer || typeof uncompress !== "function") return undefined;
  return (input, outputLength) => {
    const outAt = INPUT_AT + input.length;
    const need = outAt + outputLength;
    if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(input, INPUT_AT);
    const result = uncompress(INPUT_AT, input.length, outAt);
    if (result === -1) throw new Error("invalid snappy length header");
    if (result === -2) throw new Error("missing eof marker");
    if (result === -3) throw new Error("premature end of input");
    if (result) throw new Error(`failed to uncompress data ${result}`);
    return bytes.subarray(outAt, outAt + outputLength);
  };
}
