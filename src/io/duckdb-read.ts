// A DuckDB table (or --query) as a batch source: the statement's result streams chunk by chunk, each
// chunk (up to 2,048 rows) one record batch. Columns are cast in the SELECT as for PostgreSQL
// (pg-read.ts): numbers to DOUBLE, dates and timestamps to epoch ms as DOUBLE, anything else to text.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Column } from "../columns.js";
import { RidepredError } from "../errors.js";
import { duckdbConnect, duckdbError } from "./duckdb-connect.js";
import type { SourceOptions } from "./index.js";
import { fillSql } from "./table-sql.js";
import { type DuckdbLocation, qualified, quoteIdent, tableLabel } from "./table-url.js";
import type { BatchOptions, BatchSource, ColumnUse, RecordBatch } from "./types.js";

const NUMBER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;
const TIME_TYPES = /^(DATE|TIMESTAMP.*)$/;
const TEXT_TYPES = /^VARCHAR$/;

type Kind = "number" | "time" | "text";

export async function openDuckdbSource(loc: DuckdbLocation, options: SourceOptions): Promise<BatchSource> {
  if (!loc.table && options.query === undefined) throw new RidepredError(`${loc.label}: name the table (?table=NAME) or give --query`);
  const conn = await duckdbConnect(loc);
  const what = options.query !== undefined ? "--query" : `table ${tableLabel(loc.table!)}`;
  try {
    const from = options.query !== undefined ? `(${fillSql(options.query, options.period, "--query")}) AS q` : qualified(loc.table!);
    const where = options.where !== undefined ? ` WHERE (${fillSql(options.where, options.period, "--where")})` : "";
    const described = await conn.run(`SELECT * FROM ${from}${where} LIMIT 0`).catch((e) => {
      throw duckdbError(loc, e, what);
    });
    const names = described.columnNames();
    const typeOf = new Map(names.map((n, i) => [n, described.columnType(i).toString()]));
    const kindOf = (name: string): Kind => {
      const t = typeOf.get(name)!;
      return NUMBER_TYPES.test(t) ? "number" : TIME_TYPES.test(t) ? "time" : "text";
    };
    return {
      names,
      timestampColumns: new Set(names.filter((n) => kindOf(n) === "time")),
      progress: () => undefined,
      checkColumn(name: string, use: ColumnUse) {
        const t = typeOf.get(name)!;
        const k = kindOf(name);
        const ok = use === "timestamp" ? k === "time" || TEXT_TYPES.test(t) : k === "number" || TEXT_TYPES.test(t);
        if (!ok) throw new RidepredError(`${loc.label}: ${what}: column ${name} is ${t}, which cannot be read as a ${use}`);
      },
      async *batches(wanted: readonly string[], _batchSize: number, opts: BatchOptions = {}): AsyncGenerator<RecordBatch> {
        const kinds = wanted.map(kindOf);
        const select = wanted.map((w, j) => selectExpr(quoteIdent(w), kinds[j]!)).join(", ");
        const order = opts.stableOrder ? await stableOrder(conn, loc, options, wanted) : "";
        yield* chunks(conn, `SELECT ${select} FROM ${from}${where}${order}`, wanted, kinds, (e) => duckdbError(loc, e, `reading ${what}`));
      },
      async close() {
        conn.closeSync();
      },
    };
  } catch (e) {
    conn.closeSync();
    throw e;
  }
}

function selectExpr(ident: string, kind: Kind): string {
  if (kind === "number") return `${ident}::DOUBLE`;
  if (kind === "time") return `(epoch_us(${ident}::TIMESTAMP) / 1000.0)::DOUBLE`;
  return `${ident}::VARCHAR`;
}

/** Generated ride ids need a stable row order: the primary key when there is one, else every column read. */
async function stableOrder(conn: DuckDBConnection, loc: DuckdbLocation, options: SourceOptions, wanted: readonly string[]): Promise<string> {
  if (options.query === undefined && loc.table) {
    const r = await conn.runAndReadAll(
      "SELECT constraint_column_names AS cols FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND table_name = $1 AND schema_name = coalesce($2, current_schema())",
      [loc.table.name, loc.table.schema ?? null],
    );
    const cols = r.getRowObjectsJS()[0]?.cols as string[] | undefined;
    if (cols && cols.length > 0) return ` ORDER BY ${cols.map(quoteIdent).join(", ")}`;
  }
  return ` ORDER BY ${wanted.map((_, j) => j + 1).join(", ")}`;
}

async function* chunks(
  conn: DuckDBConnection,
  sql: string,
  wanted: readonly string[],
  kinds: Kind[],
  fail: (e: unknown) => Error,
): AsyncGenerator<RecordBatch> {
  let result: Awaited<ReturnType<DuckDBConnection["stream"]>>;
  try {
    result = await conn.stream(sql);
  } catch (e) {
    throw fail(e);
  }
  for (;;) {
    let chunk: Awaited<ReturnType<typeof result.fetchChunk>>;
    try {
      chunk = await result.fetchChunk();
    } catch (e) {
      throw fail(e);
    }
    if (!chunk || chunk.rowCount === 0) return;
    const n = chunk.rowCount;
    const columns: Record<string, Column> = {};
    wanted.forEach((w, j) => {
      const values = chunk!.getColumnValues(j);
      if (kinds[j] === "text") columns[w] = values as (string | null)[];
      else {
        const out = new Float64Array(n);
        for (let r = 0; r < n; r++) {
          const v = values[r];
          out[r] = v === null || v === undefined ? NaN : (v as number);
        }
        columns[w] = out;
      }
    });
    yield { n, columns, errors: [] };
  }
}
