// What the bench drivers share: their options, timed child runs, a column of an output CSV, how they
// print row counts, and a free loopback port.
import { spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

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
