// V8 compiles the main thread's per-batch functions of a Parquet -> Parquet score early, on the first
// batches' feedback; a branch first taken later deoptimized them, and each was compiled again (the big
// ones take tens of ms of a background thread each): the reader's batches generator at each new row
// group (a new cursors array, src/io/parquet-read.ts), PageCursor.take at a batch ending on a page's
// last row, scoreBatch at the first row the duration filter drops (src/batch/score.ts), keptRuns at the
// first batch that kept every row (src/batch/kept-runs.ts). A child node scores a file made for this
// (three row groups, dropped rows and full batches only after the first groups) under --trace-deopt;
// none of these may deoptimize. On the code before the fix this file shows take's and scoreBatch's
// deopts; those of batches and keptRuns showed in the 10M bench run (122 batches per row group), which is
// too long for a test. A control checks that this node's trace still names such a deopt.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parquetSink } from "../src/io/parquet-write.js";
import { BIN } from "./support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "score-deopts-"));
const input = join(dir, "rides.parquet");
const GROUP = 200_000;
const GROUPS = 3;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const sink = parquetSink(
    input,
    [
      { name: "lpep_pickup_datetime", kind: "timestamp" },
      { name: "lpep_dropoff_datetime", kind: "timestamp" },
      { name: "PULocationID", kind: "string" },
      { name: "DOLocationID", kind: "string" },
      { name: "trip_distance", kind: "double" },
    ],
    { rowGroupRows: GROUP },
  );
  const n = 10_000;
  for (let at = 0; at < GROUP * GROUPS; at += n) {
    // From the third group on, one ride in 97 lasts 90 minutes (dropped by --filter-duration 1..60),
    // except in every fourth stretch of rows: some batches there keep every row.
    const late = at >= 2 * GROUP && (at / n) % 4 !== 0;
    const pick = Float64Array.from({ length: n }, (_, r) => Date.UTC(2021, 0, 1) + (at + r) * 7000);
    const drop = Float64Array.from({ length: n }, (_, r) => pick[r]! + (late && r % 97 === 5 ? 90 : 5 + ((at + r) % 40)) * 60_000);
    const pu = Array.from({ length: n }, (_, r) => String(1 + ((at + r) % 263)));
    const dof = Array.from({ length: n }, (_, r) => String(1 + (((at + r) * 7) % 263)));
    const dist = Float64Array.from({ length: n }, (_, r) => ((at + r) % 500) / 50);
    await sink.write({ n, values: [pick, drop, pu, dof, dist] });
  }
  await sink.finish();
}, 60_000);

/** Deopts per function name in a --trace-deopt output. */
function deopts(trace: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of trace.matchAll(/\[bailout \(kind: [^)]*\): begin\. deoptimizing \S+ <JSFunction (\S+)/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

const WATCHED = ["batches", "take", "advance", "scoreBatch", "filterDurations", "keptRuns"];

describe("the main thread's per-batch functions are not deoptimized in a Parquet -> Parquet score", () => {
  it("this node's --trace-deopt names a function deoptimized by a branch its compiled code had not seen", () => {
    const child = `
      function late(a, i) { let s = 0; for (let j = 0; j < a.length; j++) s += a[j]; if (i === 3) s += a.late.x; return s; }
      const a = new Float64Array(10); a.late = { x: 1 };
      %PrepareFunctionForOptimization(late);
      late(a, 0);
      late(a, 1);
      %OptimizeFunctionOnNextCall(late);
      late(a, 2);
      late(a, 3);`;
    const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--trace-deopt", "-e", child], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(deopts(r.stdout).get("late"), "this node's deopt trace changed: the check below would prove nothing").toBeGreaterThan(0);
  });

  it("batches, take, scoreBatch, filterDurations and keptRuns run without a deopt", () => {
    const r = spawnSync(
      process.execPath,
      [
        "--trace-deopt",
        BIN,
        "score",
        input,
        "-o",
        join(dir, "out.parquet"),
        "--columns",
        "pickup_datetime,PULocationID,DOLocationID,actual_duration,predicted_duration,diff,model_version",
        "--filter-duration",
        "1..60",
      ],
      { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: "1" } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/600,000 rows read = \d[\d,]* scored \+ [1-9][\d,]* filtered/);
    const counts = deopts(r.stdout);
    expect(Object.fromEntries(WATCHED.map((f) => [f, counts.get(f) ?? 0]))).toEqual(Object.fromEntries(WATCHED.map((f) => [f, 0])));
  });
});
