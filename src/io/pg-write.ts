// A PostgreSQL table as a sink. Batches go through COPY ... FROM STDIN in the binary format
// (pg-copy-encode.ts) and the target is changed in one transaction, so a run that fails or is killed
// leaves it as it was:
//   - a target that does not exist yet is created inside a transaction held open for the whole run and
//     loaded directly (COPY FREEZE, its primary key built once at the end by one sort instead of a
//     million index insertions); until COMMIT nobody sees it, and a dead session takes it away;
//   - an existing target gets the rows through a temporary staging table (the session's own) that
//     finish() merges in one transaction (table-merge.ts).
import type { Writable } from "node:stream";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { RidepredError } from "../errors.js";
import type { SinkOptions } from "./index.js";
import { pgConnect, pgError } from "./pg-connect.js";
import { COPY_HEADER, COPY_TRAILER, CopyEncoder } from "./pg-copy-encode.js";
import { checkTarget, columnDefs, describeTarget, mergeStaged, refuseDuplicateIds, type TableSession } from "./table-merge.js";
import { type PgLocation, type TableName, qualified, quoteIdent, tableLabel } from "./table-url.js";
import type { OutBatch, OutColumn, Sink } from "./types.js";

/** Encoded bytes the COPY stream may hold before write() waits: reading and scoring go on meanwhile. */
const IN_FLIGHT = 8 << 20;

export async function openPgSink(loc: PgLocation, columns: readonly OutColumn[], options: SinkOptions): Promise<Sink> {
  if (!loc.table) throw new RidepredError(`${loc.label}: name the output table (?table=SCHEMA.TABLE)`);
  const table = loc.table;
  const client = await pgConnect(loc);
  const session = pgSession(client, loc);
  const stage = `"ridepred_stage_${process.pid}"`;
  let copy: (Writable & { rowCount?: number }) | undefined;
  let copyError: Error | undefined;
  try {
    const target = await describeTarget(session, table, options.key).catch((e) => {
      throw pgError(loc, e, `looking up table ${tableLabel(table)}`);
    });
    const mode = checkTarget(loc.label, { table, columns, key: options.key, period: options.period, target, mode: options.ifExists });
    const direct = !target.exists;
    const into = direct ? qualified(table) : stage;
    await (direct ? createDirect(session, table, columns) : session.run(`CREATE TEMP TABLE ${stage} (${columnDefs(columns)})`)).catch((e) => {
      throw pgError(loc, e, direct ? `creating table ${tableLabel(table)}` : "creating the staging table");
    });
    const names = columns.map((c) => quoteIdent(c.name)).join(", ");
    copy = client.query(copyFrom(`COPY ${into} (${names}) FROM STDIN (FORMAT binary${direct ? ", FREEZE" : ""})`));
    copy.on("error", (e) => (copyError ??= e));
    copy.write(COPY_HEADER);
    const encoder = new CopyEncoder(columns.map((c) => c.kind));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    };
    return {
      takesBytes: true,
      async write(batch: OutBatch) {
        if (copyError) throw pgError(loc, copyError, `loading table ${tableLabel(table)}`, 1);
        if (batch.n === 0) return;
        copy!.write(encoder.encode(batch));
        if (copy!.writableLength > IN_FLIGHT) await drained(copy!, () => copyError);
      },
      async finish() {
        try {
          copy!.write(COPY_TRAILER);
          await endCopy(copy!, () => copyError).catch((e) => {
            throw pgError(loc, e, `loading table ${tableLabel(table)} (nothing written)`, 1);
          });
          if (direct) return { rowsWritten: await commitDirect(session, table, columns, options.key, copy!.rowCount ?? 0) };
          const rowsWritten = await mergeStaged(session, { table, columns, stage, mode, key: options.key, period: options.period, target });
          return { rowsWritten };
        } finally {
          await close();
        }
      },
      async abort() {
        // Ending the session drops the staging table and rolls back a table being created.
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

/** BEGIN, and the new table without its key (added by commitDirect once the rows are in). */
async function createDirect(s: TableSession, table: TableName, columns: readonly OutColumn[]): Promise<void> {
  await s.run("BEGIN");
  await s.run(`CREATE TABLE ${qualified(table)} (${columnDefs(columns)})`);
}

/** The primary key over the loaded rows, then COMMIT; a ride_id loaded twice rolls everything back (exit 1, named). */
async function commitDirect(s: TableSession, table: TableName, columns: readonly OutColumn[], key: string | undefined, rows: number): Promise<number> {
  const keyed = key !== undefined && columns.some((c) => c.name === key);
  try {
    if (keyed) {
      await s.run("SAVEPOINT ridepred_key");
      await s.run(`ALTER TABLE ${qualified(table)} ADD PRIMARY KEY (${quoteIdent(key)})`).catch(async (e) => {
        if ((e as { code?: string }).code === "23505") await refuseDuplicate(s, table, key);
        throw e;
      });
    }
    await s.run("COMMIT");
    return rows;
  } catch (e) {
    await s.run("ROLLBACK").catch(() => {});
    throw s.fail(e, `writing table ${tableLabel(table)} (rolled back, nothing written)`, 1);
  }
}

/** The first ride_id the run loaded twice, named (the key could not be built). */
async function refuseDuplicate(s: TableSession, table: TableName, key: string): Promise<void> {
  await s.run("ROLLBACK TO SAVEPOINT ridepred_key");
  await refuseDuplicateIds(s, qualified(table), key, table);
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
