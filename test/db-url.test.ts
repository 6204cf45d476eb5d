// Table locations without a server: URL parts and libpq-style defaults (environment, password file),
// redaction of the password, table names, and the run-period placeholders rendered into SQL.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runPeriod } from "../src/batch/template.js";
import { fillSql } from "../src/io/table-sql.js";
import { redactLocation } from "../src/io/redact.js";
import { parseTableName, parseTableUrl, passfilePassword } from "../src/io/table-url.js";

describe("table URLs", () => {
  it("postgresql:// parts, with %-escapes; postgres:// too; the label has no password", () => {
    const loc = parseTableUrl("postgres://ann:p%40ss%3Aw0rd@db.example:6543/trips?table=analytics.rides_2021", {});
    expect(loc).toMatchObject({
      engine: "postgresql",
      host: "db.example",
      port: 6543,
      user: "ann",
      password: "p@ss:w0rd",
      database: "trips",
      table: { schema: "analytics", name: "rides_2021" },
      label: "postgresql://ann@db.example:6543/trips?table=analytics.rides_2021",
    });
  });

  it("unset parts come from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE", () => {
    const env = { PGHOST: "pg.internal", PGPORT: "5433", PGUSER: "etl", PGPASSWORD: "from-env", PGDATABASE: "warehouse" };
    expect(parseTableUrl("postgresql:///?table=t", env)).toMatchObject({
      host: "pg.internal",
      port: 5433,
      user: "etl",
      password: "from-env",
      database: "warehouse",
    });
    // The URL wins over the environment; the database defaults to the user's name, as in libpq.
    expect(parseTableUrl("postgresql://bob@h?table=t", { PGPORT: "5433" })).toMatchObject({
      host: "h",
      port: 5433,
      user: "bob",
      database: "bob",
      password: undefined,
    });
  });

  it("the password file: first matching line, * wildcards, \\: escapes; ignored unless 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-pgpass-"));
    const file = join(dir, "pgpass");
    writeFileSync(file, ["# host:port:database:user:password", "other:5432:*:*:nope", "h:5432:db:etl:first\\:pw", "*:*:*:*:fallback"].join("\n"));
    chmodSync(file, 0o600);
    const env = { PGPASSFILE: file };
    expect(passfilePassword("h", 5432, "db", "etl", env)).toBe("first:pw");
    expect(passfilePassword("x", 1, "y", "z", env)).toBe("fallback");
    expect(parseTableUrl("postgresql://etl@h/db?table=t", env)).toMatchObject({ password: "first:pw" });
    chmodSync(file, 0o644);
    expect(passfilePassword("h", 5432, "db", "etl", env)).toBeUndefined();
  });

  it("redactLocation drops the password and nothing else", () => {
    expect(redactLocation("postgresql://u:secret@h:1/d?table=t")).toBe("postgresql://u@h:1/d?table=t");
    expect(redactLocation("postgres://u@h/d")).toBe("postgres://u@h/d");
    expect(redactLocation("out/preds.csv")).toBe("out/preds.csv");
    expect(redactLocation("https://u:pw@h/x/y.parquet?X-Amz-Signature=s")).toBe("https://h/x/y.parquet?...");
    expect(redactLocation("https://h/x/y.parquet")).toBe("https://h/x/y.parquet");
  });

  it("duckdb:PATH?table=NAME; quoted table names; bad ones refused", () => {
    expect(parseTableUrl("duckdb:data/rides.duckdb?table=preds")).toMatchObject({ engine: "duckdb", path: "data/rides.duckdb", table: { name: "preds" } });
    expect(parseTableName('"my.schema"."Rides ""2021"""', "x")).toEqual({ schema: "my.schema", name: 'Rides "2021"' });
    expect(() => parseTableName("a.b.c", "x")).toThrow(/bad table name/);
    expect(() => parseTableUrl("postgresql://h/d?tabel=t")).toThrow(/unknown URL parameter tabel/);
  });
});

describe("run-period placeholders in SQL", () => {
  it("{start} {end} are timestamp literals of the period, {year} {month} {day} integers", () => {
    const p = runPeriod("2021-03-05", "previous-month");
    expect(fillSql("t >= {start} AND t < {end} AND extract(year FROM t) = {year} AND {month} = 2 AND {day} = 1", p, "--where")).toBe(
      "t >= TIMESTAMP '2021-02-01 00:00:00' AND t < TIMESTAMP '2021-03-01 00:00:00' AND extract(year FROM t) = 2021 AND 2 = 2 AND 1 = 1",
    );
    const day = runPeriod("2021-12-31", "day");
    expect(fillSql("{start}/{end}", day, "--where")).toBe("TIMESTAMP '2021-12-31 00:00:00'/TIMESTAMP '2022-01-01 00:00:00'");
    expect(() => fillSql("{strat}", day, "--where")).toThrow(/--where: unknown placeholder \{strat\}/);
    // JSON or other braces that are not a bare name are left alone.
    expect(fillSql(`'{"a": 1}'::json`, day, "--query")).toBe(`'{"a": 1}'::json`);
  });
});
