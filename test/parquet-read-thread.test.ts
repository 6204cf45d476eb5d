// Parquet pages decoded on a reader thread (src/io/parquet-read-thread.ts) give the batches the direct
// reader gives: the same values, the same kinds of column, one dictionary object per row group shared by
// its batches, the same row numbers for a shard, the same errors; a batch held past the next is
// poisoned under RIDEPRED_POISON_BUFFERS=1; and `ridepred score` writes the same bytes with the thread on
// and off. The reader is loaded from dist/, where the worker's compiled file is.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Column, isDict, materialize } from "../src/columns.js";
import { POISON_INDEX } from "../src/io/borrowed.js";
import { parquetSink } from "../src/io/parquet-write.js";
import { BIN, ROOT, SHARED, hasShared } from "./support/paths.js";

let openParquet: typeof import("../src/io/parquet-read.js").openParquet;
let tmp: string;
let own: string; // ridepred's writer: nulls, dictionaries, PLAIN strings, timestamps, 3 row groups
let foreign: string; // hyparquet-writer: INT64 (BigInt cells), nulls, many small pages and row groups
const OWN_COLUMNS = ["zone", "x", "t", "u"];

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/io/parquet-read-thread.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  ({ openParquet } = await import(join(ROOT, "dist/io/parquet-read.js")));
  tmp = mkdtempSync(join(tmpdir(), "ridepred-pqthread-"));
  own = join(tmp, "own.parquet");
  const sink = parquetSink(
    own,
    [
      { name: "zone", kind: "string" },
      { name: "x", kind: "double" },
      { name: "t", kind: "timestamp" },
      { name: "u", kind: "string" },
    ],
    { rowGroupRows: 3000 },
  );
  for (let b = 0; b < 8; b++) {
    const n = 1000 + b * 317;
    const zone = Array.from({ length: n }, (_, r) => ((r + b) % 13 === 0 ? null : String((r * 7 + b) % 300)));
    const x = Float64Array.from({ length: n }, (_, r) => ((r + b) % 11 === 0 ? NaN : r / 3 - b));
    const t = Float64Array.from({ length: n }, (_, r) => ((r + b) % 17 === 0 ? NaN : Date.UTC(2021, 0, 1) + (b * n + r) * 1000));
    const u = Array.from({ length: n }, (_, r) => ((r + b) % 19 === 0 ? null : `ride ${b}-${r} ü`));
    await sink.write({ n, values: [zone, x, t, u] });
  }
  await sink.finish();
  foreign = join(tmp, "foreign.parquet");
  const n = 5000;
  parquetWriteFile({
    filename: foreign,
    columnData: [
      { name: "PULocationID", data: Array.from({ length: n }, (_, i) => (i % 97 === 0 ? null : String(i % 263))), type: "STRING" },
      { name: "trip_distance", data: Array.from({ length: n }, (_, i) => (i % 89 === 0 ? null : i / 7)), type: "DOUBLE" },
      { name: "big", data: Array.from({ length: n }, (_, i) => BigInt(i) * 1_000_000n), type: "INT64" },
    ],
    rowGroupSize: 1800,
    pageSize: 2000,
  });
}, 60_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.RIDEPRED_POISON_BUFFERS;
});

/** Describe a column as a test compares it: its kind, its cells, and which dictionary object (numbered in order of appearance). */
function describeColumn(c: Column, dictionaries: Map<unknown, number>) {
  const kind = isDict(c) ? "dict" : c instanceof Float64Array ? "f64" : Array.isArray(c) ? "array" : c.constructor.name;
  let dictionary: number | undefined;
  if (isDict(c)) {
    if (!dictionaries.has(c.dictionary)) dictionaries.set(c.dictionary, dictionaries.size);
    dictionary = dictionaries.get(c.dictionary);
  }
  return { kind, dictionary, entries: isDict(c) ? Array.from(c.dictionary) : undefined, cells: Array.from(materialize(c)) };
}

/** Every batch, described; or the error that ended the batches. */
async function batches(file: string, wanted: string[], size: number, thread: "on" | "off", rowGroups?: (i: number) => boolean) {
  const src = await openParquet(file, { thread, rowGroups });
  expect((src as unknown as { readerThread: boolean }).readerThread).toBe(thread === "on");
  const out: unknown[] = [];
  const dictionaries = new Map<unknown, number>();
  try {
    for await (const b of src.batches(wanted, size)) {
      out.push({ n: b.n, firstRow: b.firstRow, errors: b.errors, columns: wanted.map((w) => describeColumn(b.columns[w]!, dictionaries)) });
    }
  } catch (e) {
    out.push({ error: (e as Error).message, name: (e as Error).name, exitCode: (e as { exitCode?: number }).exitCode });
  } finally {
    await src.close();
  }
  return { out, progress: src.progress() };
}

describe("the reader thread gives the direct reader's batches", () => {
  it("ridepred's own file: nulls, dictionaries shared within a row group, doubles, timestamps, PLAIN strings", async () => {
    for (const size of [700, 3000, 8192]) {
      const direct = await batches(own, OWN_COLUMNS, size, "off");
      expect(await batches(own, OWN_COLUMNS, size, "on"), `batches of ${size}`).toEqual(direct);
      expect(direct.progress).toBe(1);
    }
  });

  it("hyparquet-writer's file: INT64 as BigInt cells, nulls, many pages and row groups", async () => {
    const wanted = ["big", "PULocationID", "trip_distance"];
    const direct = await batches(foreign, wanted, 333, "off");
    expect((direct.out[0] as { columns: { kind: string }[] }).columns.map((c) => c.kind)).toEqual(["array", "dict", "f64"]);
    expect(await batches(foreign, wanted, 333, "on")).toEqual(direct);
  });

  it("a shard's row groups: the same batches, numbered as rows of the whole file", async () => {
    const odd = (i: number) => i % 2 === 1;
    const direct = await batches(own, ["x", "zone"], 1000, "off", odd);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(own));
    expect(md.row_groups.length).toBeGreaterThanOrEqual(3);
    expect((direct.out[0] as { firstRow: number }).firstRow).toBe(Number(md.row_groups[0]!.num_rows));
    expect(await batches(own, ["x", "zone"], 1000, "on", odd)).toEqual(direct);
  });

  it.skipIf(!hasShared)("real months: the same batches (needs ../shared)", async () => {
    const cols = ["lpep_pickup_datetime", "PULocationID", "DOLocationID", "trip_distance", "passenger_count"];
    for (const month of ["2021-02", "2023-01"]) {
      const file = join(SHARED, `green_tripdata_${month}.parquet`);
      expect(await batches(file, cols, 8192, "on"), month).toEqual(await batches(file, cols, 8192, "off"));
    }
  });

  it("a corrupt page: the batches before it, then the same error (exit 2) as without the thread", async () => {
    const bytes = readFileSync(own);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(own));
    const x = md.row_groups[1]!.columns[1]!.meta_data!;
    const at = Number(x.dictionary_page_offset ?? x.data_page_offset);
    bytes.fill(0xab, at, at + 40);
    const bad = join(tmp, "corrupt.parquet");
    writeFileSync(bad, bytes);
    const direct = await batches(bad, ["zone", "x"], 1000, "off");
    const last = direct.out.at(-1) as { error: string; exitCode: number; name: string };
    expect(last.error).toMatch(/corrupt\.parquet: column x: cannot decode page at byte \d+/);
    expect(last.exitCode).toBe(2);
    expect(await batches(bad, ["zone", "x"], 1000, "on")).toEqual(direct);
    const cli = (thread: string) =>
      spawnSync(process.execPath, [BIN, "score", bad, "-o", join(tmp, `bad-${thread}.csv`), "--map", "zone=PULocationID"], {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", RIDEPRED_READER_THREAD: thread },
      });
    const [off, on] = [cli("off"), cli("on")];
    expect(off.status, off.stderr).toBe(2);
    expect(on.status).toBe(2);
    expect(on.stderr).toBe(off.stderr);
    expect(existsSync(join(tmp, "bad-on.csv"))).toBe(false);
  });

  it("batches abandoned part-way stop the thread", async () => {
    const src = await openParquet(own, { thread: "on" });
    let n = 0;
    for await (const b of src.batches(["x"], 500)) if ((n += b.n) >= 1500) break;
    await src.close();
    expect(n).toBe(1500);
  });

  it("RIDEPRED_READER_THREAD: on, off, auto (= off); anything else is refused", async () => {
    const was = process.env.RIDEPRED_READER_THREAD;
    try {
      for (const [v, threaded] of [
        ["on", true],
        ["off", false],
        ["auto", false],
        ["", false],
      ] as const) {
        process.env.RIDEPRED_READER_THREAD = v;
        const src = await openParquet(own);
        expect((src as unknown as { readerThread: boolean }).readerThread, v).toBe(threaded);
        await src.close();
      }
      process.env.RIDEPRED_READER_THREAD = "yes";
      await expect(openParquet(own)).rejects.toThrow("RIDEPRED_READER_THREAD=yes: expected on, off or auto");
    } finally {
      if (was === undefined) delete process.env.RIDEPRED_READER_THREAD;
      else process.env.RIDEPRED_READER_THREAD = was;
    }
  });
});

describe("a batch from the reader thread is valid until the next is requested", () => {
  it("under RIDEPRED_POISON_BUFFERS=1, a batch held past the next ones reads poison; copies stay exact", async () => {
    process.env.RIDEPRED_POISON_BUFFERS = "1";
    const src = await openParquet(own, { thread: "on" });
    let held: Record<string, Column> | undefined;
    const copied: number[] = [];
    for await (const b of src.batches(["x", "zone"], 300)) {
      held ??= b.columns; // misuse: batch 0 outlives the batches after it
      copied.push(...Array.from(b.columns.x as Float64Array));
    }
    await src.close();
    const direct = (await batches(own, ["x"], 300, "off")).out.flatMap((b) => (b as { columns: { cells: number[] }[] }).columns[0]!.cells);
    expect(copied).toEqual(direct);
    expect(Array.from(held!.x as Float64Array).every((v) => v === Infinity)).toBe(true);
    expect(Array.from((held!.zone as { indices: Int32Array }).indices).every((j) => j === POISON_INDEX)).toBe(true);
  });
});

describe.skipIf(!hasShared)("ridepred score with the reader thread on and off (needs ../shared)", () => {
  it("Parquet -> Parquet and -> CSV: the same bytes, also with poisoned buffers", () => {
    const input = join(SHARED, "green_tripdata_2021-02.parquet");
    const run = (out: string, env: Record<string, string>) => {
      const r = spawnSync(process.execPath, [BIN, "score", input, "-o", out], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env } });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out);
    };
    for (const ext of ["parquet", "csv"]) {
      const off = run(join(tmp, `off.${ext}`), { RIDEPRED_READER_THREAD: "off" });
      const on = run(join(tmp, `on.${ext}`), { RIDEPRED_READER_THREAD: "on" });
      expect(Buffer.compare(on, off), ext).toBe(0);
      const poisoned = run(join(tmp, `poisoned.${ext}`), { RIDEPRED_READER_THREAD: "on", RIDEPRED_POISON_BUFFERS: "1" });
      expect(Buffer.compare(poisoned, off), `${ext}, poisoned`).toBe(0);
    }
  });
});
