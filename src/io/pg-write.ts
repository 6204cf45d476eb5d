// A PostgreSQL table as a sink: batches go through COPY ... FROM STDIN (text format) into a temporary
// staging table, and finish() merges them into the target in one transaction (table-merge.ts). Until
// then the target is not touched; a run that fails or is killed leaves it as it was (the staging table
// belongs to the session and goes with it).
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { Writable } from "node:stream";
import { RidepredError } from "../errors.js";
import type { SinkOptions } from "./index.js";
import { pgConnect, pgError } from "./pg-connect.js";
import { checkTarget, columnDefs, describeTarget, mergeStaged, type TableSession } from "./table-merge.js";
import { type PgLocation, quoteIdent, tableLabel } from "./table-url.js";
import { formatTimestamp } from "./timestamp.js";
import { cells, type ColumnKind, type OutBatch, type OutColumn, type Sink } from "./types.js";

export async function openPgSink(loc: PgLocation, columns: readonly OutColumn[], options: SinkOptions): Promise<Sink> {
  if (!loc.table) throw new RidepredError(`${loc.label}: name the output table (?table=SCHEMA.TABLE)`);
  const table = loc.table;
  const client = await pgConnect(loc);
  const session = pgSession(client, loc);
  const stage = `"ridepred_stage_${process.pid}"`;
  let copy: Writable | undefined;
  let copyError: Error | undefined;
  try {
    const target = await describeTarget(session, table, options.key).catch((e) => {
      throw pgError(loc, e, `looking up table ${tableLabel(table)}`);
    });
    const mode = checkTarget(loc.label, { table, columns, key: options.key, period: options.period, target, mode: options.ifExists });
    await session.run(`CREATE TEMP TABLE ${stage} (${columnDefs(columns)})`).catch((e) => {
      throw pgError(loc, e, "creating the staging table");
    });
    copy = client.query(copyFrom(`COPY ${stage} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) FROM STDIN`));
    copy.on("error", (e) => (copyError ??= e));
    const cellsOf = columns.map((c) => copyCell(c.kind));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    };
    return {
      async write(batch: OutBatch) {
        if (copyError) throw pgError(loc, copyError, `loading table ${tableLabel(table)}`, 1);
        if (batch.n === 0) return;
        const text = copyText(batch, cellsOf);
        if (!copy!.write(text)) await drained(copy!, () => copyError);
      },
      async finish() {
        try {
          await endCopy(copy!, () => copyError).catch((e) => {
            throw pgError(loc, e, `loading table ${tableLabel(table)} (nothing written)`, 1);
          });
          const rowsWritten = await mergeStaged(session, { table, columns, stage, mode, key: options.key, period: options.period, target });
          return { rowsWritten };
        } finally {
          await close();
        }
      },
      async abort() {
        // Ending the session drops the staging table; the target was never touched.
        copy?.destroy();
        await close();
      },
    };
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
}

export function pgSession(client: pg.Client, loc: PgLocation): TableSession {
  return {
    label: loc.label,
    run: async (sql, params) => (await client.query(sql, params as unknown[])).rowCount ?? 0,
    rows: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
    fail: (e, doing, exitCode) => pgError(loc, e, doing, exitCode),
  };
}

type Cell = (v: unknown) => string;

/** COPY text format: tab between cells, \N for NULL, backslash escapes for \, tab, newline, CR. */
const needsEscape = /[\\\t\n\r]/;
const escapeText = (s: string) =>
  needsEscape.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")) : s;

function copyCell(kind: ColumnKind): Cell {
  if (kind === "double") return (v) => (v === null || v === undefined || v !== v ? "\\N" : String(v));
  if (kind === "timestamp") return (v) => (v === null || v === undefined || v !== v ? "\\N" : formatTimestamp(v as number));
  if (kind === "string") return (v) => (v === null || v === undefined ? "\\N" : escapeText(v as string));
  return (v) => {
    if (v === null || v === undefined || (typeof v === "number" && v !== v)) return "\\N";
    if (v instanceof Date) return formatTimestamp(v.getTime());
    return escapeText(typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v));
  };
}

function copyText(batch: OutBatch, cellsOf: Cell[]): string {
  const { n } = batch;
  const values = batch.values.map((v) => cells(v, n));
  const m = cellsOf.length;
  let text = "";
  for (let r = 0; r < n; r++) {
    let line = cellsOf[0]!(values[0]![r]);
    for (let j = 1; j < m; j++) line += "\t" + cellsOf[j]!(values[j]![r]);
    text += line + "\n";
  }
  return text;
}

function drained(w: Writable, failed: () => Error | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      const e = failed();
      if (e) {
        clearInterval(check);
        reject(e);
      }
    }, 100);
    w.once("drain", () => {
      clearInterval(check);
      resolve();
    });
  });
}

function endCopy(w: Writable, failed: () => Error | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const e = failed();
    if (e) return reject(e);
    w.once("error", reject);
    w.once("finish", () => resolve());
    w.end();
  });
}
