// The runtime's input rules (src/runtime/coerce.ts and the predictor's missing-value handling) in SQL:
// each source column's value becomes what the predictor would see, or the row gets the reject reason
// the predictor would give. Column types are not known when the script is written, so every expression
// works on the column's text form (what CAST(... AS text) gives), which is the same for 130, 130.0 and
// '130.0', exactly the inputs the category rule equates.
import type { InputSpec } from "../artifact/types.js";
import { coerceCategory, coerceNumber } from "../runtime/coerce.js";
import type { Dialect } from "./dialects.js";

/** The source column of each model input, and of the ride id. */
export interface SourceColumns {
  rideId: string;
  input: Record<string, string>;
}

/** Column aliases inside the generated query: r<i> raw value, i<i> the coerced input. */
export const rawOf = (i: number) => `r${i}`;
/**
 * Input i's text form, written out where it is used rather than computed once in a layer: an engine then
 * converts a number to text only where a branch needs it (DuckDB spends most of a query on that otherwise).
 */
const textOf = (d: Dialect, i: number) => d.text(rawOf(i));
export const inputOf = (i: number) => `i${i}`;

/** First layer: the id and each input's raw value, straight from the source. */
export function sourceSelect(d: Dialect, inputs: readonly InputSpec[], cols: SourceColumns): string[] {
  return [`${d.ident(cols.rideId)} AS ride_id`, ...inputs.map((inp, i) => `${d.ident(cols.input[inp.name] ?? inp.name)} AS ${rawOf(i)}`)];
}

/** Second layer: each input coerced (NULL where absent) and the row's reject reason (NULL when it scores). */
export function coercedSelect(d: Dialect, inputs: readonly InputSpec[]): string[] {
  const out = ["ride_id"];
  const reasons: string[] = [];
  inputs.forEach((inp, i) => {
    const c = inp.type === "category" ? category(d, inp, i) : number(d, inp, i);
    out.push(`${c.value} AS ${inputOf(i)}`);
    reasons.push(...c.reasons);
  });
  // The predictor reads inputs in order and reports a row's first bad one: so does this CASE.
  out.push(reasons.length ? `CASE ${reasons.join(" ")} END AS reject_reason` : `CAST(NULL AS ${d.textType}) AS reject_reason`);
  return out;
}

interface Coerced {
  value: string;
  /** WHEN ... THEN '<input>: <reason>' branches, in the order the predictor checks them. */
  reasons: string[];
}

/** null, '' and a float column's NaN are missing (isMissing), as pandas' NaN is. */
function missing(d: Dialect, i: number): string {
  const raw = rawOf(i);
  const t = textOf(d, i);
  const empty = d.emptyText ? d.emptyText(raw, t) : `${t} = ''`;
  const nan = d.floatNaN ? ` OR ${d.floatNaN(raw, t)}` : "";
  return `(${raw} IS NULL OR ${empty}${nan})`;
}

function category(d: Dialect, inp: InputSpec, i: number): Coerced {
  const t = textOf(d, i);
  const absent = inp.default !== undefined ? d.str(coerceCategory(inp.name, inp.default)) : "NULL";
  const reasons: string[] = [];
  if (inp.default === undefined && inp.required) reasons.push(`WHEN ${missing(d, i)} THEN ${d.str(`${inp.name}: is required but missing`)}`);
  const inf = d.floatInf?.(rawOf(i), t);
  if (inf) reasons.push(`WHEN ${inf} THEN ${d.concat([d.str(`${inp.name}: expected a category (string or integer), got `), infinityText(t)])}`);
  // One flat CASE, the common case first: engines spend most of a linear model's query here.
  const fast = d.canonicalAlready?.(rawOf(i), t);
  const { integral, canonical } = integralCategory(d, t, fast === undefined);
  const branches = [...(fast ? [`WHEN ${fast} THEN ${t}`] : []), `WHEN ${missing(d, i)} THEN ${absent}`, `WHEN ${integral} THEN ${canonical}`];
  return { value: `CASE ${branches.join(" ")} ELSE ${t} END`, reasons };
}

/**
 * coerceCategory on text: a string in integral form (`^[+-]?\d+(\.0+)?$`) is that integer in canonical
 * decimal (no '+', no leading zeros, "-0" -> "0"), anything else as written. With precheck, LIKE tests
 * skip the regular expressions for text that is canonical already (the common "130").
 */
export function integralCategory(d: Dialect, t: string, precheck: boolean): { integral: string; canonical: string } {
  const matches = d.matches(t, `^[+-]?[0-9]+([.]0+)?${d.end}`);
  const digits = d.replace(t, `^[+-]?0*([0-9]+)([.]0+)?${d.end}`, d.group1);
  const maybe = `(${t} LIKE '%.%' OR ${t} LIKE '+%' OR ${t} LIKE '-%' OR ${t} LIKE '0_%')`;
  return {
    integral: precheck ? `${maybe} AND ${matches}` : matches,
    canonical: `CASE WHEN ${t} LIKE '-%' AND ${digits} <> '0' THEN ${d.concat(["'-'", digits])} ELSE ${digits} END`,
  };
}

/** Decimal text as JS Number() reads it (spaces around allowed); hex, binary and "Infinity" are not accepted. */
export const NUMBER_PATTERN = "^ *[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)? *";

function number(d: Dialect, inp: InputSpec, i: number): Coerced {
  const t = textOf(d, i);
  const raw = rawOf(i);
  const absent = inp.default !== undefined ? d.num(coerceNumber(inp.name, inp.default)) : "NULL";
  const matched = d.matches(t, NUMBER_PATTERN + d.end);
  const text = d.numericText ? d.numericText(raw, matched) : matched;
  // A numeric column's text always matches; a text column is parsed only where it spells a number.
  const value = d.numberValue ? d.numberValue(raw, text) : `CASE WHEN ${text} THEN ${d.double(raw)} END`;
  const reasons: string[] = [];
  if (inp.default === undefined && inp.required) reasons.push(`WHEN ${missing(d, i)} THEN ${d.str(`${inp.name}: is required but missing`)}`);
  const inf = d.floatInf?.(raw, t);
  if (inf) reasons.push(`WHEN ${inf} THEN ${d.concat([d.str(`${inp.name}: expected a finite number, got `), infinityText(t)])}`);
  reasons.push(`WHEN NOT ${missing(d, i)} AND NOT ${text} THEN ${d.concat([d.str(`${inp.name}: expected a number, got "`), t, "'\"'"])}`);
  return { value: `CASE WHEN ${missing(d, i)} THEN ${absent} ELSE ${value} END`, reasons };
}

/** "Infinity" or "-Infinity", as JavaScript prints them. */
function infinityText(t: string): string {
  return `CASE WHEN ${t} LIKE '-%' THEN '-Infinity' ELSE 'Infinity' END`;
}
