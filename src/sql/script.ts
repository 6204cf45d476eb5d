// One SQL script for one model and one engine: helper tables (dropped and recreated first), then a view
// with ride_id, predicted_<target>, model_version and reject_reason for every row of the source.
//
// The view's query is layered: ridepred_src (the source's columns and their text), ridepred_in (inputs
// coerced, reject reason), ridepred_f (feature fields), then per tree chunk ridepred_t<n>, and the final
// SELECT. Every layer is a plain SELECT over the previous one, so each engine plans it as one scan.
import type { ModelArtifact } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import { type Dialect, type DialectName, dialect } from "./dialects.js";
import { fieldExpr, columnSources } from "./features.js";
import { coercedSelect, inputOf, type SourceColumns, sourceSelect } from "./inputs.js";
import { linearSql } from "./linear.js";
import { NODE_DIALECTS, nodesSql, nodesSupported } from "./nodes.js";
import { ensemblePrediction, treesSql } from "./trees.js";
import { xgboostPrediction, xgboostSql } from "./xgboost.js";

export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

export interface ExportOptions {
  dialect: DialectName;
  /** The source: a table or view name (schema.table allowed), or a table expression such as read_parquet('x.parquet'). */
  table: string;
  /** The view to create (default ride_predictions); helper tables are named after it. */
  view?: string;
  /** COLUMN -> INPUT (or ride_id), as --map gives it. */
  map?: Record<string, string>;
  /** More output columns, between ride_id and the prediction: model inputs (as the model saw them) or source columns (as they are). */
  columns?: string[];
  /** Refuse a view query larger than this (default 8 MiB), or than the engine's own limit. */
  maxBytes?: number;
  /** Trees as nested CASE expressions, as a node table walked by a recursive query, or (auto, the default) CASE unless it would pass the size limit. */
  trees?: "auto" | "case" | "nodes";
  /**
   * Helper tables as the session's own temporary tables, never dropped first (a run inside the database:
   * score --in-database); the script then creates no view, the caller runs `query` itself.
   */
  temporary?: boolean;
}

export interface ExportResult {
  sql: string;
  /** The view's SELECT, and the statements that create what it reads (helper tables), in order. */
  query: string;
  setup: string[];
  dialect: DialectName;
  view: string;
  helperTables: string[];
  /** Bytes of the whole script and of the CREATE VIEW statement. */
  bytes: number;
  viewBytes: number;
  statements: number;
  estimator: { kind: string; class: string; weightRows?: number; trees?: number; nodes?: number; form?: "case" | "nodes" };
}

const KNOWN_KEYS: Record<string, readonly string[]> = {
  linear: ["kind", "sklearn_class", "coef", "intercept"],
  tree_ensemble: ["kind", "sklearn_class", "aggregate", "compare", "init", "scale", "trees"],
  xgboost: ["kind", "sklearn_class", "objective", "base_margin", "absent", "tree_group", "trees"],
  tree: ["feature", "threshold", "left", "right", "value", "missing_left"],
  features: ["fields", "vectorizer"],
};

/**
 * Refuse, by name, any model this exporter does not fully understand (estimator kinds and artifact
 * fields added after it was written: boosters, scalers, classifiers), rather than export a different model.
 */
function checkSupported(a: ModelArtifact): void {
  const est = a.estimator as { kind: string; sklearn_class?: string };
  const what = `${est.sklearn_class ?? est.kind} (estimator kind "${est.kind}")`;
  if ("classifier" in a && a.classifier !== undefined)
    throw new RidepredError(`export sql: ${what} is a classifier; classifiers cannot be exported to SQL yet (regressors only)`, 1);
  const known = KNOWN_KEYS[est.kind];
  if (!known)
    throw new RidepredError(`export sql: ${what} cannot be exported to SQL yet (supported: linear models, trees and tree ensembles, XGBoost boosters)`, 1);
  const extra = (obj: object, keys: readonly string[]) => Object.keys(obj).filter((k) => !keys.includes(k));
  const unknown = [...extra(a.estimator, known), ...extra(a.features, KNOWN_KEYS.features!)];
  if (a.estimator.kind === "tree_ensemble" || a.estimator.kind === "xgboost") for (const t of a.estimator.trees) unknown.push(...extra(t, KNOWN_KEYS.tree!));
  if (unknown.length) throw new RidepredError(`export sql: ${what} uses ${[...new Set(unknown)].join(", ")}, which export sql does not support yet`, 1);
  for (const k of Object.keys(a))
    if (!KNOWN_ARTIFACT.has(k)) throw new RidepredError(`export sql: the model has "${k}", which export sql does not support yet`, 1);
}

const KNOWN_ARTIFACT = new Set([
  "format",
  "format_version",
  "name",
  "version",
  "created",
  "description",
  "target",
  "inputs",
  "features",
  "estimator",
  "environment",
  "examples",
  "digest",
]);

/** Which source column feeds each input and the ride id: --map COLUMN=INPUT, else the input's own name. */
function sourceColumns(a: ModelArtifact, map: Record<string, string>): SourceColumns {
  const targets = new Set(["ride_id", ...a.inputs.map((i) => i.name)]);
  const input: Record<string, string> = {};
  let rideId = "ride_id";
  for (const [column, target] of Object.entries(map)) {
    if (!targets.has(target))
      throw new RidepredError(`--map ${column}=${target}: ${target} is not a model input or ride_id (inputs: ${a.inputs.map((i) => i.name).join(", ")})`);
    if (target === "ride_id") rideId = column;
    else input[target] = column;
  }
  return { rideId, input };
}

/**
 * --columns: a model input is output as the model saw it (coerced, its default applied), any other name
 * is a source column passed through. Each is carried through the layers as x<n>.
 */
function extraColumns(d: Dialect, a: ModelArtifact, names: readonly string[]) {
  const fixed = new Set(["ride_id", `predicted_${a.target.name}`, "model_version", "reject_reason"]);
  const out = { raw: [] as string[], carried: [] as string[], fields: [] as string[], output: [] as string[] };
  const seen = new Set<string>();
  names.forEach((name, n) => {
    if (fixed.has(name) || seen.has(name)) throw new RidepredError(`--columns ${name}: ${seen.has(name) ? "named twice" : "is always in the view"}`);
    seen.add(name);
    const i = a.inputs.findIndex((inp) => inp.name === name);
    if (i >= 0) out.fields.push(`${inputOf(i)} AS x${n}`);
    else {
      out.raw.push(`${d.ident(name)} AS x${n}`);
      out.carried.push(`x${n}`);
      out.fields.push(`x${n}`);
    }
    out.output.push(`f.x${n} AS ${d.ident(name)}`);
  });
  return out;
}

/** A name is quoted as an identifier; anything with parentheses or spaces is a table expression used as written. */
function sourceRef(d: Dialect, table: string): string {
  return /[\s(]/.test(table) ? table : d.ident(table);
}

/** Helper tables as the session's temporary tables: created fresh, never dropped (a DROP could reach a permanent table of that name). */
function temporaryTables(d: Dialect): Dialect {
  return { ...d, dropTable: () => undefined, createTable: (name, columns) => `CREATE TEMPORARY TABLE ${d.ident(name)} (${columns})` };
}

export function exportSql(a: ModelArtifact, opts: ExportOptions): ExportResult {
  checkSupported(a);
  const d = opts.temporary ? temporaryTables(dialect(opts.dialect)) : dialect(opts.dialect);
  const view = opts.view ?? "ride_predictions";
  const limit = Math.min(opts.maxBytes ?? DEFAULT_MAX_BYTES, d.maxStatementBytes ?? Number.POSITIVE_INFINITY);
  const form = opts.trees ?? "auto";
  const trees = a.estimator.kind !== "linear";
  if (form === "nodes" && !trees) throw new RidepredError("--trees nodes: the model is linear, it has no trees", 1);
  if (form === "nodes" && !nodesSupported(d))
    throw new RidepredError(`--trees nodes: the node-table form is not available for ${d.name} (${NODE_DIALECTS.join(", ")} only)`, 1);
  let q = viewQuery(a, d, view, opts, form === "nodes" ? "nodes" : "case");
  // A forest too large as CASE text becomes a node table and a recursive walk, where the engine has one.
  if (form === "auto" && trees && q.viewBytes > limit && nodesSupported(d)) q = viewQuery(a, d, view, opts, "nodes");
  const { query, createView, viewBytes, setup, helperTables, info } = q;
  if (viewBytes > limit) {
    const which = limit === d.maxStatementBytes ? d.limitSource : `--max-bytes ${limit}`;
    throw new RidepredError(
      `export sql: the view's query would be ${viewBytes.toLocaleString("en-US")} bytes (${info.trees ?? 0} trees, ${info.nodes ?? 0} nodes ${info.form === "nodes" ? "in a node table" : "as CASE expressions"}), over ${which}; ${nodesSupported(d) ? "raise --max-bytes" : `raise --max-bytes (up to the engine's limit), export a smaller model, or use a dialect with the node-table form (${NODE_DIALECTS.join(", ")})`}`,
      1,
    );
  }
  const drop = d.dropView(view);
  const statements = [...(drop ? [drop] : []), ...setup, createView];
  const head = [
    `-- ridepred export sql: model ${a.name} ${a.version} (${a.digest}), ${a.estimator.sklearn_class}, dialect ${d.name}`,
    `-- Source: ${opts.table}. Creates ${[...helperTables, view].join(", ")} (dropped and recreated first).`,
  ];
  const body = d.transactional ? ["BEGIN TRANSACTION", ...statements, "COMMIT"] : statements;
  const sql = `${head.join("\n")}\n${body.map((s) => `${s};\n`).join("")}`;
  return {
    sql,
    query,
    setup,
    dialect: d.name,
    view,
    helperTables,
    bytes: Buffer.byteLength(sql),
    viewBytes,
    statements: body.length,
    estimator: info,
  };
}

interface ViewQuery {
  query: string;
  createView: string;
  viewBytes: number;
  setup: string[];
  helperTables: string[];
  info: ExportResult["estimator"];
}

/** The view's query and what it needs, with trees as nested CASE expressions or as a node table. */
function viewQuery(a: ModelArtifact, d: Dialect, view: string, opts: ExportOptions, form: "case" | "nodes"): ViewQuery {
  const cols = sourceColumns(a, opts.map ?? {});
  const est = a.estimator;
  const indent = (xs: string[]) => xs.map((x) => `    ${x}`).join(",\n");
  const nodes = form === "nodes" && est.kind !== "linear";
  const extra = extraColumns(d, a, opts.columns ?? []);
  const ctes: string[] = [
    `ridepred_src AS (\n  SELECT\n${indent([...sourceSelect(d, a.inputs, cols), ...extra.raw])}\n  FROM ${sourceRef(d, opts.table)}\n)`,
    `ridepred_in AS (\n  SELECT\n${indent([...coercedSelect(d, a.inputs), ...extra.carried])}\n  FROM ridepred_src\n)`,
  ];
  // The node walk joins each row's total back by a row number: computed once, so the numbers agree.
  const fieldList = [
    ...(nodes ? ["ROW_NUMBER() OVER () AS rk"] : []),
    "ride_id",
    "reject_reason",
    ...extra.fields,
    ...a.features.fields.map((f, k) => `${fieldExpr(d, f, a.inputs)} AS f${k}`),
  ];
  const fields = `  SELECT\n${indent(fieldList)}\n  FROM ridepred_in`;
  // Trees read each field at many splits: computed once where the engine would otherwise inline it.
  const materialized = nodes && !d.materializedCte ? `ridepred_f AS MATERIALIZED (\n${fields}\n)` : undefined;
  ctes.push(
    materialized ??
      ((est.kind !== "linear" || d.materializeAlways) && d.materializedCte ? d.materializedCte("ridepred_f", fields) : `ridepred_f AS (\n${fields}\n)`),
  );
  const setup: string[] = [];
  const helperTables: string[] = [];
  let from = "ridepred_f f";
  let prediction: string;
  let info: ExportResult["estimator"];
  if (est.kind === "linear") {
    const weights = `${view}_weights`;
    const lin = linearSql(d, a, est, weights);
    setup.push(...lin.setup);
    helperTables.push(weights);
    from = ["ridepred_f f", ...lin.joins].join("\n  ");
    prediction = lin.prediction;
    info = { kind: est.kind, class: est.sklearn_class, weightRows: lin.weightRows };
  } else {
    const nodeCount = est.trees.reduce((n, t) => n + t.feature.length, 0);
    info = { kind: est.kind, class: est.sklearn_class, trees: est.trees.length, nodes: nodeCount, form };
    if (nodes) {
      const n = nodesSql(est, {
        d,
        table: `${view}_nodes`,
        sources: columnSources(a),
        fieldKinds: a.features.fields.map((f) => f.kind),
        temporary: opts.temporary === true,
      });
      setup.push(...n.setup);
      helperTables.push(...n.helperTables);
      ctes.push(...n.ctes);
      from = n.from;
      prediction = (est.kind === "tree_ensemble" ? ensemblePrediction(d, est) : xgboostPrediction(d, est))("t.total");
    } else {
      const sum = est.kind === "tree_ensemble" ? treesSql(d, est, columnSources(a)) : xgboostSql(d, est, columnSources(a));
      let prev = "ridepred_f";
      sum.chunks.forEach((expr, n) => {
        ctes.push(`ridepred_t${n} AS (\n  SELECT p.*, ${expr} AS acc${n}\n  FROM ${prev} p\n)`);
        prev = `ridepred_t${n}`;
      });
      from = `${prev} f`;
      prediction = sum.prediction(`f.acc${sum.chunks.length - 1}`);
    }
  }
  const select = [
    "f.ride_id AS ride_id",
    ...extra.output,
    `CASE WHEN f.reject_reason IS NULL THEN ${prediction} END AS ${d.ident(`predicted_${a.target.name}`)}`,
    `${d.str(a.version)} AS model_version`,
    "f.reject_reason AS reject_reason",
  ];
  const query = `WITH${nodes ? " RECURSIVE" : ""}\n${ctes.join(",\n")}\nSELECT\n${indent(select)}\nFROM ${from}`;
  const createView = d.createView(view, query);
  return { query, createView, viewBytes: Buffer.byteLength(createView), setup, helperTables, info };
}
