// Ways the CSV path lost V8's optimized code, checked in child nodes with V8's traces:
// - csv-write.ts: a column's encoders are made once, not per batch. A closure's optimized code is held
//   weakly, so per-batch closures were compiled again after every full GC, and ran unoptimized between.
// Each check has a control proving this node still reports what the check looks for.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "csv-jit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `node flags... -e script` (an ES module), its stdout and stderr. */
function nodeRun(flags: string[], script: string) {
  return spawnSync(process.execPath, [...flags, "--input-type=module", "-e", script], { encoding: "utf8" });
}

describe("the CSV path on several threads keeps its optimized code", () => {
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
