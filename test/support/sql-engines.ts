// The three engines `ridepred export sql` is executed on in the tests, behind one small interface:
// DuckDB in process, and throwaway PostgreSQL and MariaDB servers on loopback ports.
import { afterAll, beforeAll, describe } from "vitest";
import { type MariaDb, mariadbMissing, startMariadb } from "./mariadb.js";
import { type PgCluster, postgresMissing, startPostgres } from "./postgres.js";

export type ColumnType = "text" | "int" | "double";
export type Cell = string | number | null;

export interface ScoredRow {
  ride_id: string;
  predicted: number | null;
  reason: string | null;
}

export interface SqlEngine {
  readonly dialect: "duckdb" | "postgres" | "mysql";
  /** Whether DOUBLE columns hold NaN and infinities. */
  readonly nonFinite: boolean;
  exec(sql: string): Promise<void>;
  /** ride_id, predicted_duration and reject_reason of a view. */
  scored(view: string): Promise<ScoredRow[]>;
  /** Any query's rows as objects (DuckDB only: for the tests of single features). */
  rows?(sql: string): Promise<Record<string, unknown>[]>;
  /** Rows of a view that scored, computing every prediction in the engine (nothing sent back but the count). */
  count(view: string): Promise<number>;
  /** Create (or replace) a table with these columns and rows. */
  load(table: string, columns: [string, ColumnType][], rows: Cell[][]): Promise<void>;
  close(): Promise<void>;
}

const TYPES: Record<SqlEngine["dialect"], Record<ColumnType, string>> = {
  duckdb: { text: "VARCHAR", int: "INTEGER", double: "DOUBLE" },
  postgres: { text: "TEXT", int: "INTEGER", double: "DOUBLE PRECISION" },
  mysql: { text: "TEXT", int: "INT", double: "DOUBLE" },
};

const toRow = (r: Record<string, unknown>): ScoredRow => ({
  ride_id: String(r.ride_id),
  predicted: r.predicted_duration === null ? null : Number(r.predicted_duration),
  reason: (r.reject_reason as string | null) ?? null,
});

export async function duckdbEngine(): Promise<SqlEngine> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(":memory:", { threads: "2" });
  const c = await instance.connect();
  return {
    dialect: "duckdb",
    nonFinite: true,
    exec: async (sql) => void (await c.run(sql)),
    scored: async (view) => (await c.runAndReadAll(`SELECT ride_id, predicted_duration, reject_reason FROM "${view}"`)).getRowObjects().map(toRow),
    rows: async (sql) => (await c.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[],
    count: async (view) =>
      Number((await c.runAndReadAll(`SELECT count(*) FROM "${view}" WHERE predicted_duration IS NOT NULL OR reject_reason IS NOT NULL`)).getRows()[0]![0]),
    async load(table, columns, rows) {
      await c.run(`CREATE OR REPLACE TABLE "${table}" (${columns.map(([n, t]) => `"${n}" ${TYPES.duckdb[t]}`).join(", ")})`);
      const app = await c.createAppender(table);
      for (const row of rows) {
        row.forEach((v, j) => {
          if (v === null) app.appendNull();
          else if (columns[j]![1] === "text") app.appendVarchar(String(v));
          else if (columns[j]![1] === "int") app.appendInteger(v as number);
          else app.appendDouble(v as number);
        });
        app.endRow();
      }
      app.closeSync();
    },
    close: async () => c.closeSync(),
  };
}

export async function postgresEngine(cluster: PgCluster): Promise<SqlEngine> {
  const c = await cluster.client();
  // JIT-compiling the CASE expressions of a large tree model (the course's XGBoost run: 4.5 MB of them)
  // takes minutes where running them takes seconds; the README tells users the same.
  await c.query("SET jit = off");
  return {
    dialect: "postgres",
    nonFinite: true,
    exec: async (sql) => void (await c.query(sql)),
    scored: async (view) => (await c.query(`SELECT ride_id, predicted_duration, reject_reason FROM "${view}"`)).rows.map(toRow),
    count: async (view) =>
      Number((await c.query(`SELECT count(*) AS n FROM "${view}" WHERE predicted_duration IS NOT NULL OR reject_reason IS NOT NULL`)).rows[0].n),
    async load(table, columns, rows) {
      await c.query(`DROP TABLE IF EXISTS "${table}" CASCADE`);
      await c.query(`CREATE TABLE "${table}" (${columns.map(([n, t]) => `"${n}" ${TYPES.postgres[t]}`).join(", ")})`);
      const w = columns.length;
      for (let i = 0; i < rows.length; i += 1000) {
        const batch = rows.slice(i, i + 1000);
        const values = batch.map((_, r) => `(${columns.map((_c, j) => `$${r * w + j + 1}`).join(", ")})`).join(", ");
        // Numbers cross as text: shortest round-trip digits, which float8in reads back exactly.
        await c.query(
          `INSERT INTO "${table}" VALUES ${values}`,
          batch.flat().map((v) => (v === null ? null : String(v))),
        );
      }
    },
    close: () => c.end(),
  };
}

export async function mariadbEngine(server: MariaDb): Promise<SqlEngine> {
  const c = await server.connect();
  return {
    dialect: "mysql",
    nonFinite: false,
    exec: async (sql) => void (await c.query(sql)),
    scored: async (view) => {
      // The binary protocol (a prepared statement): MariaDB's text protocol prints some doubles with a
      // digit too few, which would lose the last bit of a prediction on the way to the test.
      const [rows] = await c.execute(`SELECT ride_id, predicted_duration, reject_reason FROM \`${view}\``);
      return (rows as Record<string, unknown>[]).map(toRow);
    },
    count: async (view) => {
      const [rows] = await c.query(`SELECT count(*) AS n FROM \`${view}\` WHERE predicted_duration IS NOT NULL OR reject_reason IS NOT NULL`);
      return Number((rows as { n: number }[])[0]!.n);
    },
    async load(table, columns, rows) {
      await c.query(`DROP TABLE IF EXISTS \`${table}\``);
      await c.query(`CREATE TABLE \`${table}\` (${columns.map(([n, t]) => `\`${n}\` ${TYPES.mysql[t]}`).join(", ")}) CHARACTER SET utf8mb4`);
      for (let i = 0; i < rows.length; i += 5000) await c.query(`INSERT INTO \`${table}\` VALUES ?`, [rows.slice(i, i + 5000)]);
    },
    close: () => c.end(),
  };
}

interface EngineSetup {
  name: "DuckDB" | "PostgreSQL" | "MariaDB";
  /** Why the engine cannot run here (its binaries are missing), else undefined. */
  skip: string | undefined;
  /** The engine, and what stops its server. */
  open(): Promise<{ engine: SqlEngine; stop: () => Promise<void> }>;
}

const ENGINES: EngineSetup[] = [
  { name: "DuckDB", skip: undefined, open: async () => ({ engine: await duckdbEngine(), stop: async () => {} }) },
  {
    name: "PostgreSQL",
    skip: postgresMissing(),
    open: async () => {
      const pg = await startPostgres();
      return { engine: await postgresEngine(pg), stop: () => pg.stop() };
    },
  },
  {
    name: "MariaDB",
    skip: mariadbMissing(),
    open: async () => {
      const maria = await startMariadb();
      return { engine: await mariadbEngine(maria), stop: () => maria.stop() };
    },
  },
];

/**
 * One describe() per engine, titled `${title} ${engine}` (skipped, saying why, where its binaries are
 * missing): the engine and its throwaway server start before the suite's own hooks and stop after it.
 * `engine()` gives the open engine inside hooks and tests.
 */
export function describeEngines(title: string, suite: (name: EngineSetup["name"], engine: () => SqlEngine) => void): void {
  for (const { name, skip, open } of ENGINES)
    describe.skipIf(skip !== undefined)(`${title} ${name}${skip ? ` (skipped: ${skip})` : ""}`, () => {
      let opened: Awaited<ReturnType<EngineSetup["open"]>> | undefined;
      beforeAll(async () => {
        opened = await open();
      }, 300_000);
      afterAll(async () => {
        await opened?.engine.close();
        await opened?.stop();
      });
      suite(name, () => opened!.engine);
    });
}
