// A DuckDB table as a sink: batches go through DuckDB's appender, in data chunks, into a temporary
// staging table (times staged as epoch ms, turned into TIMESTAMP by the merge), and finish() merges
// them into the target in one transaction (table-merge.ts). Until then the file's tables are not
// touched: a run that fails or is killed leaves them as they were.
import type { DuckDBAppender, DuckDBConnection, DuckDBType } from "@duckdb/node-api";
import { RidepredError } from "../errors.js";
import { duckdbConnect, duckdbError } from "./duckdb-connect.js";
import type { SinkOptions } from "./index.js";
import { checkTarget, describeTarget, mergeStaged, type TableSession } from "./table-merge.js";
import { type DuckdbLocation, qualified, quoteIdent, type TableName, tableLabel } from "./table-url.js";
import { cells, type OutBatch, type OutColumn, type Sink } from "./types.js";

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK = 2048;

export async function openDuckdbSink(loc: DuckdbLocation, columns: readonly OutColumn[], options: SinkOptions): Promise<Sink> {
  if (!loc.table) throw new RidepredError(`${loc.label}: name the output table (?table=NAME)`);
  const table = loc.table;
  const duck = await import("@duckdb/node-api");
  const conn = await duckdbConnect(loc);
  const session = duckdbSession(conn, loc);
  const stageName = `ridepred_stage_${process.pid}_${Date.now().toString(36)}`;
  try {
    const target = await describeTarget(session, table, options.key).catch((e) => {
      throw duckdbError(loc, e, `looking up table ${tableLabel(table)}`);
    });
    const mode = checkTarget(loc.label, { table, columns, key: options.key, period: options.period, target, mode: options.ifExists });
    const numeric = columns.map((c) => c.kind === "double" || c.kind === "timestamp");
    const defs = columns.map((c, j) => `${quoteIdent(c.name)} ${numeric[j] ? "DOUBLE" : "VARCHAR"}`).join(", ");
    await session.run(`CREATE TEMP TABLE ${stageName} (${defs})`);
    const appender: DuckDBAppender = await conn.createAppender(stageName, "main", "temp");
    const types: DuckDBType[] = numeric.map((isNum) => (isNum ? duck.DOUBLE : duck.VARCHAR));
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      conn.closeSync();
    };
    return {
      async write(batch: OutBatch) {
        const values = batch.values.map((v, j) => {
          const c = cells(v, batch.n);
          const out = new Array(batch.n);
          for (let r = 0; r < batch.n; r++) {
            const x = c[r];
            out[r] = x === undefined || (typeof x === "number" && x !== x) ? null : numeric[j] ? x : String(x);
          }
          return out;
        });
        for (let at = 0; at < batch.n; at += CHUNK) {
          const n = Math.min(CHUNK, batch.n - at);
          const chunk = duck.DuckDBDataChunk.create(types, n);
          chunk.setColumns(values.map((col) => col.slice(at, at + n)));
          appender.appendDataChunk(chunk);
        }
      },
      async finish() {
        try {
          appender.closeSync();
          const rowsWritten = await mergeStaged(session, {
            table,
            columns,
            stage: stageName,
            mode,
            key: options.key,
            period: options.period,
            target,
            stageExpr: (c) => (c.kind === "timestamp" ? `make_timestamp(CAST(round(${quoteIdent(c.name)} * 1000) AS BIGINT))` : quoteIdent(c.name)),
          });
          return { rowsWritten };
        } finally {
          close();
        }
      },
      async abort() {
        close();
      },
    };
  } catch (e) {
    conn.closeSync();
    throw e;
  }
}

/**
 * --if-exists replace: in DuckDB, emptying a keyed table and inserting the same keys again in one
 * transaction is slow (every key deleted and re-added in the key's index: 93 s for 1M rows, against
 * 3.9 s for this), so the table is dropped and re-created from its own DDL and indexes, in the same
 * transaction. A table that other tables' foreign keys point at cannot be dropped: it is TRUNCATEd.
 */
async function recreateEmpty(s: TableSession, table: TableName): Promise<void> {
  const params = [table.schema ?? null, table.name];
  const where = "database_name = current_database() AND schema_name = coalesce($1, current_schema()) AND table_name = $2";
  const [def] = await s.rows<{ sql: string | null }>(`SELECT sql FROM duckdb_tables() WHERE ${where}`, params);
  const referenced = await s.rows(
    "SELECT 1 FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY' AND schema_name = coalesce($1, current_schema()) AND referenced_table = $2",
    params,
  );
  if (!def?.sql || referenced.length > 0) {
    await s.run(`TRUNCATE ${qualified(table)}`);
    return;
  }
  const indexes = await s.rows<{ sql: string }>(`SELECT sql FROM duckdb_indexes() WHERE ${where} AND sql IS NOT NULL`, params);
  await s.run(`DROP TABLE ${qualified(table)}`);
  await s.run(def.sql);
  for (const index of indexes) await s.run(index.sql);
}

/** The DuckDB side of table-merge's statements; the sink and `score --in-database` both use it. */
export function duckdbSession(conn: DuckDBConnection, loc: DuckdbLocation): TableSession {
  const session: TableSession = {
    label: loc.label,
    run: async (sql, params) => {
      const r = await conn.run(sql, params as never);
      return Number(r.rowsChanged);
    },
    rows: async <T>(sql: string, params?: unknown[]) => (await conn.runAndReadAll(sql, params as never)).getRowObjectsJS() as T[],
    fail: (e, doing, exitCode) => duckdbError(loc, e, doing, exitCode),
    empty: (table) => recreateEmpty(session, table),
  };
  return session;
}
