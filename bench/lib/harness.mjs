// What the bench drivers share: their options, timed child runs, a column of an output CSV, how they
// print row counts, a free loopback port, and the servers the serve benches compare.
import { spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";

/** The value after `--name` on the command line, else def. */
export function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}

/** Run a command to its end (stdin closed): its wall seconds and stderr; a failure throws with its stderr. */
export function run(cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, stderr: r.stderr };
}

/** Column `name` of a CSV file as numbers (a plain split: the bench outputs have no quoted fields). */
export async function column(path, name) {
  const out = [];
  let idx = -1;
  for await (const line of createInterface({ input: createReadStream(path) })) {
    if (idx < 0) idx = line.split(",").indexOf(name);
    else out.push(Number(line.split(",")[idx]));
  }
  return out;
}

/** A count as 1,234,567. */
export const fmt = (x) => Math.round(x).toLocaleString("en-US");

/** A loopback TCP port free at the time of asking (the OS's pick, then released). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * A server named on a serve bench's command line: "echo", "NAME=DIR [node flags]" (`ridepred serve` from the
 * tree DIR) or "NAME=F.mjs [node flags] [-- script args]" (a script that prints {"port": N} on its first line).
 */
export function serverSpec(s) {
  const [name, rest] = s === "echo" ? ["echo", "echo"] : s.split(/=(.*)/s);
  const [tree, ...words] = rest.split(" ");
  const cut = words.indexOf("--");
  return { name, tree, flags: cut < 0 ? words : words.slice(0, cut), scriptArgs: cut < 0 ? [] : words.slice(cut + 1) };
}

/** The node arguments after the flags that start a server spec on port (the echo is bench/serve-echo.mjs under root); script when it is one. */
export function serverArgv(root, { tree, scriptArgs }, port) {
  const script = tree === "echo" ? join(root, "bench/serve-echo.mjs") : tree.endsWith(".mjs") ? resolve(tree) : null;
  const argv = script ? [script, ...scriptArgs] : [join(resolve(tree), "bin/ridepred"), "serve", "--port", String(port), "--log-level", "warn"];
  return { script, argv };
}

/** Resolves once url answers the course's ride with a 2xx (tries every pollMs, 200 times); throws naming it otherwise. */
export async function serverUp(url, name = url, pollMs = 50) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}',
      });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`${name} did not come up`);
}
