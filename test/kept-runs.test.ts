// score's kept-row copies: the stretches found once per batch give every column the rows a plain gather gives;
// and the summary's statistics of a batch that kept every row match the indexed pass bit for bit.
import { describe, expect, it } from "vitest";
import { copyKept, keptRuns } from "../src/batch/kept-runs.js";
import { addStats, newStats } from "../src/batch/stats.js";

let seed = 11;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;

describe("keptRuns + copyKept", () => {
  it("copy the kept rows of float and int columns as a row-by-row gather does, for every shape of filtering", () => {
    const n = 2000;
    const f = Float64Array.from({ length: n }, (_, i) => i + rnd());
    const ints = Int32Array.from({ length: n }, (_, i) => i * 7 - 5000);
    const shapes: ((r: number) => boolean)[] = [
      () => true, // all kept: one stretch, copied whole
      () => false,
      () => rnd() > 0.01, // real months: ~1% filtered
      () => rnd() > 0.5,
      (r) => r % 16 !== 15, // stretches of 15, 16, 17 around the short-stretch limit
      (r) => r % 17 !== 16,
      (r) => r % 18 !== 17,
      (r) => r === 0 || r === n - 1,
    ];
    for (const [s, kept] of shapes.entries()) {
      const keep = new Int32Array(n);
      let k = 0;
      for (let r = 0; r < n; r++) if (kept(r)) keep[k++] = r;
      const runs = new Int32Array(2 * n);
      const count = keptRuns(keep, k, runs);
      let total = 0;
      for (let t = 0; t < count; t++) total += runs[2 * t + 1]!;
      expect(total, `shape ${s}`).toBe(k);
      const want = Array.from(keep.subarray(0, k));
      expect(Array.from(copyKept(f, runs, count, new Float64Array(k))), `shape ${s}`).toEqual(want.map((r) => f[r]));
      expect(Array.from(copyKept(ints, runs, count, new Int32Array(k))), `shape ${s}`).toEqual(want.map((r) => ints[r]));
    }
  });
});

describe("addStats", () => {
  it("gives the same bits for every row kept (0..k-1, read directly) as through an index", () => {
    const k = 3000;
    const values = Float64Array.from({ length: k }, () => (rnd() - 0.3) * 60);
    const all = newStats();
    const viaIndex = newStats();
    // Twice: the second batch merges into the first's running numbers.
    for (let round = 0; round < 2; round++) {
      addStats(
        all,
        values,
        Int32Array.from({ length: k }, (_, i) => i),
        k,
      );
      // the same values at rows 1..k of a longer column: the indexed pass, same order
      addStats(
        viaIndex,
        Float64Array.from([NaN, ...values]),
        Int32Array.from({ length: k }, (_, i) => i + 1),
        k,
      );
    }
    expect(all).toEqual(viaIndex);
    expect(Object.is(all.m2, viaIndex.m2) && Object.is(all.mean, viaIndex.mean)).toBe(true);
  });

  it("min and max as plain comparisons give them: NaN skipped, the first of +0 and -0 kept, infinities", () => {
    /** The reference: `<` and `>` value by value, from the running min and max. */
    const plain = (xs: number[], min = Infinity, max = -Infinity) => {
      for (const x of xs) {
        if (x < min) min = x;
        if (x > max) max = x;
      }
      return { min, max };
    };
    const cases: number[][] = [
      [3, 1, 2],
      [0, -0, 5],
      [-0, 0, -5],
      [-0, 0],
      [0, -0],
      [1, NaN, -1],
      [NaN, NaN],
      [Infinity, -Infinity, 0],
      [-Infinity, 2, Infinity],
      [NaN, -0, 0, 7],
    ];
    for (const xs of cases) {
      for (const indexed of [false, true]) {
        const s = newStats();
        // two batches: the second starts from the first's min and max
        const half = Math.ceil(xs.length / 2);
        for (const part of [xs.slice(0, half), xs.slice(half)]) {
          const values = Float64Array.from(indexed ? [99, ...part] : part);
          const idx = Int32Array.from(part, (_, i) => (indexed ? i + 1 : i));
          addStats(s, values, idx, part.length);
        }
        const want = plain(xs);
        expect(Object.is(s.min, want.min) && Object.is(s.max, want.max), `${xs.join(",")} ${indexed ? "indexed" : "direct"}: ${s.min} ${s.max}`).toBe(true);
      }
    }
  });
});
