// The report's statistics against numbers worked out by hand: the sketch's buckets and quantile bins,
// PSI (with its empty-bin convention), category bins, the bounded counter, the model's vocabulary, and
// the observer fed batches the way the batch loop feeds it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ModelArtifact } from "../src/artifact/types.js";
import { niceTicks } from "../src/report/charts.js";
import { Counter } from "../src/report/counter.js";
import { renderReport } from "../src/report/html.js";
import { categoryBins, numericBins, psi } from "../src/report/psi.js";
import { countInto, keyOf, lowerOf, quantile, quantileCuts, Sketch, upperOf } from "../src/report/sketch.js";
import { RunStats } from "../src/report/stats.js";
import { vocabularyOf } from "../src/report/vocabulary.js";

const ROOT = join(__dirname, "..");
const artifact = JSON.parse(readFileSync(join(ROOT, "models", "ride-duration.json"), "utf8")) as ModelArtifact;

const sketchOf = (xs: number[]) => {
  const s = new Sketch();
  for (const x of xs) s.add(x);
  return s;
};
/** 1.1^i: every value in a bucket of its own (buckets are 2% wide). */
const spread = (n: number) => Array.from({ length: n }, (_, i) => 1.1 ** i);

describe("sketch", () => {
  it("puts a value in the bucket (lower, upper] that holds it, in value order, negatives and zero included", () => {
    for (const x of [1e-6, 0.37, 1, 1.5, 2.5, 60, 1234.5, 1e7, -0.37, -1, -60]) {
      const k = keyOf(x);
      expect(lowerOf(k)).toBeLessThanOrEqual(x);
      expect(upperOf(k)).toBeGreaterThanOrEqual(x);
      expect(Math.abs(upperOf(k) / lowerOf(k)) ** Math.sign(x)).toBeCloseTo(1.02, 10);
    }
    expect(keyOf(0)).toBe(0);
    const xs = [-60, -1, -0.37, 0, 1e-6, 0.37, 1, 60];
    const keys = xs.map(keyOf);
    expect([...keys].sort((a, b) => a - b)).toEqual(keys);
  });

  it("keeps count, missing, mean, min, max; infinite and NaN are missing", () => {
    const s = sketchOf([1, 2, 3, NaN, Infinity, 10]);
    expect(s.count).toBe(4);
    expect(s.missing).toBe(2);
    expect(s.sum / s.count).toBe(4);
    expect([s.min, s.max]).toEqual([1, 10]);
    expect(s.squares).toBe(1 + 4 + 9 + 100);
  });

  it("round-trips through its JSON", () => {
    const s = sketchOf([...spread(50), -3, 0, 0]);
    const back = Sketch.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    expect(back.buckets()).toEqual(s.buckets());
    expect(back.toJSON()).toEqual(s.toJSON());
  });

  it("cuts 100 distinct values into 10 bins of 10, and counts another run into them", () => {
    const ref = sketchOf(spread(100));
    const cuts = quantileCuts(ref, 10);
    expect(cuts).toHaveLength(9);
    expect(countInto(ref, cuts)).toEqual(new Array(10).fill(10));
    // the 10th value ends the first bin
    expect(upperOf(cuts[0]!)).toBeGreaterThanOrEqual(1.1 ** 9);
    expect(upperOf(cuts[0]!)).toBeLessThan(1.1 ** 10);
    const cur = sketchOf([...spread(50), ...spread(50)]); // the lower half, twice
    expect(countInto(cur, cuts)).toEqual([20, 20, 20, 20, 20, 0, 0, 0, 0, 0]);
  });

  it("makes fewer bins, never empty ones, when one value holds more than a bin's share", () => {
    const ref = sketchOf([...new Array(50).fill(0), ...spread(50)]);
    const cuts = quantileCuts(ref, 10);
    expect(countInto(ref, cuts)).toEqual([50, 10, 10, 10, 10, 10]);
  });

  it("gives quantiles within 1% of the value", () => {
    const s = sketchOf(Array.from({ length: 10_000 }, (_, i) => i + 1));
    for (const q of [0.01, 0.25, 0.5, 0.9, 0.99]) expect(Math.abs(quantile(s, q)! / (q * 10_000) - 1)).toBeLessThan(0.011);
  });
});

describe("PSI", () => {
  it("0.25 ln 3 for shares (0.5, 0.5) -> (0.25, 0.75)", () => {
    const v = psi([
      { label: "a", reference: 50, current: 25 },
      { label: "b", reference: 50, current: 75 },
    ]);
    expect(v).toBeCloseTo(0.25 * Math.log(3), 12); // 0.274653
    expect(v).toBeCloseTo(0.274653, 6);
  });

  it("0 for the same shares whatever the row counts", () => {
    expect(
      psi([
        { label: "a", reference: 10, current: 1000 },
        { label: "b", reference: 30, current: 3000 },
      ]),
    ).toBe(0);
  });

  it("an empty bin counts as a share of 0.0001", () => {
    // shares (1, 0) -> (0.9, 0.1): (0.9 - 1) ln 0.9 + (0.1 - 0.0001) ln(0.1 / 0.0001)
    const v = psi([
      { label: "a", reference: 100, current: 90 },
      { label: "b", reference: 0, current: 10 },
    ]);
    expect(v).toBeCloseTo(-0.1 * Math.log(0.9) + 0.0999 * Math.log(1000), 12); // 0.700621
    expect(v).toBeCloseTo(0.700621, 6);
  });

  it("numeric: 10 reference quantile bins; half the bins emptied gives 0.5 ln 2 + 5 (0.1 - 0.0001) ln 1000", () => {
    const bins = numericBins(sketchOf(spread(100)), sketchOf([...spread(50), ...spread(50)]));
    expect(bins.map((b) => b.reference)).toEqual(new Array(10).fill(10));
    expect(bins.map((b) => b.current)).toEqual([20, 20, 20, 20, 20, 0, 0, 0, 0, 0]);
    expect(bins[9]!.upper).toBeNull();
    expect(psi(bins)).toBeCloseTo(0.5 * Math.log(2) + 5 * 0.0999 * Math.log(1000), 10); // 3.796997
  });

  it("numeric: a missing bin when either run has missing values", () => {
    const ref = sketchOf([...spread(10), NaN]);
    const cur = sketchOf(spread(10));
    const bins = numericBins(ref, cur);
    expect(bins.at(-1)).toMatchObject({ label: "(missing)", reference: 1, current: 0 });
  });

  it("category: the reference's top values then other; shares (.5 .3 .2) -> (.2 .3 .5) gives 0.6 ln 2.5", () => {
    const ref = new Counter();
    ref.add("a", 50);
    ref.add("b", 30);
    ref.add("c", 12);
    ref.add("d", 8);
    const cur = new Counter();
    cur.add("a", 20);
    cur.add("b", 30);
    cur.add("e", 50);
    const bins = categoryBins(ref, cur, 2);
    expect(bins).toEqual([
      { label: "a", reference: 50, current: 20 },
      { label: "b", reference: 30, current: 30 },
      { label: "(other)", reference: 20, current: 50 },
    ]);
    expect(psi(bins)).toBeCloseTo(0.6 * Math.log(2.5), 12); // 0.549774
  });
});

describe("counter", () => {
  it("is exact up to its capacity, then bounded, keeping the frequent values on top", () => {
    const c = new Counter(100);
    for (let i = 0; i < 5000; i++) {
      c.add(`v${i}`);
      if (i % 3 === 0) c.add("hot");
    }
    expect(c.count).toBe(5000 + 1667);
    expect(c.distinct).toBeLessThanOrEqual(101);
    expect(c.approximate).toBe(true);
    expect(c.top(1)[0]![0]).toBe("hot");
    const exact = new Counter(100);
    exact.add("x", 3);
    exact.add("y");
    expect(exact.toJSON()).toEqual({
      count: 4,
      missing: 0,
      distinct: 2,
      approximate: false,
      top: [
        ["x", 3],
        ["y", 1],
      ],
    });
    expect(Counter.fromJSON(exact.toJSON()).toJSON()).toEqual(exact.toJSON());
  });
});

describe("vocabulary and the observer", () => {
  const vocab = vocabularyOf(artifact);

  it("reads each input's known values and the PU_DO combinations from the feature names", () => {
    expect(vocab.inputs.get("PULocationID")!.has("130")).toBe(true);
    expect(vocab.inputs.get("DOLocationID")!.has("205")).toBe(true);
    expect(vocab.inputs.has("trip_distance")).toBe(false);
    const t = vocab.templates[0]!;
    expect(t.name).toBe("PU_DO");
    expect(t.inputs).toEqual(["PULocationID", "DOLocationID"]);
    expect(t.build(["100", "168"])).toBe("100_168");
    expect(t.known.has("100_168")).toBe(true);
    expect(t.known.size).toBe(artifact.features.vectorizer.feature_names.length - 1); // all but trip_distance
  });

  it("counts the kept rows only: values, missing, unseen values and combinations, predictions, durations", () => {
    const stats = new RunStats({
      inputs: artifact.inputs,
      vocabulary: vocab,
      predictionColumn: "predicted_duration",
      duration: true,
      threshold: 0.2,
    });
    const min = 60_000;
    // rows 0..4; row 3 was rejected (not kept). PU from a dictionary column (as Parquet gives), DO plain strings.
    stats.observe({
      keep: Int32Array.from([0, 1, 2, 4]),
      k: 4,
      inputs: {
        PULocationID: { dictionary: ["100", "99999", "130.0"], indices: Int32Array.from([0, 1, 2, 0, -1]) },
        DOLocationID: ["168", "168", "205", "x", "1"],
        trip_distance: Float64Array.from([1, 2, NaN, 4, 5]),
      },
      predictions: Float64Array.from([10, 20, 30, 40, 50]),
      pickupMs: Float64Array.from([0, 0, 0, 0, 0]),
      dropoffMs: Float64Array.from([12 * min, 20 * min, 25 * min, 0, 45 * min]),
      rejected: [["trip_distance", "expected a number"]],
    });
    const s = stats.summary();
    const pu = s.inputs.PULocationID!;
    expect(pu).toMatchObject({
      kind: "category",
      count: 3,
      missing: 1,
      unseen: 1,
      top: [
        ["100", 1],
        ["130", 1],
        ["99999", 1],
      ],
    });
    expect(s.inputs.DOLocationID).toMatchObject({
      count: 4,
      missing: 0,
      top: [
        ["168", 2],
        ["1", 1],
        ["205", 1],
      ],
    });
    expect(s.inputs.trip_distance).toMatchObject({ kind: "number", count: 3, missing: 1, mean: 8 / 3, min: 1, max: 5 });
    // combinations with both parts: 100_168 (known), 99999_168 (not), 130_205 (known?)
    expect(s.combinations.PU_DO!.count).toBe(3);
    expect(s.combinations.PU_DO!.unseen).toBe(1 + (vocab.templates[0]!.known.has("130_205") ? 0 : 1));
    expect(s.prediction).toMatchObject({ column: "predicted_duration", count: 4, mean: 27.5, min: 10, max: 50 });
    expect(s.actual_duration).toMatchObject({ count: 4, mean: 25.5, min: 12, max: 45 });
    expect(s.error).toMatchObject({ count: 4, mean: -2, min: -5, max: 2 }); // 2, 0, -5, -5
    expect(s.reject_reasons).toEqual([{ field: "trip_distance", reason: "expected a number", rows: 1 }]);
    expect(s.reference).toBeNull();
  });

  it("renders a report with no address outside itself", () => {
    const stats = new RunStats({ inputs: artifact.inputs, vocabulary: vocab, predictionColumn: "predicted_duration", duration: true, threshold: 0.2 });
    stats.observe({
      keep: Int32Array.from([0, 1]),
      k: 2,
      inputs: { PULocationID: ["1", "2"], DOLocationID: ["3", "4"], trip_distance: [1.5, "2.5"] },
      predictions: Float64Array.from([5, 6]),
      rejected: [],
    });
    const drift = stats.summary();
    const html = renderReport({
      summary: {
        input: "in.csv",
        output: "out.csv",
        model: { name: "m", version: "1" },
        rows_read: 2,
        scored: 2,
        filtered: 0,
        rejected: 0,
        rows_written: 2,
        rejected_by_field: {},
        predictions: null,
        drift,
        seconds: 1,
        rows_per_second: 2,
      },
      drift,
      generated: "2026-01-01T00:00:00Z",
    });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/https?:|<link|@import|url\(|src=/i);
    expect(html).toContain('<section id="inputs">');
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4); // predictions + three inputs
  });

  it("places round axis ticks", () => {
    expect(niceTicks(2.08, 50.45)).toEqual([10, 20, 30, 40, 50]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});
