// The CSV writer writes bytes straight from the columns: its output must be exactly the text the cell
// strings give (String(x) for numbers, formatTimestamp, csvQuote), which is what it wrote before. The
// numbers' own fast path is checked against String(x) on millions of doubles of every kind.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rng } from "../bench/fuzz-lib.mjs";
import { NumberCache, writeShortest } from "../src/io/csv-number.js";
import { csvSink, type Out } from "../src/io/csv-write.js";
import { cellText, csvQuote } from "../src/io/text-write.js";
import { formatTimestamp } from "../src/io/timestamp.js";
import { cells, type ColumnKind, type OutBatch, type OutColumn } from "../src/io/types.js";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-csv-write-"));
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

async function written(columns: OutColumn[], batches: OutBatch[]): Promise<string> {
  const path = join(tmp, `out-${Math.random()}.csv`);
  const sink = csvSink(path, columns, false);
  for (const b of batches) await sink.write(b);
  await sink.finish();
  return readFileSync(path, "utf8");
}

function scratch(): Out {
  const out = { buf: Buffer.alloc(256), pos: 0 } as Out;
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

describe("csvSink writes exactly the cell strings", () => {
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
    expect(await written(columns, batches)).toBe(reference(columns, batches));
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
    expect(await written(columns, batches)).toBe(reference(columns, batches));
  });

  it("no rows: the header alone", async () => {
    const columns: OutColumn[] = [{ name: "a", kind: "double" }];
    expect(await written(columns, [])).toBe("a\n");
  });
});
