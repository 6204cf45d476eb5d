// Raw values from JSON, CSV, Parquet or Redis into what DictVectorizer saw at training time.
import { InputError } from "../errors.js";

/** null, undefined, "", and NaN (pandas' missing value) all mean "not given". */
export function isMissing(v: unknown): boolean {
  return v === null || v === undefined || v === "" || (typeof v === "number" && v !== v);
}

/**
 * A category value as Python's str() would have made it from the training data: strings stay as they are,
 * integral numbers print without a decimal point (10 and 10.0 -> "10", since ids read from Parquet are
 * often DOUBLE), bigints (INT64 columns) print as integers.
 */
export function coerceCategory(field: string, v: unknown): string {
  switch (typeof v) {
    case "string":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw new InputError(field, `expected a category (string or integer), got ${v}`);
      if (Number.isInteger(v)) return v >= 0 && v < SMALL_INTS ? smallInt(v) : String(v);
      return pyFloatRepr(v);
    case "bigint":
      return v >= 0n && v < BigInt(SMALL_INTS) ? smallInt(Number(v)) : v.toString();
    default:
      throw new InputError(field, `expected a category (string or integer), got ${describe(v)}`);
  }
}

// Ids (zones, vendors) are small integers: reuse one string per value, so the hot path allocates
// nothing and Map lookups hit strings whose hash is already computed.
const SMALL_INTS = 4096;
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
