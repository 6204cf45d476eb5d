// Snappy compression of Parquet pages with the reference C++ implementation compiled to WASM (hysnappy,
// the package hyparquet-compressors already brings for reading): faster than a JavaScript port.
import { snappyCompressor } from "hysnappy";

/**
 * Raw snappy (as Parquet pages use it) of src[0..n), by a compressor of its own. hysnappy's WASM build keeps its match table from one call to the next, so
 * what it emits for a page (always valid, and decoding to the same bytes) depends on what it compressed
 * before: a writer that owns its compressor makes a file's bytes a function of its rows alone, whatever
 * else the process wrote before it (a run over several inputs, a re-run in one process).
 */
export function newSnappyCompressor(): (src: Uint8Array, n?: number) => Uint8Array {
  const own = snappyCompressor();
  return (src, n = src.length) => own(n === src.length ? src : src.subarray(0, n));
}
