// Real rides into a PostgreSQL table for the database tests: rows from a ../shared Parquet file, in
// file order, through COPY FROM STDIN (doubles in shortest round-trip form, so the table holds exactly
// the file's values; timestamps as the file's naive wall-clock time).
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

export type Row = Record<string, unknown>;

export interface LoadColumn {
  name: string;
  /** SQL type, e.g. "text", "double precision", "numeric", "timestamp", "bigint PRIMARY KEY". */
  type: string;
  value: (row: Row, i: number) => unknown;
}

export const readRides = async (path: string): Promise<Row[]> => parquetReadObjects({ file: await asyncBufferFromFile(path) }) as Promise<Row[]>;

const ts = (d: Date) => d.toISOString().slice(0, 23).replace("T", " ");

function cell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) return "\\N";
  if (v instanceof Date) return ts(v);
  return String(v).replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

export async function loadTable(client: pg.Client, table: string, columns: LoadColumn[], rows: Row[]): Promise<void> {
  await client.query(`CREATE TABLE ${table} (${columns.map((c) => `"${c.name}" ${c.type}`).join(", ")})`);
  const stream = client.query(copyFrom(`COPY ${table} (${columns.map((c) => `"${c.name}"`).join(", ")}) FROM STDIN`));
  await new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("finish", () => resolve());
    let text = "";
    rows.forEach((row, i) => {
      text += columns.map((c) => cell(c.value(row, i))).join("\t") + "\n";
      if (text.length > 1 << 20) {
        stream.write(text);
        text = "";
      }
    });
    stream.end(text);
  });
}

/** The columns of a green trip file as PostgreSQL stores them in a typical schema. */
export const greenColumns = (over: Partial<Record<string, string>> = {}): LoadColumn[] =>
  [
    ["lpep_pickup_datetime", "timestamp"],
    ["lpep_dropoff_datetime", "timestamp"],
    ["PULocationID", "text"],
    ["DOLocationID", "text"],
    ["trip_distance", "double precision"],
    ["fare_amount", "double precision"],
  ].map(([name, type]) => ({ name: name!, type: over[name!] ?? type!, value: (row: Row) => row[name!] }));
