// What differs between SQL engines, and nothing else: quoting, literals, types, casts, regular
// expressions, string concatenation, DDL forms and documented limits. Everything that decides what a
// prediction is lives in inputs.ts, linear.ts and trees.ts, written once against this interface.

export const DIALECTS = ["duckdb", "postgres", "mysql", "spark", "bigquery", "snowflake", "trino"] as const;
export type DialectName = (typeof DIALECTS)[number];

/** One row of a weights table: category field index, category value, coefficient. */
export type WeightRow = readonly [field: number, value: string, coef: number];

export interface Dialect {
  readonly name: DialectName;
  /** Run by the test suite against a real engine ("executed") or only parsed ("parse-checked"). */
  readonly checked: "executed" | "parse-checked";
  /** The engine's documented limit on one statement's text, in bytes (undefined: none that matters here). */
  readonly maxStatementBytes?: number;
  readonly limitSource?: string;
  /** Whether CREATE TABLE takes PRIMARY KEY (...): the index that makes the weights join a lookup. */
  readonly primaryKey: boolean;
  /** Whether DDL is transactional: the script then runs as one transaction. */
  readonly transactional: boolean;
  /**
   * The engine's faster bulk form for the weights rows, when it has one (else multi-row INSERTs);
   * undefined when a row's text would need a separator the form cannot take.
   */
  bulkInsert?(table: string, rows: readonly WeightRow[]): string | undefined;
  /** Rows per multi-row INSERT of the weights table. */
  readonly insertRows: number;
  ident(name: string): string;
  str(s: string): string;
  /** A float64 literal that parses to exactly x (x finite). */
  num(x: number): string;
  readonly doubleType: string;
  readonly textType: string;
  readonly intType: string;
  /** A column type for category strings up to maxLen characters, compared byte for byte. */
  categoryType(maxLen: number): string;
  /** CAST(expr AS <text type>). */
  text(expr: string): string;
  /** expr rounded to float32 (XGBoost's sums); undefined where the engine has no float32 type. */
  float32?(expr: string): string;
  /** CAST(expr AS <double type>) of a value already known to be numeric or a numeric string. */
  double(expr: string): string;
  /**
   * A CTE the engine must compute once rather than substitute into every reference: a tree refers to a
   * feature field at each of its splits, and engines that inline the field's expression (PostgreSQL,
   * MariaDB) would re-run the input coercion per split, per row. Default: a plain CTE.
   */
  materializedCte?(name: string, query: string): string;
  /** float8 multiplication raises an error where the product underflows to 0 (PostgreSQL) instead of giving 0. */
  readonly underflowError?: boolean;
  /** Materialize the fields for linear models too (MariaDB: the merged query evaluates the coercion more than once). */
  readonly materializeAlways?: boolean;
  /**
   * A cheap test true only for values whose text is a category as it stands (not missing, not to be
   * rewritten): the first branch of the category CASE, taken by nearly every row. Default: none.
   */
  canonicalAlready?(raw: string, text: string): string;
  /** The raw value is an empty string (default: its text is ''). */
  emptyText?(raw: string, text: string): string;
  /**
   * The raw value is a float column's NaN (missing, as pandas' NaN is) or infinity (refused); engines
   * without NaN and infinities leave these out. A text column's "NaN" is not a number, as in JavaScript.
   */
  floatNaN?(raw: string, text: string): string;
  floatInf?(raw: string, text: string): string;
  /** The float64 of a number input's raw value where textOk (its text spells a number), else NULL; default CASE + double(). */
  numberValue?(raw: string, textOk: string): string;
  /** A faster test than the regular expression where the engine knows the column is not text. */
  numericText?(raw: string, textOk: string): string;
  /** True where expr matches the regular expression (the pattern is anchored by the caller with ^ and end()). */
  matches(expr: string, pattern: string): string;
  /** The end-of-string anchor: `$` where it cannot match before a final newline, else `\z`. */
  readonly end: string;
  /** expr with the first match of pattern replaced; group 1 is referenced as group1. */
  replace(expr: string, pattern: string, replacement: string): string;
  readonly group1: string;
  /** NULL-propagating concatenation. */
  concat(parts: string[]): string;
  /** undefined where CREATE OR REPLACE VIEW replaces it (and views bind late, so the table under it may be dropped). */
  dropView(name: string): string | undefined;
  /** undefined where createTable replaces an existing table itself. */
  dropTable(name: string): string | undefined;
  createTable(name: string, columns: string): string;
  createView(name: string, query: string): string;
}

/** '...' with quotes doubled; engines that also treat a backslash as an escape get it doubled too. */
function quoter(backslash: boolean): (s: string) => string {
  return (s) => `'${(backslash ? s.replace(/\\/g, "\\\\") : s).replace(/'/g, "''")}'`;
}

/** Shortest round-trip digits, always with an exponent: `1.5e0` is a float64 literal almost everywhere. */
export function float64Literal(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite float64: ${x}`);
  const s = String(x);
  return s.includes("e") ? s : `${s}e0`;
}

const dq = (name: string) => `"${name.replace(/"/g, '""')}"`;
const bq = (name: string) => `\`${name.replace(/`/g, "``")}\``;
/** A dotted name (schema.table) quoted part by part. */
const dotted = (q: (s: string) => string) => (name: string) => name.split(".").map(q).join(".");

/**
 * What each engine spells its own way; basis() derives the rest of a Dialect from it the same way for all.
 * Regular expressions are quoted as the engine's other strings are.
 */
interface Spelling {
  name: DialectName;
  checked: Dialect["checked"];
  /** Identifiers in "double quotes" (SQL standard) or `backticks`. */
  quote: '"' | "`";
  /** Whether a backslash in a string literal is an escape (then it is doubled). */
  backslash: boolean;
  doubleType: string;
  textType: string;
  intType: string;
  /** The float32 type, where the engine has one. */
  float32Type?: string;
  /** The match, given the pattern as a string literal. */
  matches(expr: string, patternLiteral: string): string;
  end: string;
  /** The function that replaces a regular expression's first match (expr, pattern, replacement). */
  replaceFunction: string;
  group1: string;
  /** `||` or the name of a CONCAT function. */
  concat: string;
  /** CREATE OR REPLACE instead of DROP ... IF EXISTS and CREATE: for views, or for views and tables. */
  orReplace?: "view" | "view and table";
}

/** A Dialect from its spelling; the defaults below (DROP ... IF EXISTS, multi-row INSERTs) are the common ones. */
function basis(s: Spelling): Dialect {
  const ident = dotted(s.quote === '"' ? dq : bq);
  const str = quoter(s.backslash);
  const cast = (type: string) => (e: string) => `CAST(${e} AS ${type})`;
  const { float32Type: f32, orReplace } = s;
  return {
    name: s.name,
    checked: s.checked,
    insertRows: 1000,
    primaryKey: true,
    transactional: false,
    ident,
    str,
    num: float64Literal,
    doubleType: s.doubleType,
    textType: s.textType,
    intType: s.intType,
    categoryType: () => s.textType,
    text: cast(s.textType),
    ...(f32 ? { float32: cast(f32) } : {}),
    double: cast(s.doubleType),
    matches: (e, p) => s.matches(e, str(p)),
    end: s.end,
    replace: (e, p, r) => `${s.replaceFunction}(${e}, ${str(p)}, ${str(r)})`,
    group1: s.group1,
    concat: (parts) => (s.concat === "||" ? `(${parts.join(" || ")})` : `${s.concat}(${parts.join(", ")})`),
    dropView: (name) => (orReplace ? undefined : `DROP VIEW IF EXISTS ${ident(name)}`),
    dropTable: (name) => (orReplace === "view and table" ? undefined : `DROP TABLE IF EXISTS ${ident(name)}`),
    createTable: (name, columns) => `CREATE ${orReplace === "view and table" ? "OR REPLACE " : ""}TABLE ${ident(name)} (${columns})`,
    createView: (name, query) => `CREATE ${orReplace ? "OR REPLACE " : ""}VIEW ${ident(name)} AS\n${query}`,
  };
}

const duckdb: Dialect = {
  ...basis({
    name: "duckdb",
    checked: "executed",
    quote: '"',
    backslash: false,
    doubleType: "DOUBLE",
    textType: "VARCHAR",
    intType: "INTEGER",
    float32Type: "FLOAT",
    matches: (e, p) => `regexp_full_match(${e}, ${p})`,
    end: "$",
    replaceFunction: "regexp_replace",
    group1: "\\1",
    concat: "||",
  }),
  transactional: true,
  // typeof() is folded when the query is planned: a numeric column is never converted to text, which
  // would cost more than the rest of the query.
  emptyText: (raw, t) => `(typeof(${raw}) = 'VARCHAR' AND ${t} = '')`,
  floatNaN: (raw) => `(typeof(${raw}) IN ('DOUBLE', 'FLOAT') AND isnan(TRY_CAST(${raw} AS DOUBLE)))`,
  floatInf: (raw) => `(typeof(${raw}) IN ('DOUBLE', 'FLOAT') AND isinf(TRY_CAST(${raw} AS DOUBLE)))`,
  numericText: (raw, ok) => `(typeof(${raw}) <> 'VARCHAR' OR ${ok})`,
  numberValue: (raw, ok) => `CASE WHEN ${ok} THEN TRY_CAST(${raw} AS DOUBLE) END`,
  // An integer column's text is canonical; text that may need rewriting starts with '+', '-' or '0' (all
  // sort before '1', byte order) or has a '.'. A float column always takes the general path (NaN, 130.0).
  canonicalAlready: (raw, t) =>
    `((typeof(${raw}) IN ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT') AND ${raw} IS NOT NULL) OR (typeof(${raw}) = 'VARCHAR' AND ${t} >= '1' AND NOT contains(${t}, '.')))`,
  bulkInsert: duckdbBulkInsert,
};

/** DuckDB parses a multi-row VALUES list slowly, row by row; one string split in the engine is much faster. */
function duckdbBulkInsert(table: string, rows: readonly WeightRow[]): string | undefined {
  // One row a line, fields split by the first of these characters that no value holds.
  const taken = (ch: string) => rows.some(([, v]) => v.includes(ch) || v.includes("\n"));
  const unit = ["|", "\t", "\x1f"].find((ch) => !taken(ch));
  if (unit === undefined) return undefined;
  const text = rows.map(([k, v, c]) => `${k}${unit}${v}${unit}${float64Literal(c)}`).join("\n");
  const part = (i: number) => `split_part(x, chr(${unit.charCodeAt(0)}), ${i})`;
  return `INSERT INTO ${dotted(dq)(table)} (field, value, coef)\nSELECT CAST(${part(1)} AS INTEGER), ${part(2)}, CAST(${part(3)} AS DOUBLE)\nFROM (SELECT unnest(string_split(${quoter(false)(text)}, chr(10))) AS x)`;
}

const postgres: Dialect = {
  ...basis({
    name: "postgres",
    checked: "executed",
    quote: '"',
    backslash: false,
    doubleType: "DOUBLE PRECISION",
    textType: "TEXT",
    intType: "INTEGER",
    float32Type: "REAL",
    matches: (e, p) => `(${e} ~ ${p})`,
    end: "$",
    replaceFunction: "regexp_replace",
    group1: "\\1",
    concat: "||",
  }),
  transactional: true,
  // A bare 1.5e0 is NUMERIC in PostgreSQL: the cast keeps every sum and comparison in float8.
  num: (x) => `${float64Literal(x)}::float8`,
  materializedCte: (name, query) => `${name} AS MATERIALIZED (\n${query}\n)`,
  underflowError: true,
  floatNaN: (raw, t) => `(pg_typeof(${raw}) IN ('double precision'::regtype, 'real'::regtype) AND ${t} = 'NaN')`,
  floatInf: (raw, t) => `(pg_typeof(${raw}) IN ('double precision'::regtype, 'real'::regtype) AND ${t} IN ('Infinity', '-Infinity'))`,
};

const mysql: Dialect = {
  ...basis({
    name: "mysql",
    checked: "executed",
    quote: "`",
    backslash: true,
    doubleType: "DOUBLE",
    textType: "CHAR",
    intType: "INT",
    float32Type: "FLOAT",
    matches: (e, p) => `(${e} REGEXP ${p})`,
    end: "\\z",
    replaceFunction: "REGEXP_REPLACE",
    group1: "\\1",
    concat: "CONCAT",
  }),
  // max_allowed_packet: MariaDB's default is 16 MiB, MySQL 8's 64 MiB.
  maxStatementBytes: 16 * 1024 * 1024,
  limitSource: "MariaDB's default max_allowed_packet (16 MiB)",
  // VARBINARY compares byte for byte: no case folding, no trailing-space padding (utf8mb4 collations do both).
  categoryType: (n) => `VARBINARY(${Math.max(1, n * 4)})`,
  // A numeric column's CHARSET() is 'binary': it skips the text test (a binary string column would too,
  // and is read with CAST ... AS DOUBLE, which takes a non-number as 0 with a warning).
  numericText: (raw, ok) => `(CHARSET(${raw}) = 'binary' OR ${ok})`,
  materializeAlways: true,
  // A derived table with a LIMIT is never merged into the outer query: it is materialized once.
  materializedCte: (name, query) => `${name} AS (\n${query}\n  LIMIT 18446744073709551615\n)`,
};

const spark: Dialect = {
  ...basis({
    name: "spark",
    checked: "parse-checked",
    quote: "`",
    backslash: true,
    doubleType: "DOUBLE",
    textType: "STRING",
    intType: "INT",
    float32Type: "FLOAT",
    matches: (e, p) => `(${e} RLIKE ${p})`,
    end: "\\z",
    replaceFunction: "regexp_replace",
    group1: "$1",
    concat: "concat",
    orReplace: "view",
  }),
  primaryKey: false,
};

const bigquery: Dialect = {
  ...basis({
    name: "bigquery",
    checked: "parse-checked",
    quote: "`",
    backslash: true,
    doubleType: "FLOAT64",
    textType: "STRING",
    intType: "INT64",
    matches: (e, p) => `REGEXP_CONTAINS(${e}, ${p})`,
    end: "$",
    replaceFunction: "REGEXP_REPLACE",
    group1: "\\1",
    concat: "CONCAT",
    orReplace: "view and table",
  }),
  primaryKey: false,
  maxStatementBytes: 1024 * 1024,
  limitSource: "BigQuery's maximum query length (1 MB)",
};

const snowflake: Dialect = {
  ...basis({
    name: "snowflake",
    checked: "parse-checked",
    quote: '"',
    backslash: true,
    doubleType: "DOUBLE",
    textType: "VARCHAR",
    intType: "INTEGER",
    // REGEXP_LIKE matches the whole string; the explicit anchors are harmless.
    matches: (e, p) => `REGEXP_LIKE(${e}, ${p})`,
    end: "$",
    replaceFunction: "REGEXP_REPLACE",
    group1: "\\1",
    concat: "||",
    orReplace: "view and table",
  }),
  maxStatementBytes: 1024 * 1024,
  limitSource: "Snowflake's maximum statement size (1 MB)",
};

const trino: Dialect = {
  ...basis({
    name: "trino",
    checked: "parse-checked",
    quote: '"',
    backslash: false,
    doubleType: "DOUBLE",
    textType: "VARCHAR",
    intType: "INTEGER",
    float32Type: "REAL",
    matches: (e, p) => `regexp_like(${e}, ${p})`,
    end: "\\z",
    replaceFunction: "regexp_replace",
    group1: "$1",
    concat: "||",
    orReplace: "view",
  }),
  primaryKey: false,
  maxStatementBytes: 1_000_000,
  limitSource: "Trino's default query.max-length (1,000,000 characters)",
};

const ALL: Record<DialectName, Dialect> = { duckdb, postgres, mysql, spark, bigquery, snowflake, trino };

export function isDialectName(s: string): s is DialectName {
  return (DIALECTS as readonly string[]).includes(s);
}

export function dialect(name: DialectName): Dialect {
  return ALL[name];
}
