// A PostgreSQL table (or --query) as a batch source. The columns and their types come from the
// statement's own description (SELECT ... WHERE false); the rows stream through one
// COPY (SELECT ...) TO STDOUT (FORMAT binary), decoded batch by batch, so memory stays flat however
// large the table. Each column is cast in the SELECT to a type the decoder reads: integers and doubles
// as they are, numeric and real to double precision, date to timestamp, anything else to text, so
// text ids, numeric distances, timestamp or timestamptz all reach the model through the same coercion
// as file cells. COPY takes no parameters: {start} {end} {year} {month} {day} in --where/--query are
// rendered by ridepred from the parsed run date (table-sql.ts), never from user text.
import type pg from "pg";
import type { BytesColumn, Column } from "../columns.js";
import { RidepredError } from "../errors.js";
import type { SourceOptions } from "./index.js";
import { BinaryBatcher, type Decode, headerLength } from "./pg-copy-binary.js";
import { pgConnect, pgError } from "./pg-connect.js";
import { copyOut } from "./pg-copy-out.js";
import { fillSql } from "./table-sql.js";
import { type PgLocation, qualified, quoteIdent, tableLabel } from "./table-url.js";
import type { BatchOptions, BatchSource, ColumnUse, RecordBatch } from "./types.js";

/** PostgreSQL type OIDs the reader handles natively; every other type is read as text. */
const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  name: 19,
  uuid: 2950,
} as const;
const NUMBERS = new Set<number>([OID.int2, OID.int4, OID.int8, OID.float4, OID.float8, OID.numeric]);
const TIMES = new Set<number>([OID.date, OID.timestamp, OID.timestamptz]);
const TEXTS = new Set<number>([OID.text, OID.varchar, OID.bpchar, OID.name]);

export async function openPgSource(loc: PgLocation, options: SourceOptions): Promise<BatchSource> {
  if (!loc.table && options.query === undefined) throw new RidepredError(`${loc.label}: name the table (?table=SCHEMA.TABLE) or give --query`);
  const client = await pgConnect(loc);
  const what = options.query !== undefined ? "--query" : `table ${tableLabel(loc.table!)}`;
  try {
    const from = options.query !== undefined ? `(${fillSql(options.query, options.period, "--query")}) AS q` : qualified(loc.table!);
    const where = options.where !== undefined ? ` WHERE (${fillSql(options.where, options.period, "--where")})` : "";
    const described = await client.query({ text: `SELECT * FROM ${from}${where ? `${where} AND false` : " WHERE false"}` }).catch((e) => {
      throw describeError(loc, e, what);
    });
    const types = new Map(described.fields.map((f) => [f.name, f.dataTypeID]));
    const typeName = await typeNames(client, [...types.values()]);
    let done = false;
    return {
      names: described.fields.map((f) => f.name),
      timestampColumns: new Set(described.fields.filter((f) => TIMES.has(f.dataTypeID)).map((f) => f.name)),
      progress: () => undefined,
      checkColumn(name: string, use: ColumnUse) {
        const oid = types.get(name)!;
        const ok = use === "number" || use === "category" ? NUMBERS.has(oid) || TEXTS.has(oid) : use === "timestamp" ? TIMES.has(oid) || TEXTS.has(oid) : true;
        if (!ok)
          throw new RidepredError(
            `${loc.label}: ${what}: column ${name} is ${typeName.get(oid) ?? `type ${oid}`}, which cannot be read as a ${use === "category" ? "category" : use}`,
          );
      },
      async *batches(wanted: readonly string[], batchSize: number, opts: BatchOptions = {}): AsyncGenerator<RecordBatch> {
        const asBytes = new Set(opts.bytes);
        const decode = wanted.map((w): Decode => {
          const d = decodeOf(types.get(w)!);
          return d === "text" && asBytes.has(w) ? "bytes" : d;
        });
        const select = wanted.map((w, j) => castTo(quoteIdent(w), types.get(w)!, decode[j]!)).join(", ");
        const order = opts.stableOrder ? await stableOrder(client, loc, options, wanted) : "";
        const sql = `COPY (SELECT ${select} FROM ${from}${where}${order}) TO STDOUT (FORMAT binary)`;
        yield* copyBatches(client, sql, wanted, decode, batchSize, (e) => pgError(loc, e, `reading ${what}`));
      },
      async close() {
        if (done) return;
        done = true;
        await client.end().catch(() => {});
      },
    };
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
}

function describeError(loc: PgLocation, e: unknown, what: string): RidepredError {
  const err = e as { code?: string; message?: string };
  if (err.code === "42P01" || err.code === "3F000") return new RidepredError(`${loc.label}: ${what} (${loc.host}:${loc.port}/${loc.database}): ${err.message}`);
  if (err.code === "42703") return new RidepredError(`${loc.label}: ${what}: ${err.message}`);
  return pgError(loc, e, what);
}

async function typeNames(client: pg.Client, oids: number[]): Promise<Map<number, string>> {
  const r = await client.query<{ oid: number; name: string }>(
    "SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM pg_type WHERE oid = ANY($1::oid[])",
    [oids],
  );
  return new Map(r.rows.map((row) => [row.oid, row.name]));
}

function decodeOf(oid: number): Decode {
  if (oid === OID.int2) return "int2";
  if (oid === OID.int4) return "int4";
  if (oid === OID.int8) return "int8";
  if (NUMBERS.has(oid)) return "float8";
  if (TIMES.has(oid)) return "timestamp";
  return "text";
}

/** The SELECT expression giving a column in the decoder's type. */
function castTo(ident: string, oid: number, d: Decode): string {
  if (d === "float8" && oid !== OID.float8) return `${ident}::float8`;
  // timestamptz's binary form is its UTC instant; as naive wall-clock time it is read in the session's zone.
  if (d === "timestamp" && oid !== OID.timestamp) return `${ident}::timestamp`;
  if ((d === "text" || d === "bytes") && !TEXTS.has(oid)) return `${ident}::text`;
  return ident;
}

/**
 * Generated ride ids number the rows, so they must come in the same order on every run: by the table's
 * primary key when it has one, else by every column read (rows equal in all of them give equal output
 * rows but their ids, which then swap between runs without changing the table's contents).
 */
async function stableOrder(client: pg.Client, loc: PgLocation, options: SourceOptions, wanted: readonly string[]): Promise<string> {
  if (options.query === undefined && loc.table) {
    const pk = await client.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
       WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [qualified(loc.table)],
    );
    if (pk.rows.length > 0) return ` ORDER BY ${pk.rows.map((r) => quoteIdent(r.name)).join(", ")}`;
  }
  return ` ORDER BY ${wanted.map((_, j) => j + 1).join(", ")}`;
}

/** Stream a binary COPY into record batches of at most batchSize rows. */
async function* copyBatches(
  client: pg.Client,
  sql: string,
  wanted: readonly string[],
  decode: Decode[],
  batchSize: number,
  fail: (e: unknown) => Error,
): AsyncGenerator<RecordBatch> {
  const stream = client.query(copyOut(sql));
  const batcher = new BinaryBatcher(decode, batchSize);
  const batch = (): RecordBatch => {
    const cols = batcher.columns();
    const columns: Record<string, Column> = {};
    const bytes: Record<string, BytesColumn> = {};
    for (let j = 0; j < wanted.length; j++) {
      if (decode[j] === "bytes") bytes[wanted[j]!] = cols[j] as BytesColumn;
      else columns[wanted[j]!] = cols[j] as Column;
    }
    return { n: batcher.n, columns, bytes, errors: [] };
  };
  let pending: Buffer | undefined;
  let started = false;
  let ended = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      let at = 0;
      if (!started) {
        const h = headerLength(buf);
        if (h < 0) {
          pending = buf;
          continue;
        }
        started = true;
        at = h;
      }
      while (!ended) {
        const next = batcher.tuples(buf, at, buf.length);
        if (next < 0) ended = true;
        else at = next;
        if (batcher.full || (ended && batcher.n > 0)) {
          yield batch();
          batcher.reset();
          continue;
        }
        break;
      }
      if (!ended && at < buf.length) pending = buf.subarray(at);
      buf = Buffer.alloc(0);
    }
  } catch (e) {
    throw fail(e);
  } finally {
    if (!ended) stream.destroy();
  }
  if (!ended) throw fail(new Error("the COPY stream ended before its trailer"));
}
