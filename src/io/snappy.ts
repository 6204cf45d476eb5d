// Snappy compression of Parquet pages with the reference C++ implementation compiled to WASM (hysnappy,
// the package hyparquet-compressors already brings for reading): faster than a JavaScript port. Its
// module is instantiated here with a memory that pages do not grow (snappy-wasm.ts); hysnappy's own
// compressor is the fallback.
import { snappyCompressor } from "hysnappy";
import { INPUT_AT, memoryBytes, snappyInstance, type WasmMemory } from "./snappy-wasm.js";

/**
 * Raw snappy (as Parquet pages use it) of src[0..n), by a compressor of its own. hysnappy's WASM build keeps its match table from one call to the next, so
 * what it emits for a page (always valid, and decoding to the same bytes) depends on what it compressed
 * before: a writer that owns its compressor makes a file's bytes a function of its rows alone, whatever
 * else the process wrote before it (a run over several inputs, a re-run in one process).
 */
export function newSnappyCompressor(): (src: Uint8Array, n?: number) => Uint8Array {
  const own = ownCompressor() ?? snappyCompressor();
  return (src, n = src.length) => own(n === src.length ? src : src.subarray(0, n));
}

/** hysnappy's compressor (its js/compress.js, the same arithmetic) on an instance of our own. */
function ownCompressor(): ((input: Uint8Array) => Uint8Array) | undefined {
  const exports = snappyInstance("compress");
  const { memory, compress } = (exports ?? {}) as { memory?: WasmMemory; compress?: (at: number, length: number, out: number) => number };
  if (!memory?.buffer || typeof compress !== "function") return undefined;
  return (input) => {
    const outAt = INPUT_AT + input.length + 1000;
    const bytes = memoryBytes(memory, outAt + input.length + Math.floor(input.length / 6) + 32); // snappy's bound on its output
    bytes.set(input, INPUT_AT);
    const size = compress(INPUT_AT, input.length, outAt);
    if (size < 0) throw new Error(`failed to compress data ${size}`);
    return bytes.slice(outAt, outAt + size);
  };
}
