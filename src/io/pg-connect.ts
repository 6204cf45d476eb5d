// One PostgreSQL connection for a source or a sink, and the errors users see: the server and table
// named, one line, exit 2 for what the user must fix (unreachable, login refused, no such database,
// table or column). The password is never part of a message: pg's own messages do not carry it, and
// every location is named by its redacted label.
import { createRequire } from "node:module";
import type PgModule from "pg";
import { RidepredError } from "../errors.js";
import type { PgLocation } from "./table-url.js";

/**
 * pg without its Cloudflare Workers probe. On Node 20, which has no global navigator, pg builds a fetch
 * Response at load to learn it is not in a Worker, and that loads Node's bundled undici: about a third of
 * pg's load time, on every table run. Given the navigator Node 21 and later define, pg goes straight to
 * its Node sockets; the stand-in exists only while pg loads.
 */
function loadPg(): typeof PgModule {
  const require = createRequire(import.meta.url);
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return require("pg");
  g.navigator = { userAgent: `Node.js/${process.versions.node}` };
  try {
    return require("pg");
  } finally {
    delete g.navigator;
  }
}
const pg = loadPg();

export async function pgConnect(loc: PgLocation): Promise<PgModule.Client> {
  const ssl =
    !loc.sslmode || loc.sslmode === "disable" || loc.sslmode === "allow" || loc.sslmode === "prefer"
      ? false
      : { rejectUnauthorized: loc.sslmode.startsWith("verify") };
  const client = new pg.Client({
    host: loc.host,
    port: loc.port,
    user: loc.user,
    password: loc.password ?? "",
    database: loc.database,
    ssl,
    connectionTimeoutMillis: 15_000,
    application_name: "ridepred",
  });
  // A server that goes away mid-run emits 'error' on the client: the pending query rejects with it too.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw pgError(loc, e, "cannot connect");
  }
  return client;
}

/** A pg or socket error as one line naming the server (and what was being done); exit 2 unless given. */
export function pgError(loc: PgLocation, e: unknown, doing: string, exitCode: 1 | 2 = 2): RidepredError {
  if (e instanceof RidepredError) return e;
  const err = e as { code?: string; message?: string; detail?: string; column?: string; table?: string };
  const server = `${loc.host}:${loc.port}`;
  const where = `${server}/${loc.database}`;
  let why = err.message ?? String(e);
  switch (err.code) {
    case "ECONNREFUSED":
      why = `connection refused (is PostgreSQL running on ${server}?)`;
      break;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      why = `unknown host ${loc.host}`;
      break;
    case "ETIMEDOUT":
      why = `timed out connecting to ${server}`;
      break;
    case "28P01":
    case "28000":
      why = `login refused for user ${loc.user}: ${err.message}`;
      break;
    case "3D000":
      why = `database ${loc.database} does not exist`;
      break;
  }
  if (/timeout expired/i.test(why)) why = `timed out connecting to ${server}`;
  const detail = err.detail && !why.includes(err.detail) ? ` (${err.detail})` : "";
  return new RidepredError(`${loc.label}: ${doing} (${where}): ${redact(why, loc)}${detail ? redact(detail, loc) : ""}`, exitCode);
}

/** Belt and braces: a message that somehow quotes the password loses it. */
function redact(text: string, loc: PgLocation): string {
  return loc.password ? text.split(loc.password).join("***") : text;
}
