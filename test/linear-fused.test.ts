// The fused linear scorer (src/runtime/linear-fused.ts) against the general path, on the bundled model:
// the same rows given as dictionary and typed columns (fused) and as plain arrays (general) must give
// the same bits; a batch the fused path cannot vouch for (a missing zone, a zone that is not a small id,
// an index past its dictionary, a non-finite distance) is scored by the general path, errors named.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Column, type DictColumn, materialize } from "../src/columns.js";
import { openParquet } from "../src/io/parquet-read.js";
import { type CoercedEntries, type FusedField, fusedLinear } from "../src/runtime/linear-fused.js";
import { loadModel } from "../src/runtime/load.js";

const ROOT = join(__dirname, "..");
const GREEN = join(ROOT, "../shared/data/green_tripdata_2021-02.parquet");
const { predictor } = loadModel();

const same = (a: Float64Array, b: Float64Array, n: number) => {
  for (let r = 0; r < n; r++) if (!Object.is(a[r], b[r])) return `row ${r}: ${a[r]} vs ${b[r]}`;
  return "same";
};

/** Rows as the general path sees them: plain arrays of strings and numbers. */
const plain = (pu: DictColumn, dro: DictColumn, d: Float64Array) => ({
  PULocationID: materialize(pu),
  DOLocationID: materialize(dro),
  trip_distance: Array.from(d),
});

describe("fused linear scoring", () => {
  it.skipIf(!existsSync(GREEN))("gives the general path's bits on a month of real rides (../shared)", async () => {
    const src = await openParquet(GREEN);
    let rows = 0;
    for await (const b of src.batches(["PULocationID", "DOLocationID", "trip_distance"], 8192)) {
      const pu = b.columns.PULocationID as DictColumn;
      const dro = b.columns.DOLocationID as DictColumn;
      const d = b.columns.trip_distance as Float64Array;
      expect(pu.indices).toBeInstanceOf(Int32Array);
      // Copies: the batch's arrays are lent until the next one, and the general path scores after.
      const fused = predictor.predictColumns(b.columns, b.n).predictions.slice(0, b.n);
      const general = predictor.predictColumns(plain(pu, dro, d), b.n);
      expect(general.errors).toEqual([]);
      expect(same(fused, general.predictions, b.n)).toBe("same");
      rows += b.n;
    }
    await src.close();
    expect(rows).toBeGreaterThan(60_000);
  });

  const dict = (values: (string | null)[], indices: number[]): DictColumn => ({ dictionary: values, indices: Int32Array.from(indices) });
  const zones = dict(["130", "205", "7", "264", "abc"], [0, 1, 2, 3, 0, 1]);
  const to = dict(["205", "130", "74"], [0, 1, 2, 0, 1, 2]);
  const dist = Float64Array.from([1.5, 0, 12.25, 3, 0.01, 7]);

  it("scores dictionary and typed columns exactly as plain arrays, pairs outside the vocabulary included", () => {
    const fused = predictor.predictColumns({ PULocationID: zones, DOLocationID: to, trip_distance: dist }, 6).predictions.slice(0, 6);
    const general = predictor.predictColumns(plain(zones, to, dist), 6);
    expect(general.errors).toEqual([]);
    expect(same(fused, general.predictions, 6)).toBe("same");
    expect(fused[3]).not.toBe(fused[0]); // 264_205 is not in the vocabulary: only the distance and intercept
  });

  it("gives the same bits with dictionaries too large for one pair table (each row looked up by entry)", () => {
    // 1,100 x 1,100 entries: past the 2^20-entry pair table; every zone id 0..1099, as many rows.
    const entries = Array.from({ length: 1100 }, (_, j) => String(j));
    const n = 5000;
    const pu = dict(
      entries,
      Array.from({ length: n }, (_, r) => (r * 7) % 1100),
    );
    const dro = dict(
      entries,
      Array.from({ length: n }, (_, r) => (r * 13 + 5) % 1100),
    );
    const d = Float64Array.from({ length: n }, (_, r) => (r % 97) / 7);
    const fused = predictor.predictColumns({ PULocationID: pu, DOLocationID: dro, trip_distance: d }, n).predictions.slice(0, n);
    const general = predictor.predictColumns(plain(pu, dro, d), n);
    expect(general.errors).toEqual([]);
    expect(same(fused, general.predictions, n)).toBe("same");
  });

  it.each([
    ["a missing zone", dict(["130"], [0, -1, 0, 0, 0, 0]), dist, { row: 1, field: "PULocationID", reason: "is required but missing" }],
    [
      "an index past the dictionary",
      dict(["130"], [0, 0, 5, 0, 0, 0]),
      dist,
      { row: 2, field: "PULocationID", reason: "dictionary index 5 is past the column's 1 entries" },
    ],
    [
      "a non-finite distance",
      zones,
      Float64Array.from([1, 2, Infinity, 4, 5, 6]),
      { row: 2, field: "trip_distance", reason: "expected a finite number, got Infinity" },
    ],
    ["a missing distance", zones, Float64Array.from([1, NaN, 3, 4, 5, 6]), { row: 1, field: "trip_distance", reason: "is required but missing" }],
  ])("leaves a batch with %s to the general path, which names the row", (_what, pu, d, error) => {
    const r = predictor.predictColumns({ PULocationID: pu, DOLocationID: to, trip_distance: d }, 6);
    expect(r.errors).toEqual([error]);
    expect(r.predictions[error.row]).toBeNaN();
    const ok = [0, 3, 5].filter((x) => x !== error.row)[0]!;
    const general = predictor.predictColumns(
      plain(
        pu,
        to,
        Float64Array.from(d, (x) => (Number.isFinite(x) ? x : 1)),
      ),
      6,
    );
    expect(r.predictions[ok]).toBe(general.predictions[ok]);
  });

  it('looks up a zone that is not a small id ("abc", "07") by string, as the general path does', () => {
    const pu = dict(["07", "abc", "130"], [0, 1, 2, 0, 1, 2]);
    const fused = predictor.predictColumns({ PULocationID: pu, DOLocationID: to, trip_distance: dist }, 6);
    const general = predictor.predictColumns(plain(pu, to, dist), 6);
    expect(fused.errors).toEqual(general.errors);
    expect(same(fused.predictions, general.predictions, 6)).toBe("same");
  });
});

describe("fusedLinear's passes, against each row's sum in field order", () => {
  // Zones "0".."9" (small ids), a dense 10 x 10 vocabulary with holes; coefficients include -0 and
  // distances 0 and negatives, so a term of -0 shows if the sum's order or start differed.
  const width = 10;
  const dense = Int32Array.from({ length: width * width }, (_, at) => (at % 7 === 3 ? -1 : at));
  const coef = Float64Array.from({ length: width * width + 2 }, (_, c) => (c % 11 === 0 ? -0 : ((c * 7919) % 1000) / 37 - 13));
  const dictionary = Array.from({ length: width }, (_, j) => String(j));
  // Entry m (the last) is the missing value: a required input, so not usable.
  const entries = (): CoercedEntries => ({
    ids: Int32Array.from([...dictionary.map(Number), -1]),
    usable: Uint8Array.from([...dictionary.map(() => 1), 0]),
  });
  const cached = new Map<number, CoercedEntries>();
  const entriesOf = (input: number) => cached.get(input) ?? (cached.set(input, entries()), cached.get(input)!);
  const n = 500;
  const pu = { dictionary, indices: Int32Array.from({ length: n }, (_, r) => (r * 3) % width) };
  const dro = { dictionary, indices: Int32Array.from({ length: n }, (_, r) => (r * 7 + 1) % width) };
  const x = Float64Array.from({ length: n }, (_, r) => (r % 5 === 0 ? 0 : r % 3 === 0 ? -r / 8 : r / 16));
  const y = Float64Array.from({ length: n }, (_, r) => (r % 4) - 1.5);
  const pair: FusedField = { kind: "pair", a: 0, b: 1, dense, width };
  const intercept = 4.25;

  const expected = (fields: FusedField[], cols: (Column | undefined)[]) =>
    Float64Array.from({ length: n }, (_, r) => {
      let acc = 0;
      for (const f of fields) {
        if (f.kind === "number") acc += (cols[f.input] as Float64Array)[r]! * coef[f.column]!;
        else {
          const col = dense[pu.indices[r]! * width + dro.indices[r]!]!;
          if (col >= 0) acc += 1 * coef[col]!;
        }
      }
      return acc + intercept;
    });

  it.each([
    ["pair, number (one pass)", [pair, { kind: "number", input: 2, column: width * width }]],
    ["number, pair (one pass)", [{ kind: "number", input: 2, column: width * width + 1 }, pair]],
    ["pair, number, number (a pass per field)", [pair, { kind: "number", input: 2, column: width * width }, { kind: "number", input: 3, column: 0 }]],
  ] as [string, FusedField[]][])("%s: the same bits", (_what, fields) => {
    const kinds = fields.length === 3 ? (["category", "category", "number", "number"] as const) : (["category", "category", "number"] as const);
    const cols = [pu, dro, x, y].slice(0, kinds.length);
    const score = fusedLinear(fields, coef, intercept, [...kinds])!;
    const out = new Float64Array(n);
    expect(score(cols, n, out, entriesOf)).toBe(true);
    const want = expected(fields, cols);
    for (let r = 0; r < n; r++) if (!Object.is(out[r], want[r])) expect(`row ${r}: ${out[r]}`).toBe(`row ${r}: ${want[r]}`);
  });

  it.each([
    ["a missing zone (index -1)", -1, 0],
    ["an index past the dictionary's missing entry", width + 1, 0],
    ["an index below -1", -2, 0],
    ["a missing distance", 0, NaN],
    ["an infinite distance", 0, -Infinity],
  ])("gives the batch back for %s, in either field order", (_what, index, distance) => {
    for (const fields of [
      [pair, { kind: "number", input: 2, column: 1 }],
      [{ kind: "number", input: 2, column: 1 }, pair],
    ] as FusedField[][]) {
      const bad = { dictionary, indices: pu.indices.slice() };
      bad.indices[n - 1] = index === 0 ? bad.indices[n - 1]! : index;
      const d = x.slice();
      d[n - 1] = distance === 0 ? d[n - 1]! : distance;
      const score = fusedLinear(fields, coef, intercept, ["category", "category", "number"])!;
      expect(score([bad, dro, d], n, new Float64Array(n), entriesOf)).toBe(false);
    }
  });
});
