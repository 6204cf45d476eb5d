// Scheduled runs: "{year}/{month}/{day}" in paths, filled from --run-date and --period, like the
// course's monthly job that scores the month before the run date.
import { RidepredError } from "../errors.js";
import { redactLocation } from "../io/redact.js";
import type { RunPeriod } from "../io/types.js";

export const PERIODS = ["day", "previous-day", "month", "previous-month"] as const;
export type Period = (typeof PERIODS)[number];

/** The date the paths are filled from: the run date (default today, UTC) moved by the period. */
export function periodDate(runDate: string | undefined, period: Period = "day", now: Date = new Date()): { year: number; month: number; day: number } {
  let y: number, m: number, d: number;
  if (runDate === undefined) [y, m, d] = [now.getUTCFullYear(), now.getUTCMonth() + 1, now.getUTCDate()];
  else {
    const mt = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(runDate);
    if (!mt) throw new RidepredError(`--run-date ${runDate}: expected YYYY-MM-DD (or YYYY-MM)`);
    [y, m, d] = [Number(mt[1]), Number(mt[2]), Number(mt[3] ?? 1)];
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) throw new RidepredError(`--run-date ${runDate}: not a calendar date`);
  }
  if (!(PERIODS as readonly string[]).includes(period)) throw new RidepredError(`--period ${period}: expected one of ${PERIODS.join(", ")}`);
  let t = new Date(Date.UTC(y, m - 1, d));
  if (period === "previous-day") t = new Date(Date.UTC(y, m - 1, d - 1));
  if (period === "month") t = new Date(Date.UTC(y, m - 1, 1));
  if (period === "previous-month") t = new Date(Date.UTC(y, m - 2, 1));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

/**
 * The run's period as a half-open interval [start, end) of naive wall-clock ms: a day for day and
 * previous-day, a month for month and previous-month; {year} {month} {day} are its first day's.
 */
export function runPeriod(runDate: string | undefined, period: Period = "day", now: Date = new Date()): RunPeriod {
  const d = periodDate(runDate, period, now);
  const start = Date.UTC(d.year, d.month - 1, d.day);
  const monthly = period === "month" || period === "previous-month";
  const end = monthly ? Date.UTC(d.year, d.month, 1) : Date.UTC(d.year, d.month - 1, d.day + 1);
  return { ...d, start, end };
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Fill {year} {month} {day} (zero-padded), {start} and {end} (the period's first day and the day after
 * its last, YYYY-MM-DD); any other {name} is an error, so a typo cannot write to a literal path.
 */
export function fillTemplate(path: string, date: { year: number; month: number; day: number; start?: number; end?: number }): string {
  return path.replace(/\{([^}]*)\}/g, (all, name: string) => {
    if (name === "year") return String(date.year).padStart(4, "0");
    if (name === "month") return String(date.month).padStart(2, "0");
    if (name === "day") return String(date.day).padStart(2, "0");
    if (name === "start" && date.start !== undefined) return isoDate(date.start);
    if (name === "end" && date.end !== undefined) return isoDate(date.end);
    throw new RidepredError(`${redactLocation(path)}: unknown placeholder ${all} (use {year}, {month}, {day}, {start}, {end})`);
  });
}
