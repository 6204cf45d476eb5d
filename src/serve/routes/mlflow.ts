// MLflow's scoring protocol (what `mlflow models serve` answers): POST /invocations with one of
// dataframe_split, dataframe_records, instances, inputs (JSON) or a CSV with a header; GET /ping, /health, /version.
import { parse } from "csv-parse/sync";
import { mlflowPredictions, outputsOf } from "../../runtime/outputs.js";
import type { Predictor } from "../../runtime/predictor.js";
import { VERSION } from "../../version.js";
import { fromColumns, fromPositional, fromRecords, fromSplit, scoreBatch, type Batch } from "../batch.js";
import { badRequest } from "../errors.js";
import { MlflowBody } from "../schemas.js";
import { ready, type App, type ServeContext } from "./context.js";

const KEYS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;

export function mlflowRoutes(app: App, ctx: ServeContext): void {
  const { state, metrics } = ctx;
  // CSV is accepted here only: elsewhere text/csv is a 415.
  app.addContentTypeParser("text/csv", { parseAs: "string" }, (_req, body, done) => done(null, { csv: body as string }));

  app.post("/invocations", { schema: { body: MlflowBody } }, async (req) => {
    const m = ready(state);
    const body = req.body as MlflowBody & { csv?: string };
    const batch = body.csv !== undefined ? fromCsv(m.predictor, body.csv, ctx.maxRecordBytes) : fromJson(m.predictor, body);
    const y = scoreBatch(m.predictor, batch);
    const o = outputsOf(m.artifact);
    metrics.predictions(y, o.classes && o.classNames);
    return { predictions: mlflowPredictions(o, y) };
  });

  const health = (path: string) =>
    app.get(path, async (_req, reply) => {
      const m = state.current;
      return reply
        .code(m ? 200 : 503)
        .send(m ? { status: "ok", model: m.artifact.name, version: m.artifact.version } : { status: "loading", model: null, version: null });
    });
  health("/ping");
  health("/health");
  app.get("/version", async (_req, reply) => reply.type("text/plain; charset=utf-8").send(VERSION));
}

function fromJson(p: Predictor, body: MlflowBody): Batch {
  const given = KEYS.filter((k) => body[k] !== undefined);
  if (given.length !== 1) {
    const other = Object.keys(body).filter((k) => k !== "params");
    throw badRequest(`the body must hold exactly one of ${KEYS.join(", ")}`, [
      { field: "body", reason: given.length ? `got ${given.join(" and ")}` : `got ${other.length ? other.join(", ") : "none"} (MLflow 2 request format)` },
    ]);
  }
  const key = given[0]!;
  if (key === "dataframe_split") return fromSplit(p, body.dataframe_split!, key);
  if (key === "dataframe_records") return fromRecords(p, body.dataframe_records!, key);
  const v = body[key];
  // instances/inputs: named columns {"a": [...]}, rows as objects [{...}], or rows as arrays in input order [[...]].
  if (Array.isArray(v)) {
    if (v.length && v.every((r) => Array.isArray(r))) return fromPositional(p, v, key);
    return fromRecords(p, v, key);
  }
  if (typeof v === "object" && v !== null) {
    const cols = v as Record<string, unknown>;
    // {"PULocationID": 10, ...}: one row given by scalars
    if (Object.values(cols).every((c) => !Array.isArray(c))) return fromRecords(p, [cols], key);
    return fromColumns(p, cols, key);
  }
  throw badRequest(`${key} must be named columns, or an array of rows`, [{ field: key, reason: `got ${v === null ? "null" : typeof v}` }]);
}

function fromCsv(p: Predictor, text: string, maxRecordBytes: number): Batch {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true, max_record_size: maxRecordBytes });
  } catch (e) {
    const err = e as Error & { code?: string; records?: number };
    if (err.code === "CSV_MAX_RECORD_SIZE")
      throw badRequest("malformed CSV", [{ field: "body", row: err.records ?? 0, reason: `is longer than --max-record-bytes (${maxRecordBytes})` }]);
    throw badRequest("malformed CSV", [{ field: "body", reason: err.message }]);
  }
  if (!records.length) throw badRequest("the CSV holds no rows", [{ field: "body", reason: "expected a header line and at least one row" }]);
  const names = new Set(Object.keys(records[0]!));
  const missing = p.inputs.filter((i) => i.required && i.default === undefined && !names.has(i.name));
  if (missing.length)
    throw badRequest(
      "missing input columns",
      missing.map((i) => ({ field: i.name, reason: "is required but the CSV header has no such column" })),
    );
  return fromRecords(p, records, "csv");
}
