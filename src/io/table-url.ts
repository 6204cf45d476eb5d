// Table locations: postgresql://USER[:PASS]@HOST[:PORT]/DB?table=SCHEMA.TABLE (also postgres://) and
// duckdb:PATH?table=NAME. Unset PostgreSQL parts come from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE
// and the password file (PGPASSFILE, else ~/.pgpass), as libpq takes them. A location is named in
// messages by redactLocation (redact.ts): never with its password.
import { readFileSync, statSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { RidepredError } from "../errors.js";
import { redactLocation } from "./redact.js";

export interface TableName {
  schema?: string;
  name: string;
}

export interface PgLocation {
  engine: "postgresql";
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** sslmode from the URL or PGSSLMODE (disable when unset, as for a local server). */
  sslmode?: string;
  table?: TableName;
  /** How messages name it: URL without the password. */
  label: string;
}

export interface DuckdbLocation {
  engine: "duckdb";
  path: string;
  table?: TableName;
  label: string;
}

export type TableLocation = PgLocation | DuckdbLocation;

const PG = /^postgres(ql)?:\/\//i;

export const isTableLocation = (location: string | undefined): boolean => !!location && (PG.test(location) || location.startsWith("duckdb:"));

export function parseTableUrl(location: string, env: NodeJS.ProcessEnv = process.env): TableLocation | undefined {
  if (PG.test(location)) return parsePg(location, env);
  if (location.startsWith("duckdb:")) return parseDuckdb(location);
  return undefined;
}

function parsePg(location: string, env: NodeJS.ProcessEnv): PgLocation {
  const label = redactLocation(location);
  let url: URL;
  try {
    url = new URL(location.replace(/^postgres(ql)?:/i, "pg:"));
  } catch {
    throw new RidepredError(`${label}: not a valid postgresql:// URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE?table=SCHEMA.TABLE)`);
  }
  for (const key of url.searchParams.keys())
    if (key !== "table" && key !== "sslmode") throw new RidepredError(`${label}: unknown URL parameter ${key} (expected table, sslmode)`);
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new RidepredError(`${label}: bad %-escape in the URL`);
    }
  };
  const host = url.hostname ? dec(url.hostname).replace(/^\[|\]$/g, "") : env.PGHOST || "localhost";
  const port = Number(url.port || env.PGPORT || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RidepredError(`${label}: bad port ${url.port || env.PGPORT}`);
  const user = url.username ? dec(url.username) : env.PGUSER || userInfo().username;
  const database = url.pathname.length > 1 ? dec(url.pathname.slice(1)) : env.PGDATABASE || user;
  const password = url.password ? dec(url.password) : env.PGPASSWORD || passfilePassword(host, port, database, user, env);
  const table = url.searchParams.get("table");
  const sslmode = url.searchParams.get("sslmode") ?? env.PGSSLMODE ?? undefined;
  return {
    engine: "postgresql",
    host,
    port,
    user,
    password,
    database,
    sslmode,
    table: table ? parseTableName(table, label) : undefined,
    label: label.replace(/^postgres:/i, "postgresql:"),
  };
}

function parseDuckdb(location: string): DuckdbLocation {
  const q = location.indexOf("?");
  const path = location.slice("duckdb:".length, q < 0 ? undefined : q);
  const params = new URLSearchParams(q < 0 ? "" : location.slice(q + 1));
  for (const key of params.keys()) if (key !== "table") throw new RidepredError(`${location}: unknown parameter ${key} (expected table)`);
  if (!path) throw new RidepredError(`${location}: expected duckdb:PATH.duckdb?table=NAME`);
  const table = params.get("table");
  return { engine: "duckdb", path, table: table ? parseTableName(table, location) : undefined, label: location };
}

/** "SCHEMA.TABLE" or "TABLE"; a part in double quotes may hold dots ("my.schema"."t"). */
export function parseTableName(spec: string, label: string): TableName {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")+)"|([^."]+))\s*(\.|$)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < spec.length && (m = re.exec(spec)) !== null) {
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.trim());
    at = re.lastIndex;
    if (m[3] === "") break;
  }
  if (at !== spec.length || parts.length < 1 || parts.length > 2)
    throw new RidepredError(`${label}: bad table name ${JSON.stringify(spec)} (expected TABLE or SCHEMA.TABLE)`);
  return parts.length === 2 ? { schema: parts[0], name: parts[1]! } : { name: parts[0]! };
}

/**
 * The password libpq would take from the password file: lines host:port:database:user:password, `*`
 * matching anything, `\:` and `\\` escaped; the first matching line wins. Ignored unless only its owner
 * can read it (libpq warns and ignores it too).
 */
export function passfilePassword(host: string, port: number, database: string, user: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.PGPASSFILE || join(env.HOME || homedir(), ".pgpass");
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      process.stderr.write(`warning: password file ${file} can be read by group or others: ignored (chmod 0600 it)\n`);
      return undefined;
    }
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const want = [host, String(port), database, user];
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith("#")) continue;
    const fields: string[] = [];
    let cur = "";
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (ch === "\\" && i + 1 < line.length) cur += line[++i];
      else if (ch === ":" && fields.length < 4) {
        fields.push(cur);
        cur = "";
      } else cur += ch;
    }
    fields.push(cur);
    if (fields.length !== 5) continue;
    const hostMatches = (f: string) => f === "*" || f === want[0] || (f === "localhost" && want[0]!.startsWith("/"));
    if (hostMatches(fields[0]!) && fields.slice(1, 4).every((f, i) => f === "*" || f === want[i + 1])) return fields[4];
  }
  return undefined;
}

/** An identifier quoted for SQL (PostgreSQL and DuckDB): "PULocationID", "my ""odd"" name". */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export const qualified = (t: TableName): string => (t.schema ? `${quoteIdent(t.schema)}.${quoteIdent(t.name)}` : quoteIdent(t.name));

export const tableLabel = (t: TableName): string => (t.schema ? `${t.schema}.${t.name}` : t.name);
