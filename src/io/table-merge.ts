// Writing to a table, the same way for PostgreSQL and DuckDB: rows are bulk-loaded into a temporary
// staging table (a session's own, gone when the connection ends, so a killed run leaves nothing), and
// finish() moves them into the target in ONE transaction: create the target if absent, then
//   upsert         INSERT ... ON CONFLICT (ride_id) DO UPDATE (re-running a period gives the same rows)
//   replace-period DELETE the target's rows with pickup_datetime in [start, end), then INSERT
//   replace        empty the target (TRUNCATE), then INSERT
//   append         INSERT (a ride_id already there fails the run)
// Any failure rolls the whole transaction back: the target is exactly as it was. A duplicate ride_id
// (twice in the run, or already present for append) is exit 1, named.
import { RidepredError } from "../errors.js";
import type { IfExists } from "./index.js";
import { formatTimestamp } from "./timestamp.js";
import { qualified, quoteIdent, type TableName, tableLabel } from "./table-url.js";
import type { OutColumn, RunPeriod } from "./types.js";

/** The little a merge needs from a connection; both engines take $1-style parameters. */
export interface TableSession {
  run(sql: string, params?: unknown[]): Promise<number>;
  rows<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Names the server or file in messages. */
  label: string;
  /** Turns an engine error into a one-line RidepredError (exit 2 unless told). */
  fail(e: unknown, doing: string, exitCode?: 1 | 2): RidepredError;
  /** How --if-exists replace empties an existing table inside the merge's transaction (default: TRUNCATE). */
  empty?(table: TableName): Promise<void>;
}

export interface TargetInfo {
  exists: boolean;
  columns: string[];
  /** The table has a primary key or unique constraint on exactly the key column. */
  keyed: boolean;
}

/** SQL column type of an output column (the same spelling works in PostgreSQL and DuckDB). */
export function sqlType(c: OutColumn): string {
  return c.kind === "double" ? "double precision" : c.kind === "timestamp" ? "timestamp" : "text";
}

export const columnDefs = (columns: readonly OutColumn[], key?: string): string =>
  columns.map((c) => `${quoteIdent(c.name)} ${sqlType(c)}${c.name === key ? " PRIMARY KEY" : ""}`).join(", ");

export async function describeTarget(s: TableSession, table: TableName, key: string | undefined): Promise<TargetInfo> {
  const schema = table.schema ?? null;
  const cols = await s.rows<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position",
    [schema, table.name],
  );
  if (cols.length === 0) return { exists: false, columns: [], keyed: false };
  const cons = await s.rows<{ constraint_name: string; column_name: string }>(
    `SELECT tc.constraint_name, kcu.column_name FROM information_schema.table_constraints tc
     JOIN information_schema.key_column_usage kcu
       ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
     WHERE tc.table_schema = coalesce($1, current_schema()) AND tc.table_name = $2 AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')`,
    [schema, table.name],
  );
  const byName = new Map<string, string[]>();
  for (const c of cons) byName.set(c.constraint_name, [...(byName.get(c.constraint_name) ?? []), c.column_name]);
  const keyed = key !== undefined && [...byName.values()].some((c) => c.length === 1 && c[0] === key);
  return { exists: true, columns: cols.map((c) => c.column_name), keyed };
}

export interface MergeSpec {
  table: TableName;
  columns: readonly OutColumn[];
  /** The staging table's name (already quoted if it needs it). */
  stage: string;
  mode: IfExists;
  key?: string;
  period?: RunPeriod;
  target: TargetInfo;
  /** How each staged column becomes the target's value (default: the column itself). */
  stageExpr?: (column: OutColumn) => string;
}

/** The --if-exists mode a run uses, refused (exit 2, before any row is read) when the table cannot take it. */
export function checkTarget(label: string, spec: Omit<MergeSpec, "stage" | "mode"> & { mode?: IfExists }): IfExists {
  const { table, columns, key, target } = spec;
  const hasKey = key !== undefined && columns.some((c) => c.name === key);
  const mode = spec.mode ?? (hasKey ? "upsert" : "append");
  const name = tableLabel(table);
  if (target.exists) {
    const have = new Set(target.columns);
    const missing = columns.filter((c) => !have.has(c.name));
    if (missing.length > 0)
      throw new RidepredError(
        `${label}: table ${name} has no column ${missing.map((c) => c.name).join(", ")} (it has ${target.columns.join(", ")}); choose the output with --columns`,
      );
  }
  if (mode === "upsert") {
    if (!hasKey) throw new RidepredError(`${label}: --if-exists upsert needs the ${key ?? "ride_id"} column in the output (--columns)`);
    if (target.exists && !target.keyed)
      throw new RidepredError(
        `${label}: --if-exists upsert needs a primary key or unique constraint on ${name}(${key}); add one, or use --if-exists replace-period/append`,
      );
  }
  if (mode === "replace-period") {
    if (!columns.some((c) => c.name === "pickup_datetime"))
      throw new RidepredError(`${label}: --if-exists replace-period needs pickup_datetime in the output (--columns)`);
    if (!spec.period) throw new RidepredError(`${label}: --if-exists replace-period needs a run period (--run-date, --period)`);
  }
  return mode;
}

/** Move the staged rows into the target in one transaction; returns the rows inserted or updated. */
export async function mergeStaged(s: TableSession, spec: MergeSpec): Promise<number> {
  const target = qualified(spec.table);
  const cols = spec.columns.map((c) => quoteIdent(c.name)).join(", ");
  // Without a unique key the target cannot catch a duplicate itself: look before writing anything.
  if (spec.key !== undefined && spec.columns.some((c) => c.name === spec.key) && spec.target.exists && !spec.target.keyed) await refuseDuplicates(s, spec);
  let written = 0;
  await s.run("BEGIN");
  try {
    if (!spec.target.exists) await s.run(`CREATE TABLE IF NOT EXISTS ${target} (${columnDefs(spec.columns, spec.key)})`);
    if (spec.mode === "replace" && spec.target.exists) await (s.empty ? s.empty(spec.table) : s.run(`TRUNCATE ${target}`));
    if (spec.mode === "replace-period") {
      const p = spec.period!;
      await s.run(`DELETE FROM ${target} WHERE "pickup_datetime" >= $1::timestamp AND "pickup_datetime" < $2::timestamp`, [
        formatTimestamp(p.start),
        formatTimestamp(p.end),
      ]);
    }
    const select = spec.stageExpr ? spec.columns.map((c) => spec.stageExpr!(c)).join(", ") : cols;
    let insert = `INSERT INTO ${target} (${cols}) SELECT ${select} FROM ${spec.stage}`;
    if (spec.mode === "upsert") {
      const set = spec.columns.filter((c) => c.name !== spec.key).map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
      insert += ` ON CONFLICT (${quoteIdent(spec.key!)}) DO ${set.length > 0 ? `UPDATE SET ${set.join(", ")}` : "NOTHING"}`;
    }
    written = await s.run(insert);
    await s.run("COMMIT");
  } catch (e) {
    await s.run("ROLLBACK").catch(() => {});
    if (spec.key !== undefined) await refuseDuplicates(s, spec);
    if (isUniqueViolation(e)) {
      const id = duplicateKey(e);
      throw new RidepredError(
        `${s.label}: ride_id ${id ?? "(see below)"} is already in table ${tableLabel(spec.table)}${spec.mode === "replace-period" ? " outside the period being replaced" : ""}: nothing written (--if-exists upsert updates such rows)${id ? "" : `: ${(e as Error).message}`}`,
        1,
      );
    }
    throw s.fail(e, `writing table ${tableLabel(spec.table)} (rolled back, nothing written)`, 1);
  }
  return written;
}

/** Exit 1 naming a ride_id the run produced twice (the staged rows, looked at before or after a failed merge). */
async function refuseDuplicates(s: TableSession, spec: MergeSpec): Promise<void> {
  await refuseDuplicateIds(s, spec.stage, spec.key!, spec.table);
}

/** Exit 1 naming the first ride_id that `rows` (a table or staging table of this run's rows) holds twice. */
export async function refuseDuplicateIds(s: TableSession, rows: string, key: string, table: TableName): Promise<void> {
  const k = quoteIdent(key);
  const dup = await s.rows<{ id: string; n: number | bigint | string }>(
    `SELECT ${k} AS id, count(*) AS n FROM ${rows} GROUP BY ${k} HAVING count(*) > 1 ORDER BY ${k} LIMIT 1`,
  );
  const first = dup[0];
  if (first)
    throw new RidepredError(
      `${s.label}: ride_id ${first.id} appears ${first.n} times in this run: nothing written to table ${tableLabel(table)} (ride ids must be unique)`,
      1,
    );
}

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err.code === "23505" || /duplicate key|violates (primary key|unique) constraint/i.test(err.message ?? "");
}

/** The key value in "Key (ride_id)=(x) already exists" (PostgreSQL) or 'duplicate key "x"' (DuckDB). */
function duplicateKey(e: unknown): string | undefined {
  const err = e as { detail?: string; message?: string };
  const text = `${err.detail ?? ""} ${err.message ?? ""}`;
  return /=\((.*?)\) already exists/.exec(text)?.[1] ?? /duplicate key "(?:[^":]+: )?([^"]*)"/i.exec(text)?.[1];
}
