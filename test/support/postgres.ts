// A throwaway PostgreSQL cluster for tests: Debian's initdb/pg_ctl run as the `postgres` user (initdb
// refuses root) in a temporary directory it owns, listening on 127.0.0.1 on a free port, fsync off (the
// data is thrown away), password authentication over TCP (so a wrong password is really refused).
// stop() ends the server and removes the directory; a test process that dies without calling it still
// stops the server from its exit hook.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface PgCluster {
  /** postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE (password URL-encoded). */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The cluster's directory (data in `data/`, server log in `server.log`). */
  dir: string;
  /** A connected client as the superuser; the caller ends it. */
  client(database?: string): Promise<pg.Client>;
  /** Creates another database in the cluster and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export interface PgOptions {
  /** Superuser password (default: a random one with characters that need URL encoding). */
  password?: string;
  /** Database created for the caller (default "ridepred"). */
  database?: string;
}

/** The directory holding initdb and pg_ctl, newest major version first; undefined when none is installed. */
export function postgresBin(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin/initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], "bin");
}

/** Why PostgreSQL tests cannot run here, or undefined when they can (for `describe.skipIf` messages). */
export function postgresMissing(): string | undefined {
  if (postgresBin() === undefined) return "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)";
  if (isRoot() && postgresUid() === undefined) return "running as root but there is no `postgres` user to run initdb as";
  return undefined;
}

const isRoot = () => process.getuid?.() === 0;

function postgresUid(): { uid: number; gid: number } | undefined {
  const r = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Runs a PostgreSQL binary as the postgres user when we are root, else as ourselves. */
function runPg(bin: string, args: string[]): void {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  try {
    execFileSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${bin.split("/").pop()} failed: ${err.stderr?.toString() || err.stdout?.toString() || err.message}`);
  }
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const running = new Set<{ bin: string; data: string; dir: string }>();
let hooked = false;
function stopAllSync(): void {
  for (const c of running) {
    try {
      runPg(join(c.bin, "pg_ctl"), ["stop", "-D", c.data, "-m", "immediate", "-w"]);
    } catch {}
    rmSync(c.dir, { recursive: true, force: true });
  }
  running.clear();
}

export async function startPostgres(opts: PgOptions = {}): Promise<PgCluster> {
  const missing = postgresMissing();
  if (missing) throw new Error(missing);
  const bin = postgresBin() as string;
  const password = opts.password ?? `pw:${Math.random().toString(36).slice(2, 10)}@/#x`;
  const user = "postgres";
  const database = opts.database ?? "ridepred";
  const dir = mkdtempSync(join(tmpdir(), "ridepred-pg-"));
  const data = join(dir, "data");
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    const owner = postgresUid() as { uid: number; gid: number };
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);
  runPg(join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    user,
    `--pwfile=${pwfile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ]);
  rmSync(pwfile, { force: true });
  const entry = { bin, data, dir };
  running.add(entry);
  if (!hooked) {
    hooked = true;
    process.once("exit", stopAllSync);
  }
  // A free port can be taken between the probe and the bind: try a few.
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c timezone=UTC`;
    try {
      runPg(join(bin, "pg_ctl"), ["start", "-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-o", settings]);
      break;
    } catch (e) {
      if (attempt >= 3) {
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  const host = "127.0.0.1";
  const urlFor = (db: string) => `postgresql://${user}:${encodeURIComponent(password)}@${host}:${port}/${db}`;
  const client = async (db = database) => {
    const c = new pg.Client({ host, port, user, password, database: db });
    await c.connect();
    return c;
  };
  const createDatabase = async (name: string) => {
    const c = await client("postgres");
    try {
      await c.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    } finally {
      await c.end();
    }
    return urlFor(name);
  };
  if (database !== "postgres") await createDatabase(database);
  return {
    url: urlFor(database),
    host,
    port,
    user,
    password,
    database,
    dir,
    client,
    createDatabase,
    async stop() {
      if (!running.has(entry)) return;
      running.delete(entry);
      try {
        runPg(join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w", "-t", "30"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
