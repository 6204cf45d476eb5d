// Columns the run reads as numbers, times or zone ids come from the CSV reader parsed (csv-cells.ts):
// every later stage must see what the strings would have given it, and the text of any cell must come
// back exactly. Checked on real sample rows with cells of every awkward form mixed in, against the same
// file read as plain strings.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isDict, materialize } from "../src/columns.js";
import { parseCellBytesInto, parseCellInto } from "../src/io/csv-cells.js";
import { openCsv } from "../src/io/csv-read.js";
import { toMillis } from "../src/io/timestamp.js";
import { GREEN_PARSE } from "./support/csv-uses.js";
import type { ColumnUse, RecordBatch } from "../src/io/types.js";

const ROOT = join(import.meta.dirname, "..");
const SAMPLE = readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8");
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-csv-cells-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ODD = ["", "1.50", "043", "N/A", '"7"', "-0", "0.0", "1e3", " 2 ", "2021-02-30 10:00:00", "2021-02-01T10:00:00", "2021-02-01 10:00:00.5"];
ODD.push("2021-02-01 24:00:00", '"a,b"', '"x""y"', '"line\nbreak"', "4096", "0", "00", "+5", ".5", "Infinity", "123456789012345678", "0.000001", "1e-7");
ODD.push("0999-01-01 00:00:00", "2020-02-29 23:59:59", "2021-02-29 00:00:00", "-12.25", "99999999999999.9", "0.1234567890123456");
// A character just outside the digits ("/" and ":") in each pair of digits a timestamp is read by.
ODD.push(
  "/021-02-01 10:00:00",
  "20:1-02-01 10:00:00",
  "2021-0/-01 10:00:00",
  "2021-02-:1 10:00:00",
  "2021-02-01 /0:00:00",
  "2021-02-01 10:0::00",
  "2021-02-01 10:00:0/",
);

/** The sample's rows with an odd cell put in one of every 97 rows' wanted columns, CRLF line ends. */
function messyCsv(): string {
  const [header, ...rows] = SAMPLE.trimEnd().split("\n");
  const wanted = [1, 2, 5, 6, 8]; // pickup, dropoff, PU, DO, trip_distance
  let seed = 3;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const out = [header!];
  for (let i = 0; i < 4; i++)
    for (const [r, row] of rows.entries()) {
      const f = row.split(",");
      if ((r + i) % 97 === 0) f[wanted[rand(wanted.length)]!] = ODD[rand(ODD.length)]!;
      out.push(f.join(","));
    }
  return out.join("\r\n") + "\r\n";
}

async function read(path: string, parse?: Record<string, ColumnUse>): Promise<RecordBatch[]> {
  const src = await openCsv(path, false, 4096);
  const out: RecordBatch[] = [];
  for await (const b of src.batches(Object.keys(GREEN_PARSE), 257, { parse })) {
    // Batches' arrays are the reader's until the next batch: copy what the test keeps.
    const columns = Object.fromEntries(
      Object.entries(b.columns).map(([k, c]) => [
        k,
        isDict(c) ? { dictionary: c.dictionary, indices: c.indices.slice() } : c instanceof Float64Array ? c.slice() : Array.from(c as ArrayLike<unknown>),
      ]),
    );
    const text = Object.fromEntries(Object.keys(GREEN_PARSE).map((k) => [k, Array.from({ length: b.n }, (_, r) => b.text?.(k, r))]));
    out.push({ ...b, columns, text: (k: string, r: number) => text[k]![r] });
  }
  await src.close();
  return out;
}

describe("parsed CSV columns", () => {
  it("give back each cell's text, and values equal to what the strings mean", async () => {
    const path = join(tmp, "messy.csv");
    writeFileSync(path, messyCsv());
    const plain = await read(path);
    const parsed = await read(path, GREEN_PARSE);
    expect(parsed.map((b) => b.n)).toEqual(plain.map((b) => b.n));
    let typed = 0;
    for (const [i, b] of parsed.entries()) {
      const p = plain[i]!;
      expect(b.errors).toEqual(p.errors);
      for (const [name, use] of Object.entries(GREEN_PARSE)) {
        const strings = p.columns[name] as unknown[];
        const col = b.columns[name]!;
        const bad = new Set(p.errors.map((e) => e.row));
        for (let r = 0; r < b.n; r++) {
          const s = strings[r];
          if (!bad.has(r)) expect(b.text!(name, r)).toBe(s);
          if (Array.isArray(col)) {
            expect(col[r]).toBe(s);
            continue;
          }
          typed++;
          const v = materialize(col)[r];
          if (bad.has(r)) continue;
          if (use === "number") expect(Object.is(v, s === "" ? Number.NaN : Number(s))).toBe(true);
          else if (use === "timestamp") expect(Object.is(v, toMillis(s))).toBe(true);
          else expect(v === null ? "" : v).toBe(s);
        }
      }
    }
    expect(typed).toBeGreaterThan(1000); // most batches' columns did come parsed
  });
});

/** What a parser stored at row 1 of a fresh column of this use (undefined: it did not take the cell); the rows beside it untouched. */
function stored(use: "number" | "timestamp" | "category", parse: (out: Float64Array | Int32Array) => boolean): number | undefined {
  const out = use === "category" ? new Int32Array([7, 7, 7]) : new Float64Array([7, 7, 7]);
  const took = parse(out);
  expect([out[0], out[2]]).toEqual([7, 7]);
  if (!took) expect(out[1]).toBe(7);
  return took ? out[1] : undefined;
}

describe("the cell parsers over bytes (worker threads) and over text", () => {
  it("give the same value for every cell, of every use", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    const alphabet = "0123456789-.: x/e";
    const cells = [...ODD.filter((c) => !c.includes('"')), "-", "0", "1", "4095", "4096", "-1", "1.", "1.0", "10", "0.5", "123.456"];
    for (let i = 0; i < 20000; i++) cells.push(Array.from({ length: 1 + rand(8) }, () => alphabet[rand(alphabet.length)]).join(""));
    for (let i = 0; i < 20000; i++) {
      const d = (n: number) => String(rand(n)).padStart(2, "0");
      cells.push(`${1990 + rand(60)}-${d(14)}-${d(33)} ${d(25)}:${d(61)}:${d(61)}`, `${rand(1e6) / 10 ** rand(8)}`, String(rand(5000)));
    }
    for (const use of ["number", "timestamp", "category"] as const)
      for (const cell of cells) {
        // Inside a record, as the scanner passes it: the bytes after the cell are a comma or a line end.
        const line = `${cell},\r\n`;
        const got = stored(use, (out) => parseCellBytesInto(use, Buffer.from(line, "latin1"), 0, cell.length, out, 1));
        const want = stored(use, (out) => parseCellInto(use, line, 0, cell.length, out, 1));
        expect(Object.is(got, want), `${use} ${JSON.stringify(cell)}`).toBe(true);
      }
  });
});
