// Raw values from JSON, CSV, Parquet or Redis into what DictVectorizer saw at training time.
import { SMALL_IDS } from "../columns.js";
import { InputError } from "../errors.js";

/** null, undefined, "", and NaN (pandas' missing value) all mean "not given". */
export function isMissing(v: unknown): boolean {
  return v === null || v === undefined || v === "" || (typeof v === "number" && v !== v);
}

/**
 * A category value, by one rule for every transport (CSV, JSON, Parquet, Redis, ...): a number or a string
 * in integral form (`^[+-]?\d+(\.0+)?$`: 130, 130.0, "130", "130.0", "+130", "0130") is that integer's
 * category, "130" (ids are written by pandas as 130.0 and read from Parquet as DOUBLE, and a training
 * vocabulary holds "130"); any other string is the category as written; a non-integral number is
 * Python's repr of it (1.5 -> "1.5").
 */
export function coerceCategory(field: string, v: unknown): string {
  switch (typeof v) {
    case "string":
      return integralText(v);
    case "number":
      if (!Number.isFinite(v)) throw new InputError(field, `expected a category (string or integer), got ${v}`);
      if (Number.isInteger(v)) return v >= 0 && v < SMALL_INTS ? smallInt(v) : Math.abs(v) < 1e21 ? String(v) : BigInt(v).toString();
      return pyFloatRepr(v);
    case "bigint":
      return v >= 0n && v < BigInt(SMALL_INTS) ? smallInt(Number(v)) : v.toString();
    default:
      throw new InputError(field, `expected a category (string or integer), got ${describe(v)}`);
  }
}

/**
 * A string in integral form -> the integer it spells, in canonical decimal ("+130", "0130", "130.00" ->
 * "130"; "-0" -> "0"); any other string as it is. One pass over the characters, no allocation for a
 * string already canonical (the common "130").
 */
function integralText(s: string): string {
  const n = s.length;
  const c0 = s.charCodeAt(0);
  const start = c0 === 43 || c0 === 45 ? 1 : 0;
  let i = start;
  let c = 0;
  while (i < n && (c = s.charCodeAt(i)) >= 48 && c <= 57) i++;
  const end = i; // digits are s[start, end)
  if (end === start) return s; // "", "+", "abc"
  if (i < n) {
    if (c !== 46 || i + 1 === n) return s; // "130x", "130."
    for (i++; i < n; i++) if (s.charCodeAt(i) !== 48) return s; // "130.5"
  }
  let z = start;
  while (z < end - 1 && s.charCodeAt(z) === 48) z++; // leading zeros, keeping one digit
  const zero = end - z === 1 && s.charCodeAt(z) === 48;
  const negative = c0 === 45 && !zero;
  if (c0 !== 43 && z === start && end === n && (negative || start === 0)) return s; // already canonical: "130", "-7"
  if (!negative && end - z <= 4) {
    const v = Number(s.slice(z, end));
    if (v < SMALL_INTS) return smallInt(v);
  }
  return (negative ? "-" : "") + s.slice(z, end);
}

// Ids (zones, vendors) are small integers: reuse one string per value, so the hot path allocates
// nothing and Map lookups hit strings whose hash is already computed.
const SMALL_INTS = SMALL_IDS;
const smallIntCache: string[] = [];
function smallInt(v: number): string {
  return (smallIntCache[v] ??= String(v));
}

/** A finite number; numeric strings (CSV cells) are parsed, anything else is refused. */
export function coerceNumber(field: string, v: unknown): number {
  if (typeof v === "number") {
    if (Number.isFinite(v)) return v;
    throw new InputError(field, `expected a finite number, got ${v}`);
  }
  if (typeof v === "string") {
    const n = Number(v.trim());
    if (v.trim() !== "" && Number.isFinite(n)) return n;
    throw new InputError(field, `expected a number, got ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`);
  }
  if (typeof v === "bigint") return Number(v);
  throw new InputError(field, `expected a number, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/** Python's repr of a non-integral float, for the rare category given as e.g. 1.5. */
function pyFloatRepr(v: number): string {
  const s = String(v);
  // JS writes 1e-7 where Python writes 1e-07; both use the shortest round-trip digits.
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}
