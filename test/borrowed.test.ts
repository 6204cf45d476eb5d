// Buffer lifetimes (src/io/borrowed.ts): a reader's batch is valid until the next is requested, a
// writer thread's slot until the batch in it is written. Under RIDEPRED_POISON_BUFFERS=1 released
// buffers are poisoned, so holding one too long fails loudly instead of reading stale, plausible rows.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type Column, materialize } from "../src/columns.js";
import { POISON_INDEX } from "../src/io/borrowed.js";
import { openParquet } from "../src/io/parquet-read.js";
import { parquetSink } from "../src/io/parquet-write.js";
import { loadModel } from "../src/runtime/load.js";

const ROOT = join(__dirname, "..");
const GREEN = join(ROOT, "../shared/data/green_tripdata_2021-02.parquet");
const tmp = mkdtempSync(join(tmpdir(), "ridepred-borrowed-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.RIDEPRED_POISON_BUFFERS;
});

const { predictor } = loadModel();
const ROWS = 5000;
const PAGE = 500; // the writer makes one page per batch written
const distance = Float64Array.from({ length: ROWS }, (_, r) => 0.5 + (r % 97) / 10);
const zones = Array.from({ length: ROWS }, (_, r) => String(1 + ((r * 7) % 263)));

/** A file of ten pages per column, read back in batches of 300 rows: pages retire as batches move on. */
async function pages(): Promise<string> {
  const path = join(tmp, "pages.parquet");
  if (existsSync(path)) return path;
  const sink = parquetSink(path, [
    { name: "trip_distance", kind: "double" },
    { name: "PULocationID", kind: "string" },
    { name: "DOLocationID", kind: "string" },
  ]);
  for (let at = 0; at < ROWS; at += PAGE) {
    await sink.write({ n: PAGE, values: [distance.slice(at, at + PAGE), zones.slice(at, at + PAGE), zones.slice(at, at + PAGE).reverse()] });
  }
  await sink.finish();
  return path;
}

/** Read the file, keeping batch 0 as it was lent (no copy), and every batch copied; then score batch 0. */
async function holdFirstBatch() {
  const source = await openParquet(await pages());
  let held: Record<string, Column> | undefined;
  const copied: number[] = [];
  for await (const b of source.batches(["trip_distance", "PULocationID", "DOLocationID"], 300)) {
    held ??= b.columns; // misuse: batch 0 outlives the batches after it
    copied.push(...Array.from(b.columns.trip_distance as Float64Array)); // correct use: copy what must outlive the batch
  }
  await source.close();
  const result = predictor.predictColumns(held!, 300);
  return { held: held!, copied, result };
}

describe("a reader's batch is valid until the next is requested", () => {
  it("under RIDEPRED_POISON_BUFFERS=1, a batch held past the next ones fails loudly; copies stay exact", async () => {
    process.env.RIDEPRED_POISON_BUFFERS = "1";
    const { held, copied, result } = await holdFirstBatch();
    expect(copied).toEqual(Array.from(distance)); // correct use: every value, exactly
    // The held batch's page arrays were recycled and poisoned: no value survives ...
    expect(Array.from(held.trip_distance as Float64Array).every((v) => v === Infinity)).toBe(true);
    const indices = (held.PULocationID as { indices: Int32Array }).indices;
    expect(Array.from(indices).every((j) => j === POISON_INDEX)).toBe(true);
    // ... and scoring it is refused row by row, not answered with plausible numbers.
    expect(result.errors).toHaveLength(300);
    expect(result.errors[0]!.reason).toMatch(/^dictionary index 2147483647 is past the column's \d+ entries$/);
    const distances = predictor.predictColumns({ ...held, PULocationID: ["1"], DOLocationID: ["2"] }, 1);
    expect(distances.errors[0]!.reason).toBe("expected a finite number, got Infinity");
  });

  it("without the flag the same misuse goes unnoticed: stale rows of a later page, scored without an error", async () => {
    const { held, result } = await holdFirstBatch();
    const values = Array.from(held.trip_distance as Float64Array);
    expect(values).not.toEqual(Array.from(distance.subarray(0, 300))); // overwritten by a later page ...
    expect(values.every(Number.isFinite)).toBe(true); // ... with values that look real
    expect(result.errors).toEqual([]);
    expect(materialize(held.PULocationID).every((z) => typeof z === "string")).toBe(true);
  });
});

describe.skipIf(!existsSync(GREEN))("the whole run under RIDEPRED_POISON_BUFFERS=1 (needs ../shared)", () => {
  it("score Parquet -> Parquet, writer thread on and off: the same file as without the flag", () => {
    const run = (out: string, env: Record<string, string>) => {
      const r = spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), "score", GREEN, "-o", out], {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", ...env },
      });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out);
    };
    for (const thread of ["on", "off"]) {
      const plain = run(join(tmp, `plain-${thread}.parquet`), { RIDEPRED_WRITER_THREAD: thread });
      const poisoned = run(join(tmp, `poisoned-${thread}.parquet`), { RIDEPRED_WRITER_THREAD: thread, RIDEPRED_POISON_BUFFERS: "1" });
      expect(Buffer.compare(poisoned, plain), `writer thread ${thread}`).toBe(0);
    }
  });
});
