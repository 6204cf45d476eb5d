// The batch scoring pipeline: input -> record batch -> predictor.predictColumns -> sink, in named
// stages: open the source, plan the columns, open the sinks, score each batch, write it, finish.
// Every row read ends up scored, filtered (--filter-duration) or rejected (bad or missing fields),
// and the summary says how many of each. A source or a sink is whatever src/io opens for a location:
// a file path, "-", or a table URL (postgresql://, duckdb:).
import { basename } from "node:path";
import {
  type BytesColumn,
  bytesStrings,
  type DictColumn,
  gather,
  gatherBytes,
  isBytes,
  isDict,
  materialize,
  type Column,
  SMALL_IDS,
  smallNumberId,
} from "../columns.js";
import { RidepredError } from "../errors.js";
import { resolveColumns, triedNames } from "../io/aliases.js";
import {
  formatFor,
  isTableLocation,
  openSink,
  openSource,
  redactLocation,
  type IfExists,
  type Listed,
  type ParquetCompression,
  type RunPeriod,
} from "../io/index.js";
import { isUrl } from "../io/range.js";
import { stopOnSignals } from "../io/sink.js";
import { toMillis } from "../io/timestamp.js";
import type { EarlyWriter } from "../io/parquet-writer-start.js";
import type { BatchSource, ColumnMemory, PartMemory, ColumnUse, Format, OutBatch, OutColumn, OutValues, RecordBatch, Sink } from "../io/types.js";
import { coerceCategory, isMissing } from "../runtime/coerce.js";
import { outputsOf, type Outputs } from "../runtime/outputs.js";
import type { Predictor } from "../runtime/predictor.js";
import { planColumns, type ColumnPlan } from "./columns.js";
import { useWriterThread } from "./writer-thread.js";
import { copyKept, keptRuns } from "./kept-runs.js";
import { addStats, newStats, summarize, type Stats } from "./stats.js";

export interface ScoreJob {
  /** A file path, "-" (stdin) or a table URL. */
  input: string;
  /** An S3 input as the listing that found it described it (size, ETag): a Parquet one is opened without a HEAD. */
  listed?: Listed;
  /** The file format; undefined for a table URL (and for a path, whose extension then says). */
  inputFormat?: Format;
  output: string;
  outputFormat?: Format;
  predictor: Predictor;
  /** COLUMN -> TARGET (model input, pickup_datetime, dropoff_datetime, ride_id). */
  map?: Record<string, string>;
  columns?: string[];
  /** Keep rides whose actual duration in minutes is within [min, max], like the course's 1..60 filter. */
  filterDuration?: [number, number];
  onError: "fail" | "skip";
  rejects?: string;
  rejectsFormat?: Format;
  batchSize?: number;
  /** Longest CSV record or JSONL line (default 1 MiB); a longer one ends the run (exit 2, naming its row). */
  maxRecordBytes?: number;
  /** Threads a CSV input is parsed on (default 1: this one; N: N - 1 worker threads, src/io/csv-chunks.ts). */
  threads?: number;
  /** Parquet output compression (default snappy). */
  compression?: ParquetCompression;
  /** Encode Parquet output on a second thread: "auto" (default) does so for inputs of ~750k rows and up (writer-thread.ts). */
  writerThread?: "auto" | "on" | "off";
  /** That thread, started before the job (writer-thread.ts writerEarly): taken if the job wants one. */
  writer?: EarlyWriter;
  /** Generated ride ids are PREFIX + row number (0-based, counting every row read): stable across re-runs. */
  rideIdPrefix?: string;
  /** Table sources: an SQL condition on the rows read ({start} {end} {year} {month} {day} filled by io). */
  where?: string;
  /** Table sources: the SELECT that gives the rows, instead of a table. */
  query?: string;
  /** The run's period, for placeholders in --where/--query and --if-exists replace-period. */
  period?: RunPeriod;
  /** Table outputs: how rows meet the rows already there (default upsert). */
  ifExists?: IfExists;
  /**
   * Parquet -> Parquet file with several row groups and threads: score the row groups on that many
   * threads at once, each doing the whole job for one group at a time (row-groups.ts), instead of
   * reading and predicting on one thread while another encodes. Off by default: ~80 MB more memory at
   * 10M rows, and no faster than the pipeline since its writer thread starts early (docs/bench-duckdb.md).
   */
  rowGroupThreads?: boolean;
  /** Write the output in memory, as parts of a Parquet file that row-groups.ts assembles (SinkOptions.part). */
  part?: PartMemory;
  /** Parquet: score the row groups this hands out, one at a time (SourceOptions.claimRowGroup; row-groups.ts). */
  claimRowGroup?: () => number | undefined | Promise<number | undefined>;
  /** Parquet: score only the row groups this accepts (a shard's share of one big file); ids stay the whole file's. */
  rowGroups?: (index: number, count: number) => boolean;
  onProgress?: (p: Progress) => void;
  /** Sees every batch's kept and rejected rows (the report's statistics, src/report); its summary() is the summary's drift. */
  observer?: BatchObserver;
}

/** What an observer sees of one batch; it reads these, never changes them. */
export interface BatchView {
  /** Rows kept (scored): keep[0..k). */
  keep: Int32Array;
  k: number;
  /** Model inputs by name as read (undefined: no such column, the input's default was used). */
  inputs: Record<string, Column | undefined>;
  /** Per row: the prediction (a classifier's: the class index). */
  predictions: Float64Array;
  /** Per row, epoch ms, when the input has pickup and dropoff times. */
  pickupMs?: Float64Array;
  dropoffMs?: Float64Array;
  /** The rejected rows' [field, reason]. */
  rejected: (readonly [string, string])[];
}

export interface BatchObserver {
  observe(batch: BatchView): void;
  summary(): unknown;
}

export interface Progress {
  rows: number;
  /** 0..1 when the reader knows how far it is. */
  fraction?: number;
  seconds: number;
}

export interface ScoreSummary {
  input: string;
  output: string;
  rejects?: string;
  model: { name: string; version: string };
  rows_read: number;
  scored: number;
  filtered: number;
  rejected: number;
  /** Rows the output holds from this run (a table's inserted + updated rows; a file's rows). */
  rows_written: number;
  /** Rejections by field, e.g. {"PULocationID": 3}. */
  rejected_by_field: Record<string, number>;
  predictions: { mean: number; std: number; min: number; max: number } | null;
  /** Classifiers: rows scored per predicted class (by class name). */
  classes?: Record<string, number>;
  /** With an observer (--report, --reference, --json): the statistics of the run (src/report). */
  drift?: unknown;
  seconds: number;
  rows_per_second: number;
}

export async function score(spec: ScoreJob): Promise<ScoreSummary> {
  const t0 = performance.now();
  const job = { ...spec, inputFormat: formatFor(spec.input, spec.inputFormat), outputFormat: formatFor(spec.output, spec.outputFormat) };
  const label = labelOf(job.input);
  const source = await openSource(job.input, {
    format: job.inputFormat,
    where: job.where,
    query: job.query,
    period: job.period,
    rowGroups: job.rowGroups,
    claimRowGroup: job.claimRowGroup,
    maxRecordBytes: job.maxRecordBytes,
    threads: job.threads,
    listed: job.listed,
  });
  const groups = parallelGroups(job, source);
  if (groups) {
    job.writer?.end();
    try {
      planRun(job, source, label); // a job that cannot run fails here, before any thread starts
    } finally {
      await source.close();
    }
    return (await import("./row-groups.js")).scoreRowGroups(job, groups, t0);
  }
  const open: OpenSinks = {};
  // Killed (Ctrl-C, a Kubernetes eviction): temp files go at once, the sinks get a moment to abort (roll
  // back), then the process dies of the same signal.
  const stop = stopOnSignals(() => Promise.allSettled([open.sink?.abort(), open.rejects?.abort()]));
  try {
    const plan = planRun(job, source, label);
    await openSinks(job, source, plan, open);
    const tally = newTally(plan.outputs.classNames.length);
    const work = newWork(plan.columns, job.batchSize ?? 8192);
    const bytes = open.sink!.takesBytes ? plan.passThrough : undefined;
    for await (const batch of source.batches(plan.wanted, job.batchSize ?? 8192, { stableOrder: plan.generatedIds, parse: plan.parse, bytes })) {
      await stop.checkpoint();
      const k = scoreBatch(job, plan, batch, work, tally, label);
      const first = firstRow(batch, tally);
      job.observer?.observe(viewOf(plan, batch, work, k));
      if (open.rejects && tally.rejectedInBatch > 0) await open.rejects.write(rejectBatch(work, batch, plan.wanted, first));
      await open.sink!.write(outBatch(plan, k, work, batch, first, open.sink!.columnMemory?.(k)));
      tally.rowsRead += batch.n;
      job.onProgress?.({ rows: tally.rowsRead, fraction: source.progress(), seconds: (performance.now() - t0) / 1000 });
    }
    return await finish(job, open, tally, t0);
  } catch (e) {
    await open.sink?.abort();
    await open.rejects?.abort();
    throw e;
  } finally {
    stop.dispose();
    await source.close();
  }
}

/**
 * What score() checks of a job before its first row, without reading a row or opening an output (a dry
 * run): the input opens (a Parquet footer, a CSV header, a JSONL first line) and its columns give the
 * model its inputs and the job what it asks for, refused with score()'s own messages. Returns the rows
 * this job would read when the input says (a Parquet footer: the job's row groups).
 */
export async function checkJob(job: ScoreJob): Promise<{ rows?: number }> {
  const source = await openSource(job.input, {
    format: formatFor(job.input, job.inputFormat),
    rowGroups: job.rowGroups,
    maxRecordBytes: job.maxRecordBytes,
    listed: job.listed,
  });
  try {
    planRun(job, source, labelOf(job.input));
    return { rows: source.totalRows };
  } finally {
    await source.close();
  }
}

/** The input's row number of a batch's first row: a shard reading some row groups skips the others' rows. */
const firstRow = (batch: RecordBatch, tally: Tally) => batch.firstRow ?? tally.rowsRead;

/** How a location is named in messages and the summary: stdin, a path, or a table URL without its password. */
const labelOf = (location: string) => (location === "-" ? "stdin" : redactLocation(location));

// ---- stage: plan ---------------------------------------------------------------------------------

interface RunPlan {
  /** Target (model input or role) -> input column. */
  found: Record<string, string | undefined>;
  inputNames: string[];
  /** The pickup and dropoff columns, when they are read (see timesUsed). */
  pickupCol?: string;
  dropoffCol?: string;
  columns: ColumnPlan[];
  /** Input columns to read: model inputs, the two times, a ride id column, passed-through columns. */
  wanted: string[];
  /** The wanted columns used only as one model input or one time: the reader may parse them (BatchOptions.parse). */
  parse: Record<string, ColumnUse>;
  /** The wanted columns only passed through (ride id, raw columns): a sink that takes bytes may get them so (BatchOptions.bytes). */
  passThrough: string[];
  /** Ride ids are generated (prefix + row number): the source must give its rows in a stable order. */
  generatedIds: boolean;
  prefix: string;
  inputs: Predictor["inputs"];
  /** The model version written in every row. */
  model: string;
  /** What the prediction columns are called and hold (runtime/outputs.ts). */
  outputs: Outputs;
}

function planRun(job: ScoreJob, source: BatchSource, label: string): RunPlan {
  const { predictor } = job;
  const inputNames = predictor.inputs.map((i) => i.name);
  const roles = ["pickup_datetime", "dropoff_datetime", "ride_id"];
  const found = resolveColumns(source.names, [...inputNames, ...roles], job.map);
  for (const inp of predictor.inputs) {
    if (found[inp.name] === undefined && inp.required && inp.default === undefined) {
      throw new RidepredError(
        `${label}: no column for model input ${inp.name} (tried ${triedNames(inp.name).join(", ")}); name it with --map COLUMN=${inp.name}. Columns: ${source.names.join(", ")}`,
      );
    }
  }
  const pickupCol = found.pickup_datetime;
  const dropoffCol = found.dropoff_datetime;
  if (job.filterDuration && (!pickupCol || !dropoffCol)) {
    throw new RidepredError(
      `${label}: --filter-duration needs pickup and dropoff times (tried ${triedNames("pickup_datetime").join(", ")} / ${triedNames("dropoff_datetime").join(", ")}; use --map)`,
    );
  }
  if (source.checkColumn) {
    for (const inp of predictor.inputs)
      if (found[inp.name] !== undefined) source.checkColumn(found[inp.name]!, inp.type === "category" ? "category" : "number");
    for (const col of [pickupCol, dropoffCol]) if (col !== undefined) source.checkColumn(col, "timestamp");
  }
  const rawNames = new Set(source.names);
  const outputs = outputsOf(predictor.artifact);
  const columns = planColumns(job.columns, predictor.inputs, { pickup: !!pickupCol, dropoff: !!dropoffCol, raw: (n) => rawNames.has(n) }, outputs);
  // A typed time column (Parquet TIMESTAMP) cannot make a row a reject: when no filter, output column,
  // observer or rejects file uses the times, such a column is not read at all.
  const timesUsed =
    job.filterDuration !== undefined ||
    job.observer !== undefined ||
    job.rejects !== undefined ||
    columns.some((c) => c.source === "derived" && TIME_OUTPUTS.has(c.name));
  const timeCol = (col: string | undefined) => (timesUsed || col === undefined || !source.timestampColumns.has(col) ? col : undefined);
  const pickupRead = timeCol(pickupCol);
  const dropoffRead = timeCol(dropoffCol);
  const wanted = [
    ...new Set(
      [...inputNames.map((n) => found[n]), pickupRead, dropoffRead, found.ride_id, ...columns.filter((c) => c.source === "raw").map((c) => c.name)].filter(
        (c): c is string => c !== undefined,
      ),
    ),
  ];
  // A passed-through timestamp arrives as epoch ms: write it as a timestamp, not a number.
  for (const c of columns) if (c.source === "raw" && source.timestampColumns.has(c.name)) c.kind = "timestamp";
  const generatedIds = found.ride_id === undefined && columns.some((c) => c.name === "ride_id");
  // A table has no name to make ids from and no order of its own: its ids need a prefix the user chose.
  if (generatedIds && isTableLocation(job.input) && job.rideIdPrefix === undefined)
    throw new RidepredError(
      `${label}: no ride_id column: name one with --map COLUMN=ride_id (e.g. the table's primary key), or give --ride-id-prefix TEXT to number the rows in a stable order`,
    );
  const modelOrTime = new Set([...inputNames.map((n) => found[n]), pickupRead, dropoffRead]);
  return {
    found,
    passThrough: wanted.filter((w) => !modelOrTime.has(w)),
    parse: parseHints(predictor, found, [pickupRead, dropoffRead], [found.ride_id, ...columns.filter((c) => c.source === "raw").map((c) => c.name)]),
    inputNames,
    pickupCol: pickupRead,
    dropoffCol: dropoffRead,
    columns,
    wanted,
    generatedIds,
    prefix: job.rideIdPrefix ?? defaultPrefix(job.input),
    inputs: predictor.inputs,
    model: predictor.version,
    outputs,
  };
}

/**
 * Each wanted column with exactly one use, that use a model input or a time: how the reader may parse it.
 * A column also used as the ride id or written out as it is (`others`) stays text.
 */
function parseHints(predictor: Predictor, found: Record<string, string | undefined>, times: (string | undefined)[], others: (string | undefined)[]) {
  const uses = new Map<string, ColumnUse[]>();
  const use = (col: string | undefined, u: ColumnUse) => {
    if (col !== undefined) uses.set(col, [...(uses.get(col) ?? []), u]);
  };
  for (const inp of predictor.inputs) use(found[inp.name], inp.type === "category" ? "category" : "number");
  for (const col of times) use(col, "timestamp");
  for (const col of others) if (col !== undefined) uses.delete(col);
  const parse: Record<string, ColumnUse> = {};
  for (const [col, u] of uses) if (u.length === 1) parse[col] = u[0]!;
  return parse;
}

// ---- stage: open the sinks -----------------------------------------------------------------------

interface OpenSinks {
  sink?: Sink;
  rejects?: Sink;
}

async function openSinks(job: ScoreJob, source: BatchSource, plan: RunPlan, open: OpenSinks): Promise<void> {
  const outColumns: OutColumn[] = plan.columns.map((c) => ({ name: c.name, kind: c.kind }));
  const threaded = !job.part && useWriterThread(job, source.totalRows);
  if (!threaded) job.writer?.end();
  open.sink = await openSink(job.output, outColumns, {
    format: job.outputFormat,
    compression: job.compression,
    threaded,
    writer: job.writer,
    part: job.part,
    encodeThread: (job.threads ?? 1) > 1,
    ifExists: job.ifExists,
    period: job.period,
    key: "ride_id",
  });
  if (job.rejects) {
    const columns: OutColumn[] = [
      { name: "row", kind: "raw" },
      { name: "field", kind: "string" },
      { name: "reason", kind: "string" },
      ...plan.wanted.map((w): OutColumn => ({ name: w, kind: source.timestampColumns.has(w) ? "timestamp" : "raw" })),
    ];
    // Rejected rows have no key: a table of them is appended to.
    open.rejects = await openSink(job.rejects, columns, {
      format: job.rejectsFormat ?? (isTableLocation(job.rejects) ? undefined : "csv"),
      ifExists: "append",
    });
  }
}

// ---- stage: score one batch ----------------------------------------------------------------------

interface Tally {
  rowsRead: number;
  scored: number;
  filtered: number;
  rejected: number;
  rejectedInBatch: number;
  byField: Record<string, number>;
  stats: Stats;
  /** Classifiers: rows scored per predicted class. */
  classCounts: number[];
}

const newTally = (classes: number): Tally => ({
  rowsRead: 0,
  scored: 0,
  filtered: 0,
  rejected: 0,
  rejectedInBatch: 0,
  byField: {},
  stats: newStats(),
  classCounts: new Array<number>(classes).fill(0),
});

/** Per-batch work arrays, reused batch after batch (grown when a batch is larger). */
interface Work {
  pred: Float64Array;
  /** A classifier's probabilities, k per row. */
  proba: Float64Array;
  /** Times parsed from text columns, epoch ms (a typed column is used as it is: pick and drop). */
  pickMs: Float64Array;
  dropMs: Float64Array;
  /** This batch's pickup and dropoff times, epoch ms: a typed input column itself, or pickMs / dropMs. */
  pick: Float64Array;
  drop: Float64Array;
  /** Per row, the duration in minutes, when durations holds (the duration filter computed them for this batch's kept rows). */
  dur: Float64Array;
  durations: boolean;
  /** 0 keep, 1 filtered, 2 rejected. */
  status: Uint8Array;
  why: (readonly [string, string] | undefined)[];
  /** Rows kept, ascending: keep[0..k). */
  keep: Int32Array;
  /** keep[0..keepAll) holds 0..keepAll-1: a batch that keeps every row then needs no pass to make keep. */
  keepAll: number;
  /** The kept rows' stretches (keptRuns), found once per batch for every output column that copies. */
  runs: Int32Array;
  runCount: number;
  scratch: Scratch[];
}

function newWork(columns: ColumnPlan[], size: number): Work {
  return {
    pred: new Float64Array(size),
    proba: new Float64Array(0),
    pickMs: new Float64Array(size),
    dropMs: new Float64Array(size),
    pick: new Float64Array(0),
    drop: new Float64Array(0),
    dur: new Float64Array(size),
    durations: false,
    status: new Uint8Array(size),
    why: new Array(size),
    keep: new Int32Array(size),
    keepAll: 0,
    runs: new Int32Array(2 * size),
    runCount: 0,
    scratch: columns.map(() => ({ f64: new Float64Array(size), i32: new Int32Array(size) })),
  };
}

function fitWork(w: Work, n: number): void {
  if (w.pred.length >= n) return;
  w.pred = new Float64Array(n);
  w.pickMs = new Float64Array(n);
  w.dropMs = new Float64Array(n);
  w.dur = new Float64Array(n);
  w.status = new Uint8Array(n);
  w.keep = new Int32Array(n);
  w.keepAll = 0;
  w.runs = new Int32Array(2 * n);
}

/** Times, the duration filter, the prediction, then the tally; returns k, the rows kept (work.keep[0..k)). */
function scoreBatch(job: ScoreJob, plan: RunPlan, batch: RecordBatch, work: Work, tally: Tally, label: string): number {
  const { n, columns } = batch;
  fitWork(work, n);
  const { status, why } = work;
  status.fill(0, 0, n);
  let marked = 0; // rows filtered or rejected so far
  const reject = (r: number, field: string, reason: string) => {
    if (status[r] === 2) return;
    if (status[r] === 0) marked++;
    status[r] = 2;
    why[r] = [field, reason];
  };
  for (const e of batch.errors) reject(e.row, e.field, e.reason);
  const pick = (work.pick = readTimes(plan.pickupCol, columns, n, work.pickMs, reject));
  const drop = (work.drop = readTimes(plan.dropoffCol, columns, n, work.dropMs, reject));
  work.durations = job.filterDuration !== undefined;
  if (job.filterDuration) marked += filterDurations(status, work.dur, pick, drop, n, job.filterDuration[0], job.filterDuration[1]);

  // One call per batch; model inputs are the input columns under their resolved names.
  const modelCols: Record<string, Column | undefined> = {};
  for (const name of plan.inputNames) modelCols[name] = plan.found[name] === undefined ? undefined : columns[plan.found[name]!];
  const result = job.predictor.predictColumns(modelCols, n, work.pred, work.proba);
  if (result.probabilities) work.proba = result.probabilities; // kept for the next batch
  for (const e of result.errors) if (status[e.row] === 0) reject(e.row, e.field, e.reason);

  // Tally, then fail fast or set rejects aside.
  const { k, rejectedHere } = marked === 0 ? keepEvery(work, n) : tallyRows(job, batch, work, tally, label);
  tally.scored += k;
  tally.rejected += rejectedHere;
  tally.rejectedInBatch = rejectedHere;
  if (plan.outputs.classes) for (let i = 0; i < k; i++) tally.classCounts[work.pred[work.keep[i]!]!]!++;
  else addStats(tally.stats, work.pred, work.keep, k);
  return k;
}

/**
 * The duration filter: rows still good (status 0) whose duration in minutes is outside [lo, hi] get status
 * 1; returns how many. Every row's duration goes into dur, kept for actual_duration and diff (the same
 * expression, so the same bits). No branch per row: V8 compiles this on a batch's first rows, and a
 * branch no row had taken yet (the first filtered row) deoptimized it, and scoreBatch with it.
 */
function filterDurations(status: Uint8Array, dur: Float64Array, pick: Float64Array, drop: Float64Array, n: number, lo: number, hi: number): number {
  let marked = 0;
  for (let r = 0; r < n; r++) {
    const d = (drop[r]! - pick[r]!) / 60000;
    dur[r] = d;
    // NaN (a missing time) is dropped too, as pandas' filter does
    const out = status[r] === 0 && !(d >= lo && d <= hi) ? 1 : 0;
    status[r] = status[r]! | out;
    marked += out;
  }
  return marked;
}

/** Every row of the batch kept (the common case): keep[0..n) is 0..n-1, written once and kept while batches keep every row. */
function keepEvery(work: Work, n: number) {
  const { keep } = work;
  for (let r = work.keepAll; r < n; r++) keep[r] = r;
  if (work.keepAll < n) work.keepAll = n;
  return { k: n, rejectedHere: 0 };
}

/** The kept rows into keep, filtered and rejected ones counted; with --on-error fail the first rejected row fails the run. */
function tallyRows(job: ScoreJob, batch: RecordBatch, work: Work, tally: Tally, label: string) {
  const { status, why, keep } = work;
  const n = batch.n;
  let k = 0;
  let rejectedHere = 0;
  for (let r = 0; r < n; r++) {
    const s = status[r];
    if (s === 0) keep[k++] = r;
    else if (s === 1) tally.filtered++;
    else {
      rejectedHere++;
      const [field, reason] = why[r]!;
      tally.byField[field] = (tally.byField[field] ?? 0) + 1;
      if (job.onError === "fail") {
        throw new RidepredError(
          `${label}: row ${firstRow(batch, tally) + r + 1}: ${field}: ${reason} (--on-error skip --rejects FILE sets such rows aside)`,
          1,
        );
      }
    }
  }
  // keep[j] === j holds only up to the first row not kept.
  let j = 0;
  while (j < k && keep[j] === j) j++;
  work.keepAll = j;
  return { k, rejectedHere };
}

function viewOf(plan: RunPlan, batch: RecordBatch, work: Work, k: number): BatchView {
  const inputs: Record<string, Column | undefined> = {};
  for (const name of plan.inputNames) inputs[name] = plan.found[name] === undefined ? undefined : batch.columns[plan.found[name]!];
  const rejected: (readonly [string, string])[] = [];
  for (let r = 0; r < batch.n; r++) if (work.status[r] === 2) rejected.push(work.why[r]!);
  const times = plan.pickupCol !== undefined && plan.dropoffCol !== undefined;
  return { keep: work.keep, k, inputs, predictions: work.pred, rejected, ...(times ? { pickupMs: work.pick, dropoffMs: work.drop } : {}) };
}

/**
 * A time column as epoch ms (naive wall clock read as UTC; durations are plain differences): typed
 * timestamps (Parquet, tables) are already epoch ms, NaN where missing, and are used as they are (valid
 * for this batch); text is parsed into ms. Returns the array holding them (ms when there is no column).
 */
function readTimes(col: string | undefined, columns: Record<string, Column>, n: number, ms: Float64Array, reject: (r: number, f: string, why: string) => void) {
  if (!col) return ms;
  const column = columns[col]!;
  if (column instanceof Float64Array) return column;
  const vals = materialize(column);
  for (let r = 0; r < n; r++) {
    const t = toMillis(vals[r]);
    if (t === undefined) {
      ms[r] = NaN;
      reject(r, col, `not a timestamp: ${JSON.stringify(String(vals[r]).slice(0, 40))}`);
    } else ms[r] = t;
  }
  return ms;
}

// ---- stage: finish -------------------------------------------------------------------------------

/** The summary's seconds run from `t0` to the sink's end: a table's merge or key build and a file's rename count. */
async function finish(job: ScoreJob, open: OpenSinks, t: Tally, t0: number): Promise<ScoreSummary> {
  if (t.rowsRead !== t.scored + t.filtered + t.rejected)
    throw new Error(`internal: rows do not reconcile (${t.rowsRead} != ${t.scored} + ${t.filtered} + ${t.rejected})`);
  // Rejects first: a table sink's merge is the run's last step, after which nothing can fail it.
  if (open.rejects) await open.rejects.finish();
  open.rejects = undefined;
  const result = await open.sink!.finish();
  open.sink = undefined;
  const seconds = (performance.now() - t0) / 1000;
  return {
    input: redactLocation(job.input),
    output: redactLocation(job.output),
    ...(job.rejects ? { rejects: redactLocation(job.rejects) } : {}),
    model: { name: job.predictor.name, version: job.predictor.version },
    rows_read: t.rowsRead,
    scored: t.scored,
    filtered: t.filtered,
    rejected: t.rejected,
    rows_written: result?.rowsWritten ?? t.scored,
    rejected_by_field: t.byField,
    predictions: t.classCounts.length ? null : summarize(t.stats),
    ...(t.classCounts.length ? { classes: Object.fromEntries(outputsOf(job.predictor.artifact).classNames.map((c, i) => [c, t.classCounts[i]!])) } : {}),
    ...(job.observer ? { drift: job.observer.summary() } : {}),
    seconds,
    rows_per_second: seconds > 0 ? t.rowsRead / seconds : 0,
  };
}

/** The row groups to score on threads at once (ScoreJob.rowGroupThreads), or undefined to score them here. */
function parallelGroups(job: ScoreJob, source: BatchSource): readonly number[] | undefined {
  const groups = source.rowGroups;
  if (!job.rowGroupThreads || job.part || !groups || groups.length < 2 || (job.threads ?? 1) < 2) return undefined;
  // The output is one local Parquet file; rejects and an observer see rows in order, here.
  if (job.outputFormat !== "parquet" || job.output === "-" || isTableLocation(job.output) || isUrl(job.output)) return undefined;
  if (job.rejects !== undefined || job.observer !== undefined) return undefined;
  return groups;
}

function defaultPrefix(input: string): string {
  if (input === "-") return "stdin_";
  return basename(input).replace(/\.(csv\.gz|csv|parquet|pq|jsonl|ndjson)$/i, "") + "_";
}

/** Derived output columns computed from the pickup and dropoff times. */
const TIME_OUTPUTS = new Set(["pickup_datetime", "dropoff_datetime", "actual_duration", "diff"]);

// ---- stage: write (the output columns of the kept rows) ------------------------------------------

/** Output buffers of one column: its own, reused, or the sink's memory for this batch (then lent until the write). */
interface Scratch {
  f64: Float64Array;
  i32: Int32Array;
  /** The input dictionary dictOut was coerced from. */
  dictFrom?: ArrayLike<unknown>;
  /** The column's dictionary: an input's coerced entries, the model version. */
  dictOut?: unknown[];
  /** keptIds' table of a batch's ids (id -> entry; -1 between batches). */
  idEntry?: Int32Array;
}

/** Column j's scratch with buffers for k rows: in the sink's memory when it lends some (no copy on the way), else its own. */
function buffersFor(s: Scratch, j: number, k: number, memory: ColumnMemory | undefined): Scratch {
  if (memory) {
    s.f64 = memory.f64(j);
    s.i32 = memory.i32(j);
  } else if (s.f64.length < k || s.f64.buffer instanceof SharedArrayBuffer) {
    s.f64 = new Float64Array(k);
    s.i32 = new Int32Array(k);
  }
  return s;
}

/**
 * The output columns of the kept rows, numbers built in the sink's memory when it lends some; a column
 * read as bytes goes in `bytes` (only a sink that takes them asked for them).
 */
function outBatch(plan: RunPlan, k: number, work: Work, batch: RecordBatch, rowsRead: number, memory: ColumnMemory | undefined): OutBatch {
  const values: OutValues[] = [];
  let bytes: (BytesColumn | undefined)[] | undefined;
  work.runCount = keptRuns(work.keep, k, work.runs);
  for (let j = 0; j < plan.columns.length; j++) {
    const v = outValues(plan.columns[j]!, k, work, batch, plan, rowsRead, buffersFor(work.scratch[j]!, j, k, memory));
    if (isBytes(v)) (bytes ??= [])[j] = v;
    values.push(isBytes(v) ? [] : v);
  }
  return bytes ? { n: k, values, bytes } : { n: k, values };
}

/** One output column for the kept rows (keep[0..k)), in the column's scratch buffers where it is numeric. */
function outValues(c: ColumnPlan, k: number, work: Work, batch: RecordBatch, plan: RunPlan, rowsRead: number, scratch: Scratch): OutValues | BytesColumn {
  const { pred, pick, drop, dur, keep, runs, runCount } = work;
  const read = c.source === "raw" ? c.name : c.name === "ride_id" ? plan.found.ride_id : undefined;
  const asBytes = read === undefined ? undefined : batch.bytes?.[read];
  if (asBytes) return gatherBytes(asBytes, keep, k);
  if (c.source === "raw") return gather(batch.columns[c.name]!, keep, k);
  if (c.source === "input") return inputValues(c, k, work, batch, plan, scratch);
  if (c.source === "prediction") return predictionValues(c.proba!, k, work, plan.outputs, scratch);
  // Derived numbers: one plain loop each (these run for every row of every batch); straight copies go
  // run by run (kept rows come in long consecutive stretches).
  const out = scratch.f64.subarray(0, k);
  switch (c.name) {
    case "ride_id": {
      const col = plan.found.ride_id;
      if (col) return Array.from(materialize(gather(batch.columns[col]!, keep, k)), (v) => (v === null || v === undefined ? null : String(v)));
      for (let i = 0; i < k; i++) out[i] = rowsRead + keep[i]!;
      return { prefix: plan.prefix, numbers: out };
    }
    case "pickup_datetime":
      return copyKept(pick, runs, runCount, out);
    case "dropoff_datetime":
      return copyKept(drop, runs, runCount, out);
    case "actual_duration":
      if (work.durations) return copyKept(dur, runs, runCount, out);
      for (let i = 0; i < k; i++) {
        const r = keep[i]!;
        out[i] = (drop[r]! - pick[r]!) / 60000;
      }
      return out;
    case "diff":
      if (work.durations) return diffs(dur, pred, runs, runCount, out);
      for (let i = 0; i < k; i++) {
        const r = keep[i]!;
        out[i] = (drop[r]! - pick[r]!) / 60000 - pred[r]!;
      }
      return out;
    case "model_version":
      // One dictionary for the run: it crosses to a writer thread once, not with every batch.
      return { dictionary: (scratch.dictOut ??= [plan.model]), indices: scratch.i32.subarray(0, k).fill(0) };
  }
  throw new Error(`internal: unknown output column ${c.name}`);
}

/** dur[r] - pred[r] of the kept rows, stretch by stretch, into out. */
function diffs(dur: Float64Array, pred: Float64Array, runs: Int32Array, count: number, out: Float64Array): Float64Array {
  let at = 0;
  for (let t = 0; t < count; t++) {
    const from = runs[2 * t]!;
    const end = from + runs[2 * t + 1]!;
    for (let r = from; r < end; r++) out[at++] = dur[r]! - pred[r]!;
  }
  return out;
}

/** The prediction (p = -1: a regressor's number, a classifier's label) or the probability of class p, of the kept rows. */
function predictionValues(p: number, k: number, work: Work, o: Outputs, scratch: Scratch): OutValues {
  const { pred, proba, keep, runs, runCount } = work;
  const out = scratch.f64.subarray(0, k);
  if (p >= 0) {
    const m = o.classNames.length;
    for (let i = 0; i < k; i++) out[i] = proba[keep[i]! * m + p]!;
    return out;
  }
  if (!o.classes) return copyKept(pred, runs, runCount, out);
  if (o.labelKind === "double") {
    for (let i = 0; i < k; i++) out[i] = o.classes[pred[keep[i]!]!] as number;
    return out;
  }
  // Labels as Python prints them ("True", "short"), dictionary-encoded by class.
  const idx = scratch.i32.subarray(0, k);
  for (let i = 0; i < k; i++) idx[i] = pred[keep[i]!]!;
  return { dictionary: o.classNames as string[], indices: idx };
}

/** A model input as the model saw it: coerced, or the input's default where missing. */
function inputValues(c: ColumnPlan, k: number, work: Work, batch: RecordBatch, plan: RunPlan, scratch: Scratch): OutValues {
  const { keep, runs, runCount } = work;
  const col = plan.found[c.name];
  const src = col === undefined ? undefined : batch.columns[col];
  const spec = plan.inputs.find((i) => i.name === c.name)!;
  const value = (v: unknown) => {
    const x = isMissing(v) ? spec.default : v;
    return x === undefined ? (c.kind === "double" ? NaN : null) : c.kind === "string" ? coerceCategory(c.name, x) : Number(x);
  };
  if (src !== undefined && isDict(src)) {
    // Kept rows were coerced by the predictor; an entry only rejected rows use may not coerce.
    // One coerced dictionary per input dictionary (a row group's batches share it), with the input's
    // default, if it has one, as a last entry for missing rows.
    if (scratch.dictFrom !== src.dictionary) {
      scratch.dictFrom = src.dictionary;
      scratch.dictOut = Array.from(src.dictionary, (v) => {
        try {
          return value(v);
        } catch {
          return null;
        }
      });
      if (spec.default !== undefined) scratch.dictOut.push(value(undefined));
    }
    const dictionary = scratch.dictOut!;
    const indices = copyKept(src.indices, runs, runCount, scratch.i32.subarray(0, k));
    if (spec.default !== undefined) for (let i = 0; i < k; i++) if (indices[i]! < 0) indices[i] = dictionary.length - 1;
    return { dictionary, indices }; // without a default, -1 (missing) is written as null
  }
  if (src instanceof Float64Array && c.kind === "string") {
    const ids = keptIds(src, keep, k, value, scratch);
    if (ids !== undefined) return ids;
  }
  const cells = src === undefined ? undefined : materialize(src);
  const out = new Array<unknown>(k);
  for (let i = 0; i < k; i++) out[i] = value(cells?.[keep[i]!]);
  return out;
}

/**
 * A category input read as numbers (Parquet's integer zone ids), for the kept rows: a dictionary of the
 * batch's ids, each coerced once, in the order the rows first show them (so a writer meets them in the
 * order it would meet the strings); undefined if an id is not a small whole number.
 */
function keptIds(src: Float64Array, keep: Int32Array, k: number, value: (v: unknown) => unknown, scratch: Scratch): DictColumn | undefined {
  const entryOf = (scratch.idEntry ??= new Int32Array(SMALL_IDS).fill(-1));
  const ids: number[] = [];
  const dictionary: unknown[] = [];
  const indices = scratch.i32.subarray(0, k);
  let missing = -1;
  let i = 0;
  for (; i < k; i++) {
    const v = src[keep[i]!]!;
    let e: number;
    if (v !== v) {
      if (missing < 0) {
        missing = dictionary.length;
        dictionary.push(value(v));
      }
      e = missing;
    } else {
      const id = smallNumberId(v);
      if (id < 0) break;
      e = entryOf[id]!;
      if (e < 0) {
        e = entryOf[id] = dictionary.length;
        ids.push(id);
        dictionary.push(value(v));
      }
    }
    indices[i] = e;
  }
  for (const v of ids) entryOf[v] = -1;
  return i === k ? { dictionary, indices } : undefined;
}

/** Rejected rows with their 1-based row number, field, reason, and the values the job read. */
function rejectBatch(work: Work, batch: RecordBatch, wanted: string[], rowsRead: number) {
  const rows: number[] = [];
  for (let r = 0; r < batch.n; r++) if (work.status[r] === 2) rows.push(r);
  return {
    n: rows.length,
    values: [
      rows.map((r) => rowsRead + r + 1),
      rows.map((r) => work.why[r]![0]),
      rows.map((r) => work.why[r]![1]),
      ...wanted.map((w) => {
        if (batch.text) return rows.map((r) => batch.text!(w, r));
        const bytes = batch.bytes?.[w];
        if (bytes) return bytesStrings(gatherBytes(bytes, Int32Array.from(rows), rows.length));
        return gather(batch.columns[w]!, Int32Array.from(rows), rows.length);
      }),
    ],
  };
}
