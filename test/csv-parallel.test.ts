// CSV parsed on worker threads (src/io/csv-chunks.ts, csv-chunk-parse.ts) gives the batches the
// one-thread reader gives, cell for cell: the same columns (typed or turned back to strings), the same
// row errors and texts, the same errors ending a read, on adversarial CSV (quoted fields, line breaks
// inside quotes that make a speculative cut wrong, stray quotes, short rows, blank lines, CRLF, a BOM)
// cut into blocks of many sizes; and `ridepred score` writes the same bytes and summary with --threads 1
// and 2 on the real files. The reader is loaded from dist/, where the worker's compiled file is.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { parse } from "csv-parse/sync";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rng } from "../bench/fuzz-lib.mjs";
import { heldBytes } from "../src/io/csv-read.js";
import { GREEN_PARSE } from "./support/csv-uses.js";
import type { ColumnUse, RecordBatch } from "../src/io/types.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SHARED = join(ROOT, "../shared");
const SAMPLE = readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8");
let tmp: string;
let openCsv: typeof import("../src/io/csv-read.js").openCsv;
let chunkStats: typeof import("../src/io/csv-chunks.js").chunkStats;

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/io/csv-chunk-parse.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-csv-parallel-"));
  ({ openCsv } = await import(join(ROOT, "dist/io/csv-read.js")));
  ({ chunkStats } = await import(join(ROOT, "dist/io/csv-chunks.js")));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.RIDEPRED_CSV_BLOCK;
});

const ODD = ["", "1.50", "043", "N/A", '"7"', "-0", "1e3", "2021-02-30 10:00:00", '"a,b"', '"x""y"', '"line\nbreak"', '"two\r\nlines"', "4096", "00"];
const BROKEN = ['x"y', '"a"b', "", "1,2"]; // a stray quote, text after a closing quote, a blank line, an extra field

/**
 * The sample's rows, cells of odd forms in wanted columns, some rows broken, CRLF or LF, maybe a BOM;
 * without quotes, every record is one the workers parse from bytes (csv-scan-bytes.ts).
 */
function messyCsv(seed: number, quotes = true): string {
  const r = rng(seed);
  const odd = quotes ? ODD : ODD.filter((c) => !c.includes('"'));
  const broken = quotes ? BROKEN : ["", "1,2", "a\rb"]; // a bare CR inside a field: part of it
  const [header, ...rows] = SAMPLE.trimEnd().split("\n");
  const wanted = [1, 2, 5, 6, 8, 3]; // pickup, dropoff, PU, DO, trip_distance, store_and_fwd_flag
  const out = [header!];
  for (let i = 0; i < 6; i++)
    for (const row of rows) {
      const f = row.split(",");
      if (r() < 0.02) f[wanted[Math.floor(r() * wanted.length)]!] = odd[Math.floor(r() * odd.length)]!;
      if (r() < 0.005) f[Math.floor(r() * f.length)] = broken[Math.floor(r() * broken.length)]!;
      if (r() < 0.003) f.length = 4; // a short row
      out.push(f.join(","));
    }
  const eol = r() < 0.5 ? "\r\n" : "\n";
  return (r() < 0.5 ? "\ufeff" : "") + out.join(eol) + (r() < 0.5 ? eol : "");
}

/** Every batch as plain data (copied: the arrays are the reader's until the next batch), or the error. */
async function readAll(path: string, threads: number, wanted: string[], parse?: Record<string, ColumnUse>, maxRecord?: number, chunkSize = 4096) {
  const src = await openCsv(path, false, chunkSize, maxRecord, threads);
  const batches: unknown[] = [];
  try {
    for await (const b of src.batches(wanted, 300, { parse })) batches.push(plain(b, wanted));
    return { names: src.names, batches };
  } catch (e) {
    return { names: src.names, batches, error: (e as Error).message };
  } finally {
    await src.close();
  }
}

function plain(b: RecordBatch, wanted: string[]) {
  const columns = Object.fromEntries(
    Object.entries(b.columns).map(([k, c]) => {
      if (c instanceof Float64Array) return [k, { f64: Array.from(c, (x) => (Number.isNaN(x) ? "NaN" : x)) }];
      if (typeof c === "object" && c !== null && "indices" in c) return [k, { ids: Array.from(c.indices), dict: c.dictionary.length }];
      return [k, { strings: Array.from(c as ArrayLike<unknown>) }];
    }),
  );
  const text = wanted.map((w) => Array.from({ length: b.n }, (_, r) => b.text?.(w, r)));
  return { n: b.n, columns, errors: b.errors, text };
}

describe("CSV parsed on worker threads reads as the one-thread reader reads it", () => {
  for (const [seed, quotes] of [
    [1, true],
    [2, true],
    [3, true],
    [4, true],
    [5, false],
    [6, false],
    [7, false],
  ] as const) {
    it(`messy sample, seed ${seed}${quotes ? "" : ", no quotes"}: same batches, cell for cell, with 2 and 3 threads and blocks of many sizes`, async () => {
      const file = join(tmp, `messy-${seed}.csv`);
      writeFileSync(file, messyCsv(seed, quotes));
      const wanted = [...Object.keys(GREEN_PARSE), "store_and_fwd_flag"];
      const one = await readAll(file, 1, wanted, GREEN_PARSE);
      expect(one.error).toBeUndefined();
      for (const block of [300, 1000, 4099, 20000]) {
        process.env.RIDEPRED_CSV_BLOCK = String(block);
        const before = chunkStats.byWorkers;
        for (const threads of [2, 3]) expect(await readAll(file, threads, wanted, GREEN_PARSE), `${threads} threads, ${block}-character blocks`).toEqual(one);
        expect(chunkStats.byWorkers, "the worker threads parsed blocks").toBeGreaterThan(before);
      }
    }, 60_000);
  }

  it("random valid CSV with line breaks inside quotes (wrong speculative cuts): csv-parse's rows", async () => {
    const r = rng(9);
    const pieces = ["a", "130", "3.66", "", " x ", "é✓", ",", '"', '""', "\n", "\r\n", "long".repeat(50)];
    const field = () => {
      let v = "";
      for (let k = Math.floor(r() * 4); k > 0; k--) v += pieces[Math.floor(r() * pieces.length)];
      return /[",\r\n]/.test(v) || r() < 0.2 ? `"${v.replaceAll('"', '""')}"` : v;
    };
    const header = ["c0", "c1", "c2"];
    const records = Array.from({ length: 3000 }, () => header.map(field).join(","));
    const text = [header.join(","), ...records.map((x) => (x === "" ? '""' : x))].join("\n") + "\n";
    const file = join(tmp, "random.csv");
    writeFileSync(file, text);
    const oracle = parse(text, { skip_empty_lines: true }) as string[][];
    for (const block of [200, 5000]) {
      process.env.RIDEPRED_CSV_BLOCK = String(block);
      const got = await readAll(file, 2, header);
      const rows = got.batches.flatMap((b) => {
        const { n, columns } = b as { n: number; columns: Record<string, { strings: string[] }> };
        return Array.from({ length: n }, (_, i) => header.map((h) => columns[h]!.strings[i]));
      });
      expect(rows).toStrictEqual(oracle.slice(1));
      expect(got).toEqual(await readAll(file, 1, header));
    }
  }, 60_000);

  it("multi-byte characters and invalid UTF-8 cut by the reads anywhere (the header's read too): the same text as one decoder's", async () => {
    // The workers get bytes and decode each block themselves; the main thread hands over the text it has
    // not consumed (encoded again) and a character its decoder holds incomplete.
    const r = rng(11);
    const odd = [Buffer.from("é✓😀", "utf8"), Buffer.from([0xff]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf0, 0x9f]), Buffer.from("plain")];
    const lines: Buffer[] = [Buffer.from("\ufeffc0,c1,c2\n", "utf8")];
    for (let i = 0; i < 4000; i++) {
      const cell = () => Buffer.concat(Array.from({ length: Math.floor(r() * 3) }, () => odd[Math.floor(r() * odd.length)]!));
      lines.push(Buffer.concat([cell(), Buffer.from(","), Buffer.from(String(i)), Buffer.from(","), cell(), Buffer.from("\n")]));
    }
    const file = join(tmp, "utf8.csv");
    writeFileSync(file, Buffer.concat(lines));
    const header = ["c0", "c1", "c2"];
    for (const chunk of [4096, 4093, 10, 7]) {
      const one = await readAll(file, 1, header, undefined, undefined, chunk);
      expect(one.error).toBeUndefined();
      for (const block of [300, 4099]) {
        process.env.RIDEPRED_CSV_BLOCK = String(block);
        expect(await readAll(file, 2, header, undefined, undefined, chunk), `${chunk}-byte reads, ${block}-byte blocks`).toEqual(one);
      }
    }
  }, 60_000);

  it("a read that ends in an error ends the same way: an unclosed quote, a record over the limit", async () => {
    const rows = SAMPLE.trimEnd().split("\n");
    const unclosed = join(tmp, "unclosed.csv");
    writeFileSync(unclosed, [...rows, ...rows.slice(1)].map((l, i) => (i === 1500 ? l.replace(",", ',"') : l)).join("\n") + "\n");
    const long = join(tmp, "long.csv");
    writeFileSync(long, [...rows, ...rows.slice(1)].map((l, i) => (i === 1700 ? l.replace(",", `,${"y".repeat(600)}`) : l)).join("\n") + "\n");
    process.env.RIDEPRED_CSV_BLOCK = "2000";
    for (const [file, max, message] of [
      [unclosed, undefined, /quoted field opened in row 1500 is never closed|row 1500 is longer/],
      [long, 500, /row 1700 is longer than --max-record-bytes \(500\)/],
    ] as const) {
      const one = await readAll(file, 1, Object.keys(GREEN_PARSE), GREEN_PARSE, max);
      expect(one.error).toMatch(message);
      expect(await readAll(file, 2, Object.keys(GREEN_PARSE), GREEN_PARSE, max)).toEqual(one);
    }
  }, 60_000);
});

describe("ridepred score --threads 2: the bytes and the summary of --threads 1", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, ...args], {
      encoding: "utf8",
      env: { ...process.env, RIDEPRED_CSV_BLOCK: "65536", RIDEPRED_CSV_INLINE_ROWS: "0", ...env },
    });
  const same = (args: (out: string) => string[], name: string) => {
    const outs = [1, 2].map((t) => {
      const out = join(tmp, `${t}-${name}`);
      const r = run([...args(out), "--threads", String(t), "--json"]);
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout);
      for (const k of ["seconds", "rows_per_second", "output", "rejects"]) delete summary[k];
      return { bytes: readFileSync(out), rejects: existsSync(`${out}.rejects.csv`) ? readFileSync(`${out}.rejects.csv`) : undefined, summary };
    });
    expect(outs[1]!.bytes.equals(outs[0]!.bytes)).toBe(true);
    expect(outs[1]!.rejects?.equals(outs[0]!.rejects!) ?? outs[0]!.rejects === undefined).toBe(true);
    expect(outs[1]!.summary).toEqual(outs[0]!.summary);
    return outs[0]!;
  };

  it.skipIf(!existsSync(SHARED))(
    "the real yellow CSV samples in ../shared, CSV and Parquet out",
    () => {
      for (const f of ["yellow_tripdata_sample_2019-01.csv", "yellow_tripdata_sample_2020-06.csv"]) {
        const input = join(SHARED, "data", f);
        same((out) => ["score", input, "-o", out], `${f}.csv`);
        same((out) => ["score", input, "-o", out], `${f}.parquet`);
      }
    },
    120_000,
  );

  it("stdout and .csv.gz outputs: the same bytes", () => {
    const input = join(tmp, "messy-out.csv");
    writeFileSync(input, messyCsv(8));
    same((out) => ["score", input, "-o", out, "--on-error", "skip"], "gz.csv.gz");
    const [one, two] = [1, 2].map((t) => run(["score", input, "-o", "-", "--on-error", "skip", "--threads", String(t)]));
    expect(one!.status, one!.stderr).toBe(0);
    expect(two!.stdout).toBe(one!.stdout);
  }, 120_000);

  // A named pipe (or a shell's <(...)) has a path but no positions: the threaded reader must not read it by position.
  it("a named pipe as input: the bytes of the same file", () => {
    const input = join(tmp, "messy-fifo-src.csv");
    writeFileSync(input, messyCsv(9));
    const fifo = join(tmp, "messy-fifo.csv");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const fromFile = run(["score", input, "-o", "-", "--on-error", "skip", "--threads", "2"]);
    expect(fromFile.status, fromFile.stderr).toBe(0);
    const piped = spawnSync(
      "sh",
      ["-c", 'cat "$1" > "$2" & exec "$3" "$4" score "$2" -o - --on-error skip --threads 2', "sh", input, fifo, process.execPath, BIN],
      {
        encoding: "utf8",
        env: { ...process.env, RIDEPRED_CSV_BLOCK: "65536", RIDEPRED_CSV_INLINE_ROWS: "0" },
      },
    );
    expect(piped.status, piped.stderr).toBe(0);
    const withoutIds = (s: string) => s.replace(/^[^,\n]*,/gm, "");
    expect(withoutIds(piped.stdout)).toBe(withoutIds(fromFile.stdout));
    expect(piped.stdout.split("\n").length).toBeGreaterThan(100);
  }, 120_000);

  it("a messy file with --on-error skip --rejects: the same output, rejects file and counts", () => {
    const input = join(tmp, "messy-cli.csv");
    writeFileSync(input, messyCsv(7));
    const o = same((out) => ["score", input, "-o", out, "--on-error", "skip", "--rejects", `${out}.rejects.csv`, "--filter-duration", "1..60"], "messy.csv");
    expect(o.summary.rejected).toBeGreaterThan(0);
  }, 120_000);
});

// The threaded reader hands the workers the bytes of a character Node's StringDecoder holds incomplete,
// read from the decoder's undocumented fields; if a Node upgrade renames or changes them, reading would
// quietly stay on one thread: this fails instead.
describe("heldBytes reads what a StringDecoder holds back", () => {
  it("gives the incomplete character's bytes, and nothing between characters", () => {
    const euro = Buffer.from("€", "utf8"); // 3 bytes
    const face = Buffer.from("😀", "utf8"); // 4 bytes
    for (const [ch, cut] of [
      [euro, 1],
      [euro, 2],
      [face, 1],
      [face, 2],
      [face, 3],
    ] as const) {
      const d = new StringDecoder("utf8");
      expect(d.write(Buffer.concat([Buffer.from("a,b\n"), ch.subarray(0, cut)]))).toBe("a,b\n");
      expect(heldBytes(d)).toEqual(ch.subarray(0, cut));
      expect(d.write(ch.subarray(cut))).toBe(ch.toString("utf8"));
      expect(heldBytes(d)).toEqual(Buffer.alloc(0));
    }
    const fresh = new StringDecoder("utf8");
    expect(heldBytes(fresh)).toEqual(Buffer.alloc(0));
    fresh.write(Buffer.from("plain ascii"));
    expect(heldBytes(fresh)).toEqual(Buffer.alloc(0));
  });
});
