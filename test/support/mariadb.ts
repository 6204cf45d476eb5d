// A throwaway MariaDB server for tests: Debian's mariadbd on an empty data directory in a temp dir,
// listening on 127.0.0.1 on a free port, grant tables skipped (no users: anyone on loopback is root),
// binary log off. stop() ends the server and removes the directory; a test process that dies without
// calling it still stops the server from its exit hook.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { freePort } from "./postgres.js";

export interface MariaDb {
  host: string;
  port: number;
  database: string;
  /** The server's directory (data in `data/`, log in `server.log`). */
  dir: string;
  /** A connected client (multiple statements allowed); the caller ends it. */
  connect(): Promise<mysql.Connection>;
  stop(): Promise<void>;
}

const BINARIES = ["mariadbd", "mysqld"];

function serverBinary(): string | undefined {
  for (const b of BINARIES)
    for (const dir of ["/usr/sbin", "/usr/bin", "/usr/local/bin"]) {
      const path = join(dir, b);
      if (spawnSync(path, ["--version"]).status === 0) return path;
    }
  return undefined;
}

/** Why MariaDB tests cannot run here, or undefined when they can (for `describe.skipIf` messages). */
export function mariadbMissing(): string | undefined {
  return serverBinary() === undefined ? "MariaDB server (mariadbd) not found (apt-get install mariadb-server)" : undefined;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
let hooked = false;

export async function startMariadb(database = "ridepred"): Promise<MariaDb> {
  const bin = serverBinary();
  if (!bin) throw new Error(mariadbMissing());
  const dir = mkdtempSync(join(tmpdir(), "ridepred-mariadb-"));
  mkdirSync(join(dir, "data"));
  const port = await freePort();
  const args = [
    "--no-defaults",
    `--datadir=${join(dir, "data")}`,
    `--socket=${join(dir, "sock")}`,
    `--pid-file=${join(dir, "pid")}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    "--skip-grant-tables",
    "--skip-log-bin",
    "--innodb-buffer-pool-size=128M",
    "--innodb-flush-log-at-trx-commit=0",
    "--character-set-server=utf8mb4",
    "--max-allowed-packet=64M",
    `--log-error=${join(dir, "server.log")}`,
    ...(process.getuid?.() === 0 ? ["--user=root"] : []),
  ];
  const child = spawn(bin, args, { stdio: "ignore" });
  const entry = { child, dir };
  running.add(entry);
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const e of running) {
        e.child.kill("SIGKILL");
        rmSync(e.dir, { recursive: true, force: true });
      }
    });
  }
  const host = "127.0.0.1";
  const connect = (db?: string) => mysql.createConnection({ host, port, user: "root", database: db, multipleStatements: true });
  const stop = async () => {
    if (!running.has(entry)) return;
    running.delete(entry);
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Wait until it answers (InnoDB initialises the empty data directory first: a few seconds).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const c = await connect();
      await c.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
      await c.end();
      break;
    } catch (e) {
      if (child.exitCode !== null || Date.now() > deadline) {
        let log = "";
        try {
          log = readFileSync(join(dir, "server.log"), "utf8").slice(-2000);
        } catch {}
        await stop();
        throw new Error(`mariadbd did not start: ${(e as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { host, port, database, dir, connect: () => connect(database), stop };
}
