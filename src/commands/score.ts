import { availableParallelism } from "node:os";
import { Command, Option } from "commander";
import { EXIT_USAGE, RidepredError } from "../errors.js";
import { keyValue, positiveNumber } from "./options.js";
import { type Found, printPlan, progress, report, reportMany, type Summary, summaryLines } from "./score-output.js";
import type { RunPlan } from "../batch/many.js";
import type { ScoreJob } from "../batch/score.js";

interface ScoreOpts {
  output: string;
  model?: string;
  inputFormat?: string;
  outputFormat?: string;
  map: Record<string, string>;
  columns?: string;
  filterDuration?: string;
  onError?: "fail" | "skip";
  rejects?: string;
  runDate?: string;
  period: string;
  batchSize: string;
  maxRecordBytes: number;
  threads?: string;
  rideIdPrefix?: string;
  compression?: "snappy" | "none";
  where?: string;
  query?: string;
  ifExists?: "upsert" | "replace-period" | "replace" | "append";
  json?: boolean;
  fromDate?: string;
  toDate?: string;
  set: Record<string, string>;
  shard?: string;
  inDatabase?: boolean;
  report?: string;
  reference?: string;
  stats?: boolean;
  driftThreshold: number;
  failOnDrift?: boolean;
  dryRun?: boolean;
}

export function scoreCommand(): Command {
  return new Command("score")
    .description("score rides in batches: CSV, CSV.gz, Parquet, JSONL files or PostgreSQL/DuckDB tables in and out")
    .argument(
      "<input...>",
      "input files or URLs (.csv, .csv.gz, .parquet, .jsonl; s3://, https://; - for stdin) or table (postgresql://USER@HOST/DB?table=T, duckdb:FILE?table=T); globs (*, ?) and {fields} match existing files",
    )
    .option(
      "-o, --output <file>",
      "output file, s3:// URL or table URL, format from the extension; - for stdout (CSV); may hold {year} {month} {day} {start} {end}, {input}, {run_id}, {shard} and any input field",
      "-",
    )
    .option("--model <file>", "model.json (default: the bundled model)")
    .option("--input-format <format>", "csv, csv.gz, parquet or jsonl, when the extension does not say (stdin)")
    .option("--output-format <format>", "csv, csv.gz, parquet or jsonl, when the extension does not say (stdout)")
    .option("--map <column=target>", "read model input or role TARGET from input COLUMN, e.g. --map PU=PULocationID (repeatable)", keyValue("--map"), {})
    .option(
      "--columns <list>",
      "output columns, comma-separated (default: ride_id,pickup_datetime,<category inputs>,actual_duration,predicted_duration,diff,model_version)",
    )
    .option("--filter-duration <min..max>", "keep rides whose actual duration in minutes is in [min, max], e.g. 1..60; the rest are counted as filtered")
    .addOption(
      new Option("--on-error <mode>", "a row that cannot be scored: fail (stop, exit 1) or skip (count it, write it to --rejects)").choices(["fail", "skip"]),
    )
    .option("--rejects <file>", "write rows that cannot be scored here, with the reason (implies --on-error skip)")
    .option("--run-date <date>", "date that fills {year}/{month}/{day} in paths (YYYY-MM-DD; default today, UTC)")
    .addOption(
      new Option("--period <period>", "which period of the run date the paths name").choices(["day", "previous-day", "month", "previous-month"]).default("day"),
    )
    .option("--from-date <date>", "backfill: every run date from this one (YYYY-MM or YYYY-MM-DD) ...")
    .option("--to-date <date>", "... to this one (inclusive), stepping by --period's unit (month or day)")
    .option("--set <name=value>", "a field for output paths, e.g. --set taxi_type=green (repeatable)", keyValue("--set"), {})
    .option("--shard <index/count>", "score only this shard's share of the inputs, e.g. 0/3 (default: JOB_COMPLETION_INDEX/RIDEPRED_SHARD_COUNT)")
    .option("--batch-size <rows>", "rows per batch (memory grows with it)", "8192")
    .option(
      "--max-record-bytes <n>",
      "longest CSV record or JSONL line; a longer one (an unclosed quote, a file that is not CSV) ends the run with exit 2",
      positiveNumber("--max-record-bytes"),
      1 << 20,
    )
    .addOption(
      new Option("--compression <codec>", "Parquet output compression: snappy, or none (larger file, faster to write)")
        .choices(["snappy", "none"])
        .default("snappy"),
    )
    .option("--ride-id-prefix <text>", "prefix of generated ride ids (default: the input file name and _; a table input needs it or a ride_id column)")
    .option("--where <condition>", "table input: SQL condition on the rows read; {start} {end} {year} {month} {day} are the run period's")
    .option("--query <select>", "table input: the SELECT that gives the rows, instead of ?table= (same placeholders)")
    .addOption(
      new Option("--if-exists <mode>", "table output: upsert by ride_id (default), replace-period, replace (empty it first) or append").choices([
        "upsert",
        "replace-period",
        "replace",
        "append",
      ]),
    )
    .option(
      "--in-database",
      "table input and output in the same PostgreSQL database or DuckDB file: run the model inside it as SQL (INSERT ... SELECT), no rows leave it",
    )
    .option(
      "--threads <n|auto>",
      "threads a tree ensemble's batches are walked on, and CSV input parsed and CSV output encoded on (default $RIDEPRED_THREADS, else auto: one per core, at most 4)",
    )
    .option(
      "--json",
      "print the summary as JSON (stdout, or stderr when the data goes to stdout); with --stats, --report or --reference the run's statistics under drift",
    )
    .option(
      "--stats",
      "gather the run's statistics (distributions of inputs and predictions) into --json's drift, without a report: a summary to use as the next run's --reference",
    )
    .option(
      "--report <file>",
      "write an HTML report of the run: rows, distributions of inputs and predictions, drift against --reference; may hold {year} {month} {day} {start} {end}",
    )
    .option(
      "--reference <file>",
      "compare with a previous run's --json summary (.json) or a data file scored for the purpose: PSI per input and for the predictions",
    )
    .option("--drift-threshold <psi>", "flag a column whose PSI against the reference is above this", positiveNumber("--drift-threshold"), 0.2)
    .option("--fail-on-drift", "exit 1 when a column is flagged (outputs and report are written all the same)")
    .option(
      "--dry-run",
      "print each input and the output it would write (globs, templates, a backfill and --shard resolved), on stdout, each input opened and checked as the run would (its header or footer); read no rows, write nothing",
    )
    .action(async (inputs: string[], opts: ScoreOpts, cmd: Command) => {
      process.exitCode = await run(inputs, opts, cmd.getOptionValueSource("period") === "cli");
    });
}

async function run(inputArgs: string[], opts: ScoreOpts, periodGiven: boolean): Promise<number> {
  const writerThread = writerThreadSetting();
  const rowGroupThreads = rowGroupThreadsSetting();
  // First, before the heavy modules load: the Parquet writer thread boots meanwhile (writer-thread.ts).
  const { writerEarly } = await import("../batch/writer-thread.js");
  const writer =
    opts.inDatabase || opts.dryRun
      ? undefined
      : writerEarly({ inputs: inputArgs, inputFormat: opts.inputFormat, output: opts.output, outputFormat: opts.outputFormat, writerThread, rowGroupThreads });
  try {
    return await runWith(inputArgs, opts, periodGiven, { writerThread, rowGroupThreads, writer });
  } finally {
    writer?.end();
  }
}

async function runWith(
  inputArgs: string[],
  opts: ScoreOpts,
  periodGiven: boolean,
  threading: Pick<ScoreJob, "writerThread" | "rowGroupThreads" | "writer">,
): Promise<number> {
  const { checkJob, score } = await import("../batch/score.js");
  const { planInputs } = await import("../batch/many.js");
  const { formatFor, inputSize, isHttp, isTableLocation, redactLocation } = await import("../io/index.js");
  const { loadModel } = await import("../runtime/load.js");

  const batchSize = Number(opts.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RidepredError(`--batch-size ${opts.batchSize}: expected a positive integer`);
  const onError = opts.onError ?? (opts.rejects ? "skip" : "fail");
  if (opts.rejects && onError === "fail") throw new RidepredError("--rejects needs --on-error skip (with fail, the first bad row stops the run)");
  if ((opts.where !== undefined || opts.query !== undefined) && !inputArgs.every(isTableLocation))
    throw new RidepredError("--where and --query need a table input (postgresql:// or duckdb:)");
  if (opts.where !== undefined && opts.query !== undefined) throw new RidepredError("--where and --query: give one (put the condition in the query)");
  if (opts.ifExists !== undefined && !isTableLocation(opts.output)) throw new RidepredError("--if-exists needs a table output (postgresql:// or duckdb:)");

  if (opts.failOnDrift && opts.reference === undefined) throw new RidepredError("--fail-on-drift needs --reference FILE (what would it drift from?)");
  const threads = threadsSetting(opts.threads);
  const { predictor, artifact } = loadModel(opts.model, { threads });
  const columns = opts.columns
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const filterDuration = opts.filterDuration === undefined ? undefined : parseRange(opts.filterDuration);
  // The inputs (paths, globs, patterns, a backfill), each one's output name, and this shard's share.
  const plan = await planInputs({
    inputs: inputArgs,
    output: opts.output,
    rejects: opts.rejects,
    rideIdPrefix: opts.rideIdPrefix,
    runDate: opts.runDate,
    period: opts.period as never,
    periodGiven,
    fromDate: opts.fromDate,
    toDate: opts.toDate,
    set: opts.set,
    shard: opts.shard,
    modelDigest: artifact.digest,
    // What makes an output what it is ({run_id}): the same input scored the same way keeps its name.
    runIdOptions: {
      columns,
      filterDuration,
      map: opts.map,
      onError,
      rideIdPrefix: opts.rideIdPrefix,
      compression: opts.compression,
      outputFormat: opts.outputFormat,
    },
    isTable: isTableLocation,
    isParquet: (p) => formatFor(p, opts.inputFormat) === "parquet",
  });
  const jobs: ScoreJob[] = plan.jobs.map((p) => ({
    input: p.input,
    listed: p.listed,
    inputFormat: formatFor(p.input, opts.inputFormat),
    output: p.output,
    outputFormat: formatFor(p.output, opts.outputFormat),
    predictor,
    map: opts.map,
    columns,
    filterDuration,
    onError,
    rejects: p.rejects,
    rejectsFormat: p.rejects ? formatFor(p.rejects) : undefined,
    batchSize,
    maxRecordBytes: opts.maxRecordBytes,
    threads,
    rideIdPrefix: p.rideIdPrefix,
    compression: opts.compression,
    where: opts.where,
    query: opts.query,
    period: p.period,
    ifExists: opts.ifExists,
    ...threading,
    rowGroups: p.rowGroups,
  }));

  // --in-database: the same jobs, run as SQL inside the database (refused, exit 2, where they cannot be).
  let scoreOne = score;
  if (opts.inDatabase) {
    if (opts.report !== undefined || opts.reference !== undefined || opts.stats)
      throw new RidepredError("--report, --reference and --stats need the rows to pass through ridepred: not with --in-database");
    const inDb = await import("../batch/in-database.js");
    for (const job of jobs) {
      const why = inDb.inDatabaseRefusal(job);
      if (why) throw new RidepredError(why);
    }
    scoreOne = inDb.scoreInDatabase;
  }
  // --dry-run: the plan, once everything the run checks before reading a row has passed.
  if (opts.dryRun) {
    const reports = await reportPaths(jobs, opts);
    const found = await findInputs(plan.jobs, jobs, { isTable: isTableLocation, isHttp, inputSize, checkJob });
    const badReferences = await checkReferences(jobs, reports, { formatFor: (p) => formatFor(p, opts.inputFormat), checkJob });
    for (const [i, { reference }] of reports.entries()) {
      const why = reference === undefined ? undefined : badReferences.get(reference);
      if (why !== undefined && found[i]!.error === undefined) found[i] = { ...found[i], error: why };
    }
    printPlan(plan, reports, found, { name: predictor.name, version: predictor.version, digest: artifact.digest }, opts.json === true, redactLocation);
    return found.some((f) => f.error !== undefined) ? EXIT_USAGE : 0;
  }
  // --stats, --report, --reference: each input's statistics are gathered as it is scored (src/report).
  // Not for a plain --json: they cost a quarter to a half more CPU on a linear model.
  const stats = !opts.inDatabase && (opts.stats || opts.report !== undefined || opts.reference !== undefined) ? await statsPlan(jobs, opts) : undefined;
  const withSpinner = async (job: ScoreJob) => {
    const observe = await stats?.before(job);
    const spinner = await progress(redactLocation(job.input));
    let summary: Summary;
    try {
      summary = await scoreOne({ ...job, onProgress: spinner?.update, ...(observe ? { observer: observe } : {}) });
    } finally {
      spinner?.stop();
    }
    stats?.after(job, summary);
    return summary;
  };
  const lines = (s: Summary) => [...summaryLines(s), ...(stats && s.drift ? stats.lines(s) : [])];
  if (!plan.several) {
    const summary = await withSpinner(jobs[0]!);
    report(summary, opts.json === true, jobs[0]!.output === "-", lines);
    return stats?.failed() ? 1 : 0;
  }
  const { scoreMany } = await import("../batch/many.js");
  const summary = await scoreMany(
    jobs,
    {
      input: inputArgs.map(redactLocation).join(" "),
      output: redactLocation(opts.output),
      rejects: opts.rejects,
      model: { name: predictor.name, version: predictor.version },
      shard: plan.shard,
    },
    withSpinner,
    opts.json ? undefined : (s) => process.stderr.write(lines(s).join("\n") + "\n"),
  );
  reportMany(
    summary,
    opts.json === true,
    jobs.some((j) => j.output === "-"),
  );
  return stats?.failed() ? 1 : 0;
}

/**
 * --dry-run: each input found and opened as the run would open it, 8 at a time, so that a backfill's
 * missing months, and inputs whose columns the model cannot use, show before the run, all at once: a
 * file's size (an S3 listing's taken as it is), its rows when a Parquet footer says, or the run's own
 * refusal. Never read: rows, a table (not contacted), stdin, and a Parquet file a server sends only whole.
 */
async function findInputs(
  planned: RunPlan["jobs"],
  jobs: readonly ScoreJob[],
  io: {
    isTable: (location: string) => boolean;
    isHttp: (location: string) => boolean;
    inputSize: (path: string) => Promise<{ bytes?: number; ranges: boolean }>;
    checkJob: (job: ScoreJob) => Promise<{ rows?: number }>;
  },
): Promise<Found[]> {
  const look = async (i: number): Promise<Found> => {
    const { input, listed } = planned[i]!;
    if (input === "-" || io.isTable(input)) return {};
    try {
      const { bytes, ranges } = listed ? { bytes: listed.size, ranges: true } : await io.inputSize(input);
      if (!ranges && !io.isHttp(input)) return { bytes, notChecked: "not a file (a pipe or a device)" };
      if (!ranges && jobs[i]!.inputFormat === "parquet")
        return { bytes, notChecked: "the server ignores Range requests: the run downloads it whole before reading its footer" };
      const { rows } = await io.checkJob(jobs[i]!);
      return { bytes, ...(rows !== undefined ? { rows } : {}) };
    } catch (e) {
      if (e instanceof RidepredError) return { error: e.message };
      throw e;
    }
  };
  const found: Found[] = [];
  for (let i = 0; i < jobs.length; i += 8) found.push(...(await Promise.all(jobs.slice(i, i + 8).map((_, j) => look(i + j)))));
  return found;
}

/**
 * Per input (in jobs' order): its --report file and --reference, {year} {month} {day} {start} {end} filled
 * from its period. Several inputs that would write one report are refused.
 */
async function reportPaths(jobs: readonly { period?: ScoreJob["period"] }[], opts: ScoreOpts): Promise<{ report?: string; reference?: string }[]> {
  const { fillTemplate, runPeriod } = await import("../batch/template.js");
  const reportNames = new Set<string>();
  return jobs.map((job) => {
    const period = job.period ?? runPeriod(undefined);
    const report = opts.report === undefined ? undefined : fillTemplate(opts.report, period);
    if (report !== undefined && reportNames.has(report))
      throw new RidepredError(`--report ${opts.report}: several inputs would write ${report}; give each its own with {year}, {month} or {day}`);
    if (report !== undefined) reportNames.add(report);
    return { report, reference: opts.reference === undefined ? undefined : fillTemplate(opts.reference, period) };
  });
}

/**
 * Per input: its report file and reference (reportPaths), the reference scored or read once, the
 * observer that gathers its statistics, and, after it, its report. failed(): --fail-on-drift and some
 * input drifted.
 */
async function statsPlan(jobs: readonly ScoreJob[], opts: ScoreOpts) {
  const { formatFor } = await import("../io/index.js");
  const reportMod = await import("../report/index.js");
  const { score } = await import("../batch/score.js");
  const first = jobs[0]!;
  const named = await reportPaths(jobs, opts);
  const paths = new Map(jobs.map((job, i) => [job, named[i]!]));
  const references = new Map<string, Promise<import("../report/index.js").Reference>>();
  // A data file as the reference: scored with this run's model and options, rows that fail set aside.
  const scoreData = async (input: string) => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "ridepred-reference-"));
    try {
      return await score({
        ...referenceJob(first, input, formatFor(input, opts.inputFormat)),
        output: join(dir, "reference.csv"),
        outputFormat: "csv",
        observer: reportMod.observerFor(first.predictor, opts.driftThreshold),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const referenceOf = (path: string) => {
    let r = references.get(path);
    if (!r) references.set(path, (r = reportMod.loadReference(path, scoreData)));
    return r;
  };
  const refs = new Map<ScoreJob, import("../report/index.js").Reference | undefined>();
  let drifted = false;
  return {
    before: async (job: ScoreJob) => {
      const path = paths.get(job)?.reference;
      const ref = path === undefined ? undefined : await referenceOf(path);
      refs.set(job, ref);
      return reportMod.observerFor(job.predictor, opts.driftThreshold, ref);
    },
    after: (job: ScoreJob, s: Summary) => {
      const d = s.drift as import("../report/index.js").DriftSummary | undefined;
      if (d?.flagged.length) drifted = true;
      const path = paths.get(job)?.report;
      if (path !== undefined) reportMod.writeReport(path, s, refs.get(job));
    },
    lines: (s: Summary) => reportMod.driftLines(s.drift as import("../report/index.js").DriftSummary),
    failed: () => opts.failOnDrift === true && drifted,
  };
}

/** A data file given as --reference, as it is scored: the run's first job's model and options, every row read, rows that fail set aside. */
function referenceJob(first: ScoreJob, input: string, inputFormat: ScoreJob["inputFormat"]): ScoreJob {
  return { ...first, input, inputFormat, rejects: undefined, onError: "skip", rowGroups: undefined, where: undefined, query: undefined, ifExists: undefined };
}

/**
 * --dry-run: each --reference the plan names, checked as the run would before its first row: a summary
 * (.json) read, a data file opened and its columns checked as an input's (not scored). Path -> the
 * run's message, for those that would fail it.
 */
async function checkReferences(
  jobs: readonly ScoreJob[],
  reports: readonly { reference?: string }[],
  io: { formatFor: (path: string) => ScoreJob["inputFormat"]; checkJob: (job: ScoreJob) => Promise<unknown> },
): Promise<Map<string, string>> {
  const { isSummaryPath, readSummaryReference } = await import("../report/index.js");
  const failed = new Map<string, string>();
  for (const path of new Set(reports.map((r) => r.reference).filter((r) => r !== undefined))) {
    try {
      if (isSummaryPath(path)) readSummaryReference(path);
      else await io.checkJob(referenceJob(jobs[0]!, path, io.formatFor(path)));
    } catch (e) {
      if (!(e instanceof RidepredError)) throw e;
      failed.set(path, e.message);
    }
  }
  return failed;
}

function parseRange(s: string): [number, number] {
  const m = /^\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*$/.exec(s);
  const lo = Number(m?.[1]),
    hi = Number(m?.[2]);
  if (!m || !Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi)
    throw new RidepredError(`--filter-duration ${s}: expected MIN..MAX in minutes, e.g. 1..60`);
  return [lo, hi];
}

/** --threads N|auto, else RIDEPRED_THREADS, else auto: one thread per core, at most 4. */
function threadsSetting(option: string | undefined): number {
  const v = option ?? process.env.RIDEPRED_THREADS ?? "auto";
  if (v === "auto" || v === "") return Math.min(4, availableParallelism());
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new RidepredError(
      `${option !== undefined ? "--threads" : "RIDEPRED_THREADS="}${option !== undefined ? " " : ""}${v}: expected a whole number of threads from 1 to 64, or auto`,
    );
  return n;
}

/** RIDEPRED_WRITER_THREAD=on|off overrides when Parquet output is encoded on a second thread. */
const writerThreadSetting = () => onOffAuto("RIDEPRED_WRITER_THREAD");

/** RIDEPRED_ROW_GROUP_THREADS=on: a Parquet input's row groups are scored on --threads threads at once (batch/row-groups.ts); off by default. */
function rowGroupThreadsSetting(): boolean {
  const v = process.env.RIDEPRED_ROW_GROUP_THREADS;
  if (v === undefined || v === "" || v === "off") return false;
  if (v === "on") return true;
  throw new RidepredError(`RIDEPRED_ROW_GROUP_THREADS=${v}: expected on or off`);
}

function onOffAuto(name: string): "auto" | "on" | "off" {
  const v = process.env[name];
  if (v === undefined || v === "" || v === "auto") return "auto";
  if (v === "on" || v === "off") return v;
  throw new RidepredError(`${name}=${v}: expected on, off or auto`);
}
