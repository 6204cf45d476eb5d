// One DuckDB connection per source or sink, on the one instance this process keeps per file (a file is
// open read-write in one instance at a time; a DuckDB -> DuckDB run reads and writes the same one).
// @duckdb/node-api is imported here only, and only when a duckdb: location is used.
import type { DuckDBConnection } from "@duckdb/node-api";
import { RidepredError } from "../errors.js";
import type { DuckdbLocation } from "./table-url.js";

export async function duckdbConnect(loc: DuckdbLocation): Promise<DuckDBConnection> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  try {
    const instance = await DuckDBInstance.fromCache(loc.path);
    const connection = await instance.connect();
    instanceOf.set(connection, instance);
    return connection;
  } catch (e) {
    throw duckdbError(loc, e, "cannot open");
  }
}

/**
 * Each connection's instance, kept alive as long as the connection is. A connection alone keeps the
 * database open but not the instance object: once the garbage collector took that, DuckDB's cache sees
 * the file's database "shutting down" and the next fromCache of the same file (a DuckDB -> DuckDB run's
 * sink, after its source) busy-waits, forever, for the source's connection to close.
 */
const instanceOf = new WeakMap<DuckDBConnection, object>();

/** A DuckDB error as one line naming the file (exit 2 unless given). */
export function duckdbError(loc: DuckdbLocation, e: unknown, doing: string, exitCode: 1 | 2 = 2): RidepredError {
  if (e instanceof RidepredError) return e;
  const msg = ((e as Error).message ?? String(e)).split("\n")[0];
  return new RidepredError(`${loc.label}: ${doing} (${loc.path}): ${msg}`, exitCode);
}
