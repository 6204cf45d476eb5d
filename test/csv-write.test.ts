// The CSV writer writes bytes straight from the columns: its output must be exactly the text the cell
// strings give (String(x) for numbers, formatTimestamp, csvQuote), which is what it wrote before. The
// numbers' own fast path is checked against String(x) on millions of doubles of every kind.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rng } from "../bench/fuzz-lib.mjs";
import { NumberCache, writeShortest } from "../src/io/csv-number.js";
import { csvSink, type Out } from "../src/io/csv-write.js";
import { cellText, csvQuote } from "../src/io/text-write.js";
import { formatTimestamp } from "../src/io/timestamp.js";
import { cells, type ColumnKind, type OutBatch, type OutColumn, type Sink } from "../src/io/types.js";
import { ROOT } from "./support/paths.js";

// The encoder thread's sink is loaded from dist/, where the worker's compiled file is.
let threadedCsvSink: typeof import("../src/io/csv-encode-thread.js").threadedCsvSink;

let tmp: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-csv-write-"));
  if (!existsSync(join(ROOT, "dist/io/csv-encode-thread.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  ({ threadedCsvSink } = await import(join(ROOT, "dist/io/csv-encode-thread.js")));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The writer's text as cell strings joined: the rule it must keep byte for byte. */
function reference(columns: OutColumn[], batches: OutBatch[]): string {
  const cell = (v: unknown, kind: ColumnKind) => {
    if (kind === "double") return v === null || v === undefined || v !== v ? "" : String(v);
    if (kind === "timestamp") return v === null || v === undefined || v !== v ? "" : formatTimestamp(v as number);
    if (kind === "string") return v === null || v === undefined ? "" : csvQuote(v as string);
    return csvQuote(cellText(v, kind));
  };
  let text = columns.map((c) => csvQuote(c.name)).join(",") + "\n";
  for (const b of batches) {
    const values = b.values.map((v) => cells(v, b.n));
    for (let r = 0; r < b.n; r++) text += columns.map((c, j) => cell(values[j]![r], c.kind)).join(",") + "\n";
  }
  return text;
}

type OpenSink = (path: string, columns: OutColumn[], gzip: boolean) => Sink;

/** The CSV sinks, which must all write the same bytes: one thread; the encoder thread, with every batch posted to it or the first 100k rows encoded here. */
const SINKS: [string, () => OpenSink][] = [
  ["csvSink", () => csvSink],
  ["threadedCsvSink, every batch to the worker", () => withInlineRows("0", threadedCsvSink)],
  ["threadedCsvSink, the first 100k rows here", () => withInlineRows(undefined, threadedCsvSink)],
];

/** A sink opened with RIDEPRED_CSV_INLINE_ROWS set (read when the sink is opened). */
function withInlineRows(rows: string | undefined, open: OpenSink): OpenSink {
  return (path, columns, gzip) => {
    const before = process.env.RIDEPRED_CSV_INLINE_ROWS;
    if (rows === undefined) delete process.env.RIDEPRED_CSV_INLINE_ROWS;
    else process.env.RIDEPRED_CSV_INLINE_ROWS = rows;
    try {
      return open(path, columns, gzip);
    } finally {
      if (before === undefined) delete process.env.RIDEPRED_CSV_INLINE_ROWS;
      else process.env.RIDEPRED_CSV_INLINE_ROWS = before;
    }
  };
}

/**
 * What a sink writes for the batches. Like score, the caller reuses a batch's arrays once write() has
 * resolved: each batch's typed arrays are overwritten then, so a sink that reads them later writes garbage.
 */
async function written(open: OpenSink, columns: OutColumn[], batches: OutBatch[], gzip = false): Promise<string> {
  const path = join(tmp, `out-${Math.random()}.csv${gzip ? ".gz" : ""}`);
  const sink = open(path, columns, gzip);
  for (const b of batches) {
    const copy: OutBatch = { n: b.n, values: b.values.map((v) => reusable(v)) };
    await sink.write(copy);
    for (const v of copy.values) clobber(v);
  }
  await sink.finish();
  const bytes = readFileSync(path);
  return (gzip ? gunzipSync(bytes) : bytes).toString("utf8");
}

/** A column's own copy of its typed arrays (the original stays intact for the reference). */
function reusable(v: OutBatch["values"][number]): OutBatch["values"][number] {
  if (v instanceof Float64Array) return v.slice();
  if ("numbers" in v && v.numbers instanceof Float64Array) return { prefix: (v as { prefix: string }).prefix, numbers: v.numbers.slice() };
  if ("indices" in v && v.indices instanceof Int32Array) return { dictionary: v.dictionary, indices: v.indices.slice() };
  return v;
}

function clobber(v: OutBatch["values"][number]): void {
  if (v instanceof Float64Array) v.fill(123.456);
  else if ("numbers" in v && v.numbers instanceof Float64Array) v.numbers.fill(7);
  else if ("indices" in v && v.indices instanceof Int32Array) v.indices.fill(0);
}

function scratch(): Out {
  const buf = Buffer.alloc(256);
  const out = { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.length), pos: 0 } as Out;
  out.ascii = (s: string) => {
    for (let i = 0; i < s.length; i++) out.buf[out.pos++] = s.charCodeAt(i);
  };
  return out;
}

const shortest = (out: Out, x: number) => {
  out.pos = 0;
  writeShortest(out, x);
  return out.buf.latin1Slice(0, out.pos);
};

describe("numbers: the fast path writes String(x)", () => {
  it("on edge cases", () => {
    const out = scratch();
    const edges = [0, -0, 1, -1, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e-4, 9.999e-5, 1e-7, 123456789012345680, 1e16, 1e17, 1e21, 1e22, 5e-324];
    edges.push(Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 2 ** 53, 2 ** 53 + 2, 2 ** 54, 2 ** 56 + 16, 2 ** 53 + 4, Infinity, -Infinity);
    for (let e = -20; e <= 60; e++) edges.push(2 ** e, 2 ** e * (1 + Number.EPSILON), 2 ** e * (1 - Number.EPSILON / 2));
    for (let e = -8; e <= 22; e++) edges.push(10 ** e, 10 ** e * (1 + Number.EPSILON), 10 ** e * (1 - Number.EPSILON / 2), 10 ** e - 1, 10 ** e + 1);
    // Exact ties between two shortest candidates (the even digit wins) and durations in minutes.
    edges.push(953070251339433.25, 0.125, 2.5, 84559175531418.625, 3.933333333333333, 4.403834129363307, -0.4705007960299743);
    for (const x of edges) expect(shortest(out, x)).toBe(String(x));
  });

  it("on about two million doubles: random bits over the fixed-notation range, prices, durations, predictions", () => {
    const out = scratch();
    const f = new Float64Array(1);
    const w = new Uint32Array(f.buffer);
    let seed = 42;
    const rand = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const bad: string[] = [];
    const check = (x: number) => {
      const got = shortest(out, x);
      if (got !== String(x) && bad.length < 5) bad.push(`${String(x)} written as ${got}`);
    };
    for (let i = 0; i < 300_000; i++) {
      w[0] = (rand() * 2 ** 32) >>> 0;
      w[1] = ((rand() * 2 ** 32) >>> 0) & 0x800fffff;
      w[1] = w[1]! | ((1023 + Math.floor(rand() * 76) - 20) << 20);
      check(f[0]!);
      check(Math.round(rand() * 1e6) / 100);
      check((Math.floor(rand() * 7200) * 1000) / 60000);
      check(rand() * 60 - 10);
      check(Math.floor(rand() * 2 ** 53));
      check(Math.round(rand() * 1e4) / 10 ** Math.floor(rand() * 8));
    }
    expect(bad).toEqual([]);
  });
  it("on adversarial doubles: subnormals, powers of ten and two and their neighbours, decimal ties, the 1e21 and 1e-7 edges, every digit count", () => {
    const out = scratch();
    const f = new Float64Array(1);
    const w = new Uint32Array(f.buffer);
    const rand = rng(15);
    const bad: string[] = [];
    const check = (x: number) => {
      const got = shortest(out, x);
      if (got !== String(x) && bad.length < 5) bad.push(`${String(x)} written as ${got}`);
    };
    /** x and its neighbours `d` units in the last place away, both signs. */
    const around = (x: number, d: number) => {
      for (let k = -d; k <= d; k++) {
        f[0] = x;
        w[0] = (w[0]! + k) >>> 0;
        check(f[0]!);
        check(-f[0]!);
      }
    };
    for (let i = 0; i < 3000; i++) {
      w[1] = 0;
      w[0] = i;
      check(f[0]!); // the smallest subnormals
      w[1] = 0x000fffff;
      w[0] = 0xffffffff - i;
      check(f[0]!); // the largest
    }
    for (let e = -1075; e <= 1024; e++) around(2 ** e, 2);
    for (let e = -325; e <= 309; e++) for (const m of ["1", "2", "5", "9.999999999999999", "9.999999999999998"]) around(Number(`${m}e${e}`), 3);
    for (const x of [1e21, 999999999999999900000, 1e17, 1e17 - 16, 1e-4, 0.00009999999999999999, 1e-7, 1e-6]) around(x, 40);
    check(-0);
    for (let i = 0; i < 100_000; i++) {
      // A decimal of 1..17 digits at any scale of the fixed range, its neighbours, and the tie halfway past it.
      const digits = 1 + Math.floor(rand() * 17);
      const e = Math.floor(rand() * 44) - 24;
      const m = Math.floor(rand() * 10 ** digits);
      around(Number(`${m}e${e}`), 1);
      check(Number(`${m}5e${e - 1}`));
      check(Number(`${Math.floor(rand() * 1e15)}.5`));
      check(Math.floor(rand() * 2 ** 53) / 2 ** Math.floor(rand() * 60)); // exact binary fractions: long decimal ties
    }
    expect(bad).toEqual([]);
  });
});

describe("numbers: NumberCache writes what writeShortest writes", () => {
  it("on repeated values (hits), many distinct ones (collisions, replacement), -0, texts past a slot, in both orders and switched off", () => {
    const values: number[] = [];
    for (let i = 0; i < 200_000; i++) values.push((((i * 7919) % 3600) * 1000) / 60000); // durations: few distinct
    for (let i = 0; i < 50_000; i++) values.push(0, -0, 1e-7 * (i + 1), -1.2345678901234566e-7 * (i + 1), 1e21 * (i + 1), 2 ** 53 + 2 * i);
    for (let i = 0; i < 100_000; i++) values.push(Math.sin(i) * 60, Math.sin(i % 97) * 60); // rare repeats then frequent ones
    // Forward and reversed (the cache fills differently), and a cache that is off.
    for (const [on, xs] of [
      [true, values],
      [true, [...values].reverse()],
      [false, values],
    ] as const) {
      const cache = new NumberCache(on);
      const out = scratch();
      const bad: string[] = [];
      for (const x of xs) {
        out.pos = 0;
        cache.write(out, x);
        const got = out.buf.latin1Slice(0, out.pos);
        if (got !== String(x) && bad.length < 5) bad.push(`${String(x)} written as ${got}`);
      }
      expect(bad).toEqual([]);
    }
  });
});

describe.each(SINKS)("%s writes exactly the cell strings", (_, sink) => {
  it("every column kind, missing values, quoting, ids, dictionaries, timestamps with and without milliseconds", async () => {
    const columns: OutColumn[] = [
      { name: "ride_id", kind: "string" },
      { name: "pickup_datetime", kind: "timestamp" },
      { name: "PULocationID", kind: "string" },
      { name: "actual_duration", kind: "double" },
      { name: "note", kind: "string" },
      { name: "raw", kind: "raw" },
      { name: 'we"ird,name', kind: "double" },
      { name: "model_version", kind: "string" },
    ];
    const n = 7;
    const t0 = Date.UTC(2021, 0, 1, 0, 15, 56);
    const batch: OutBatch = {
      n,
      values: [
        { prefix: "green_2021-01_", numbers: Float64Array.from([0, 1, 2, 99, 12345678901, 3, 4]) },
        Float64Array.from([t0, t0 + 1, NaN, Date.UTC(1999, 11, 31, 23, 59, 59), Date.UTC(2008, 0, 1), -1000, t0 + 86399000]),
        { dictionary: ["43", "1,2", 'q"q', "ünï", "a cell longer than the writer copies byte by byte"], indices: Int32Array.from([0, 1, 2, 3, -1, 4, 0]) },
        Float64Array.from([3.933333333333333, 8.75, NaN, -0, 1e21, 1e-7, 0.1 + 0.2]),
        ["plain", "with,comma", 'with "quote"', "line\nbreak", null, "cr\r", "😀 emoji"],
        [1, "x", null, undefined, true, 10n, 2.5],
        [1.5, null, undefined, NaN, "7", Infinity, -2],
        { dictionary: ["2021-01.1"], indices: new Int32Array(n) },
      ],
    };
    const batches = [batch, { ...batch, n: 3 }];
    expect(await written(sink(), columns, batches)).toBe(reference(columns, batches));
  });

  it("a long cell larger than one output piece, and many rows across pieces", async () => {
    const columns: OutColumn[] = [
      { name: "s", kind: "string" },
      { name: "x", kind: "double" },
    ];
    const n = 20_000;
    const s = Array.from({ length: n }, (_, i) => (i === 5 ? "é".repeat(100_000) : `row ${i}`));
    const x = Float64Array.from({ length: n }, (_, i) => i / 7);
    const batches = [{ n, values: [s, x] }];
    expect(await written(sink(), columns, batches)).toBe(reference(columns, batches));
  });

  it("many batches of changing sizes, past the first buffer's size, with a dictionary that changes; gzip", async () => {
    const columns: OutColumn[] = [
      { name: "ride_id", kind: "string" },
      { name: "t", kind: "timestamp" },
      { name: "zone", kind: "string" },
      { name: "x", kind: "double" },
      { name: "note", kind: "string" },
    ];
    const zonesA = ["1", "22", "333"];
    const zonesB = ["a", "bb", "c,c"];
    const batches: OutBatch[] = Array.from({ length: 23 }, (_, b) => {
      // Batch 4 is 3 MB (a 1 MB buffer grows, on either thread); some batches are empty or one row.
      const n = b === 4 ? 40_000 : b % 7 === 3 ? 0 : b % 5 === 1 ? 1 : 8192 - 97 * b;
      return {
        n,
        values: [
          { prefix: `f${b}_`, numbers: Float64Array.from({ length: n }, (_, i) => b * 100_000 + i) },
          Float64Array.from({ length: n }, (_, i) => Date.UTC(2021, 0, 1) + (b * 8192 + i) * 1000),
          { dictionary: b % 3 === 0 ? zonesB : zonesA, indices: Int32Array.from({ length: n }, (_, i) => (i % 4) - 1) },
          Float64Array.from({ length: n }, (_, i) => (i % 11 === 0 ? NaN : (b * i) / 7)),
          Array.from({ length: n }, (_, i) => (i % 13 === 0 ? "x".repeat(40) : null)),
        ],
      };
    });
    const text = reference(columns, batches);
    expect(await written(sink(), columns, batches)).toBe(text);
    expect(await written(sink(), columns, batches, true)).toBe(text);
  });

  it("timestamps: every second of a day, days from year 1 to 9999 and past it, before 1970, milliseconds and fractions", async () => {
    const columns: OutColumn[] = [{ name: "t", kind: "timestamp" }];
    const day = Date.UTC(2021, 0, 1);
    const t = Array.from({ length: 86400 }, (_, i) => day + i * 1000);
    const rand = rng(7);
    for (let i = 0; i < 20_000; i++) t.push(Math.floor((rand() * 2 - 1) * 2.6e14) * 1000); // ~-6300..10200: 5-digit and negative years too
    for (const y of [1, 99, 999, 1000, 1899, 1969, 1970, 2038, 9999, 10000, 99999]) t.push(Date.UTC(y, 0, 1), Date.UTC(y, 11, 31, 23, 59, 59));
    t.push(-1000, -1, 0.5, 1.25, 999, 1001, day + 86399999, 8.64e15, -8.64e15, 8.64e15 - 1000, -8.64e15 + 1000);
    const batches = [{ n: t.length, values: [Float64Array.from(t)] }];
    expect(await written(sink(), columns, batches)).toBe(reference(columns, batches));
  });

  it("long cells at a piece's end followed by small ones, and rows wider than a piece", async () => {
    const n = 5000;
    const rand = rng(3);
    const narrow: OutColumn[] = [
      { name: "s", kind: "string" },
      { name: "x", kind: "double" },
      { name: "t", kind: "timestamp" },
      { name: "id", kind: "string" },
    ];
    // Dictionary cells and an id's prefix ask for exactly their own length: each may end right at a piece's end.
    const long = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(1 + Math.floor(rand() * 3000)));
    const s = { dictionary: long, indices: Int32Array.from({ length: n }, () => Math.floor(rand() * long.length)) };
    const x = Float64Array.from({ length: n }, () => -rand() / 3);
    const t = Float64Array.from({ length: n }, () => Math.floor(rand() * 2e12) * 1000);
    const ids = { prefix: "x".repeat(1 + Math.floor(rand() * 100)), numbers: Float64Array.from({ length: n }, (_, i) => i * 1e9) };
    const narrowBatches = [{ n, values: [s, x, t, ids] }];
    expect(await written(sink(), narrow, narrowBatches)).toBe(reference(narrow, narrowBatches));
    const m = 1500; // a row of small cells takes more than one piece's room
    const wide: OutColumn[] = Array.from({ length: m }, (_, j) => ({ name: `c${j}`, kind: "double" }));
    const wideBatches = [{ n: 40, values: Array.from({ length: m }, (_, j) => Float64Array.from({ length: 40 }, (_, i) => -(i * m + j) / 7e7)) }];
    expect(await written(sink(), wide, wideBatches)).toBe(reference(wide, wideBatches));
  });

  it("no rows: the header alone", async () => {
    const columns: OutColumn[] = [{ name: "a", kind: "double" }];
    expect(await written(sink(), columns, [])).toBe("a\n");
  });
});
