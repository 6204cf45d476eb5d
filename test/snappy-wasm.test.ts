// src/io/snappy-wasm.ts: hysnappy's WASM modules start with a memory that Parquet pages do not grow. A grown
// memory detaches its old ArrayBuffer, and V8 then drops every optimized function of that thread that touches
// a typed array (the ArrayBufferDetaching protector). A real Parquet -> Parquet run, reader and writer
// thread, must detach nothing; a control checks that this node still reports the protector when it falls.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { snappyCompressor } from "hysnappy";
import { afterAll, describe, expect, it } from "vitest";
import { newSnappyCompressor } from "../src/io/snappy.js";
import { snappyUncompressCopy, snappyUncompressView } from "../src/io/snappy-view.js";
import { INITIAL_PAGES, snappyInstance, withInitialMemory } from "../src/io/snappy-wasm.js";

const ROOT = join(import.meta.dirname, "..");
const GREEN = join(ROOT, "../shared/data/green_tripdata_2023-01.parquet");
const dir = mkdtempSync(join(tmpdir(), "snappy-wasm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DETACHED = "Invalidating protector cell ArrayBufferDetaching";

describe("snappy's WASM memory", () => {
  it("both of hysnappy's modules are found and start with INITIAL_PAGES of memory", () => {
    for (const kind of ["uncompress", "compress"] as const) {
      const exports = snappyInstance(kind);
      expect(exports, `hysnappy's ${kind} module is no longer found in its sources: snappy-wasm.ts must follow it`).not.toBeNull();
      expect((exports!.memory as { buffer: ArrayBuffer }).buffer.byteLength).toBe(INITIAL_PAGES * 65536);
    }
  });

  it("withInitialMemory rewrites only the memory section, never below the module's own size or above its maximum", () => {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const custom = [0, 3, 1, 0x61, 7]; // a custom section before and after the memory section
    const module = (memory: number[]) => Uint8Array.from([...header, ...custom, 5, memory.length, ...memory, ...custom]);
    expect(Array.from(withInitialMemory(module([1, 0, 2]), 256)!)).toEqual([...header, ...custom, 5, 4, 1, 0, 0x80, 0x02, ...custom]);
    expect(Array.from(withInitialMemory(module([1, 0, 0x90, 0x03]), 256)!)).toEqual(Array.from(module([1, 0, 0x90, 0x03]))); // 400 > 256
    expect(Array.from(withInitialMemory(module([1, 1, 2, 100]), 256)!)).toEqual(Array.from(module([1, 1, 100, 100]))); // capped at its maximum
    expect(withInitialMemory(Uint8Array.from([...header, ...custom]), 256)).toBeNull(); // an imported memory: nothing to patch
  });

  it("our compressor gives hysnappy's bytes, and pages up to 4 MB come back whole, as views and as copies", () => {
    const ours = newSnappyCompressor();
    const theirs = snappyCompressor();
    const view = snappyUncompressView();
    const copy = snappyUncompressCopy();
    let seed = 11;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (const n of [0, 1, 1000, 65_536, 200_000, 4 << 20, 3000]) {
      const src = Uint8Array.from({ length: n }, (_, i) => (rnd() < 0.6 ? i % 253 : Math.floor(rnd() * 256)));
      const z = ours(src);
      expect(Buffer.compare(z, theirs(src))).toBe(0);
      expect(Buffer.compare(view(z, n), src)).toBe(0);
      expect(Buffer.compare(copy(z, n), src)).toBe(0);
    }
    const a = copy(ours(Uint8Array.of(1, 2, 3)), 3);
    copy(ours(Uint8Array.of(4, 5, 6)), 3);
    expect(Array.from(a)).toEqual([1, 2, 3]); // a copy outlives the next page
  });

  it("a Parquet -> Parquet run detaches no ArrayBuffer, on the reading thread or the writer thread", () => {
    const control = spawnSync(process.execPath, ["--trace-protector-invalidation", "-e", "new WebAssembly.Memory({ initial: 1 }).grow(1)"], {
      encoding: "utf8",
    });
    expect(control.stdout, "this node no longer reports the protector: the check below would prove nothing").toContain(DETACHED);
    const r = spawnSync(
      process.execPath,
      [
        "--trace-protector-invalidation",
        join(ROOT, "bin/ridepred"),
        "score",
        GREEN,
        "-o",
        join(dir, "out.parquet"),
        "--columns",
        "ride_id,PULocationID,predicted_duration,diff",
      ],
      { encoding: "utf8", env: { ...process.env, RIDEPRED_WRITER_THREAD: "on", NO_COLOR: "1" } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/68,211 rows read/);
    expect(r.stdout + r.stderr).not.toContain(DETACHED);
  });
});
