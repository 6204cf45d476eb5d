// hysnappy's two WASM modules (snappy's reference C++ code), compiled here with a larger initial memory.
// Growing a WebAssembly.Memory detaches its old ArrayBuffer, and the first detached buffer in a thread
// invalidates V8's ArrayBufferDetaching protector for good: every optimized function with a typed-array
// access is thrown away and recompiled with a detached-buffer check on each access. hysnappy's modules
// start with 128-192 KiB, so the first page of ~64 KiB grew them. With 16 MiB from the start, pages up to
// ~8 MiB never grow it: the memory is reserved, and only the bytes a page touches are ever backed.
// A page that needs more still grows it, correctly, at that cost.
// hysnappy is pinned (1.1.1); its modules are found in its sources and patched here, or null is returned
// (test/io.test.ts fails then) and the callers use hysnappy's own functions.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** 64 KiB WASM pages the modules start with: 16 MiB. */
export const INITIAL_PAGES = 256;

/** Where hysnappy's functions take their input: past the memory its C code uses. */
export const INPUT_AT = 68000;

/** The few WebAssembly calls used here (the project's TypeScript lib has no WebAssembly types). */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export type SnappyModule = "uncompress" | "compress";

/** A module's memory as bytes, at least `need` of them: grown (and its old buffer detached) only past its initial size. */
export function memoryBytes(memory: WasmMemory, need: number): Uint8Array {
  if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  return new Uint8Array(memory.buffer);
}

const compiled = new Map<SnappyModule, object | null>(); // per thread: each has its own module cache

/** A fresh instance of hysnappy's module (its own memory, INITIAL_PAGES long), or null if not found. */
export function snappyInstance(kind: SnappyModule): Record<string, unknown> | null {
  if (!compiled.has(kind)) compiled.set(kind, compileModule(kind));
  const mod = compiled.get(kind)!;
  if (mod === null) return null;
  try {
    return new wasmApi.Instance(mod).exports;
  } catch {
    return null;
  }
}

function compileModule(kind: SnappyModule): object | null {
  try {
    const source = readFileSync(join(dirname(createRequire(import.meta.url).resolve("hysnappy")), `${kind}.js`), "utf8");
    const wasm64 = /const wasm64 = '([A-Za-z0-9+/=]+)'/.exec(source)?.[1];
    const bytes = wasm64 ? withInitialMemory(Buffer.from(wasm64, "base64"), INITIAL_PAGES) : null;
    return bytes ? new wasmApi.Module(bytes) : null;
  } catch {
    return null;
  }
}

/**
 * The module with its one memory's initial size set to `pages` (never below what it asked for, and
 * within its maximum if it has one); null if it has no memory section of its own (an imported memory).
 */
export function withInitialMemory(wasm: Uint8Array, pages: number): Uint8Array | null {
  let at = 8; // after the magic and the version
  while (at < wasm.length) {
    const id = wasm[at]!;
    const size = leb(wasm, at + 1);
    const body = at + 1 + size.bytes;
    if (id === 5) {
      const count = leb(wasm, body);
      if (count.value !== 1) return null;
      const flags = wasm[body + count.bytes]!;
      if (flags !== 0 && flags !== 1) return null; // shared or 64-bit memories: not hysnappy's
      const initial = leb(wasm, body + count.bytes + 1);
      const max = flags === 1 ? leb(wasm, body + count.bytes + 1 + initial.bytes).value : Infinity;
      const want = Math.min(Math.max(pages, initial.value), max);
      const section = [1, flags, ...toLeb(want), ...(flags === 1 ? toLeb(max) : [])];
      const out = new Uint8Array(at + 1 + toLeb(section.length).length + section.length + (wasm.length - body - size.value));
      out.set(wasm.subarray(0, at));
      out.set([5, ...toLeb(section.length), ...section], at);
      out.set(wasm.subarray(body + size.value), at + 1 + toLeb(section.length).length + section.length);
      return out;
    }
    at = body + size.value;
  }
  return null;
}

/** An unsigned LEB128 at `at`: its value and how many bytes it took. */
function leb(b: Uint8Array, at: number): { value: number; bytes: number } {
  let value = 0;
  let i = 0;
  for (;;) {
    const x = b[at + i]!;
    value += (x & 0x7f) * 2 ** (7 * i);
    i++;
    if (x < 0x80 || i === 5) return { value, bytes: i };
  }
}

function toLeb(n: number): number[] {
  const out: number[] = [];
  do {
    const x = n % 128;
    n = Math.floor(n / 128);
    out.push(n > 0 ? x | 0x80 : x);
  } while (n > 0);
  return out;
}
