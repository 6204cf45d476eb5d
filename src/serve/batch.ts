// Request payloads of every wire format, turned into the predictor's columnar batch. The predictor then
// judges each value (InputError field/reason); this module only checks the payload's shape.
import type { BatchResult, Columns, Predictor } from "../runtime/predictor.js";
import { badRequest, type ErrorDetail } from "./errors.js";

export interface Batch {
  columns: Columns;
  n: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Rows as objects keyed by input name (the course's array, MLflow dataframe_records/instances). */
export function fromRecords(predictor: Predictor, records: unknown[], where: string): Batch {
  const bad: ErrorDetail[] = [];
  records.forEach((r, row) => {
    if (!isObject(r)) bad.push({ row, field: "$", reason: `${where}[${row}] must be a JSON object keyed by input name` });
  });
  if (bad.length) throw badRequest(`${bad.length} of ${records.length} rows are not objects`, bad);
  const columns: Columns = {};
  for (const inp of predictor.inputs) columns[inp.name] = records.map((r) => (r as Record<string, unknown>)[inp.name]);
  return { columns, n: records.length };
}

/** pandas' split orient: {"columns": [...], "data": [[...], ...]} (MLflow dataframe_split). */
export function fromSplit(predictor: Predictor, split: { columns: string[]; data: unknown[][] }, where: string): Batch {
  const { columns: names, data } = split;
  const width = names.length;
  const bad: ErrorDetail[] = [];
  data.forEach((r, row) => {
    if (r.length !== width) bad.push({ row, field: `${where}.data[${row}]`, reason: `has ${r.length} values but ${where}.columns names ${width}` });
  });
  if (bad.length) throw badRequest(`${bad.length} of ${data.length} rows do not match the columns`, bad);
  const index = new Map(names.map((c, j) => [c, j]));
  requireColumns(predictor, index, `${where}.columns`);
  const columns: Columns = {};
  for (const inp of predictor.inputs) {
    const j = index.get(inp.name);
    if (j !== undefined) columns[inp.name] = data.map((r) => r[j]);
  }
  return { columns, n: data.length };
}

/** Named columns of equal length: {"PULocationID": [...], ...} (MLflow inputs/instances, V2 tensors). */
export function fromColumns(predictor: Predictor, cols: Record<string, unknown>, where: string): Batch {
  const bad: ErrorDetail[] = [];
  let n = -1;
  const columns: Columns = {};
  for (const [name, v] of Object.entries(cols)) {
    if (!Array.isArray(v)) {
      bad.push({ field: `${where}.${name}`, reason: "must be an array of values, one per row" });
      continue;
    }
    if (n < 0) n = v.length;
    else if (v.length !== n) bad.push({ field: `${where}.${name}`, reason: `has ${v.length} values but the columns before it have ${n}` });
    columns[name] = v;
  }
  if (bad.length) throw badRequest("columns are not arrays of one length", bad);
  requireColumns(predictor, new Set(Object.keys(columns)), where);
  return { columns, n: Math.max(n, 0) };
}

/** Rows as arrays of values in the model's input order (MLflow instances/inputs as a 2-D list). */
export function fromPositional(predictor: Predictor, rows: unknown[], where: string): Batch {
  const names = predictor.inputs.map((i) => i.name);
  const bad: ErrorDetail[] = [];
  rows.forEach((r, row) => {
    if (!Array.isArray(r) || r.length !== names.length) {
      bad.push({ row, field: `${where}[${row}]`, reason: `must be an array of ${names.length} values in input order (${names.join(", ")})` });
    }
  });
  if (bad.length) throw badRequest(`${bad.length} of ${rows.length} rows have the wrong shape`, bad);
  const columns: Columns = {};
  names.forEach((name, j) => {
    columns[name] = rows.map((r) => (r as unknown[])[j]);
  });
  return { columns, n: rows.length };
}

/** A required input without a default must have a column: one clear error instead of one per row. */
function requireColumns(predictor: Predictor, have: { has(name: string): boolean }, where: string): void {
  const missing = predictor.inputs.filter((i) => i.required && i.default === undefined && !have.has(i.name));
  if (missing.length) {
    throw badRequest(
      `missing input column${missing.length > 1 ? "s" : ""}`,
      missing.map((i) => ({ field: i.name, reason: `is required but ${where} has no such column` })),
    );
  }
}

/** Score a batch; any rejected row fails the request with every row's field and reason. */
export function scoreBatch(predictor: Predictor, batch: Batch): Float64Array {
  return scoreRows(predictor, batch).predictions;
}

/** scoreBatch, with a classifier's probabilities. */
export function scoreRows(predictor: Predictor, batch: Batch): BatchResult {
  const result = predictor.predictColumns(batch.columns, batch.n);
  const { errors } = result;
  if (errors.length) {
    throw badRequest(
      `${errors.length} of ${batch.n} rows rejected`,
      errors.map((e) => ({ row: e.row, field: e.field, reason: e.reason })),
    );
  }
  return result;
}
