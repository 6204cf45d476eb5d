// CSV (and JSONL) readers on hostile input: the work per byte is bounded (no rescanning of a record cut
// by a chunk boundary: an unclosed quote, or one endless line, costs about what reading a valid file of
// the same size costs), and one record is bounded by --max-record-bytes (default 1 MiB: a longer one ends
// the run with exit 2 naming its row, after reading about that much, not the whole file). Checked against
// csv-parse on random valid CSV cut into chunks of every size. The 200 MB case: bench/csv-hostile.mjs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCsv } from "../src/io/csv-read.js";
import { openJsonl } from "../src/io/jsonl-read.js";
import type { BatchSource } from "../src/io/types.js";
import { rng } from "../bench/fuzz-lib.mjs";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SAMPLE = readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8");
const [HEADER, ...ROWS] = SAMPLE.trimEnd().split("\n");
const MB = 1 << 20;
let tmp: string;

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-hostile-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Real sample rows repeated to about `bytes`, after the header. */
function validCsv(bytes: number): string {
  const out = [HEADER!];
  let size = HEADER!.length;
  for (let i = 0; size < bytes; i++) {
    const row = ROWS[i % ROWS.length]!;
    out.push(row);
    size += row.length + 1;
  }
  return out.join("\n") + "\n";
}

/** Read every batch; the rows read, or the error that ended the read and how far the input had got. */
async function drain(src: BatchSource, wanted: string[]) {
  let rows = 0;
  try {
    for await (const b of src.batches(wanted, 8192)) rows += b.n;
    return { rows, error: undefined, progress: src.progress() };
  } catch (e) {
    return { rows, error: (e as Error).message, progress: src.progress() };
  } finally {
    await src.close();
  }
}

/** Best of three timed runs of each of a and b, interleaved (a machine's load then weighs on both alike), in ms. */
async function timedPair(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  const best = [Infinity, Infinity];
  for (let k = 0; k < 3; k++) {
    for (const [j, f] of [a, b].entries()) {
      const t0 = performance.now();
      await f();
      best[j] = Math.min(best[j]!, performance.now() - t0);
    }
  }
  return [best[0]!, best[1]!];
}

describe("linear on hostile input (a 12 MB file; time as a ratio to a valid file of the same size)", () => {
  const SIZE = 12 * MB;
  const wanted = ["PULocationID", "DOLocationID", "trip_distance"];
  let valid: string;
  beforeAll(() => {
    valid = join(tmp, "valid.csv");
    writeFileSync(valid, validCsv(SIZE));
  });

  // [case, the file made from the valid one, the error, the largest time ratio to the valid file]
  const hostile: [string, (text: string) => string, RegExp, number][] = [
    // An unclosed quote in a wanted column of row 3: the rest of the file is inside that field.
    [
      "an unclosed quote in a wanted column",
      (t) => t.replace(/\n((?:[^\n]*\n){2}(?:[^,\n]*,){5})/, '\n$1"'),
      /not valid CSV: the quoted field opened in row 3 is never closed/,
      2,
    ],
    ["an unclosed quote in a column not read", (t) => t.replace(/\n((?:[^\n]*\n){2}[^,\n]*,)/, '\n$1"'), /the quoted field opened in row 3 is never closed/, 2],
    // One endless line (no line feed, no quote) after the header: one row, with too many fields (a row error).
    ["one line without a line end", (t) => `${HEADER}\n` + t.slice(HEADER!.length + 1).replaceAll("\n", ","), /^$/, 4],
    // A quoted field made of doubled quotes, never closed.
    ["doubled quotes in an unclosed field", (t) => `${HEADER}\n1,"` + '""'.repeat((t.length - HEADER!.length) >> 1), /row 1 is never closed/, 10], // every character a quote: each pair is looked at
  ];
  for (const [name, make, error, bound] of hostile) {
    it(`${name}: costs about what the valid file costs, and fails (if it does) naming the row`, async () => {
      const file = join(tmp, `hostile-${name.replaceAll(" ", "-")}.csv`);
      const text = make(readFileSync(valid, "utf8"));
      writeFileSync(file, text);
      expect(Math.abs(text.length - SIZE) / SIZE).toBeLessThan(0.05);
      const big = 4 * SIZE; // the cap above the file's size: only the scan's own linearity helps
      const r = await drain(await openCsv(file, false, undefined, big), wanted);
      expect(r.error ?? "", name).toMatch(error);
      const [tValid, tHostile] = await timedPair(
        async () => expect((await drain(await openCsv(valid, false, undefined, big), wanted)).error).toBeUndefined(),
        async () => drain(await openCsv(file, false, undefined, big), wanted),
      );
      // Rescanning per 64 KiB chunk made an unclosed quote ~14x slower than the valid file at this size (quadratic).
      expect(tHostile / tValid, `${name}: ${tHostile.toFixed(0)} ms vs ${tValid.toFixed(0)} ms valid`).toBeLessThan(bound);
    }, 120_000);
  }
});

describe("one record is bounded by --max-record-bytes", () => {
  it("an unclosed quote stops the read after about the limit (default 1 MiB), naming the row: memory stays bounded", async () => {
    const file = join(tmp, "open-quote.csv");
    writeFileSync(file, validCsv(16 * MB).replace(/\n((?:[^\n]*\n){4}(?:[^,\n]*,){5})/, '\n$1"'));
    const r = await drain(await openCsv(file, false), ["PULocationID"]);
    expect(r.error).toMatch(/open-quote\.csv: row 5 is longer than --max-record-bytes \(1048576\): a quote never closed, or not CSV\?/);
    expect(r.progress).toBeLessThan(0.15); // ~1 MiB of 16 read: the rest was never held
  });

  it("the header line, and a record inside one chunk, are held to the limit too", async () => {
    const file = join(tmp, "long-header.csv");
    writeFileSync(file, "a,".repeat(100) + "b\n1,2\n");
    await expect(openCsv(file, false, undefined, 100)).rejects.toThrow(/long-header\.csv: the header line is longer than --max-record-bytes \(100\)/);
    const rows = join(tmp, "long-row.csv");
    writeFileSync(rows, `a,b\n1,2\n3,${"x".repeat(200)}\n5,6\n`);
    expect((await drain(await openCsv(rows, false, undefined, 100), ["a"])).error).toMatch(/row 2 is longer than --max-record-bytes \(100\)/);
    expect((await drain(await openCsv(rows, false, undefined, 300), ["a"])).rows).toBe(3);
  });

  it("ridepred score: exit 2 naming the row, no output file; --max-record-bytes raises the limit", () => {
    const file = join(tmp, "wide.csv");
    writeFileSync(file, `PULocationID,DOLocationID,trip_distance,note\n130,205,3.66,\n130,205,3.66,"${"long, ".repeat(1000)}"\n`);
    const out = join(tmp, "wide-out.csv");
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, "score", file, "-o", out, ...args], { encoding: "utf8" });
    const r = run("--max-record-bytes", "1000");
    expect([r.status, r.stderr.trim()]).toStrictEqual([
      2,
      `ridepred: ${file}: row 2 is longer than --max-record-bytes (1000): a quote never closed, or not CSV?`,
    ]);
    expect(existsSync(out)).toBe(false);
    const ok = run();
    expect(ok.status, ok.stderr).toBe(0); // 6 kB is well within the default
  });

  it("serve: a text/csv body on /invocations with a record over the limit is a 400 naming the row", async () => {
    const { startServer } = await import("../src/serve/server.js");
    const { BUNDLED_MODEL } = await import("../src/artifact/io.js");
    const { pino } = await import("pino");
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }), maxRecordBytes: 100 });
    try {
      const post = (body: string) => fetch(`${s.url}/invocations`, { method: "POST", headers: { "content-type": "text/csv" }, body });
      const bad = await post(`PULocationID,DOLocationID,trip_distance\n130,205,3.66\n130,205,"${"3".repeat(200)}\n`);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toStrictEqual({
        error: "malformed CSV",
        details: [{ field: "body", row: 1, reason: "is longer than --max-record-bytes (100)" }],
      });
      expect((await post("PULocationID,DOLocationID,trip_distance\n130,205,3.66\n")).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it("JSONL: a line longer than the limit ends the run naming its row; lines across chunks still read whole", async () => {
    const file = join(tmp, "long.jsonl");
    const ride = (i: number) => JSON.stringify({ PULocationID: 130, DOLocationID: 205, trip_distance: i, note: "x".repeat(i % 300) });
    writeFileSync(file, [ride(1), "", ride(2), `{"PULocationID": "${"9".repeat(3000)}"}`, ride(3)].join("\r\n") + "\r\n");
    expect((await drain(await openJsonl(file, 1000), ["trip_distance"])).error).toMatch(/long\.jsonl: row 3 is longer than --max-record-bytes \(1000\)/);
    const all = join(tmp, "many.jsonl");
    const lines = Array.from({ length: 3000 }, (_, i) => ride(i));
    writeFileSync(all, lines.join("\n")); // no final line end
    const src = await openJsonl(all);
    const got: unknown[] = [];
    for await (const b of src.batches(["trip_distance"], 1000)) got.push(...(b.columns.trip_distance as unknown[]));
    expect(got).toStrictEqual(lines.map((_, i) => i));
    const r = spawnSync(process.execPath, [BIN, "score", file, "-o", join(tmp, "j.csv"), "--max-record-bytes", "1000"], { encoding: "utf8" });
    expect([r.status, r.stderr]).toStrictEqual([2, `ridepred: ${file}: row 3 is longer than --max-record-bytes (1000): not JSON Lines?\n`]);
  });
});

describe("random valid CSV, cut into chunks of every size, reads as csv-parse reads it", () => {
  // rng: bench/fuzz-lib.mjs's deterministic PRNG (mulberry32): the same cases on every run.
  const pieces = ["a", "130", "3.66", "", " x ", "é✓", ",", '"', '""', "\n", "\r\n", "long".repeat(50)];
  function field(r: () => number): string {
    let v = "";
    for (let k = Math.floor(r() * 4); k > 0; k--) v += pieces[Math.floor(r() * pieces.length)];
    const needsQuotes = /[",\r\n]/.test(v) || (v === "" && r() < 0.3);
    return needsQuotes || r() < 0.2 ? `"${v.replaceAll('"', '""')}"` : v;
  }
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}`, async () => {
      const r = rng(seed);
      const width = 2 + Math.floor(r() * 4);
      const eol = r() < 0.5 ? "\n" : "\r\n";
      const header = Array.from({ length: width }, (_, j) => `c${j}`);
      const records = Array.from({ length: 300 }, () => Array.from({ length: width }, () => field(r)).join(","));
      // A record of one empty field would be a blank line, which both skip: give it a value.
      const text = [header.join(","), ...records.map((x) => (x === "" ? '""' : x))].join(eol) + (r() < 0.5 ? eol : "");
      const file = join(tmp, `random-${seed}.csv`);
      writeFileSync(file, text);
      const oracle = parse(text, { skip_empty_lines: true }) as string[][];
      for (const chunk of [1, 2, 5, 13, 64, 1000, 1 << 16]) {
        const src = await openCsv(file, false, chunk);
        expect(src.names).toEqual(header);
        const got: string[][] = [];
        for await (const b of src.batches(header, 1 + Math.floor(r() * 50))) {
          expect(b.errors).toEqual([]);
          for (let i = 0; i < b.n; i++) got.push(header.map((h) => (b.columns[h] as string[])[i]!));
        }
        expect(got, `${chunk}-byte chunks`).toStrictEqual(oracle.slice(1));
      }
    }, 60_000);
  }
});
