// float32Below (src/runtime/float32.ts): the one "largest float32 below t" step. The predictor turns
// XGBoost's x < split into x <= float32Below(split) for any split; the SQL exporter calls it on float32
// values (XGBoost thresholds, float32Bound's rounding). Both callers get, at every boundary, the value
// their own copies gave before they were merged.
import { describe, expect, it } from "vitest";
import { float32Below } from "../src/runtime/float32.js";
import { float32Bound } from "../src/sql/trees.js";

const F32_MAX = 3.4028234663852886e38;
const MIN_SUB = 2 ** -149; // the smallest positive float32 (subnormal)
const MIN_NORMAL = 2 ** -126;

describe("float32Below", () => {
  it("steps one float32 down from a float32 value: zeros, subnormals, normals, the largest, the infinities", () => {
    const cases: [number, number][] = [
      [0, -MIN_SUB],
      [-0, -MIN_SUB],
      [MIN_SUB, 0],
      [-MIN_SUB, -2 * MIN_SUB],
      [2 * MIN_SUB, MIN_SUB],
      [MIN_NORMAL, MIN_NORMAL - MIN_SUB], // the largest subnormal
      [MIN_NORMAL - MIN_SUB, MIN_NORMAL - 2 * MIN_SUB],
      [-(MIN_NORMAL - MIN_SUB), -MIN_NORMAL],
      [1, 1 - 2 ** -24],
      [-1, -(1 + 2 ** -23)],
      [2, 2 - 2 ** -23],
      [Math.fround(0.1), 0.09999999403953552],
      [F32_MAX, F32_MAX - 2 ** 104],
      [-F32_MAX, -Infinity],
      [Infinity, F32_MAX],
    ];
    for (const [t, want] of cases) expect(Object.is(float32Below(t), want), `float32Below(${t}) = ${float32Below(t)}, want ${want}`).toBe(true);
    expect(Object.is(float32Below(MIN_SUB), 0)).toBe(true); // +0, not -0
  });

  it("NaN where nothing lies below: -Infinity and NaN", () => {
    expect(float32Below(-Infinity)).toBeNaN();
    expect(float32Below(Number.NaN)).toBeNaN();
  });

  it("a float64 that is not a float32 value: the largest float32 below it, which may be its own rounding", () => {
    const cases: [number, number][] = [
      [1 + 2 ** -40, 1], // rounds down to 1: 1 is below it
      [1 - 2 ** -40, 1 - 2 ** -24], // rounds up to 1: the float32 before 1
      [0.1, 0.09999999403953552], // float32(0.1) is above 0.1
      [1 / 3, 0.3333333134651184],
      [1e-50, 0], // rounds to +0, which is below it
      [-1e-50, -MIN_SUB], // rounds to -0, which is not
      [3.4028235e38, F32_MAX], // rounds to the largest float32, just below it
      [1e39, F32_MAX], // beyond the largest float32 (rounds to infinity)
      [-1e39, -Infinity], // rounds to -Infinity, which is below it
    ];
    for (const [t, want] of cases) expect(Object.is(float32Below(t), want), `float32Below(${t}) = ${float32Below(t)}, want ${want}`).toBe(true);
  });

  it("on every float32 value it is one step of the bit pattern, as the SQL exporter's copy was", () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let seed = 99;
    const wrong: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      u[0] = seed;
      const t = f[0]!;
      if (t !== t || t === -Infinity || t === 0) continue; // NaN patterns; -Infinity and zeros are above
      const bits = u[0]!;
      u[0] = t > 0 ? bits - 1 : bits + 1;
      if (!Object.is(float32Below(t), f[0]!)) wrong.push(`${t}: ${float32Below(t)}, want ${f[0]}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it("the SQL exporter's bounds are the ones its own copy gave: float32Bound(t) and, for XGBoost, float32Bound(float32Below(t))", () => {
    // [t (a float32 value), float32Bound(t), float32Bound(below t)], as computed before the merge.
    const cases: [number, number, number][] = [
      [0, 7.006492321624085e-46, -7.006492321624087e-46],
      [-0, 7.006492321624085e-46, -7.006492321624087e-46],
      [MIN_SUB, 2.1019476964872253e-45, 7.006492321624085e-46],
      [-MIN_SUB, -7.006492321624087e-46, -2.1019476964872256e-45],
      [MIN_NORMAL, 1.1754944208872107e-38, 1.1754942807573642e-38],
      [-(MIN_NORMAL - MIN_SUB), -1.175494140627518e-38, -1.1754942807573643e-38],
      [1, 1.0000000596046448, 0.9999999701976775],
      [-1, -0.9999999701976776, -1.000000059604645],
      [Math.fround(0.1), 0.1000000052154064, 0.09999999776482582],
      [F32_MAX, 3.4028235677973362e38, 3.4028233649732406e38],
      [-F32_MAX, -3.402823364973241e38, -3.4028235677973366e38],
    ];
    for (const [t, bound, boundBelow] of cases) {
      expect(Object.is(float32Bound(t), bound), `float32Bound(${t}) = ${float32Bound(t)}`).toBe(true);
      expect(Object.is(float32Bound(float32Below(t)), boundBelow), `float32Bound(float32Below(${t}))`).toBe(true);
    }
    // Non-float32 thresholds (scikit-learn's float64 ones) take the step inside float32Bound.
    expect(float32Bound(0.1)).toBe(0.09999999776482582);
    expect(float32Bound(1e-50)).toBe(7.006492321624085e-46);
    expect(float32Bound(-1e-50)).toBe(-7.006492321624087e-46);
    expect(float32Bound(-Infinity)).toBe(-3.4028235677973366e38);
  });
});
