// How `score` shows what it did and what it would do: the progress spinner, each input's summary (text
// on stderr, or JSON), the totals of several inputs, and a dry run's plan.
import type { RunPlan } from "../batch/many.js";
import { thousands } from "../thousands.js";

/** ora on a terminal only: rows, rows/s and, when the reader knows how far it is, an ETA. */
export async function progress(input: string) {
  // A terminal of unknown width (a pty without a size) sent ora into an endless redraw: no spinner there.
  if (!process.stderr.isTTY || !(process.stderr.columns > 0)) return undefined;
  const { default: ora } = await import("ora");
  const spinner = ora({ text: `scoring ${input}`, stream: process.stderr, discardStdin: false }).start();
  return {
    update: (p: { rows: number; fraction?: number; seconds: number }) => {
      const rate = p.seconds > 0 ? p.rows / p.seconds : 0;
      const eta = p.fraction && p.fraction > 0 && p.fraction < 1 ? `, ETA ${Math.ceil((p.seconds * (1 - p.fraction)) / p.fraction)} s` : "";
      spinner.text = `scoring ${input}: ${thousands(p.rows)} rows, ${thousands(rate)} rows/s${eta}`;
    },
    stop: () => spinner.stop(),
  };
}

export type Summary = import("../batch/score.js").ScoreSummary;

export function report(s: Summary, json: boolean, dataOnStdout: boolean, lines = summaryLines): void {
  if (json) {
    const text = JSON.stringify(s, null, 2) + "\n";
    (dataOnStdout ? process.stderr : process.stdout).write(text);
    return;
  }
  process.stderr.write(lines(s).join("\n") + "\n");
}

/** A dry run's look at one input: its size, its rows (a Parquet footer's), why it was not opened, or why the run would fail. */
export type Found = { bytes?: number; rows?: number; notChecked?: string; error?: string };

/**
 * --dry-run: the jobs the run would do, on stdout (they are what a dry run produces), one line each or
 * as JSON; locations as the summaries show them (credentials left out). The line on stderr says so.
 */

export function printPlan(
  plan: RunPlan,
  reports: readonly { report?: string; reference?: string }[],
  found: readonly Found[],
  model: { name: string; version: string; digest: string },
  json: boolean,
  redact: (location: string) => string,
): void {
  const where = (p: string) => (p === "-" ? "stdout" : redact(p));
  const shard = plan.shard ? { index: plan.shard.index, count: plan.shard.count } : undefined;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const rows = plan.jobs.map((job, i) => ({
    input: job.input === "-" ? "stdin" : redact(job.input),
    output: where(job.output),
    ...(job.rejects !== undefined ? { rejects: where(job.rejects) } : {}),
    ...(reports[i]?.report !== undefined ? { report: reports[i]!.report } : {}),
    ...(reports[i]?.reference !== undefined ? { reference: redact(reports[i]!.reference!) } : {}),
    period: { start: day(job.period.start), end: day(job.period.end) },
    ...(job.rowGroupShare ? { row_groups: { index: job.rowGroupShare.index, count: job.rowGroupShare.count } } : {}),
    ...(found[i]?.bytes !== undefined ? { bytes: found[i]!.bytes } : {}),
    ...(found[i]?.rows !== undefined ? { rows: found[i]!.rows } : {}),
    ...(found[i]?.notChecked !== undefined ? { not_checked: found[i]!.notChecked } : {}),
    ...(found[i]?.error !== undefined ? { error: found[i]!.error } : {}),
  }));
  const missing = rows.filter((r) => r.error !== undefined);
  const inputs = `${thousands(rows.length)} input${rows.length === 1 ? "" : "s"}`;
  for (const error of new Set(missing.map((r) => r.error))) process.stderr.write(`ridepred: ${error}\n`); // one --reference's, once
  const unread = missing.length ? `, ${thousands(missing.length)} of them would fail` : "";
  process.stderr.write(`dry run${shard ? ` (shard ${shard.index}/${shard.count})` : ""}: ${inputs}${unread}, no rows read, nothing written\n`);
  if (json) {
    process.stdout.write(JSON.stringify({ dry_run: true, model, ...(shard ? { shard } : {}), jobs: rows }, null, 2) + "\n");
    return;
  }
  for (const r of rows) {
    const notes = [
      ...(r.error !== undefined ? [r.error.startsWith(`${r.input}: `) ? r.error.slice(r.input.length + 2) : r.error] : []),
      ...(r.rows !== undefined ? [`${thousands(r.rows)} row${r.rows === 1 ? "" : "s"}`] : []),
      ...(r.not_checked !== undefined ? [`not checked: ${r.not_checked}`] : []),
      ...(r.rejects !== undefined ? [`rejects ${r.rejects}`] : []),
      ...(r.report !== undefined ? [`report ${r.report}`] : []),
      ...(r.reference !== undefined ? [`reference ${r.reference}`] : []),
      ...(r.row_groups ? [`row groups g with g % ${r.row_groups.count} = ${r.row_groups.index}`] : []),
    ];
    process.stdout.write(`${r.input} -> ${r.output}${notes.length ? ` (${notes.join("; ")})` : ""}\n`);
  }
}

/** Several inputs: each one's lines were printed as it finished; then the totals. */
export function reportMany(s: import("../batch/many.js").ManySummary, json: boolean, dataOnStdout: boolean): void {
  if (json) {
    report(s, json, dataOnStdout);
    return;
  }
  const n = thousands;
  const shard = s.shard ? ` (shard ${s.shard.index}/${s.shard.count})` : "";
  process.stderr.write(
    `total${shard}: ${n(s.inputs.length)} input${s.inputs.length === 1 ? "" : "s"}, ${n(s.rows_read)} rows read = ${n(s.scored)} scored + ${n(s.filtered)} filtered + ${n(s.rejected)} rejected` +
      ` in ${s.seconds.toFixed(2)} s (${n(Math.round(s.rows_per_second))} rows/s)\n`,
  );
}

export function summaryLines(s: Summary): string[] {
  const n = thousands;
  const f = (x: number) => x.toFixed(2);
  const lines = [
    `${s.input === "-" ? "stdin" : s.input} -> ${s.output === "-" ? "stdout" : s.output}: ${n(s.rows_read)} rows read = ${n(s.scored)} scored + ${n(s.filtered)} filtered + ${n(s.rejected)} rejected` +
      ` in ${s.seconds.toFixed(2)} s (${n(Math.round(s.rows_per_second))} rows/s)`,
  ];
  if (s.predictions)
    lines.push(
      `predicted_duration: mean ${f(s.predictions.mean)}, std ${f(s.predictions.std)}, min ${f(s.predictions.min)}, max ${f(s.predictions.max)} (model ${s.model.name} ${s.model.version})`,
    );
  if (s.classes)
    lines.push(
      `predicted classes: ${Object.entries(s.classes)
        .map(([c, v]) => `${c} ${n(v)}`)
        .join(", ")} (model ${s.model.name} ${s.model.version})`,
    );
  if (s.rejected)
    lines.push(
      `rejected by field: ${Object.entries(s.rejected_by_field)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(", ")}${s.rejects ? ` (rows in ${s.rejects})` : " (not kept: add --rejects FILE to keep them)"}`,
    );
  return lines;
}
