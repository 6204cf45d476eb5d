// The inputs of one run: several paths, globs (`data/*.parquet`, `s3://b/raw/*.parquet`), run-date
// templates filled from one date or a backfill range, and templates as patterns: every existing file
// matching `green_tripdata_{year}-{month}.parquet` is an input, and what its fields matched names its output.
import { readdirSync, statSync } from "node:fs";
import { RidepredError } from "../errors.js";
import { isHttp, isS3, type Listed } from "../io/range.js";
import { redactLocation } from "../io/redact.js";
import { periodDate, type Period } from "./template.js";

export interface Input {
  /** Path or URL to read. */
  path: string;
  /** Field values for output paths: the date's, --set's and what the pattern matched. */
  fields: Record<string, string>;
  /** Found by a pattern (a glob or fields matched against existing files), not named as it is. */
  matched?: boolean;
  /** The date it was filled from (a run date or one of a backfill's). */
  date?: DateFields;
  /** Its size (and ETag), as the listing that found it said (S3). */
  listed?: Listed;
}

export interface DateFields {
  year: number;
  month: number;
  day: number;
}

export const dateFields = (d: DateFields): Record<string, string> => ({
  year: String(d.year).padStart(4, "0"),
  month: String(d.month).padStart(2, "0"),
  day: String(d.day).padStart(2, "0"),
});

const MAX_DATES = 100_000;

/**
 * A backfill: the dates a scheduled run would use for every run date from `from` to `to` (inclusive),
 * one per day for the day periods and one per month for the month periods.
 */
export function backfillDates(from: string, to: string, period: Period): DateFields[] {
  const monthly = period === "month" || period === "previous-month";
  const start = periodDate(monthly ? from.slice(0, 7) : from, "day");
  const end = periodDate(monthly ? to.slice(0, 7) : to, "day");
  const t0 = Date.UTC(start.year, start.month - 1, start.day);
  const t1 = Date.UTC(end.year, end.month - 1, end.day);
  if (t1 < t0) throw new RidepredError(`--from-date ${from} is after --to-date ${to}`);
  const out: DateFields[] = [];
  for (let i = 0; ; i++) {
    const t = monthly ? new Date(Date.UTC(start.year, start.month - 1 + i, 1)) : new Date(t0 + i * 86_400_000);
    if (t.getTime() > t1) break;
    if (out.length >= MAX_DATES) throw new RidepredError(`--from-date ${from} --to-date ${to}: more than ${MAX_DATES} run dates`);
    const iso = t.toISOString().slice(0, 10);
    out.push(periodDate(iso, period));
  }
  return out;
}

const FIELD = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Whether a path still names files by pattern: a {field} or a glob character (* or ?; not in URLs' queries). */
export function isPattern(path: string): boolean {
  if (isHttp(path)) return false;
  return /\{[A-Za-z_][A-Za-z0-9_]*\}|[*?]/.test(path);
}

/** Fill the fields `values` knows; the others stay as {name} (for matching). */
export function fillKnown(path: string, values: Record<string, string>): string {
  return path.replace(FIELD, (all, name: string) => values[name] ?? all);
}

/**
 * Expand the command line's inputs. With `dates` (a run date, or a backfill), each path is filled from
 * each date; without, date fields are matched like any other field. A path that still has fields or glob
 * characters is matched against the files that exist (sorted by path); one that matches none is an error.
 */
export async function expandInputs(
  args: readonly string[],
  dates: readonly DateFields[] | undefined,
  set: Record<string, string>,
  isTable: (location: string) => boolean = () => false,
): Promise<Input[]> {
  const out: Input[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    for (const date of dates ?? [undefined]) {
      const known = { ...(date ? dateFields(date) : {}), ...set };
      const filled = arg === "-" ? arg : fillKnown(arg, known);
      if (isTable(filled)) {
        // A table is read for each date's period (its --where/--query placeholders), never listed.
        out.push({ path: filled, fields: known, ...(date ? { date } : {}) });
        continue;
      }
      if (isHttp(filled) && /\{[A-Za-z_][A-Za-z0-9_]*\}/.test(filled)) {
        throw new RidepredError(`${redactLocation(filled)}: an HTTP server cannot be listed: fill its fields with --run-date, --from-date/--to-date or --set`);
      }
      const matched = isPattern(filled);
      const found = matched ? await matchFiles(filled) : [{ path: filled, fields: {} }];
      if (found.length === 0) throw new RidepredError(`${redactLocation(filled)}: matches no file`);
      for (const f of found) {
        if (seen.has(f.path)) continue;
        seen.add(f.path);
        out.push({ ...f, fields: { ...known, ...f.fields }, ...(matched ? { matched } : {}), ...(date ? { date } : {}) });
      }
    }
  }
  return out;
}

/**
 * A field of an input pattern other than the date's must be named by an output path (or set with --set):
 * a field nothing uses is most likely a typo ({yr} for {year}), and `*` says "anything" plainly.
 */
export function checkInputFields(args: readonly string[], templates: readonly (string | undefined)[], set: Record<string, string>): void {
  for (const arg of args) {
    for (const m of arg.matchAll(FIELD)) {
      const name = m[1]!;
      if (name === "year" || name === "month" || name === "day" || name in set) continue;
      if (templates.some((t) => t?.includes(`{${name}}`))) continue;
      throw new RidepredError(
        `${redactLocation(arg)}: unknown placeholder {${name}} (use {year}, {month}, {day}, a field the output path names, or --set ${name}=VALUE; * matches anything)`,
      );
    }
  }
}

/** How each field may match: dates by their digits (so {year}-{month} splits "2021-02"), others any run without "/". */
function fieldRegex(name: string): string {
  if (name === "year") return "\\d{4}";
  if (name === "month" || name === "day") return "\\d{2}";
  return "[^/]+?";
}

const escapeRegex = (s: string) => s.replace(/[.+^$()|[\]\\]/g, "\\$&");

/** The whole pattern as one anchored regex; a field named twice must match the same text both times. */
export function patternRegex(pattern: string): RegExp {
  const named = new Set<string>();
  let re = "";
  for (const tok of pattern.split(/(\{[A-Za-z_][A-Za-z0-9_]*\}|\*|\?)/)) {
    if (tok === "*") re += "[^/]*";
    else if (tok === "?") re += "[^/]";
    else if (/^\{.+\}$/.test(tok)) {
      const name = tok.slice(1, -1);
      re += named.has(name) ? `\\k<${name}>` : `(?<${name}>${fieldRegex(name)})`;
      named.add(name);
    } else re += escapeRegex(tok);
  }
  return new RegExp(`^${re}$`);
}

/** Existing files matching a pattern, sorted by path, with the fields' values. */
export async function matchFiles(pattern: string): Promise<Input[]> {
  const re = patternRegex(pattern);
  const candidates: { path: string; listed?: Listed }[] = isS3(pattern) ? await s3Candidates(pattern) : localCandidates(pattern).map((path) => ({ path }));
  const out: Input[] = [];
  for (const { path, listed } of candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const m = re.exec(path);
    if (m) out.push({ path, fields: { ...m.groups }, ...(listed ? { listed } : {}) });
  }
  return out;
}

/** The literal text before the first field or glob character. */
function literalPrefix(pattern: string): string {
  const i = pattern.search(/\{[A-Za-z_][A-Za-z0-9_]*\}|[*?]/);
  return i < 0 ? pattern : pattern.slice(0, i);
}

async function s3Candidates(pattern: string): Promise<{ path: string; listed: Listed }[]> {
  const { parseS3Url } = await import("../io/s3.js");
  const { s3List } = await import("../io/s3-read.js");
  const { bucket, key } = parseS3Url(pattern);
  if (isPattern(bucket)) throw new RidepredError(`${pattern}: a bucket name cannot be a pattern`);
  return (await s3List(bucket, literalPrefix(key))).map(({ url, ...listed }) => ({ path: url, listed }));
}

/**
 * Files under the pattern's directories, walked one path segment at a time: a literal segment is joined
 * as it is, a segment with fields or wildcards lists its directory (names starting with "." only when
 * the segment does: temp files of runs under way stay out).
 */
function localCandidates(pattern: string): string[] {
  const absolute = pattern.startsWith("/");
  const segments = pattern.split("/").filter((s, i) => s !== "" || i === 0);
  let dirs = [absolute ? "/" : ""];
  if (absolute) segments.shift();
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    const next: string[] = [];
    const segRe = isPattern(seg) ? patternRegex(seg) : undefined;
    for (const dir of dirs) {
      const names = segRe ? listDir(dir).filter((n) => (n.startsWith(".") ? seg.startsWith(".") : true) && segRe.test(n)) : [seg];
      for (const name of names) {
        const path = dir === "" ? name : dir.endsWith("/") ? dir + name : `${dir}/${name}`;
        const kind = kindOf(path);
        if (last ? kind === "file" : kind === "dir") next.push(path);
      }
    }
    dirs = next;
  }
  return dirs;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir === "" ? "." : dir);
  } catch {
    return [];
  }
}

function kindOf(path: string): "file" | "dir" | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : undefined;
  } catch {
    return undefined;
  }
}
