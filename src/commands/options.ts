// Option parsers shared by the command files (kept here so commands never import each other).
import { RidepredError } from "../errors.js";

/** Collect repeatable "NAME=VALUE" options into a record. */
export function keyValue(flag: string) {
  return (spec: string, acc: Record<string, string> = {}): Record<string, string> => {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new RidepredError(`${flag} ${spec}: expected NAME=VALUE`);
    acc[spec.slice(0, eq).trim()] = spec.slice(eq + 1).trim();
    return acc;
  };
}

export function collect(value: string, acc: string[] = []): string[] {
  acc.push(value);
  return acc;
}

export function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new RidepredError(`${flag} ${v}: expected a non-negative number`);
    return n;
  };
}
