// test/support/postgres.ts itself: a real cluster starts as the postgres user on a loopback port, takes
// password logins (and refuses a wrong password), and stop() removes every trace of it.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { type PgCluster, postgresMissing, startPostgres } from "./support/postgres.js";

const missing = postgresMissing();
if (missing) console.warn(`skipping PostgreSQL tests: ${missing}`);

describe.skipIf(missing !== undefined)("throwaway PostgreSQL cluster", () => {
  let pgc: PgCluster;
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  afterAll(async () => {
    await pgc?.stop();
  });

  it("answers on its URL, as the superuser, in the database made for the caller", async () => {
    expect(pgc.url).toMatch(/^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/ridepred$/);
    const c = new pg.Client({ connectionString: pgc.url });
    await c.connect();
    const r = await c.query("SELECT current_database() AS db, current_setting('fsync') AS fsync");
    await c.end();
    expect(r.rows[0]).toEqual({ db: "ridepred", fsync: "off" });
  });

  it("refuses a wrong password", async () => {
    const c = new pg.Client({ host: pgc.host, port: pgc.port, user: pgc.user, password: "wrong", database: pgc.database });
    await expect(c.connect()).rejects.toThrow(/password authentication failed/);
  });

  it("createDatabase gives a second database; stop() removes the directory", async () => {
    const other = await startPostgres({ password: "plain" });
    const url = await other.createDatabase("second");
    expect(url).toBe(`postgresql://postgres:plain@127.0.0.1:${other.port}/second`);
    const c = await other.client("second");
    expect((await c.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await c.end();
    await other.stop();
    expect(existsSync(other.dir)).toBe(false);
  });
});
