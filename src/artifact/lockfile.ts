// Pins from the lock and environment files Python projects carry: Pipfile.lock, requirements.txt,
// conda.yaml, python_env.yaml (MLflow). Only what a version check needs: package -> specifier.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileError, RidepredError } from "../errors.js";

/** Package names as PyPI normalises them, plus the import-name aliases people write. */
export function normalizePackage(name: string): string {
  const n = name.trim().toLowerCase().replace(/[_.]+/g, "-");
  return n === "sklearn" ? "scikit-learn" : n;
}

/** "scikit-learn==1.2.2", "numpy>=1.20,<2", "python=3.9" -> [name, specifier]. */
function splitRequirement(line: string): [string, string] | null {
  const clean = line.replace(/#.*$/, "").replace(/;.*$/, "").trim();
  if (!clean || clean.startsWith("-")) return null;
  const m = /^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$/.exec(clean);
  if (!m) return null;
  let spec = m[3]!.trim();
  if (/^=[^=]/.test(spec)) spec = "=" + spec; // conda's "python=3.9" means ==3.9(.*)
  return [normalizePackage(m[1]!), spec];
}

export function parsePins(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(path, "cannot read lock file", e);
  }
  return parsePinsText(basename(path), text, path);
}

export function parsePinsText(name: string, text: string, where = name): Record<string, string> {
  const pins: Record<string, string> = {};
  if (name.endsWith(".lock") || name === "Pipfile.lock") {
    let doc: Record<string, Record<string, { version?: string }>>;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new RidepredError(`${where}: not valid JSON: ${(e as Error).message}`);
    }
    for (const section of ["default", "develop"]) {
      for (const [pkg, info] of Object.entries(doc[section] ?? {})) {
        const p = normalizePackage(pkg);
        if (info?.version && !(p in pins)) pins[p] = info.version;
      }
    }
    const py = (doc as { _meta?: { requires?: { python_version?: string; python_full_version?: string } } })._meta?.requires;
    if (py?.python_full_version) pins.python = "==" + py.python_full_version;
    else if (py?.python_version) pins.python = "==" + py.python_version;
    return pins;
  }
  if (/\.ya?ml$/.test(name)) {
    // conda.yaml / python_env.yaml: "python: 3.9.7" or list items "- scikit-learn==1.2.2", "- python=3.9".
    for (const raw of text.split(/\r?\n/)) {
      const py = /^python:\s*["']?([\w.]+)["']?\s*$/.exec(raw.trim());
      if (py) pins.python = "==" + py[1];
      const item = /^\s*-\s+["']?([^"'\s][^"']*?)["']?\s*$/.exec(raw);
      if (!item || item[1]!.endsWith(":")) continue;
      const req = splitRequirement(item[1]!);
      if (req?.[1]) pins[req[0]] = req[1];
    }
    return pins;
  }
  for (const raw of text.split(/\r?\n/)) {
    const req = splitRequirement(raw);
    if (req?.[1]) pins[req[0]] = req[1];
  }
  return pins;
}

function parts(v: string): number[] {
  return v.split(".").map((x) => {
    const n = parseInt(x, 10);
    return Number.isNaN(n) ? 0 : n;
  });
}

function cmp(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/**
 * Does a recorded version satisfy a pin? Recorded "1.x" (known only to the major) satisfies any pin that
 * allows that major. A pin "==1.2" matches 1.2 and 1.2.*, as pip does for conda-style pins.
 */
export function satisfies(recorded: string, spec: string): boolean {
  const clauses = spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (!clauses.length) return true;
  const majorOnly = /^(\d+)\.x$/.exec(recorded);
  return clauses.every((c) => {
    const m = /^(==|>=|<=|!=|~=|>|<|===)?\s*v?([\w.*+!-]+)$/.exec(c);
    if (!m) return true;
    const op = m[1] ?? "==";
    const want = m[2]!.replace(/\.\*$/, "");
    if (majorOnly) {
      const major = majorOnly[1]!;
      if (op === "==" || op === "===" || op === "~=") return want.split(".")[0] === major;
      return true; // a range can't be judged from a major alone; don't cry wolf
    }
    const c0 = cmp(recorded, want);
    switch (op) {
      case "==":
      case "===":
        return parts(want).every((n, i) => n === (parts(recorded)[i] ?? 0));
      case "!=":
        return c0 !== 0;
      case ">=":
        return c0 >= 0;
      case "<=":
        return c0 <= 0;
      case ">":
        return c0 > 0;
      case "<":
        return c0 < 0;
      case "~=": {
        const w = parts(want);
        return (
          c0 >= 0 &&
          parts(recorded)
            .slice(0, w.length - 1)
            .every((n, i) => n === w[i])
        );
      }
    }
    return true;
  });
}

export interface PinCheck {
  package: string;
  recorded: string;
  pinned: string;
  ok: boolean;
}

/** Compare every recorded version that the lock file also pins. */
export function checkPins(recorded: Record<string, string>, pins: Record<string, string>): PinCheck[] {
  const out: PinCheck[] = [];
  for (const [pkg, version] of Object.entries(recorded)) {
    const spec = pins[normalizePackage(pkg)];
    if (spec === undefined) continue;
    for (const v of version.split(" + ")) out.push({ package: pkg, recorded: v, pinned: spec, ok: satisfies(v, spec) });
  }
  return out;
}
