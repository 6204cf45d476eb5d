// Two ways the CSV path on several threads lost V8's optimized code, checked in child nodes with V8's traces:
// - csv-chunk-parse.ts: a worker's parsed columns go back in shared memory, not transferred. A transfer
//   detaches the buffers in the worker, and the first detached buffer of a thread invalidates V8's
//   ArrayBufferDetaching protector: all its optimized typed-array code is recompiled with detach checks.
// - csv-write.ts: a column's encoders are made once, not per batch. A closure's optimized code is held
//   weakly, so per-batch closures were compiled again after every full GC, and ran unoptimized between.
// Each check has a control proving this node still reports what the check looks for.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "csv-jit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DETACHED = "Invalidating protector cell ArrayBufferDetaching";

/** `node flags... -e script` (an ES module), its stdout and stderr. */
function nodeRun(flags: string[], script: string) {
  return spawnSync(process.execPath, [...flags, "--input-type=module", "-e", script], { encoding: "utf8" });
}

describe("the CSV path on several threads keeps its optimized code", () => {
  it("CSV -> CSV and CSV -> Parquet at --threads 2 detach no ArrayBuffer on any thread", () => {
    const control = nodeRun(["--trace-protector-invalidation"], "const b = new ArrayBuffer(8); structuredClone(b, { transfer: [b] });");
    expect(control.stdout, "this node no longer reports the protector: the check below would prove nothing").toContain(DETACHED);
    // The sample's rows 20 times (~2 MB) in blocks of 64 KiB: ~30 blocks, most parsed by the worker.
    const [header, ...rows] = readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8").trimEnd().split("\n");
    const input = join(dir, "in.csv");
    writeFileSync(input, `${[header, ...Array.from({ length: 20 }, () => rows).flat()].join("\n")}\n`);
    for (const out of ["out.csv", "out.parquet"]) {
      const r = spawnSync(
        process.execPath,
        ["--trace-protector-invalidation", join(ROOT, "bin/ridepred"), "score", input, "-o", join(dir, out), "--threads", "2"],
        { encoding: "utf8", env: { ...process.env, RIDEPRED_CSV_BLOCK: "65536", RIDEPRED_CSV_INLINE_ROWS: "0", NO_COLOR: "1" } },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/20,000 rows read/);
      expect(r.stdout + r.stderr, out).not.toContain(DETACHED);
    }
  });

  it("the CSV encoder's functions are compiled a few times, not again after each full GC", () => {
    const module = pathToFileURL(join(ROOT, "dist/io/csv-write.js")).href;
    // 40 batches of five columns (times, a dictionary, doubles typed and plain, generated ids), a full GC
    // after each; the control makes a new encoder per batch, as the closures were made before.
    const compiles = (fresh: boolean) => {
      const r = nodeRun(
        ["--trace-opt", "--trace-file-names", "--expose-gc"],
        `const { BatchBytes, CsvEncoder } = await import(${JSON.stringify(module)});
         const columns = ["timestamp", "string", "double", "double", "string"].map((kind, j) => ({ name: "c" + j, kind }));
         let encoder = new CsvEncoder(columns);
         const bytes = new BatchBytes(Buffer.alloc(1 << 20));
         const dictionary = Array.from({ length: 266 }, (_, i) => String(i));
         const n = 32768;
         for (let b = 0; b < 40; b++) {
           const t = new Float64Array(n), x = new Float64Array(n), y = [], ids = new Int32Array(n);
           for (let i = 0; i < n; i++) { t[i] = 1.6e12 + (b * n + i) * 1000; x[i] = (i % 600) / 10; y.push(i / 7); ids[i] = i % 266; }
           const ride = { prefix: "r_", numbers: Float64Array.from({ length: n }, (_, i) => b * n + i) };
           if (${fresh}) encoder = new CsvEncoder(columns);
           bytes.encode(encoder, { n, values: [t, { dictionary, indices: ids }, x, y, ride] });
           gc();
         }`,
      );
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split("\n").filter((l) => l.startsWith("[completed compiling") && l.includes("csv-write.js")).length;
    };
    expect(compiles(true), "this node no longer compiles new encoders again after a GC: the check below would prove nothing").toBeGreaterThan(25);
    expect(compiles(false)).toBeLessThan(25); // ~14; ~235 with encoders made per batch
  });
});
