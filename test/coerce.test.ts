// The one coercion rule every transport shares (src/runtime/coerce.ts): a category given as a number or
// as a string in integral form (^[+-]?\d+(\.0+)?$) is that integer's category; any other string is kept.
import { describe, expect, it } from "vitest";
import { coerceCategory } from "../src/runtime/coerce.js";

describe("coerceCategory", () => {
  it("reads numbers and integral text as the integer's category", () => {
    const cases: [unknown, string][] = [
      [130, "130"],
      [130.0, "130"],
      ["130", "130"],
      ["130.0", "130"],
      ["130.000", "130"],
      ["+130", "130"],
      ["0130", "130"],
      ["-7", "-7"],
      ["-7.0", "-7"],
      ["-007.00", "-7"],
      ["0", "0"],
      ["-0", "0"],
      ["+0.0", "0"],
      [-0, "0"],
      [4095, "4095"],
      ["4096.0", "4096"],
      [-130, "-130"],
      [123456789, "123456789"],
      ["12345678901234567890123", "12345678901234567890123"], // digits kept exactly, beyond 2^53
      [1e21, "1000000000000000000000"],
      [130n, "130"],
      [12345678901234567890n, "12345678901234567890"],
    ];
    for (const [v, want] of cases) expect([v, coerceCategory("x", v)]).toStrictEqual([v, want]);
  });

  it("keeps any other string as written", () => {
    for (const s of ["130.", ".0", "130.5", "130.01", "1e2", " 130", "130 ", "abc", "N", "+", "-", "1_2", "0x10", "130.0.0", "١٣٠"]) {
      expect(coerceCategory("x", s)).toBe(s);
    }
  });

  it("writes a non-integral number as Python's repr, and refuses what is not a category", () => {
    expect(coerceCategory("x", 1.5)).toBe("1.5");
    expect(coerceCategory("x", 1e-7)).toBe("1e-07");
    expect(() => coerceCategory("PULocationID", NaN)).toThrow(/PULocationID: expected a category/);
    expect(() => coerceCategory("PULocationID", {})).toThrow(/got an object/);
    expect(() => coerceCategory("PULocationID", true)).toThrow(/got boolean true/);
  });
});
