// Terminal output shared by the commands: colour that respects NO_COLOR, JSON to stdout, logs to stderr.
import { Chalk, type ChalkInstance } from "chalk";

export { thousands } from "./thousands.js";

let cached: ChalkInstance | undefined;

/** chalk, switched off by NO_COLOR (https://no-color.org) or when stdout is not a terminal. */
export function colors(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  if (cached) return cached;
  const off = "NO_COLOR" in process.env && process.env.NO_COLOR !== "";
  cached = new Chalk({ level: off || !stream.isTTY ? 0 : 1 });
  if (!off && process.env.FORCE_COLOR) cached = new Chalk({ level: 1 });
  return cached;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
}

export function log(message: string): void {
  process.stderr.write(message + "\n");
}
