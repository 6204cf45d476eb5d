// Trees as a node table walked by a recursive query: the form for forests whose nested CASE text would
// pass --max-bytes or an engine's limit (the course's RandomForest recipe: ~260k nodes, ~10 MB of CASE).
// The query stays a few KB however large the model; the nodes are rows of `<view>_nodes`.
//
// Each node row says where a row goes from it, decided here with the same rules as the CASE form
// (trees.ts, xgboost.ts): kind 1 compares a number field with a float64 bound (x <= bound: `le`, else
// `gt`, NULL: `nul`), kind 2 compares a category field with one value (equal: `le`, else `gt`), kind 4
// sends a NULL number to `nul` and any other to `le`, kind 3 goes to `nul` whatever the row (a split the
// row cannot change), kind 0 is a leaf with its value. The walk starts every scoring row at the root of
// every tree and steps until each reaches a leaf. The leaves are then summed per row in tree order, from
// the model's start value, with the predictor's float64 (or XGBoost's float32) steps: an ordered
// aggregate (PostgreSQL), a list fold (DuckDB) or a running window sum (MariaDB), so the predictions are
// the CASE form's, bit for bit.
import type { TreeEnsembleEstimator, TreeSpec, XGBoostEstimator } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import type { Dialect } from "./dialects.js";
import { type ColumnSource, fieldOf } from "./features.js";
import { float32Below as below } from "../runtime/float32.js";
import { float32Bound } from "./trees.js";

/** Dialects that run the node form (a recursive CTE and an exact tree-ordered sum). */
export const NODE_DIALECTS = ["duckdb", "postgres", "mysql"] as const;
export const nodesSupported = (d: Dialect) => (NODE_DIALECTS as readonly string[]).includes(d.name);

type Row = [
  tree: number,
  node: number,
  kind: number,
  field: number | null,
  bound: number | null,
  cat: string | null,
  le: number,
  gt: number,
  nul: number,
  value: number | null,
];

export interface NodesSql {
  /** Statements that create and fill the node table (and PostgreSQL's float32 sum for XGBoost). */
  setup: string[];
  /** CTEs after ridepred_f (which must carry a row number `rk`): the walk and each row's total. */
  ctes: string[];
  /** FROM clause: ridepred_f f and its total t.total (NULL for rejected rows). */
  from: string;
  helperTables: string[];
  rows: number;
}

interface Opts {
  d: Dialect;
  table: string;
  sources: readonly ColumnSource[];
  /** Field kinds, by field index. */
  fieldKinds: readonly ("number" | "category")[];
  /** Helper objects are the session's own (PostgreSQL functions go to pg_temp). */
  temporary: boolean;
}

const F32_STEP = (d: Dialect, e: string) => d.float32!(e);

export function nodesSql(est: TreeEnsembleEstimator | XGBoostEstimator, o: Opts): NodesSql {
  const { d } = o;
  if (!nodesSupported(d)) throw new RidepredError(`export sql: the node-table form is not available for ${d.name} (${NODE_DIALECTS.join(", ")} only)`, 1);
  const xgb = est.kind === "xgboost";
  if (xgb && d.name === "mysql")
    throw new RidepredError(
      "export sql: XGBoost's node-table form needs float32 sums in tree order, which MariaDB/MySQL cannot do: too large for the CASE form",
      1,
    );
  if (xgb && est.tree_group && new Set(est.tree_group).size > 1)
    throw new RidepredError(`export sql: ${est.sklearn_class} has several output groups, which export sql does not support yet`, 1);
  const rows: Row[] = [];
  let maxLen = 1;
  est.trees.forEach((t, k) => {
    for (let node = 0; node < t.feature.length; node++) {
      const r = xgb ? xgbNode(est, t, node, o.sources) : sklearnNode(est, t, node, o.sources);
      rows.push([k, node, ...r]);
      if (r[3] !== null) maxLen = Math.max(maxLen, r[3].length);
    }
  });
  const setup = createNodes(d, o.table, rows, maxLen);
  const helperTables = [o.table];
  // Where the sum starts: boosting's init (leaves already scaled), a forest's 0, XGBoost's float32 base margin.
  const start = xgb ? F32_STEP(d, d.num(Math.fround(est.base_margin[0]!))) : d.num(est.aggregate === "mean" ? 0 : (est.init as number));
  const nodes = d.ident(o.table);
  const fields = o.fieldKinds.map((_, k) => fieldOf(k));
  const pick = (kind: "number" | "category") => {
    const ks = o.fieldKinds.map((fk, k) => (fk === kind ? k : -1)).filter((k) => k >= 0);
    return ks.length ? `CASE n.field ${ks.map((k) => `WHEN ${k} THEN w.${fieldOf(k)}`).join(" ")} END` : "NULL";
  };
  const num = pick("number");
  const cat = pick("category");
  const next = `CASE n.kind WHEN 1 THEN (CASE WHEN ${num} IS NULL THEN n.nul WHEN ${num} <= n.bound THEN n.le ELSE n.gt END) WHEN 2 THEN (CASE WHEN ${cat} = n.cat THEN n.le ELSE n.gt END) WHEN 4 THEN (CASE WHEN ${num} IS NULL THEN n.nul ELSE n.le END) ELSE n.nul END`;
  const carried = fields.map((f) => `, w.${f}`).join("");
  const walk = `ridepred_walk (rk, tree, node${fields.map((f) => `, ${f}`).join("")}) AS (
  SELECT f.rk, r.tree, r.node${fields.map((f) => `, f.${f}`).join("")}
  FROM ridepred_f f CROSS JOIN ${nodes} r
  WHERE r.node = 0 AND f.reject_reason IS NULL
  UNION ALL
  SELECT w.rk, w.tree, ${next}${carried}
  FROM ridepred_walk w JOIN ${nodes} n ON n.tree = w.tree AND n.node = w.node
  WHERE n.kind <> 0
)`;
  const leaves = `SELECT w.rk AS rk, w.tree AS tree, n.value AS value FROM ridepred_walk w JOIN ${nodes} n ON n.tree = w.tree AND n.node = w.node WHERE n.kind = 0
    UNION ALL
    SELECT f.rk, -1, ${start} FROM ridepred_f f WHERE f.reject_reason IS NULL`;
  const sum = orderedSum(d, xgb, leaves, est.trees.length, o, setup);
  return {
    setup,
    ctes: [walk, `ridepred_total AS (\n  ${sum}\n)`],
    from: "ridepred_f f LEFT JOIN ridepred_total t ON t.rk = f.rk",
    helperTables,
    rows: rows.length,
  };
}

/** Each row's total: its leaves in tree order (the start value first), added as the predictor adds them. */
function orderedSum(d: Dialect, xgb: boolean, leaves: string, trees: number, o: Opts, setup: string[]): string {
  if (d.name === "duckdb") {
    const step = xgb ? "CAST(CAST(a + b AS FLOAT) AS DOUBLE)" : "a + b";
    return `SELECT rk, list_reduce(list(value ORDER BY tree), lambda a, b: ${step}) AS total FROM (\n    ${leaves}\n  ) s GROUP BY rk`;
  }
  if (d.name === "postgres") {
    // sum(float8) adds in the order given (float8pl); XGBoost's float32 steps need an aggregate of their own.
    let agg = "sum";
    if (xgb) {
      const name = o.temporary ? `pg_temp.${o.table}_f32sum` : `${o.table}_f32sum`;
      const fn = o.temporary ? `pg_temp.${o.table}_f32add` : `${o.table}_f32add`;
      setup.push(
        `CREATE OR REPLACE FUNCTION ${d.ident(fn)}(float8, float8) RETURNS float8 LANGUAGE sql IMMUTABLE STRICT AS 'SELECT CAST(CAST($1 + $2 AS REAL) AS float8)'`,
        `CREATE OR REPLACE AGGREGATE ${d.ident(name)}(float8) (SFUNC = ${d.ident(fn)}, STYPE = float8)`,
      );
      agg = d.ident(name);
    }
    return `SELECT rk, ${agg}(value ORDER BY tree) AS total FROM (\n    ${leaves}\n  ) s GROUP BY rk`;
  }
  // MariaDB: a running sum over the rows in tree order adds one value at a time; the last tree's is the total.
  return `SELECT rk, total FROM (
    SELECT rk, tree, SUM(value) OVER (PARTITION BY rk ORDER BY tree ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total FROM (
    ${leaves}
    ) s
  ) x WHERE tree = ${trees - 1}`;
}

type NodeRule = [kind: number, field: number | null, bound: number | null, cat: string | null, le: number, gt: number, nul: number, value: number | null];

const fixed = (child: number): NodeRule => [3, null, null, null, child, child, child, null];

/** scikit-learn's rules (trees.ts): float32(x) <= t or x <= t; an absent number is 0; a category column is 1 or 0. */
function sklearnNode(est: TreeEnsembleEstimator, t: TreeSpec, node: number, sources: readonly ColumnSource[]): NodeRule {
  const j = t.feature[node]!;
  if (j < 0) return [0, null, null, null, -1, -1, -1, est.aggregate === "mean" ? t.value[node]! : est.scale * t.value[node]!];
  const f32 = est.compare === "float32";
  const th = t.threshold[node]!;
  const goesLeft = (v: number) => (f32 ? Math.fround(v) <= th : v <= th);
  const [l, r] = [t.left[node]!, t.right[node]!];
  const src = sources[j] ?? { kind: "zero" };
  if (src.kind === "zero") return fixed(goesLeft(0) ? l : r);
  if (src.kind === "category") {
    const [one, zero] = [goesLeft(1), goesLeft(0)];
    if (one === zero) return fixed(one ? l : r);
    const hit = single(src);
    return [2, hit.field, null, hit.value, one ? l : r, zero ? l : r, zero ? l : r, null];
  }
  const bound = f32 ? float32Bound(th) : th;
  if (bound !== bound) return fixed(r);
  if (bound === Number.POSITIVE_INFINITY) return fixed(l);
  return [1, src.field, bound, null, l, r, goesLeft(0) ? l : r, null];
}

/** XGBoost's rules (xgboost.ts): float32(x) < split; an unset feature is missing (default direction) or 0. */
function xgbNode(est: XGBoostEstimator, t: TreeSpec, node: number, sources: readonly ColumnSource[]): NodeRule {
  const j = t.feature[node]!;
  if (j < 0) return [0, null, null, null, -1, -1, -1, t.value[node]!];
  const th = t.threshold[node]!;
  const [l, r] = [t.left[node]!, t.right[node]!];
  const unset = est.absent === "missing" ? (t.missing_left?.[node] ?? 0) === 1 : 0 < th;
  const u = unset ? l : r;
  const src = sources[j] ?? { kind: "zero" };
  if (src.kind === "zero") return fixed(u);
  if (src.kind === "category") {
    const set = 1 < th;
    if (set === unset) return fixed(u);
    const hit = single(src);
    return [2, hit.field, null, hit.value, set ? l : r, u, u, null];
  }
  if (th === Number.NEGATIVE_INFINITY) return [4, src.field, null, null, r, r, u, null];
  if (th === Number.POSITIVE_INFINITY) return [4, src.field, null, null, l, l, u, null];
  return [1, src.field, float32Bound(below(th)), null, l, r, u, null];
}

function single(src: Extract<ColumnSource, { kind: "category" }>) {
  if (src.hits.length !== 1)
    throw new RidepredError("export sql: a tree splits on a column that several feature fields set, which the node-table form does not support", 1);
  return src.hits[0]!;
}

const COLUMNS = "tree, node, kind, field, bound, cat, le, gt, nul, value";

function createNodes(d: Dialect, table: string, rows: readonly Row[], maxLen: number): string[] {
  const drop = d.dropTable(table);
  const int = d.intType;
  const setup = [
    ...(drop ? [drop] : []),
    d.createTable(
      table,
      `tree ${int} NOT NULL, node ${int} NOT NULL, kind ${int} NOT NULL, field ${int}, bound ${d.doubleType}, cat ${d.categoryType(maxLen)}, le ${int} NOT NULL, gt ${int} NOT NULL, nul ${int} NOT NULL, value ${d.doubleType}${d.primaryKey ? ", PRIMARY KEY (tree, node)" : ""}`,
    ),
  ];
  const bulk = d.name === "duckdb" ? duckdbBulk(d, table, rows) : undefined;
  if (bulk) return [...setup, ...bulk];
  const lit = (v: number | string | null, k: number) => (v === null ? "NULL" : typeof v === "string" ? d.str(v) : k === 4 || k === 9 ? d.num(v) : String(v));
  for (let i = 0; i < rows.length; i += d.insertRows) {
    const values = rows.slice(i, i + d.insertRows).map((r) => `(${r.map(lit).join(", ")})`);
    setup.push(`INSERT INTO ${d.ident(table)} (${COLUMNS}) VALUES\n${values.join(",\n")}`);
  }
  return setup;
}

/** DuckDB parses multi-row VALUES slowly: the rows as one text, split inside the engine (as the weights table is). */
function duckdbBulk(d: Dialect, table: string, rows: readonly Row[]): string[] | undefined {
  const cats = rows.map((r) => r[5]).filter((c): c is string => c !== null);
  const unit = ["|", "\t", "\x1f"].find((ch) => !cats.some((c) => c.includes(ch) || c.includes("\n")));
  if (unit === undefined || cats.includes("")) return undefined;
  const out: string[] = [];
  const types = ["INTEGER", "INTEGER", "INTEGER", "INTEGER", "DOUBLE", "VARCHAR", "INTEGER", "INTEGER", "INTEGER", "DOUBLE"];
  const part = (i: number) => `CAST(NULLIF(split_part(x, chr(${unit.charCodeAt(0)}), ${i + 1}), '') AS ${types[i]})`;
  // Numbers in shortest round-trip form, which DuckDB's CAST reads back exactly; NULL as an empty field.
  for (let i = 0; i < rows.length; i += 50_000) {
    const text = rows
      .slice(i, i + 50_000)
      .map((r) => r.map((v) => (v === null ? "" : String(v))).join(unit))
      .join("\n");
    out.push(
      `INSERT INTO ${d.ident(table)} (${COLUMNS})\nSELECT ${types.map((_, k) => part(k)).join(", ")}\nFROM (SELECT unnest(string_split(${d.str(text)}, chr(10))) AS x)`,
    );
  }
  return out;
}
