// joblib's file layout: a pickle stream in which every numpy array is a NumpyArrayWrapper object whose
// raw bytes follow its BUILD opcode inline (after an alignment pad), and object arrays are whole
// protocol-2 pickles embedded at that point. Compressed files are the same bytes in one zlib/gzip/...
// stream, recognised by joblib's magic prefixes.

import { gunzipSync, inflateSync } from "node:zlib";
import type { GlobalRule } from "./pickle.js";
import { describe } from "./pickle.js";
import { fillArray, isDType, type NdArray } from "./numpy.js";

const WRAPPER_MODULES = ["joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle"];

/** The rules that let the VM read joblib's inline arrays. */
export function joblibRules(): Map<string, GlobalRule> {
  const rules = new Map<string, GlobalRule>();
  const wrapper: GlobalRule = {
    kind: "build",
    call: () => ({ $class: "joblib.numpy_pickle.NumpyArrayWrapper", args: [], state: null }),
    build: (_obj, state, ctx) => {
      if (!(state instanceof Map)) return ctx.fail(`joblib NumpyArrayWrapper state must be a dict, got ${describe(state)}`);
      const dtype = state.get("dtype");
      const shapeV = state.get("shape");
      const order = state.get("order") ?? "C";
      if (!isDType(dtype)) return ctx.fail("joblib NumpyArrayWrapper without a numpy dtype");
      if (!Array.isArray(shapeV) || !shapeV.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
        return ctx.fail(`joblib NumpyArrayWrapper shape ${describe(shapeV ?? null)} is invalid`);
      }
      const shape = shapeV as number[];
      const arr: NdArray = { $decoded: "numpy.ndarray", shape: [0], dtype: null, data: [] };
      if (dtype.kind === "O") {
        // joblib pickles object arrays with pickle.dump(array, protocol=2) right here.
        const inner = ctx.readNestedPickle();
        if (ctx.auditing) return arr;
        if (typeof inner !== "object" || inner === null || (inner as NdArray).$decoded !== "numpy.ndarray") {
          return ctx.fail(`joblib object array is a ${describe(inner)}, not a numpy array`);
        }
        return inner;
      }
      const align = state.get("numpy_array_alignment_bytes");
      if (typeof align === "number") {
        const pad = ctx.readInline(1)[0]!;
        if (pad > align) ctx.fail(`joblib array padding of ${pad} bytes exceeds its alignment of ${align}`);
        ctx.readInline(pad);
      }
      let n = 1;
      for (const d of shape) n *= d;
      if (n * dtype.itemsize > 2 ** 40) ctx.fail(`joblib array shape [${shape}] is absurdly large`);
      const raw = ctx.readInline(n * dtype.itemsize);
      fillArray(arr, shape, dtype, order === "F", raw, ctx);
      return arr;
    },
  };
  const legacy: GlobalRule = {
    kind: "function",
    call: (_args, ctx) =>
      ctx.fail("joblib < 0.10 layout: its arrays live in separate .npy files beside the pickle; re-save the model with a current joblib.dump"),
  };
  for (const m of WRAPPER_MODULES) {
    rules.set(`${m}.NumpyArrayWrapper`, wrapper);
    // joblib < 0.10 kept arrays in separate .npy files beside the pickle: refused with a way out.
    rules.set(`${m}.NDArrayWrapper`, legacy);
    rules.set(`${m}.ZNDArrayWrapper`, legacy);
  }
  return rules;
}

/** Magic prefixes joblib writes (joblib/compressor.py), in the order it checks them. */
const MAGIC: [string, number[]][] = [
  ["zlib", [0x78]],
  ["gzip", [0x1f, 0x8b]],
  ["bz2", [0x42, 0x5a, 0x68]],
  ["lzma", [0x5d, 0x00, 0x00]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["lz4", [0x04, 0x22, 0x4d, 0x18]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
];

export function compressionOf(bytes: Uint8Array): string | null {
  if (bytes[0] === 0x5a && bytes[1] === 0x46) return "joblib<0.10 zfile";
  for (const [name, magic] of MAGIC) if (magic.every((b, i) => bytes[i] === b)) return name;
  return null;
}

/** Decompress a joblib file if it is compressed; refuse other compressors by name, bound the output. */
export function decompress(bytes: Uint8Array, maxBytes: number, fail: (m: string) => never): { bytes: Uint8Array; compression: string | null } {
  const c = compressionOf(bytes);
  if (c === null) return { bytes, compression: null };
  if (c !== "zlib" && c !== "gzip") {
    fail(
      `compressed with ${c}: ridepred reads joblib files that are uncompressed or compressed with zlib or gzip; ` +
        `re-save with joblib.dump(model, path, compress=("zlib", 3)) or compress=0`,
    );
  }
  try {
    const out = c === "zlib" ? inflateSync(bytes, { maxOutputLength: maxBytes }) : gunzipSync(bytes, { maxOutputLength: maxBytes });
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), compression: c };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) fail(`${c} data expands past the ${maxBytes}-byte limit`);
    return fail(`${c} data is corrupt: ${(e as Error).message}`);
  }
}
