// Shared by the stream tests: real rides, and `ridepred stream` spawned for real with its --json summary.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { BIN, ROOT, SAMPLE_CSV } from "./paths.js";

export { BIN, ROOT };

const rows = parse(readFileSync(SAMPLE_CSV), { columns: true }) as Record<string, string>[];
export type Ride = { PULocationID: string; DOLocationID: string; trip_distance: number };
const sample: Ride[] = rows.map((r) => ({ PULocationID: r.PULocationID!, DOLocationID: r.DOLocationID!, trip_distance: Number(r.trip_distance) }));
/** Ride i of an arbitrarily long stream: the 1,000 real rides of the committed sample, cycled. */
export const ride = (i: number): Ride => sample[i % sample.length]!;
export const event = (i: number) => JSON.stringify({ ride: ride(i), ride_id: i });

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 45_000, describe?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${describe ? `: ${describe()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Run `node args` to completion without blocking this process (spawnSync would also block a broker that
 * runs in this process, such as kinesalite: the child's requests would never be answered).
 */
export async function runNode(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  return { code, stdout, stderr };
}

export interface Consumer {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, wait, and parse the --json summary. */
  stop(): Promise<{ code: number | null; summary: Record<string, unknown> }>;
}

export function startConsumer(args: string[], env: Record<string, string> = {}): Consumer {
  const child = spawn(process.execPath, [BIN, "stream", "--json", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    async stop() {
      child.kill("SIGTERM");
      const code = await exited;
      try {
        return { code, summary: JSON.parse(out) };
      } catch {
        throw new Error(`no JSON summary (exit ${code}); stderr: ${err}`);
      }
    },
  };
}
