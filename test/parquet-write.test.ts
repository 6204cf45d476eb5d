// ridepred's own Parquet writer and snappy compressor, checked against independent readers:
// hyparquet (JS) and DuckDB (C++) for files, hyparquet's JS snappy and hyparquet-compressors' WASM
// snappy for pages.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { deltaBinaryUnpack } from "hyparquet/src/delta.js";
import { snappyUncompress } from "hyparquet/src/snappy.js";
import { compressors } from "hyparquet-compressors";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, describe, expect, it } from "vitest";
import { DoubleDictionary } from "../src/io/parquet-double-dict.js";
import { deltaPacked64, deltaPackedSafe, deltaScratch, SAFE_INT64 } from "../src/io/parquet-delta.js";
import { parquetSink } from "../src/io/parquet-write.js";
import { newSnappyCompressor } from "../src/io/snappy.js";
import type { OutColumn, OutValues } from "../src/io/types.js";

const ROOT = join(__dirname, "..");
const GREEN_2021_02 = join(ROOT, "../shared/data/green_tripdata_2021-02.parquet");
const hasShared = existsSync(GREEN_2021_02);
const tmp = mkdtempSync(join(tmpdir(), "ridepred-pqw-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The rows a query gives in a fresh DuckDB. */
async function fromDuckDB(sql: string) {
  const duck = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    return (await duck.runAndReadAll(sql)).getRowObjects();
  } finally {
    duck.closeSync();
  }
}

let seed = 7;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;

describe("snappy", () => {
  const snappyCompress = newSnappyCompressor();
  const roundTrip = (src: Uint8Array) => {
    const z = snappyCompress(src);
    const js = new Uint8Array(src.length);
    snappyUncompress(z, js);
    const wasm = compressors.SNAPPY!(z, src.length);
    return { m: z.length, js, wasm };
  };

  it("round-trips through two independent decompressors, for every kind of input and size", () => {
    const makers: ((i: number, a: Uint8Array) => number)[] = [
      () => rnd() * 256, // incompressible
      () => rnd() * 3, // tiny alphabet
      (i) => i % 37, // period
      (i, a) => (i > 10 && rnd() < 0.9 ? a[i - 1 - Math.floor(rnd() * 10)]! : rnd() * 256), // short matches
      (i) => (i < 70000 ? 0 : 1), // one long run crossing a 64 KiB fragment
    ];
    for (let t = 0; t < 400; t++) {
      const n = t < 40 ? t : Math.floor(rnd() ** 3 * 300_000);
      const src = new Uint8Array(n);
      const make = makers[t % makers.length]!;
      for (let i = 0; i < n; i++) src[i] = make(i, src);
      const { m, js, wasm } = roundTrip(src);
      expect(m).toBeLessThanOrEqual(32 + n + Math.floor(n / 6)); // snappy's bound
      expect(Buffer.compare(js, src), `case ${t}, ${n} bytes`).toBe(0);
      expect(Buffer.compare(wasm, src), `case ${t}, ${n} bytes`).toBe(0);
    }
  });

  it("compresses what repeats", () => {
    const ids = new TextEncoder().encode(Array.from({ length: 5000 }, (_, i) => `green_tripdata_2021-02_${i}`).join(""));
    expect(roundTrip(ids).m).toBeLessThan(ids.length / 3);
    expect(roundTrip(new Uint8Array(100_000)).m).toBeLessThan(5000);
  });
});

describe("DELTA_BINARY_PACKED for INT64", () => {
  const MIN = -(2n ** 63n);
  const MAX = 2n ** 63n - 1n;
  /** Encode values with the writer's encoder, decode them with hyparquet's; the bytes used must be all of them. */
  const roundTrip = (values: bigint[]) => {
    const wide = BigInt64Array.from(values);
    const halves = new Int32Array(wide.buffer); // little-endian: low word, high word
    const buf = { b: new Uint8Array(16), n: 3 }; // appends after what a buffer holds
    const length = deltaPacked64(buf, halves, values.length, deltaScratch());
    expect(buf.n).toBe(3 + length);
    const reader = { view: new DataView(buf.b.buffer, 0, buf.n), offset: 3 };
    const out = new BigInt64Array(values.length);
    deltaBinaryUnpack(reader, values.length, out);
    expect(reader.offset).toBeLessThanOrEqual(buf.n);
    // Values the double-arithmetic encoder takes: the same bytes from it.
    if (values.every((x) => x > -SAFE_INT64 && x < SAFE_INT64)) {
      const safe = { b: new Uint8Array(16), n: 3 };
      expect(deltaPackedSafe(safe, Float64Array.from(values, Number), values.length, deltaScratch())).toBe(length);
      expect(Buffer.compare(safe.b.subarray(0, safe.n), buf.b.subarray(0, buf.n))).toBe(0);
      safeCases++;
    }
    return { out: Array.from(out), length };
  };
  let safeCases = 0;

  it("round-trips through hyparquet's decoder: block and miniblock edges, negative deltas, every bit width, int64's extremes", () => {
    const cases: bigint[][] = [[], [0n], [MIN], [MAX], [MIN, MAX], [MAX, MIN, MAX, MIN, 0n, -1n, 1n], [MAX, MAX, MAX], [MIN, MIN + 1n, MIN]];
    for (const n of [2, 31, 32, 33, 127, 128, 129, 130, 160, 161, 255, 256, 257, 1000]) {
      cases.push(Array.from({ length: n }, (_, i) => 1_612_137_600_000_000n + BigInt(i) * 61_000_000n)); // one constant delta: width 0
      cases.push(Array.from({ length: n }, () => BigInt(Math.floor((rnd() - 0.5) * 2 ** 40)) * 1_000_000n)); // random, negative deltas
    }
    // One huge delta in a run of small ones, at every position of a block: one miniblock takes width 64.
    for (const at of [1, 31, 32, 33, 64, 127, 128, 129]) {
      cases.push(Array.from({ length: 300 }, (_, i) => (i === at ? MAX : i === at + 1 ? MIN : BigInt(i) * 1000n)));
    }
    // Every bit width from 1 to 64 in one miniblock: deltas 0 and 2^w - 1 (wrapping past int64 where w = 64).
    for (let w = 1; w <= 64; w++) {
      const step = (1n << BigInt(w)) - 1n;
      const v = [5n];
      for (let i = 0; i < 40; i++) v.push(BigInt.asIntN(64, v[i]! + (i % 3 === 0 ? step : 0n)));
      cases.push(v);
    }
    // Near the double encoder's limits: deltas and their excess over a block's least delta of ~2^52.
    const edge = BigInt(SAFE_INT64) - 1n;
    cases.push(
      [edge, -edge, edge, -edge, 0n],
      Array.from({ length: 200 }, (_, i) => (i % 7 === 3 ? -edge : i % 5 === 1 ? edge : BigInt(i))),
    );
    for (let w = 33; w <= 53; w++) cases.push(Array.from({ length: 70 }, (_, i) => (i % 2 ? 1n << BigInt(w - 2) : -(1n << BigInt(w - 2)))));
    safeCases = 0;
    for (const values of cases) expect(roundTrip(values).out, `${values.length} values from ${values[0]}`).toEqual(values);
    expect(safeCases).toBeGreaterThan(cases.length / 2);
  });

  it("takes a value's bits where its deltas vary: a second apart, ~33 bits as on real pickups", () => {
    const values = Array.from({ length: 8192 }, (_, i) => 1_612_137_600_000_000n + BigInt(i * 1000 + Math.floor(rnd() * 7200) - 3600) * 1_000_000n);
    const { out, length } = roundTrip(values);
    expect(out).toEqual(values);
    expect(length).toBeLessThan(8192 * 4.5); // PLAIN: 8 bytes a value
  });
});

describe("parquetSink", () => {
  const write = async (name: string, columns: OutColumn[], batches: { n: number; values: OutValues[] }[], options = {}) => {
    const path = join(tmp, name);
    const sink = parquetSink(path, columns, options);
    for (const b of batches) await sink.write(b);
    await sink.finish();
    const file = await asyncBufferFromFile(path);
    // Timestamps as their stored INT64 microseconds, to check them exactly.
    const parsers = { timestampFromMicroseconds: (v: bigint) => v };
    return {
      path,
      metadata: await parquetMetadataAsync(file, { parsers } as Parameters<typeof parquetMetadataAsync>[1]),
      rows: await parquetReadObjects({ file, parsers } as Parameters<typeof parquetReadObjects>[0]),
    };
  };

  it("writes every column kind with nulls, across pages and row groups, and hyparquet reads back the same values", async () => {
    const columns: OutColumn[] = [
      { name: "id", kind: "string" },
      { name: "when", kind: "timestamp" },
      { name: "zone", kind: "string" },
      { name: "x", kind: "double" },
      { name: "big", kind: "raw" },
      { name: "flag", kind: "raw" },
      { name: "note", kind: "raw" },
    ];
    const expected: Record<string, unknown>[] = [];
    const batches = [];
    let row = 0;
    for (const n of [1, 7, 8, 9, 1000, 4096, 3]) {
      const when = new Float64Array(n);
      const x = new Float64Array(n);
      const zone: (string | null)[] = [];
      const big: (bigint | null)[] = [];
      const flag: (boolean | null)[] = [];
      const note: (string | null)[] = [];
      for (let r = 0; r < n; r++, row++) {
        when[r] = r % 13 === 5 ? NaN : Date.UTC(2021, 1, 1) + row * 61_123 + 0.5; // 0.5 ms = 500 us, exact
        x[r] = row % 17 === 3 ? NaN : (rnd() - 0.5) * 1e6;
        zone.push(row % 11 === 0 ? null : String(row % 20 < 12 ? 7 : (row * 7919) % 265));
        big.push(row % 9 === 1 ? null : BigInt(row) * 1_000_000_007n - 5n);
        flag.push(row % 5 === 2 ? null : row % 3 === 0);
        note.push(row % 4 === 0 ? null : row % 2 ? "Zürich – 東京 😀" : "");
        expected.push({
          id: `trip_${row}`,
          when: Number.isNaN(when[r]) ? null : BigInt(Math.round(when[r]! * 1000)), // exact microseconds
          zone: zone[r],
          x: Number.isNaN(x[r]) ? null : x[r],
          big: big[r],
          flag: flag[r],
          note: note[r],
        });
      }
      const numbers = Float64Array.from({ length: n }, (_, r) => row - n + r);
      batches.push({ n, values: [{ prefix: "trip_", numbers }, when, zone, x, big, flag, note] });
    }
    const { path, rows, metadata } = await write("kinds.parquet", columns, batches, { rowGroupRows: 1000 });
    expect(metadata.row_groups.length).toBe(3); // 1+7+8+9+1000 = 1025, then 4096, then 3
    expect(Number(metadata.num_rows)).toBe(row);
    expect(rows).toEqual(expected);
    // DuckDB reads the same file to the same values.
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const sql = `SELECT id, epoch_us("when") AS "when", zone, x, big, flag, note FROM read_parquet('${path}')`;
    const fromDuck = (await duck.runAndReadAll(sql)).getRowObjects().map((r) => ({ ...r, big: r.big === null ? null : BigInt(r.big as bigint) }));
    expect(fromDuck).toEqual(expected);
    duck.closeSync();
    // Types a reader sees: timestamps as TIMESTAMP(MICROS), strings as UTF8, the rest by value.
    const leaf = (name: string) => metadata.schema.find((s) => s.name === name)!;
    expect(leaf("when")).toMatchObject({
      type: "INT64",
      converted_type: "TIMESTAMP_MICROS",
      logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" },
    });
    expect(leaf("id")).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8" });
    expect(leaf("x").type).toBe("DOUBLE");
    expect(leaf("big").type).toBe("INT64");
    expect(leaf("flag").type).toBe("BOOLEAN");
    // Statistics: null counts and min/max that match the data.
    const g0 = metadata.row_groups[0]!;
    const stat = (name: string) => g0.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!.meta_data!.statistics!;
    const xs = expected.slice(0, 1025).map((r) => r.x as number | null);
    expect(Number(stat("x").null_count)).toBe(xs.filter((v) => v === null).length);
    expect(stat("x").min_value).toBe(Math.min(...(xs.filter((v) => v !== null) as number[])));
    expect(stat("x").max_value).toBe(Math.max(...(xs.filter((v) => v !== null) as number[])));
    const zoneChunk = g0.columns.find((c) => c.meta_data!.path_in_schema[0] === "zone")!.meta_data!;
    expect(zoneChunk.encodings).toContain("RLE_DICTIONARY");
    expect(zoneChunk.dictionary_page_offset).toBeDefined();
  });

  it("formats generated ids exactly as JavaScript prints prefix + number, at every digit count; DuckDB reads them too", async () => {
    const runs = [0, 95, 995, 99995, 2147483640, 9007199254740980].flatMap((start) => Array.from({ length: 11 }, (_, i) => start + i)); // consecutive, across carries
    const jumps = [0, 9, 10, 99, 100, 101, 999, 1000, 12345, 99999, 100000, 999999999, 1e9, 2147483647, 2147483648, 4294967296, 9007199254740991];
    const repeats = [5, 5, 6, 6, 4, 12, 13, 3, 1234, 1299, 1300, 98, 99, 100, 7]; // filtered rows: gaps, repeats, going back, shorter
    const numbers = [...runs, ...jumps, ...repeats];
    // One page of everything, then pages of 1, 2, 127, 128, 129, 300 ids (DELTA_BINARY_PACKED's block edges).
    const sizes = [numbers.length, 1, 2, 127, 128, 129, 300];
    const pages = sizes.map((n, i) => Float64Array.from({ length: n }, (_, k) => (i === 0 ? numbers[k]! : 1000 * i + k + (k % 50 === 49 ? 7 : 0))));
    const { rows, path } = await write(
      "ids.parquet",
      [{ name: "ride_id", kind: "string" }],
      pages.map((p) => ({ n: p.length, values: [{ prefix: "ré_", numbers: p }] })),
    );
    const expected = pages.flatMap((p) => Array.from(p, (x) => `ré_${x}`));
    expect(rows.map((r) => r.ride_id)).toEqual(expected);
    const duck = await fromDuckDB(`SELECT ride_id FROM read_parquet('${path}')`);
    expect(duck.map((r) => r.ride_id)).toEqual(expected);
  });

  it("dictionary columns are written through their dictionary, nulls and null entries included", async () => {
    const dictionary = ["10", null, "Zürich", "7"];
    const batches = [0, 1, 2].map((b) => {
      const indices = Int32Array.from({ length: 1000 }, (_, r) => ((r + b) % 7 === 0 ? -1 : (r * 31 + b) % dictionary.length));
      return {
        n: 1000,
        indices,
        values: [
          { dictionary: b === 2 ? [...dictionary] : dictionary, indices },
          { dictionary, indices },
        ],
      };
    });
    const columns: OutColumn[] = [
      { name: "zone", kind: "string" },
      { name: "passed", kind: "raw" },
    ];
    const { rows, metadata } = await write("dictcol.parquet", columns, batches, { rowGroupRows: 2000 });
    const expected = batches.flatMap((b) => Array.from(b.indices, (j) => (j < 0 ? null : dictionary[j]!)));
    expect(rows.map((r) => r.zone)).toEqual(expected);
    expect(rows.map((r) => r.passed)).toEqual(expected);
    expect(metadata.row_groups[0]!.columns[0]!.meta_data!.encodings).toContain("RLE_DICTIONARY");
  });

  it("a one-entry dictionary column (model_version): pages of every size as one run, a null row, another entry; DuckDB and hyparquet read it back", async () => {
    const pages: [number, string, number?][] = [
      [1, "v1"],
      [7, "v1"],
      [8, "v1"],
      [9, "v1"],
      [8192, "v1"],
      [100, "v1", 50], // row 50 null
      [20, "v2"], // a one-entry dictionary whose entry is not the chunk's first
      [1000, "v2"],
      [10, "v2"], // a new row group: now its first entry
      [5, "v1"],
    ];
    const batches = pages.map(([n, entry, nullAt]) => {
      const indices = new Int32Array(n);
      if (nullAt !== undefined) indices[nullAt] = -1;
      return { n, values: [{ dictionary: [entry], indices }] };
    });
    const { path, rows, metadata } = await write("one-entry.parquet", [{ name: "model_version", kind: "string" }], batches, { rowGroupRows: 9000 });
    expect(metadata.row_groups.length).toBe(2);
    const expected = pages.flatMap(([n, entry, nullAt]) => Array.from({ length: n }, (_, r) => (r === nullAt ? null : entry)));
    expect(rows.map((r) => r.model_version)).toEqual(expected);
    expect((await fromDuckDB(`SELECT model_version AS v FROM read_parquet('${path}')`)).map((r) => r.v)).toEqual(expected);
  });

  it("stops using a dictionary for unique strings, and keeps it for repeated ones", async () => {
    const n = 8192;
    const unique = Array.from({ length: n }, (_, i) => `u${i * 7919}`);
    const repeated = Array.from({ length: n }, (_, i) => `zone ${i % 50}`);
    const batches = [0, 1, 2].map(() => ({ n, values: [unique, repeated] }));
    const { rows, metadata } = await write(
      "dict.parquet",
      [
        { name: "u", kind: "string" },
        { name: "r", kind: "string" },
      ],
      batches,
    );
    expect(rows).toHaveLength(3 * n);
    expect(rows[n + 5]).toEqual({ u: unique[5], r: repeated[5] });
    const [u, r] = metadata.row_groups[0]!.columns.map((c) => c.meta_data!);
    expect(u!.encodings).toEqual(expect.arrayContaining(["PLAIN", "RLE_DICTIONARY"])); // first page only
    expect(r!.encodings).toContain("RLE_DICTIONARY");
    expect(Number(r!.total_compressed_size)).toBeLessThan(Number(u!.total_compressed_size) / 5);
  });

  // Parquet names one codec per column chunk: it must suit all of the chunk's pages, not its first one.
  const codecs = (metadata: Awaited<ReturnType<typeof write>>["metadata"], name: string) =>
    metadata.row_groups.map((g) => g.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!.meta_data!.codec);

  it("compresses a chunk whose first page does not compress but the rest do (unique strings: dictionary, then PLAIN)", async () => {
    const n = 8192;
    const batches = [0, 1, 2, 3, 4, 5].map((b) => ({ n, values: [Array.from({ length: n }, (_, i) => `green-2021-02-${b * n + i}`)] }));
    const { path, rows, metadata } = await write("unique-ids.parquet", [{ name: "ride_id", kind: "string" }], batches);
    const chunk = metadata.row_groups[0]!.columns[0]!.meta_data!;
    expect(chunk.encodings).toEqual(expect.arrayContaining(["PLAIN", "RLE_DICTIONARY"])); // the first page through the dictionary
    expect(codecs(metadata, "ride_id")).toEqual(["SNAPPY"]);
    expect(Number(chunk.total_compressed_size)).toBeLessThan(Number(chunk.total_uncompressed_size) / 3);
    const expected = batches.flatMap((b) => b.values[0]!);
    expect(rows.map((r) => r.ride_id)).toEqual(expected);
    const duck = await fromDuckDB(`SELECT ride_id FROM read_parquet('${path}')`);
    expect(duck.map((r) => r.ride_id)).toEqual(expected);
  });

  it("stores a chunk uncompressed when only its first page compresses, and every page still reads back", async () => {
    const n = 4096;
    const batches = [0, 1, 2, 3, 4, 5, 6, 7].map((b) => ({
      n,
      values: [Float64Array.from({ length: n }, (_, i) => (b === 0 ? i + 0.5 : rnd() + rnd() / 2 ** 32))],
    }));
    const { path, rows, metadata } = await write("first-page-compresses.parquet", [{ name: "x", kind: "double" }], batches);
    expect(codecs(metadata, "x")).toEqual(["UNCOMPRESSED"]);
    const chunk = metadata.row_groups[0]!.columns[0]!.meta_data!;
    expect(chunk.total_compressed_size).toBe(chunk.total_uncompressed_size);
    const expected = batches.flatMap((b) => Array.from(b.values[0]!));
    expect(rows.map((r) => r.x)).toEqual(expected);
    const duck = await fromDuckDB(`SELECT x FROM read_parquet('${path}')`);
    expect(duck.map((r) => r.x)).toEqual(expected);
  });

  it("timestamps are DELTA_BINARY_PACKED (PLAIN on a page where that is smaller), and DuckDB and hyparquet read the same microseconds", async () => {
    const DAY = 86_400_000;
    const start = Date.UTC(2021, 1, 1);
    // Pages cut at the encoding's edges (1, 32, 33 values: a miniblock; 128, 129: a block), times going
    // back and forth, nulls (first, last, runs), the Date range's ends, and a page of times far apart.
    const pages: number[][] = [];
    for (const n of [1, 2, 32, 33, 127, 128, 129, 257, 1000, 8192]) {
      pages.push(
        Array.from({ length: n }, (_, i) => (i % 17 === 0 && n > 2 ? NaN : start + i * 60_000 + Math.floor(rnd() * 3_600_000) - 1_800_000 + 0.25 * (i % 4))),
      );
    }
    pages.push([NaN, NaN, NaN]);
    pages.push(Array.from({ length: 300 }, (_, i) => (i === 100 ? 8.64e15 : i === 101 ? -8.64e15 : i === 200 ? NaN : start - i * 1000)));
    pages.push(Array.from({ length: 500 }, (_, i) => (i % 2 ? 8.64e15 - i * DAY * 1e4 : -8.64e15 + i * DAY * 1e5))); // far apart: PLAIN
    const { path, rows, metadata } = await write(
      "times.parquet",
      [{ name: "when", kind: "timestamp" }],
      pages.map((p) => ({ n: p.length, values: [Float64Array.from(p)] })),
      { rowGroupRows: 2000 },
    );
    const expected = pages.flat().map((ms) => (Number.isNaN(ms) ? null : BigInt(Math.round(ms * 1000))));
    expect(rows.map((r) => r.when)).toEqual(expected);
    const duck = await fromDuckDB(`SELECT epoch_us("when") AS us FROM read_parquet('${path}')`);
    expect(duck.map((r) => r.us)).toEqual(expected);
    const encodings = [...new Set(metadata.row_groups.flatMap((g) => g.columns[0]!.meta_data!.encodings))].sort();
    expect(encodings).toEqual(["DELTA_BINARY_PACKED", "PLAIN", "RLE"]);
    // Statistics still hold each row group's least and greatest time.
    let first = 0;
    for (const g of metadata.row_groups) {
      const times = expected.slice(first, first + Number(g.num_rows)).filter((t) => t !== null) as bigint[];
      first += Number(g.num_rows);
      const stats = g.columns[0]!.meta_data!.statistics!;
      times.sort((a, b) => Number(a - b)); // bigints: their difference's sign
      expect([stats.min_value, stats.max_value]).toEqual([times[0], times.at(-1)]);
    }
  });

  // Doubles compared by their bits: -0 is not 0 (every other double's value is its bits; NaN is null).
  const exact = (xs: unknown[]) => xs.map((v) => (Object.is(v, -0) ? "-0" : v));
  const readBoth = async (path: string, name: string) => ({
    hyparquet: exact((await parquetReadObjects({ file: await asyncBufferFromFile(path), columns: [name] })).map((r) => r[name])),
    duckdb: exact((await fromDuckDB(`SELECT "${name}" AS v FROM read_parquet('${path}')`)).map((r) => r.v)),
  });
  const chunkMeta = (metadata: Awaited<ReturnType<typeof write>>["metadata"], name: string) =>
    metadata.row_groups.map((g) => g.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!.meta_data!);

  it("doubles that repeat go through a dictionary: -0, 0, nulls, infinities and subnormals read back exactly by hyparquet and DuckDB", async () => {
    const pool = [-0, 0, 1.5, -1.5, Infinity, -Infinity, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2, 1 / 3];
    for (let m = 60; m <= 3600; m += 17) pool.push(m / 60);
    const columns: OutColumn[] = [
      { name: "rep", kind: "double" },
      { name: "cells", kind: "double" }, // not a typed array: cells, with null and NaN for nulls
      { name: "uniq", kind: "double" },
    ];
    const want: unknown[][] = [[], [], []];
    const batches = [];
    let row = 0;
    for (const n of [1500, 1, 7, 8192, 8192, 3]) {
      const rep = new Float64Array(n);
      const cells: (number | null)[] = [];
      const uniq = new Float64Array(n);
      for (let r = 0; r < n; r++, row++) {
        rep[r] = row % 13 === 4 ? NaN : pool[(row * 31) % pool.length]!;
        cells.push(row % 7 === 1 ? null : row % 7 === 2 ? NaN : pool[(row * 7) % pool.length]!);
        uniq[r] = (rnd() - 0.5) * 1e6;
        want[0]!.push(Number.isNaN(rep[r]) ? null : rep[r]);
        want[1]!.push(cells[r] === null || Number.isNaN(cells[r]) ? null : cells[r]);
        want[2]!.push(uniq[r]);
      }
      batches.push({ n, values: [rep, cells, uniq] });
    }
    const { path, metadata } = await write("double-dict.parquet", columns, batches, { rowGroupRows: 10_000 });
    expect(metadata.row_groups.length).toBe(2);
    for (const [j, name] of ["rep", "cells", "uniq"].entries()) {
      const back = await readBoth(path, name);
      expect(back.hyparquet, name).toEqual(exact(want[j]!));
      expect(back.duckdb, name).toEqual(exact(want[j]!));
    }
    for (const name of ["rep", "cells"]) {
      for (const m of chunkMeta(metadata, name)) {
        expect(m.encodings, name).toEqual(["PLAIN", "RLE", "RLE_DICTIONARY"]);
        expect(m.dictionary_page_offset, name).toBeDefined();
      }
    }
    // Nearly all distinct: given up on the first page's first values, as before (PLAIN, no dictionary page).
    // (The last row group's one page of 3 values is too short to tell: it keeps its dictionary.)
    const [uniq, last] = chunkMeta(metadata, "uniq");
    expect(uniq!.encodings).toEqual(["PLAIN", "RLE"]);
    expect(uniq!.dictionary_page_offset).toBeUndefined();
    expect(last!.encodings).toEqual(["PLAIN", "RLE", "RLE_DICTIONARY"]);
    // Statistics as before: from the values, infinities included.
    const stats = chunkMeta(metadata, "rep")[0]!.statistics!;
    expect([stats.min_value, stats.max_value]).toEqual([-Infinity, Infinity]);
    expect(Number(stats.null_count)).toBe(want[0]!.slice(0, Number(metadata.row_groups[0]!.num_rows)).filter((v) => v === null).length);
  });

  it("double statistics: nulls skipped, the first value strictly below (above) all before it wins, so -0 and 0 keep the one seen first", async () => {
    // One column per case, each written as pages (batches) of its own; one row group holds them all.
    const cases: number[][][] = [
      [
        [3, -2.5, 7],
        [1, 9.5],
      ], // no null, no zero: the common page
      [
        [0, 1, 2],
        [-0, 3],
      ], // 0 seen first: min stays 0 (-0 is not below it)
      [
        [-0, 1, 2],
        [0, 3],
      ], // -0 first: stays -0
      [[1, 0], [-0]], // 0 first within a page, -0 on a later page
      [[-1, -0], [0]], // max: -0 first, then 0 (not above it)
      [[-3, 0, -0], [-2]], // max 0 and -0 on one page
      [[2, 0, -0, 1]], // min: 0 then -0 on one page: 0
      [[-2, -0, 0, -1]], // max: -0 then 0 on one page: -0
      [
        [NaN, 2, NaN],
        [NaN, NaN],
        [5, -1],
      ], // nulls in pages, a page of nulls only
      [[NaN, -0, NaN, 0], [NaN]], // nulls and both zeros
      [[Infinity, -Infinity], [1]],
      [[NaN, NaN]], // nothing but nulls: no min/max
    ];
    const columns: OutColumn[] = cases.map((_, j) => ({ name: `c${j}`, kind: "double" }));
    const pages = Math.max(...cases.map((c) => c.length));
    const batches = [];
    for (let p = 0; p < pages; p++) {
      const n = Math.max(...cases.map((c) => c[p]?.length ?? 0));
      // Shorter pages are padded with nulls, which the rule skips.
      batches.push({ n, values: cases.map((c) => Float64Array.from({ length: n }, (_, r) => c[p]?.[r] ?? NaN)) });
    }
    const { metadata } = await write("double-stats.parquet", columns, batches);
    const show = (x: unknown) => (Object.is(x, -0) ? "-0" : String(x));
    for (const [j, c] of cases.entries()) {
      let min = Infinity;
      let max = -Infinity;
      for (const v of c.flat()) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const stats = chunkMeta(metadata, `c${j}`)[0]!.statistics!;
      if (min > max) expect([stats.min_value, stats.max_value], `c${j}`).toEqual([undefined, undefined]);
      else {
        expect(Object.is(stats.min_value, min), `c${j} min ${show(stats.min_value)}, want ${show(min)}`).toBe(true);
        expect(Object.is(stats.max_value, max), `c${j} max ${show(stats.max_value)}, want ${show(max)}`).toBe(true);
      }
    }
  });

  it("a double dictionary gives up mid-chunk (values stop repeating) and at its entry limit: earlier pages keep it, later ones are PLAIN", async () => {
    const page = 8192;
    // switch: three pages of 100 values, then three of unique ones. limit: each value twice, 70,000 of them.
    const rowsOf = 18 * page;
    const switching = Float64Array.from({ length: rowsOf }, (_, i) => (i < 3 * page ? (i % 100) / 8 : rnd() * 1e9));
    const limit = Float64Array.from({ length: rowsOf }, (_, i) => Math.floor(i / 2) * 0.25 - 5000);
    const batches = [];
    for (let at = 0; at < rowsOf; at += page) batches.push({ n: page, values: [switching.subarray(at, at + page), limit.subarray(at, at + page)] });
    const columns: OutColumn[] = [
      { name: "switching", kind: "double" },
      { name: "limit", kind: "double" },
    ];
    const { path, metadata } = await write("double-dict-limits.parquet", columns, batches, { rowGroupRows: 1 << 20 });
    for (const [name, values] of [
      ["switching", switching],
      ["limit", limit],
    ] as const) {
      const back = await readBoth(path, name);
      expect(back.hyparquet, name).toEqual(exact(Array.from(values)));
      expect(back.duckdb, name).toEqual(exact(Array.from(values)));
      const [m] = chunkMeta(metadata, name);
      expect(m!.encodings).toEqual(["PLAIN", "RLE", "RLE_DICTIONARY"]);
      expect(m!.dictionary_page_offset).toBeDefined();
    }
    // The dictionary itself: which pages it takes, and what it holds after giving up.
    const pages = (values: Float64Array) => {
      const d = new DoubleDictionary();
      const idx = new Int32Array(page);
      const tops: number[] = [];
      for (let at = 0; at < rowsOf; at += page) tops.push(d.off ? -2 : d.indices(values.subarray(at, at + page), page, idx));
      return { tops, size: d.size, entries: Array.from(d.values()) };
    };
    const sw = pages(switching);
    expect(sw.tops.slice(0, 4)).toEqual([127, 127, 127, -1]); // 100 entries: 7-bit indices; then given up
    expect(sw.tops.slice(4).every((t) => t === -2)).toBe(true);
    expect(sw.entries).toEqual(Array.from({ length: 100 }, (_, i) => i / 8));
    const lim = pages(limit);
    expect(lim.tops.slice(0, 16).every((t) => t >= 0)).toBe(true); // 16 pages: 65,536 entries, exactly the limit
    expect(lim.tops[16]).toBe(-1);
    expect(lim.size).toBe(1 << 16);
    expect(lim.entries.at(-1)).toBe(65_535 * 0.25 - 5000);
  });

  it("a double dictionary tells -0 from 0 and keeps an entry's bits; reset starts a new chunk", () => {
    const d = new DoubleDictionary();
    const idx = new Int32Array(8);
    const values = new Float64Array([0, -0, 0, -0, 2.5, 2.5, 5e-324, -5e-324]);
    expect(d.indices(values, 8, idx)).toBe(0 | 1 | 2 | 3 | 4);
    expect(Array.from(idx)).toEqual([0, 1, 0, 1, 2, 2, 3, 4]);
    const bits = new BigUint64Array(new Float64Array(d.values()).buffer);
    expect(Array.from(bits)).toEqual([0n, 1n << 63n, 0x4004000000000000n, 1n, (1n << 63n) | 1n]);
    d.reset();
    expect(d.size).toBe(0);
    expect(d.indices(new Float64Array([7, -0]), 2, idx)).toBe(1);
    expect(Array.from(d.values())).toEqual([7, -0]);
  });

  it("a double dictionary's indices are those of first appearance, whichever values share a key of its recent-value cache, across chunks", () => {
    // Keys are values in 60ths rounded: 1 and 1 + 1e-12 share one, as do 0 and -0, as do NaNs of any bits.
    const pool = [1, 1 + 1e-12, 1 - 1e-12, 0, -0, Number.NaN, 0.5, 2 / 60, 2 / 60 + 2 ** -40, 12.25, 1e300, -1e300, 60, 61 / 60];
    const nan2 = new Float64Array(new BigUint64Array([0x7ff8000000000001n]).buffer)[0]!;
    pool.push(nan2);
    const key = (x: number) => new BigUint64Array(new Float64Array([x]).buffer)[0]!;
    const d = new DoubleDictionary();
    const idx = new Int32Array(2048);
    let seed = 5;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let chunk = 0; chunk < 6; chunk++) {
      const reference = new Map<bigint, number>();
      for (let page = 0; page < 3; page++) {
        const values = Float64Array.from({ length: 2048 }, () => pool[Math.floor(rnd() * (chunk % 2 ? pool.length : 6))]!);
        expect(d.indices(values, values.length, idx)).toBeGreaterThanOrEqual(0);
        const want = Array.from(values, (x) => reference.get(key(x)) ?? reference.set(key(x), reference.size).get(key(x))!);
        expect(Array.from(idx)).toEqual(want);
      }
      expect(Array.from(d.values(), key)).toEqual([...reference.keys()]);
      d.reset();
    }
  });

  it("an empty output is a valid file with the schema and no rows; abort leaves nothing behind", async () => {
    const { rows, metadata } = await write("empty.parquet", [{ name: "a", kind: "double" }], []);
    expect(rows).toEqual([]);
    expect(metadata.schema.map((s) => s.name)).toEqual(["schema", "a"]);
    const dir = mkdtempSync(join(tmp, "abort-"));
    const sink = parquetSink(join(dir, "out.parquet"), [{ name: "a", kind: "double" }]);
    await sink.write({ n: 2, values: [new Float64Array([1, 2])] });
    await sink.abort();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe.skipIf(!hasShared)("score's Parquet output of a real month (needs ../shared)", () => {
  const sizes = async (path: string) => {
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    const chunks = metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data!)).filter((m) => m.path_in_schema[0] === "ride_id");
    return {
      file: statSync(path).size,
      rideIds: chunks.reduce((a, m) => a + Number(m.total_compressed_size), 0),
      rideIdsRaw: chunks.reduce((a, m) => a + Number(m.total_uncompressed_size), 0),
      codecs: chunks.map((m) => m.codec),
      encodings: [...new Set(chunks.flatMap((m) => m.encodings))].sort(),
    };
  };
  const score = (input: string, output: string, thread: "on" | "off") => {
    const env = { ...process.env, NO_COLOR: "1", RIDEPRED_WRITER_THREAD: thread };
    const r = spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), "score", input, "-o", output], { encoding: "utf8", env });
    expect(r.status, r.stderr).toBe(0);
  };

  it("generated ride ids are DELTA_BYTE_ARRAY, well under a byte an id, and DuckDB and hyparquet read every one back", async () => {
    const out = join(tmp, "generated-ids.parquet");
    for (const thread of ["off", "on"] as const) {
      score(GREEN_2021_02, out, thread);
      const generated = await sizes(out);
      expect(generated.encodings).toEqual(["DELTA_BYTE_ARRAY", "RLE"]);
      expect(generated.rideIds).toBeLessThan(61_921); // PLAIN + snappy: ~4.9 bytes an id
      const [duck] = await fromDuckDB(
        `SELECT count(*) AS n, count(*) FILTER (WHERE ride_id IS DISTINCT FROM 'green_tripdata_2021-02_' || k) AS differ
         FROM (SELECT ride_id, row_number() OVER () - 1 AS k FROM read_parquet('${out}'))`,
      );
      expect(duck).toEqual({ n: 61_921n, differ: 0n });
      const rows = await parquetReadObjects({ file: await asyncBufferFromFile(out), columns: ["ride_id"] });
      expect(rows).toHaveLength(61_921);
      expect(rows.every((r, k) => r.ride_id === `green_tripdata_2021-02_${k}`)).toBe(true);
    }
  });

  it("bench/score's seven columns: actual_duration through a dictionary, the same bytes with the writer thread on and off, values as DuckDB computes them", async () => {
    const seven = "pickup_datetime,PULocationID,DOLocationID,actual_duration,predicted_duration,diff,model_version";
    const outs = (["on", "off"] as const).map((thread) => {
      const out = join(tmp, `seven-${thread}.parquet`);
      const env = { ...process.env, NO_COLOR: "1", RIDEPRED_WRITER_THREAD: thread };
      const args = [join(ROOT, "bin/ridepred"), "score", GREEN_2021_02, "-o", out, "--columns", seven, "--filter-duration", "1..60"];
      const r = spawnSync(process.execPath, args, { encoding: "utf8", env });
      expect(r.status, r.stderr).toBe(0);
      return out;
    });
    expect(readFileSync(outs[0]!).equals(readFileSync(outs[1]!))).toBe(true);
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(outs[0]!));
    const encodings = (name: string) => [
      ...new Set(metadata.row_groups.flatMap((g) => g.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!.meta_data!.encodings)),
    ];
    expect(encodings("actual_duration")).toContain("RLE_DICTIONARY");
    expect(encodings("predicted_duration")).toEqual(["PLAIN", "RLE"]);
    expect(encodings("diff")).toEqual(["PLAIN", "RLE"]);
    // Every row's minutes, by their bits (as text: DuckDB prints the shortest form that reads back to the same double).
    const [check] = await fromDuckDB(
      `SELECT count(*) AS n, count(*) FILTER (WHERE o.actual_duration::VARCHAR IS DISTINCT FROM i.m::VARCHAR OR o.diff::VARCHAR IS DISTINCT FROM (i.m - o.predicted_duration)::VARCHAR) AS differ
       FROM read_parquet('${outs[0]}') o POSITIONAL JOIN (
         SELECT m FROM (SELECT (epoch_ms(lpep_dropoff_datetime) - epoch_ms(lpep_pickup_datetime)) / 60000::DOUBLE AS m, file_row_number
           FROM read_parquet('${GREEN_2021_02}', file_row_number = true)) WHERE m BETWEEN 1 AND 60 ORDER BY file_row_number) i`,
    );
    expect(check).toEqual({ n: expect.any(BigInt), differ: 0n });
    expect(Number(check!.n)).toBeGreaterThan(50_000);
  });

  it("without a use for the times (no filter, no time column out) the same ids and predictions, and with one the times still count", async () => {
    const run = (name: string, extra: string[]) => {
      const out = join(tmp, name);
      const r = spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), "score", GREEN_2021_02, "-o", out, ...extra], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return out;
    };
    const narrow = run("narrow.parquet", ["--columns", "ride_id,predicted_duration,model_version"]);
    const full = run("full.parquet", []);
    const filtered = run("filtered.parquet", ["--columns", "ride_id,predicted_duration", "--filter-duration", "10..20"]);
    const [same] = await fromDuckDB(
      `SELECT (SELECT count(*) FROM '${narrow}') AS n,
              (SELECT count(*) FROM (SELECT ride_id, predicted_duration FROM '${narrow}' EXCEPT ALL SELECT ride_id, predicted_duration FROM '${full}')) AS differ,
              (SELECT count(*) FROM '${filtered}') AS kept,
              (SELECT count(*) FROM '${full}' WHERE actual_duration BETWEEN 10 AND 20) AS want`,
    );
    expect(same!.n).toBe(61_921n);
    expect(same!.differ).toBe(0n);
    expect(same!.kept).toBe(same!.want);
    expect(same!.kept).toBeLessThan(61_921n);
  });

  it("an input's own ride_id column is written compressed, and its values round-trip", async () => {
    // green 2021-02 as it is, and with a ride_id column of its own in front (made by DuckDB).
    const withIds = join(tmp, "green-with-ids.parquet");
    await fromDuckDB(
      `COPY (SELECT 'green-2021-02-' || (row_number() OVER () - 1) AS ride_id, * FROM read_parquet('${GREEN_2021_02}')) TO '${withIds}' (FORMAT parquet)`,
    );
    score(GREEN_2021_02, join(tmp, "generated.parquet"), "off");
    const generated = await sizes(join(tmp, "generated.parquet"));
    expect(generated.codecs.every((c) => c === "SNAPPY")).toBe(true);
    for (const thread of ["off", "on"] as const) {
      const out = join(tmp, `own-ids-${thread}.parquet`);
      score(withIds, out, thread);
      const own = await sizes(out);
      expect(
        own.codecs.every((c) => c === "SNAPPY"),
        `ride_id codecs ${own.codecs}`,
      ).toBe(true);
      expect(own.rideIds).toBeLessThan(own.rideIdsRaw / 3); // PLAIN strings: snappy shrinks them ~5x
      expect(own.file).toBeLessThan(generated.file + own.rideIds * 1.1);
      // Every id back, in order, through both readers.
      const [duck] = await fromDuckDB(
        `SELECT count(*) AS n, count(*) FILTER (WHERE o.ride_id IS DISTINCT FROM i.ride_id) AS differ
         FROM (SELECT ride_id, row_number() OVER () AS k FROM read_parquet('${out}')) o
         FULL JOIN (SELECT ride_id, row_number() OVER () AS k FROM read_parquet('${withIds}')) i USING (k)`,
      );
      expect(duck).toEqual({ n: 61_921n, differ: 0n });
      const rows = await parquetReadObjects({ file: await asyncBufferFromFile(out), columns: ["ride_id"] });
      expect(rows).toHaveLength(61_921);
      expect(rows.every((r, k) => r.ride_id === `green-2021-02-${k}`)).toBe(true);
    }
  });
});
