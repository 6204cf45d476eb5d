// The fused linear scorer (src/runtime/linear-fused.ts) against the general path, on the bundled model:
// the same rows given as dictionary and typed columns (fused) and as plain arrays (general) must give
// the same bits; a batch the fused path cannot vouch for (a missing zone, a zone that is not a small id,
// an index past its dictionary, a non-finite distance) is scored by the general path, errors named.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DictColumn, materialize } from "../src/columns.js";
import { openParquet } from "../src/io/parquet-read.js";
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
