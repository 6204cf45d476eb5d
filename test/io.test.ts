// The readers and helpers behind `ridepred score`, against independent oracles: csv-parse for the CSV
// scanner, hyparquet's own reader for the page-by-page Parquet reader, Date for timestamps.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";
import { beforeAll, describe, expect, it } from "vitest";
import { columnLength, isDict, materialize } from "../src/columns.js";
import { resolveColumns, triedNames } from "../src/io/aliases.js";
import { openCsv } from "../src/io/csv-read.js";
import { openParquet } from "../src/io/parquet-read.js";
import { formatTimestamp, parseTimestamp } from "../src/io/timestamp.js";
import type { BatchSource } from "../src/io/types.js";
import { fillTemplate, periodDate } from "../src/batch/template.js";
import { RidepredError } from "../src/errors.js";

const ROOT = join(__dirname, "..");
const SHARED = join(ROOT, "../shared/data");
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-io-"));
});

/** Every batch of a source, concatenated per column, with reader row errors at absolute rows. */
async function readAll(src: BatchSource, wanted: string[], batchSize: number) {
  const cols: Record<string, unknown[]> = Object.fromEntries(wanted.map((w) => [w, []]));
  const errors: { row: number; reason: string }[] = [];
  const sizes: number[] = [];
  const dictionaryEncoded = new Set<string>();
  let n = 0;
  try {
    for await (const b of src.batches(wanted, batchSize)) {
      sizes.push(b.n);
      for (const w of wanted) {
        const col = b.columns[w]!;
        expect(columnLength(col)).toBe(b.n);
        if (isDict(col)) dictionaryEncoded.add(w);
        const cells = materialize(col);
        for (let r = 0; r < b.n; r++) cols[w]!.push(cells[r]);
      }
      for (const e of b.errors) errors.push({ row: n + e.row, reason: e.reason });
      n += b.n;
    }
  } finally {
    await src.close(); // also after a read that fails (a corrupt file's tests): no file handle left to the GC
  }
  return { cols, errors, sizes, n, dictionaryEncoded };
}

describe("CSV scanner", () => {
  const tricky =
    [
      'id,"name, with comma",note,num',
      "1,plain,,3.5",
      '2,"quoted ""twice""","line one\nline two",4',
      '"3","",x,5',
      '4,"a\r\nb",",",6',
      "",
      '5,é unicode ✓,"",7',
    ].join("\r\n") + "\r\n";

  for (const chunk of [1, 2, 3, 7, 64, 1 << 20]) {
    it(`agrees with csv-parse on quotes, doubled quotes, line breaks in quotes, CRLF, BOM, UTF-8 (${chunk}-byte chunks)`, async () => {
      const file = join(tmp, `tricky-${chunk}.csv`);
      writeFileSync(file, "\ufeff" + tricky);
      const oracle = parse(readFileSyncUtf8(file), { bom: true, skip_empty_lines: true }) as string[][];
      const src = await openCsv(file, false, chunk);
      expect(src.names).toEqual(oracle[0]);
      const { cols, errors, n } = await readAll(src, [...src.names], 2);
      expect(errors).toEqual([]);
      expect(n).toBe(oracle.length - 1);
      for (const [i, rec] of oracle.slice(1).entries()) for (const [j, v] of rec.entries()) expect(cols[oracle[0]![j]!]![i]).toBe(v);
    });
  }

  it("reads only the wanted columns, any order", async () => {
    const file = join(tmp, "order.csv");
    writeFileSync(file, "a,b,c\n1,2,3\n4,5,6\n");
    const { cols } = await readAll(await openCsv(file, false), ["c", "a"], 10);
    expect(cols).toEqual({ c: ["3", "6"], a: ["1", "4"] });
  });

  it("a row with the wrong field count or a stray quote is a row error at its row; others are kept", async () => {
    const file = join(tmp, "bad.csv");
    writeFileSync(file, 'a,b\n1,2\n3\n4,5,6\n7,"8"x\n9,1"0\n11,12\n');
    const { cols, errors, n } = await readAll(await openCsv(file, false, 4), ["a", "b"], 3);
    expect(n).toBe(6);
    expect(errors).toEqual([
      { row: 1, reason: "has 1 fields, the header has 2" },
      { row: 2, reason: "has 3 fields, the header has 2" },
      { row: 3, reason: "has a quote inside an unquoted field or after a closing quote" },
      { row: 4, reason: "has a quote inside an unquoted field or after a closing quote" },
    ]);
    expect(cols.a).toEqual(["1", undefined, undefined, undefined, undefined, "11"]);
  });

  it("an unclosed quote at the end is a clear error", async () => {
    const file = join(tmp, "open.csv");
    writeFileSync(file, 'a,b\n1,2\n3,"4\n');
    const src = await openCsv(file, false);
    await expect(readAll(src, ["a"], 10)).rejects.toThrow(/open\.csv: not valid CSV: the quoted field opened in row 2 is never closed/);
  });

  it("an empty file has no header: a clear error", async () => {
    const file = join(tmp, "empty.csv");
    writeFileSync(file, "");
    await expect(openCsv(file, false)).rejects.toThrow(RidepredError);
  });

  it.skipIf(!existsSync(join(SHARED, "taxi_zone_lookup.csv")))("the real zone lookup (CRLF, every field quoted) reads like csv-parse reads it", async () => {
    const file = join(SHARED, "taxi_zone_lookup.csv");
    const oracle = parse(readFileSyncUtf8(file), { bom: true }) as string[][];
    const src = await openCsv(file, false, 500);
    const { cols, n } = await readAll(src, [...src.names], 100);
    expect(n).toBe(265);
    for (const [i, rec] of oracle.slice(1).entries()) for (const [j, v] of rec.entries()) expect(cols[oracle[0]![j]!]![i]).toBe(v);
  });
});

describe("Parquet page-by-page reader", () => {
  it("multi-page, multi-row-group file with nulls: batches cut across pages and groups equal hyparquet's rows", async () => {
    const file = join(tmp, "pages.parquet");
    const n = 5000;
    const ids = Array.from({ length: n }, (_, i) => (i % 97 === 0 ? null : String(i % 263)));
    const dist = Array.from({ length: n }, (_, i) => (i % 89 === 0 ? null : i / 7));
    const big = Array.from({ length: n }, (_, i) => BigInt(i) * 1_000_000n);
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: "PULocationID", data: ids, type: "STRING" },
        { name: "trip_distance", data: dist, type: "DOUBLE" },
        { name: "big", data: big, type: "INT64" },
      ],
      rowGroupSize: 1800,
      pageSize: 2000, // many small pages per column chunk
    });
    const src = await openParquet(file);
    expect(src.totalRows).toBe(n);
    const { cols, sizes, dictionaryEncoded } = await readAll(src, ["trip_distance", "PULocationID", "big"], 333);
    // Dictionary-encoded strings stay encoded (indices into the chunk's dictionary), across pages too.
    expect([...dictionaryEncoded]).toEqual(["PULocationID"]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(333);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
    expect(cols.PULocationID).toEqual(ids);
    // numbers arrive as a Float64Array with NaN for null
    expect(cols.trip_distance!.map((v) => (Number.isNaN(v) ? null : v))).toEqual(dist);
    expect(cols.big).toEqual(big);
  });

  it.skipIf(!existsSync(join(SHARED, "green_tripdata_2023-01.parquet")))(
    "real months (one big row group; INT64/INT32/string ids; timestamps) equal hyparquet's rows",
    async () => {
      for (const month of ["2023-01", "2023-02", "2021-02"]) {
        const file = join(SHARED, `green_tripdata_${month}.parquet`);
        const cols = ["lpep_pickup_datetime", "PULocationID", "DOLocationID", "trip_distance", "passenger_count"];
        const ref = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: cols });
        const src = await openParquet(file);
        expect([...src.timestampColumns].sort()).toEqual(["lpep_dropoff_datetime", "lpep_pickup_datetime"]);
        const got = await readAll(src, cols, 10_000);
        expect(got.n).toBe(ref.length);
        for (const c of cols) {
          const expected = ref.map((r) => (r[c] instanceof Date ? (r[c] as Date).getTime() : r[c]));
          const norm = (v: unknown) => (v === undefined || (typeof v === "number" && Number.isNaN(v)) ? null : v);
          expect(got.cols[c]!.map(norm)).toEqual(expected.map(norm));
        }
      }
    },
  );

  it("reads back what ridepred's own writer wrote (v1 pages): nulls, dictionaries, doubles, timestamps, across row groups", async () => {
    const { parquetSink } = await import("../src/io/parquet-write.js");
    const file = join(tmp, "own.parquet");
    const sink = parquetSink(
      file,
      [
        { name: "zone", kind: "string" },
        { name: "x", kind: "double" },
        { name: "t", kind: "timestamp" },
        { name: "u", kind: "string" }, // unique: PLAIN pages after the first, read through hyparquet's decoder
      ],
      { rowGroupRows: 3000 },
    );
    const zones: (string | null)[] = [],
      xs: number[] = [],
      ts: number[] = [],
      us: (string | null)[] = [];
    for (let b = 0; b < 5; b++) {
      const n = 1000 + b * 317;
      const zone = Array.from({ length: n }, (_, r) => ((r + b) % 13 === 0 ? null : String((r * 7 + b) % 300)));
      const x = Float64Array.from({ length: n }, (_, r) => ((r + b) % 11 === 0 ? NaN : r / 3 - b));
      const t = Float64Array.from({ length: n }, (_, r) => ((r + b) % 17 === 0 ? NaN : Date.UTC(2021, 0, 1) + (b * n + r) * 1000));
      const u = Array.from({ length: n }, (_, r) => ((r + b) % 19 === 0 ? null : `ride ${b}-${r} ü`));
      zones.push(...zone), xs.push(...x), ts.push(...t), us.push(...u);
      await sink.write({ n, values: [zone, x, t, u] });
    }
    await sink.finish();
    const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
    expect(md.row_groups[0]!.columns[3]!.meta_data!.encodings).toEqual(expect.arrayContaining(["PLAIN", "RLE_DICTIONARY"]));
    const got = await readAll(await openParquet(file), ["zone", "x", "t", "u"], 777);
    expect(got.cols.u).toEqual(us);
    expect(got.dictionaryEncoded).toEqual(new Set(["zone", "u"])); // u: its first page, before the dictionary stopped paying
    expect(got.cols.zone).toEqual(zones);
    const norm = (v: unknown) => (typeof v === "number" && Number.isNaN(v) ? null : v);
    expect(got.cols.x!.map(norm)).toEqual(xs.map(norm));
    expect(got.cols.t!.map(norm)).toEqual(ts.map(norm));
  });

  it("the RLE / bit-packing decoder reads what the writer's encoder and hyparquet agree on, and refuses data that ends early", async () => {
    const { HybridReader, readHybrid } = await import("../src/io/parquet-read.js");
    const { hybrid } = await import("../src/io/parquet-write.js");
    const { bytes } = await import("../src/io/parquet-bytes.js");
    const { readRleBitPackedHybrid } = await import("hyparquet/src/encoding.js");
    let seed = 3;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 300; t++) {
      const width = 1 + (t % 24);
      const n = 1 + Math.floor(rnd() * 3000);
      const values = Int32Array.from({ length: n }, (_, i) => (rnd() < 0.5 ? i >> 5 : Math.floor(rnd() * 2 ** width)) % 2 ** width);
      const buf = bytes();
      hybrid(buf, values, n, width);
      const data = buf.b.subarray(0, buf.n);
      const ours = new Int32Array(n);
      readHybrid(data, 0, data.length, width, ours, n);
      expect(Array.from(ours)).toEqual(Array.from(values));
      const theirs = new Array(n);
      readRleBitPackedHybrid({ view: new DataView(data.buffer, data.byteOffset, data.length), offset: 0 }, width, theirs, data.length);
      expect(theirs).toEqual(Array.from(values));
      if (data.length > 2) expect(() => readHybrid(data, 0, data.length - 2, width, new Int32Array(n), n)).toThrow(/ends after|past the end/);
      // Fewer values than encoded, from an offset in a larger buffer: nothing past count is written.
      const framed = new Uint8Array(data.length + 5);
      framed.set(data, 2);
      const some = Math.floor(n / 2);
      const part = new Int32Array(n).fill(-7);
      readHybrid(framed.subarray(0, 2 + data.length), 2, 2 + data.length, width, part, some);
      expect(Array.from(part.subarray(0, some))).toEqual(Array.from(values.subarray(0, some)));
      expect(part.subarray(some).every((v) => v === -7)).toBe(true);
      // Resumed a few values at a time (a large page taken batch by batch): the same values.
      const reader = new HybridReader(data, 0, data.length, width, n);
      const pieces = new Int32Array(n);
      for (let k = 0; k < n; ) {
        const m = Math.min(n - k, 1 + Math.floor(rnd() * (t % 2 ? 20 : 300)));
        reader.read(pieces, k, m);
        k += m;
      }
      expect(Array.from(pieces)).toEqual(Array.from(values));
      if (data.length > 2) {
        const cut = new HybridReader(data, 0, data.length - 2, width, n);
        expect(() => {
          for (let k = 0; k < n; k += 7) cut.read(new Int32Array(7), 0, Math.min(7, n - k));
        }).toThrow(/ends after \d+ of \d+ values|past the end/);
      }
    }
    expect(() => readHybrid(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), 0, 6, 1, new Int32Array(4), 4)).toThrow(/run header/);
  });

  it("large pages are decoded a batch at a time: the same rows at every batch size; a bad index names its page", async () => {
    const { parquetSink } = await import("../src/io/parquet-write.js");
    // One data page per write (v1): pages of 300k and 270k rows, each its own row group (decoded lazily:
    // strings, dictionary doubles, PLAIN doubles), then a small page; nz has nulls (decoded at once).
    // Snappy pages are views of each column's own decoder memory, uncompressed ones of its read window.
    const write = async (file: string, codec: "UNCOMPRESSED" | "SNAPPY") => {
      const sink = parquetSink(
        file,
        [
          { name: "zone", kind: "string" },
          { name: "fare", kind: "double" },
          { name: "dist", kind: "double" },
          { name: "nz", kind: "string" },
        ],
        { codec },
      );
      const all: { zone: string[]; fare: number[]; dist: number[]; nz: (string | null)[] } = { zone: [], fare: [], dist: [], nz: [] };
      let row = 0;
      for (const n of [300_000, 270_000, 1_000]) {
        const zone = Array.from({ length: n }, (_, i) => String(((row + i) * 7919) % 263));
        const fare = Float64Array.from({ length: n }, (_, i) => (((row + i) * 31) % 97) / 4);
        const dist = Float64Array.from({ length: n }, (_, i) => (row + i) / 7 + 0.001);
        const nz = Array.from({ length: n }, (_, i) => ((row + i) % 1001 === 0 ? null : String((row + i) % 50)));
        await sink.write({ n, values: [zone, fare, dist, nz] });
        for (let i = 0; i < n; i++) all.zone.push(zone[i]!), all.fare.push(fare[i]!), all.dist.push(dist[i]!), all.nz.push(nz[i]!);
        row += n;
      }
      await sink.finish();
      return { all, row };
    };
    const file = join(tmp, "large-pages.parquet");
    for (const codec of ["SNAPPY", "UNCOMPRESSED"] as const) {
      const { all, row } = await write(file, codec);
      const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
      expect(md.row_groups.map((g) => Number(g.num_rows))).toEqual([300_000, 270_000, 1_000]);
      expect(md.row_groups[0]!.columns[1]!.meta_data!.encodings).toContain("RLE_DICTIONARY");
      expect(md.row_groups[0]!.columns[2]!.meta_data!.encodings).toContain("PLAIN");
      const names = ["dist", "zone", "nz", "fare"];
      for (const size of [8192, 777, 65_536, 400_000]) {
        const got = await readAll(await openParquet(file), names, size);
        expect(got.n).toBe(row);
        expect(got.dictionaryEncoded).toEqual(new Set(["zone", "nz"]));
        expect(got.cols.zone).toEqual(all.zone);
        expect(got.cols.fare).toEqual(all.fare);
        expect(got.cols.dist).toEqual(all.dist);
        expect(got.cols.nz).toEqual(all.nz);
      }
    }
    const md = await parquetMetadataAsync(await asyncBufferFromFile(file)); // the uncompressed file
    // Bytes of 1s in the middle of the first zone page: indices past the dictionary, found when their batch is taken.
    const bytes = readFileSync(file);
    const zoneChunk = md.row_groups[0]!.columns[0]!.meta_data!;
    const page = Number(zoneChunk.data_page_offset);
    bytes.fill(0xff, page + 60_000, page + 60_064);
    const bad = join(tmp, "large-pages-bad.parquet");
    writeFileSync(bad, bytes);
    let batches = 0;
    const read = async () => {
      const src = await openParquet(bad);
      try {
        for await (const _ of src.batches(["zone"], 8192)) batches++;
      } finally {
        await src.close();
      }
    };
    await expect(read()).rejects.toThrow(new RegExp(`column zone: cannot decode page at byte ${page} \\(.*\\): corrupt or truncated file`));
    expect(batches).toBeGreaterThanOrEqual(5); // the batches before the bad bytes (9-bit indices: ~9 KB a batch) were read
  });

  it("DuckDB's one-page column chunks (megabytes of snappy) decode as hyparquet reads them, with a bad stream reported at its page", async () => {
    // Pages larger than the read window go straight into their column's decoder memory (readLarge).
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const { parquetHeader } = await import("hyparquet/src/column.js");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const file = join(tmp, "duckdb-pages.parquet");
    await duck.run(`COPY (SELECT i / 7 + 0.001 AS d, (i * 7919 % 263)::BIGINT AS z, TIMESTAMP '2021-01-01' + to_milliseconds(i * 1003) AS t
      FROM range(650000) r(i)) TO '${file}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 300000)`);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
    const bytes = readFileSync(file);
    const dChunk = md.row_groups[0]!.columns[0]!.meta_data!;
    const at = Number(dChunk.data_page_offset);
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset + at), offset: 0 };
    const header = parquetHeader(reader);
    // The layout this test is about: one data page for the chunk's rows (DuckDB rounds 300,000 up to its
    // vectors), larger than the 1 MiB window.
    expect(header.data_page_header!.num_values).toBe(Number(md.row_groups[0]!.num_rows));
    expect(header.data_page_header!.num_values).toBeGreaterThan(1 << 18);
    expect(header.compressed_page_size).toBeGreaterThan(1 << 20);
    const ref = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: ["d", "z", "t"] });
    const want: Record<string, unknown[]> = { d: ref.map((r) => r.d), z: ref.map((r) => r.z), t: ref.map((r) => (r.t as Date).getTime()) };
    for (const size of [8192, 777, 400_000]) {
      const got = await readAll(await openParquet(file), ["t", "d", "z"], size);
      expect(got.n).toBe(650_000);
      // The first row that differs, if any (a failed toEqual of 650,000 values takes minutes to print).
      for (const c of ["d", "z", "t"])
        expect(
          got.cols[c]!.findIndex((v, i) => v !== want[c]![i]),
          `${c}, batches of ${size}`,
        ).toBe(-1);
    }
    // The page's snappy stream declares one byte fewer than its header: refused before it is decoded.
    const stream = at + reader.offset;
    expect(bytes[stream]! & 0x80).toBe(0x80); // a multi-byte varint, its lowest byte first
    const bad = Buffer.from(bytes);
    bad[stream]! -= 1;
    const badFile = join(tmp, "duckdb-pages-bad.parquet");
    writeFileSync(badFile, bad);
    await expect(readAll(await openParquet(badFile), ["d"], 8192)).rejects.toThrow(
      new RegExp(
        `column d: cannot decode page at byte ${at} \\(snappy stream holds ${header.uncompressed_page_size - 1} bytes, the page header says ${header.uncompressed_page_size}\\)`,
      ),
    );
  });

  it("definition levels that are one run of 1s are recognised without decoding them; anything else is not", async () => {
    const { oneRunOfOnes } = await import("../src/io/parquet-read.js");
    const { hybrid } = await import("../src/io/parquet-write.js");
    const { bytes } = await import("../src/io/parquet-bytes.js");
    const enc = (levels: number[]) => {
      const buf = bytes();
      hybrid(buf, levels, levels.length, 1);
      return buf.b.subarray(0, buf.n);
    };
    const ones = enc(new Array(1000).fill(1));
    expect(oneRunOfOnes(ones, 0, ones.length, 1000)).toBe(true);
    expect(oneRunOfOnes(ones, 0, ones.length, 1001)).toBe(false);
    const withNull = enc([...new Array(999).fill(1), 0]);
    expect(oneRunOfOnes(withNull, 0, withNull.length, 1000)).toBe(false);
    const zeros = enc(new Array(1000).fill(0));
    expect(oneRunOfOnes(zeros, 0, zeros.length, 1000)).toBe(false);
    const packed = enc([1, 1, 1, 1, 1, 1, 1, 1].concat([1, 0, 1, 0, 1, 0, 1, 0]));
    expect(oneRunOfOnes(packed, 0, packed.length, 16)).toBe(false);
    expect(oneRunOfOnes(ones, 0, 1, 1000)).toBe(false); // the run's value byte cut off
  });

  it("every codec reads back the same rows, with only the decompressors a file's columns use loaded", async () => {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const { decompressorsFor } = await import("../src/io/parquet-read.js");
    const sample = join(__dirname, "../examples/green_tripdata_2021-02_sample.parquet");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const wanted = ["PULocationID", "DOLocationID", "trip_distance", "lpep_pickup_datetime"];
    const read = async (file: string) => (await readAll(await openParquet(file), wanted, 300)).cols;
    const expected = await read(sample);
    expect(expected.PULocationID!.length).toBe(1000);
    for (const codec of ["snappy", "gzip", "zstd", "brotli", "lz4_raw", "uncompressed"]) {
      const file = join(tmp, `codec-${codec}.parquet`);
      await duck.run(`COPY (SELECT * FROM read_parquet('${sample}')) TO '${file}' (FORMAT parquet, COMPRESSION '${codec}')`);
      const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
      expect(md.row_groups[0]!.columns[0]!.meta_data!.codec).toBe(codec === "lz4_raw" ? "LZ4_RAW" : codec.toUpperCase());
      expect(await read(file), codec).toEqual(expected);
    }
    // hyparquet's own LZ4 (the Hadoop framing DuckDB does not write) comes with the full set.
    expect(Object.keys(await decompressorsFor(new Set(["LZ4"])))).toEqual(expect.arrayContaining(["LZ4", "LZ4_RAW", "GZIP", "ZSTD", "BROTLI", "SNAPPY"]));
    expect(Object.keys(await decompressorsFor(new Set(["SNAPPY", "UNCOMPRESSED"])))).toEqual(["SNAPPY"]);
    expect(await decompressorsFor(new Set(["UNCOMPRESSED"]))).toEqual({});
  });

  it("snappy pages decompress as views of the WASM decoder's memory, equal to the input and to hyparquet's JavaScript decoder", async () => {
    const { snappyUncompressView } = await import("../src/io/snappy-view.js");
    const snappyCompress = (await import("../src/io/snappy.js")).newSnappyCompressor();
    const { snappyUncompress } = await import("hyparquet/src/snappy.js");
    const inflate = snappyUncompressView();
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (const n of [0, 1, 100, 70_000, 3 << 20, 5000]) {
      const src = Uint8Array.from({ length: n }, (_, i) => (rnd() < 0.5 ? i % 251 : Math.floor(rnd() * 256)));
      const z = snappyCompress(src);
      const view = inflate(z, n);
      expect(Buffer.compare(view, src)).toBe(0);
      const js = new Uint8Array(n);
      snappyUncompress(z, js);
      expect(Buffer.compare(view, js)).toBe(0);
    }
    expect(() => inflate(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 10)).toThrow();
    // snappy-view.ts reaches into hysnappy for its WASM module: pages come back as views of the module's
    // memory, two in a row sharing one buffer, each overwritten by the next. If hysnappy changes so that
    // its module is not found this way, the copying fallback gives each page a buffer of its own, and this fails.
    const a = inflate(snappyCompress(Uint8Array.from({ length: 1000 }, (_, i) => i % 7)), 1000);
    const b = inflate(snappyCompress(Uint8Array.from({ length: 1000 }, (_, i) => i % 5)), 1000);
    expect(b.buffer, "pages are no longer views of hysnappy's WASM memory: snappy-view.ts does not find its module").toBe(a.buffer);
    expect(a.buffer.byteLength).toBeGreaterThan(1 << 16); // the module's memory, not a page-sized copy
    expect(Array.from(a.subarray(0, 7))).not.toEqual([0, 1, 2, 3, 4, 5, 6]); // a's page is gone: its bytes hold b's
  });

  it("number dictionaries (DOUBLE, FLOAT, INT32, INT64, timestamps in MILLIS, MICROS, NANOS) decode to the values their PLAIN pages give; a short one is refused", async () => {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const { parquetHeader } = await import("hyparquet/src/column.js");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const n = 3000;
    const base = "TIMESTAMP '2021-02-01 00:34:03'";
    const columns = (i: string) => `
      CASE WHEN ${i} % 41 = 0 THEN NULL ELSE (${i} % 50) / 8.0 END::DOUBLE AS d,
      CASE WHEN ${i} % 43 = 0 THEN NULL ELSE (${i} % 60) / 4.0 END::FLOAT AS f,
      CASE WHEN ${i} % 47 = 0 THEN NULL ELSE (${i} % 70) - 20 END::INTEGER AS k,
      (${base} + to_microseconds((${i} % 90) * 1000 + 7))::TIMESTAMP AS tu,
      (${base} + to_milliseconds(${i} % 80))::TIMESTAMP_MS AS tm,
      CASE WHEN ${i} % 53 = 0 THEN NULL ELSE (${base} + to_microseconds(${i} % 85))::TIMESTAMP_NS END AS tn,
      CASE WHEN ${i} % 59 = 0 THEN NULL ELSE 9007199254740993 + ${i} % 30 END::BIGINT AS b`;
    // The same values twice: dictionary-encoded, and (in a file DuckDB writes without dictionaries) PLAIN.
    const dictFile = join(tmp, "number-dicts.parquet");
    const plainFile = join(tmp, "number-plain.parquet");
    await duck.run(`COPY (SELECT ${columns("i")} FROM range(${n}) t(i)) TO '${dictFile}' (FORMAT parquet, COMPRESSION 'snappy')`);
    await duck.run(`COPY (SELECT ${columns("i")} FROM range(${n}) t(i)) TO '${plainFile}' (FORMAT parquet, COMPRESSION 'snappy', DICTIONARY_SIZE_LIMIT 1)`);
    const encodings = async (file: string) =>
      (await parquetMetadataAsync(await asyncBufferFromFile(file))).row_groups[0]!.columns.map((c) => c.meta_data!.encodings.join("/"));
    for (const e of await encodings(dictFile)) expect(e).toMatch(/DICTIONARY/);
    for (const e of await encodings(plainFile)) expect(e).not.toMatch(/DICTIONARY/);
    const names = ["d", "f", "k", "tu", "tm", "tn", "b"];
    const dict = await readAll(await openParquet(dictFile), names, 700);
    const plain = await readAll(await openParquet(plainFile), names, 700);
    const norm = (v: unknown) => (typeof v === "number" && Number.isNaN(v) ? null : v);
    const baseUs = BigInt(Date.UTC(2021, 1, 1, 0, 34, 3)) * 1000n;
    const expected: Record<string, unknown[]> = {
      d: Array.from({ length: n }, (_, i) => (i % 41 === 0 ? null : (i % 50) / 8)),
      f: Array.from({ length: n }, (_, i) => (i % 43 === 0 ? null : (i % 60) / 4)),
      k: Array.from({ length: n }, (_, i) => (i % 47 === 0 ? null : (i % 70) - 20)),
      tu: Array.from({ length: n }, (_, i) => Number(baseUs + BigInt((i % 90) * 1000 + 7)) / 1000), // a fraction of a ms
      tm: Array.from({ length: n }, (_, i) => Number(baseUs / 1000n) + (i % 80)),
      tn: Array.from({ length: n }, (_, i) => (i % 53 === 0 ? null : Number((baseUs + BigInt(i % 85)) * 1000n) / 1e6)),
      // INT64 integers stay BigInts, past 2^53 too; dictionary-encoded pages arrive as a dictionary column.
      b: Array.from({ length: n }, (_, i) => (i % 59 === 0 ? null : 9007199254740993n + BigInt(i % 30))),
    };
    for (const c of names) {
      expect(dict.cols[c]!.map(norm), c).toEqual(expected[c]);
      expect(plain.cols[c]!.map(norm), c).toEqual(expected[c]);
    }
    expect([...dict.dictionaryEncoded]).toEqual(["b"]);
    expect(plain.dictionaryEncoded.size).toBe(0);
    // The DOUBLE column's dictionary page says it holds 63 values where it has 50: refused, file and column named.
    const bytes = readFileSync(dictFile);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(dictFile));
    const at = Number(md.row_groups[0]!.columns[0]!.meta_data!.dictionary_page_offset);
    const headerOf = (b: Uint8Array) => {
      const reader = { view: new DataView(b.buffer, b.byteOffset, b.byteLength), offset: at };
      return parquetHeader(reader);
    };
    expect(headerOf(bytes).dictionary_page_header!.num_values).toBe(50);
    let patched: Buffer | undefined;
    for (let i = at; i < at + 32 && !patched; i++) {
      if (bytes[i] !== 100) continue; // 50, zigzag-encoded
      const b = Buffer.from(bytes);
      b[i] = 126; // 63
      try {
        const h = headerOf(b);
        if (h.dictionary_page_header?.num_values === 63 && h.compressed_page_size === headerOf(bytes).compressed_page_size) patched = b;
      } catch {}
    }
    const short = join(tmp, "number-dict-short.parquet");
    writeFileSync(short, patched!);
    await expect(readAll(await openParquet(short), ["d"], 700)).rejects.toThrow(
      /number-dict-short\.parquet: column d: cannot decode page at byte \d+ \(dictionary page too short for its 63 values\): corrupt or truncated file/,
    );
  });

  it("integers of every width and sign read as hyparquet reads them (INT_8 .. INT_64, UINT_8 .. UINT_64), nulls included", async () => {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const file = join(tmp, "integers.parquet");
    // Each type with its extreme: signed columns reach their minimum, unsigned their maximum (past INT32's range for UINTEGER).
    const extremes: [string, string][] = [
      ["TINYINT", "-128"],
      ["SMALLINT", "-32768"],
      ["INTEGER", "-2147483648"],
      ["BIGINT", "-9223372036854775808"],
      ["UTINYINT", "255"],
      ["USMALLINT", "65535"],
      ["UINTEGER", "4294967295"],
      ["UBIGINT", "18446744073709551615"],
    ];
    const types = extremes.map(([t]) => t);
    const cols = extremes.map(([t, x], k) => {
      const v = t.startsWith("U") ? "i % 100" : "(i % 100) - 50"; // within every type
      return `CASE WHEN i % 11 = ${k} THEN NULL WHEN i % 7 = 0 THEN (${x})::${t} ELSE (${v})::INTEGER::${t} END AS c${k}`;
    });
    await duck.run(`COPY (SELECT ${cols.join(", ")} FROM range(2000) t(i)) TO '${file}' (FORMAT parquet)`);
    const names = types.map((_, k) => `c${k}`);
    const ref = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: names });
    const got = await readAll(await openParquet(file), names, 300);
    const norm = (v: unknown) => (v === undefined || (typeof v === "number" && Number.isNaN(v)) ? null : v);
    for (const [k, c] of names.entries()) expect(got.cols[c]!.map(norm), types[k]).toEqual(ref.map((r) => norm(r[c])));
    expect(got.cols.c6).toContain(4294967295); // UINTEGER's maximum, not -1
  });

  it("a snappy stream that declares another length than its page header is refused, not padded with stale memory", async () => {
    const { snappyUncompressView } = await import("../src/io/snappy-view.js");
    const snappyCompress = (await import("../src/io/snappy.js")).newSnappyCompressor();
    const { decompressorsFor } = await import("../src/io/parquet-read.js");
    const src = Uint8Array.from({ length: 5000 }, (_, i) => i % 7);
    const z = snappyCompress(src);
    const decoders = [
      snappyUncompressView(),
      (await decompressorsFor(new Set(["SNAPPY"]))).SNAPPY!,
      (await decompressorsFor(new Set(["SNAPPY", "GZIP"]))).SNAPPY!,
    ];
    for (const inflate of decoders) {
      expect(Buffer.compare(inflate(z, 5000), src)).toBe(0);
      expect(() => inflate(z, 5800)).toThrow(/snappy stream holds 5000 bytes, the page header says 5800/);
      expect(() => inflate(z, 4200)).toThrow(/snappy stream holds 5000 bytes, the page header says 4200/);
    }
    // In a file: a data page whose stream is cut short by 800 bytes, with its declared length to match.
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const { parquetHeader } = await import("hyparquet/src/column.js");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const file = join(tmp, "short-snappy.parquet");
    await duck.run(`COPY (SELECT i::DOUBLE AS trip_distance FROM range(2000) t(i)) TO '${file}' (FORMAT parquet, COMPRESSION 'snappy')`);
    const bytes = readFileSync(file);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(file));
    const at = Number(md.row_groups[0]!.columns[0]!.meta_data!.data_page_offset);
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: at };
    const header = parquetHeader(reader);
    expect(header.uncompressed_page_size).toBeGreaterThan(1000);
    const body = reader.offset; // the snappy stream starts with its length as a varint
    let declared = 0;
    let len = 0;
    while (bytes[body + len]! & 0x80) declared += (bytes[body + len]! & 0x7f) * 2 ** (7 * len++);
    declared += bytes[body + len]! * 2 ** (7 * len++);
    expect(declared).toBe(header.uncompressed_page_size);
    const lie = declared - 800; // same varint width: patched in place
    for (let i = 0, v = lie; i < len; i++, v = Math.floor(v / 128)) bytes[body + i] = (v & 0x7f) | (i < len - 1 ? 0x80 : 0);
    const patched = join(tmp, "short-snappy-patched.parquet");
    writeFileSync(patched, bytes);
    await expect(readAll(await openParquet(patched), ["trip_distance"], 500)).rejects.toThrow(
      /short-snappy-patched\.parquet.*trip_distance.*snappy stream holds \d+ bytes, the page header says \d+/s,
    );
  });

  it("not Parquet, or cut short: a clear error", async () => {
    const file = join(tmp, "fake.parquet");
    writeFileSync(file, "PULocationID,DOLocationID\n1,2\n");
    await expect(openParquet(file)).rejects.toThrow(/fake\.parquet: not a readable Parquet file/);
  });
});

describe("timestamps are naive wall-clock time", () => {
  it("parse and format round-trip the TLC style, with fractions and T", () => {
    for (const s of ["2021-02-01 00:34:03", "2008-12-31 23:59:59", "2021-03-14 02:30:00", "2021-11-07 01:30:00"])
      expect(formatTimestamp(parseTimestamp(s))).toBe(s);
    expect(formatTimestamp(parseTimestamp("2021-02-01T00:34:03.250"))).toBe("2021-02-01 00:34:03.250");
    expect(parseTimestamp("2021-02-01")).toBe(Date.UTC(2021, 1, 1));
  });

  it("differences across a DST change are plain wall-clock differences", () => {
    // 01:50 -> 03:10 on the night New York springs forward: the TLC data says 80 minutes, no zone applied
    expect((parseTimestamp("2021-03-14 03:10:00") - parseTimestamp("2021-03-14 01:50:00")) / 60000).toBe(80);
  });

  it("an explicit offset is honoured; garbage is NaN", () => {
    expect(parseTimestamp("2021-02-01 00:00:00+01:00")).toBe(Date.UTC(2021, 0, 31, 23));
    expect(parseTimestamp("2021-02-01 00:00:00Z")).toBe(Date.UTC(2021, 1, 1));
    for (const bad of ["", "yesterday", "2021-13-01 00:00:00", "2021-02-01 25:00:00", "2021/02/01"]) expect(parseTimestamp(bad)).toBeNaN();
  });

  it("sub-millisecond times (Parquet MICROS) print whole milliseconds, never a 4-digit fraction", () => {
    expect(formatTimestamp(Date.UTC(2021, 1, 1, 0, 0, 59) + 999.6)).toBe("2021-02-01 00:00:59.999");
    expect(formatTimestamp(Date.UTC(2021, 1, 1) + 0.4)).toBe("2021-02-01 00:00:00");
  });

  it("formatting agrees with Date on random instants", () => {
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor(((i * 7919) % 2000) * 1e9 + i * 1013);
      expect(formatTimestamp(ms)).toBe(
        new Date(ms)
          .toISOString()
          .slice(0, 23)
          .replace("T", " ")
          .replace(/\.000$/, ""),
      );
    }
  });
});

describe("column aliases", () => {
  const targets = ["PULocationID", "DOLocationID", "trip_distance", "pickup_datetime", "dropoff_datetime", "ride_id"];
  it("green lpep_*, yellow tpep_*, snake_case exports", () => {
    expect(resolveColumns(["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"], targets)).toMatchObject({
      pickup_datetime: "lpep_pickup_datetime",
      dropoff_datetime: "lpep_dropoff_datetime",
      PULocationID: "PULocationID",
    });
    expect(resolveColumns(["tpep_pickup_datetime", "tpep_dropoff_datetime", "pulocationid", "dolocationid"], targets)).toMatchObject({
      pickup_datetime: "tpep_pickup_datetime",
      PULocationID: "pulocationid",
      DOLocationID: "dolocationid",
      trip_distance: undefined,
    });
    expect(resolveColumns(["pickup_datetime", "dropoff_datetime", "pickup_location_id", "dropoff_location_id"], targets)).toMatchObject({
      PULocationID: "pickup_location_id",
      DOLocationID: "dropoff_location_id",
    });
  });

  it("an error's list of names tried names each once, the target first", () => {
    expect(triedNames("pickup_datetime")).toEqual(["pickup_datetime", "lpep_pickup_datetime", "tpep_pickup_datetime", "Trip_Pickup_DateTime"]);
    for (const t of targets) expect(new Set(triedNames(t)).size, t).toBe(triedNames(t).length);
  });

  it("--map COLUMN=TARGET wins over aliases; an unknown column is refused", () => {
    expect(resolveColumns(["PULocationID", "origin"], ["PULocationID"], { origin: "PULocationID" })).toEqual({ PULocationID: "origin" });
    expect(() => resolveColumns(["a"], ["PULocationID"], { nope: "PULocationID" })).toThrow(/--map nope=PULocationID: the input has no column nope/);
  });
});

describe("run-date templates", () => {
  it("previous-month is the course's monthly job; previous-day crosses month and year ends", () => {
    expect(periodDate("2021-03-05", "previous-month")).toEqual({ year: 2021, month: 2, day: 1 });
    expect(periodDate("2021-01-15", "previous-month")).toEqual({ year: 2020, month: 12, day: 1 });
    expect(periodDate("2021-01-01", "previous-day")).toEqual({ year: 2020, month: 12, day: 31 });
    expect(periodDate("2024-02-29", "day")).toEqual({ year: 2024, month: 2, day: 29 });
    expect(periodDate(undefined, "month", new Date(Date.UTC(2026, 10, 25)))).toEqual({ year: 2026, month: 11, day: 1 });
    expect(() => periodDate("2021-02-30")).toThrow(/not a calendar date/);
    expect(() => periodDate("March")).toThrow(/expected YYYY-MM-DD/);
  });

  it("fills zero-padded placeholders and refuses unknown ones", () => {
    expect(fillTemplate("s3/green/{year}/{month}/{day}.parquet", { year: 2021, month: 2, day: 3 })).toBe("s3/green/2021/02/03.parquet");
    expect(() => fillTemplate("x/{yr}.csv", { year: 2021, month: 2, day: 3 })).toThrow(/unknown placeholder \{yr\}/);
  });
});

function readFileSyncUtf8(path: string): string {
  return readFileSync(path, "utf8");
}
