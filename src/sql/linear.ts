// A linear model over a DictVectorizer vocabulary: the category coefficients go into a lookup table
// (field, value, coef) filled by multi-row INSERTs, joined once per category field; numeric fields'
// coefficients are literals. The sum is written in the predictor's order of float64 operations
// (0, + each field's term in field order, + intercept), so engines that keep the order agree bit for bit.
import type { LinearEstimator, ModelArtifact } from "../artifact/types.js";
import type { Dialect, WeightRow } from "./dialects.js";
import { categoryVocabularies, fieldOf } from "./features.js";

export interface LinearSql {
  /** Statements that create and fill the weights table. */
  setup: string[];
  /** FROM-clause joins, one per category field. */
  joins: string[];
  /** The prediction (float64) over the fields layer aliased `f` and the joins. */
  prediction: string;
  weightRows: number;
}

export function linearSql(d: Dialect, a: ModelArtifact, est: LinearEstimator, weightsTable: string): LinearSql {
  const vocabs = categoryVocabularies(a);
  const rows: WeightRow[] = [];
  let maxLen = 1;
  vocabs.forEach((vocab, k) => {
    if (!vocab) return;
    for (const [value, col] of vocab) {
      const c = est.coef[col]!;
      // A zero coefficient adds +0, which changes no sum: the row would only make the table bigger.
      if (c === 0) continue;
      rows.push([k, value, c]);
      maxLen = Math.max(maxLen, value.length);
    }
  });
  const drop = d.dropTable(weightsTable);
  const setup = [
    ...(drop ? [drop] : []),
    d.createTable(
      weightsTable,
      `field ${d.intType} NOT NULL, value ${d.categoryType(maxLen)} NOT NULL, coef ${d.doubleType} NOT NULL${d.primaryKey ? ", PRIMARY KEY (field, value)" : ""}`,
    ),
  ];
  const bulk = rows.length ? d.bulkInsert?.(weightsTable, rows) : undefined;
  if (bulk) setup.push(bulk);
  else
    for (let i = 0; i < rows.length; i += d.insertRows) {
      const values = rows.slice(i, i + d.insertRows).map(([k, v, c]) => `(${k}, ${d.str(v)}, ${d.num(c)})`);
      setup.push(`INSERT INTO ${d.ident(weightsTable)} (field, value, coef) VALUES\n${values.join(",\n")}`);
    }

  const names = a.features.vectorizer.feature_names;
  const joins: string[] = [];
  let acc = d.num(0);
  a.features.fields.forEach((f, k) => {
    const field = `f.${fieldOf(k)}`;
    if (f.kind === "category") {
      const w = `w${k}`;
      joins.push(`LEFT JOIN ${d.ident(weightsTable)} ${w} ON ${w}.field = ${k} AND ${w}.value = ${field}`);
      acc = `(${acc} + COALESCE(${w}.coef, ${d.num(0)}))`;
      return;
    }
    const col = names.indexOf(f.name);
    // A numeric field outside the vocabulary sets no column; an absent value sets none either.
    if (col >= 0) acc = `(${acc} + COALESCE(${product(d, field, est.coef[col]!)}, ${d.num(0)}))`;
  });
  return { setup, joins, prediction: `(${acc} + ${d.num(est.intercept as number)})`, weightRows: rows.length };
}

/**
 * x * c in float64. PostgreSQL raises "value out of range: underflow" where the product rounds to 0 from
 * non-zero factors; there the product is written as 0 for |x| up to the largest float64 whose product with
 * c rounds to 0 (found with JavaScript's own multiplication, which rounds as the engines do).
 */
function product(d: Dialect, x: string, c: number): string {
  const plain = `${x} * ${d.num(c)}`;
  if (!d.underflowError || c === 0 || !Number.isFinite(c)) return plain;
  const a = Math.abs(c);
  let limit = 2 ** -1075 / a; // near the largest |x| with |x| * a rounding to 0
  if (!Number.isFinite(limit)) return plain; // |c| so small that every finite x underflows: not met in real models
  while (limit * a !== 0) limit = nextDown(limit);
  while (nextUp(limit) * a === 0) limit = nextUp(limit);
  return `CASE WHEN abs(${x}) <= ${d.num(limit)} THEN ${d.num(0)} ELSE ${plain} END`;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
/** The next float64 above x (x >= 0, finite). */
function nextUp(x: number): number {
  f64[0] = x;
  u64[0] = u64[0]! + 1n;
  return f64[0]!;
}
/** The next float64 below x (x > 0). */
function nextDown(x: number): number {
  f64[0] = x;
  u64[0] = u64[0]! - 1n;
  return f64[0]!;
}
