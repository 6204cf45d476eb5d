// Terminal output shared by the commands: colour that respects NO_COLOR, JSON to stdout, logs to stderr.
import { Chalk, type ChalkInstance } from "chalk";

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

/** 1234567 -> "1,234,567", as toLocaleString("en-US") prints it, without loading ICU's locale data (slow at start-up). */
export function thousands(x: number): string {
  const s = String(Math.abs(Math.round(x)));
  let out = "";
  for (let i = 0; i < s.length; i++) out += (i > 0 && (s.length - i) % 3 === 0 ? "," : "") + s[i];
  return (x < 0 && Math.round(x) !== 0 ? "-" : "") + out;
}
