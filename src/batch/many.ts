// A run over several inputs: planned from the command line (inputs.ts expands them, partition.ts names
// their outputs and deals out shards), then each is scored on its own (its own output file, its own
// summary), in order; the run's summary keeps the single-input fields as totals and lists every input in
// inputs[]. Each output appears atomically when its input is done: a run that fails on its 7th input
// keeps the six before it (a re-run writes the same names, see {run_id}) and leaves nothing of the 7th.
import { RidepredError } from "../errors.js";
import type { Listed } from "../io/range.js";
import type { RunPeriod } from "../io/types.js";
import { backfillDates, checkInputFields, dateFields, expandInputs, type DateFields, type Input } from "./inputs.js";
import { assignShards, fillOutput, inputName, parseShard, planOutputs, runId, type Shard } from "./partition.js";
import type { ScoreJob, ScoreSummary } from "./score.js";
import { periodDate, runPeriod, type Period } from "./template.js";

export interface PlanOptions {
  inputs: readonly string[];
  output: string;
  rejects?: string;
  rideIdPrefix?: string;
  runDate?: string;
  period: Period;
  /** --period was given on the command line (not its default): date fields are then filled. */
  periodGiven: boolean;
  fromDate?: string;
  toDate?: string;
  set: Record<string, string>;
  /** --shard INDEX/COUNT (else the Indexed Job's environment). */
  shard?: string;
  modelDigest: string;
  /** The options that change the rows written, for {run_id}. */
  runIdOptions: Record<string, unknown>;
  isTable: (location: string) => boolean;
  isParquet: (location: string) => boolean;
}

/** One input's part of the run: where it is read from and written to, and its period. */
export interface PlannedJob {
  input: string;
  output: string;
  rejects?: string;
  rideIdPrefix?: string;
  period: RunPeriod;
  rowGroups?: ScoreJob["rowGroups"];
  /** The shard's share of one Parquet file's row groups that rowGroups accepts: group g where g % count === index. */
  rowGroupShare?: Shard;
  /** The input's size (and ETag), as the listing that found it said (S3). */
  listed?: Listed;
}

export interface RunPlan {
  jobs: PlannedJob[];
  /** More than a single named input (several, a pattern, a backfill or a shard): the summary lists inputs[]. */
  several: boolean;
  shard?: Shard;
}

const iso = (d: DateFields) => `${String(d.year).padStart(4, "0")}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;

export async function planInputs(o: PlanOptions): Promise<RunPlan> {
  if ((o.fromDate === undefined) !== (o.toDate === undefined))
    throw new RidepredError("--from-date and --to-date go together (a backfill's first and last run date)");
  if (o.fromDate !== undefined && o.runDate !== undefined) throw new RidepredError("--run-date and --from-date/--to-date exclude each other");
  if (o.inputs.includes("-") && o.inputs.length > 1) throw new RidepredError("stdin (-) can only be the one input");
  // Dates fill {year}/{month}/{day} from a backfill range or a run date; with neither (no --run-date,
  // --period or --from-date), date fields in an input are matched against the files that exist.
  const dates =
    o.fromDate !== undefined
      ? backfillDates(o.fromDate, o.toDate!, o.period)
      : o.runDate !== undefined || o.periodGiven
        ? [periodDate(o.runDate, o.period)]
        : undefined;
  const monthly = o.period === "month" || o.period === "previous-month";
  /** The run date's period; for a file a pattern found, the month (or day) its fields name; else today. */
  const periodOf = (i: Input): RunPeriod => {
    if (i.date) return runPeriod(iso(i.date), monthly ? "month" : "day");
    const { year, month, day } = i.fields;
    if (i.matched && year && month) {
      try {
        return runPeriod(iso({ year: Number(year), month: Number(month), day: Number(day ?? 1) }), day ? "day" : "month");
      } catch {
        // fields that are no calendar date (month 13): the run's own period
      }
    }
    return runPeriod(undefined, "day");
  };
  const shard = parseShard(o.shard);
  checkInputFields(o.inputs, [o.output, o.rejects, o.rideIdPrefix], o.set);
  const inputs = await expandInputs(o.inputs, dates, o.set, o.isTable);
  const several = o.inputs.length > 1 || inputs.length > 1 || inputs.some((i) => i.matched) || o.fromDate !== undefined || shard !== undefined;

  const work = assignShards(inputs, shard, (p) => !o.isTable(p) && o.isParquet(p));
  const today = dateFields(periodDate(undefined, "day")); // an output's date fields without dates: today, as before patterns
  const values = (a: (typeof work)[number]) => {
    const period = periodOf(a.input);
    // A table is read per period: the period is part of what it is.
    const identity = o.isTable(a.input.path) && a.input.date ? `${a.input.path}@${iso(a.input.date)}` : a.input.path;
    return {
      ...today,
      start: new Date(period.start).toISOString().slice(0, 10),
      end: new Date(period.end).toISOString().slice(0, 10),
      ...a.input.fields,
      input: inputName(a.input.path),
      run_id: runId(identity, o.modelDigest, o.runIdOptions),
      shard: String(a.shard),
    };
  };
  const outputs = planOutputs(o.output, work, values, shard);
  const rejects = o.rejects === undefined ? undefined : planOutputs(o.rejects, work, values, shard, "--rejects");
  const jobs: PlannedJob[] = [];
  for (const [i, a] of work.entries()) {
    if (rejects && rejects[i] !== "-" && rejects[i] === outputs[i]) throw new RidepredError("--rejects and --output must be different files");
    if (shard && a.shard !== shard.index) continue;
    const rg = a.rowGroups;
    jobs.push({
      input: a.input.path,
      output: outputs[i]!,
      ...(rejects ? { rejects: rejects[i]! } : {}),
      ...(o.rideIdPrefix !== undefined ? { rideIdPrefix: fillOutput(o.rideIdPrefix, values(a), "--ride-id-prefix") } : {}),
      period: periodOf(a.input),
      ...(rg ? { rowGroups: (g: number) => g % rg.count === rg.index, rowGroupShare: rg } : {}),
      ...(a.input.listed ? { listed: a.input.listed } : {}),
    });
  }
  return { jobs, several, ...(shard ? { shard } : {}) };
}

export interface ManySummary extends ScoreSummary {
  shard?: { index: number; count: number };
  inputs: ScoreSummary[];
}

export async function scoreMany(
  jobs: readonly ScoreJob[],
  total: { input: string; output: string; rejects?: string; model: ScoreSummary["model"]; shard?: { index: number; count: number } },
  score: (job: ScoreJob) => Promise<ScoreSummary>,
  onInput?: (s: ScoreSummary) => void,
): Promise<ManySummary> {
  const t0 = performance.now();
  const inputs: ScoreSummary[] = [];
  for (const job of jobs) {
    const s = await score(job);
    inputs.push(s);
    onInput?.(s);
  }
  const seconds = (performance.now() - t0) / 1000;
  const sums = addUp(inputs);
  return {
    input: total.input,
    output: total.output,
    ...(total.rejects ? { rejects: total.rejects } : {}),
    model: total.model,
    ...sums,
    seconds,
    rows_per_second: seconds > 0 ? sums.rows_read / seconds : 0,
    ...(total.shard ? { shard: total.shard } : {}),
    inputs,
  };
}

/** The counts of several runs' summaries added up, rejections by field merged, the predictions pooled. */
export function addUp(
  runs: readonly ScoreSummary[],
): Pick<ScoreSummary, "rows_read" | "scored" | "filtered" | "rejected" | "rows_written" | "rejected_by_field" | "predictions"> {
  const sum = (f: (s: ScoreSummary) => number) => runs.reduce((n, s) => n + f(s), 0);
  const byField: Record<string, number> = {};
  for (const s of runs) for (const [k, v] of Object.entries(s.rejected_by_field)) byField[k] = (byField[k] ?? 0) + v;
  return {
    rows_read: sum((s) => s.rows_read),
    scored: sum((s) => s.scored),
    filtered: sum((s) => s.filtered),
    rejected: sum((s) => s.rejected),
    rows_written: sum((s) => s.rows_written),
    rejected_by_field: byField,
    predictions: pooled(runs),
  };
}

/** The predictions' mean / std (population) / min / max over all inputs, from each input's (Chan et al.). */
export function pooled(inputs: readonly ScoreSummary[]): ScoreSummary["predictions"] {
  let n = 0,
    mean = 0,
    m2 = 0,
    min = Infinity,
    max = -Infinity;
  for (const s of inputs) {
    const p = s.predictions;
    if (!p || s.scored === 0) continue;
    const k = s.scored;
    const total = n + k;
    const delta = p.mean - mean;
    mean += (delta * k) / total;
    m2 += p.std * p.std * k + (delta * delta * n * k) / total;
    n = total;
    min = Math.min(min, p.min);
    max = Math.max(max, p.max);
  }
  return n ? { mean, std: Math.sqrt(m2 / n), min, max } : null;
}
