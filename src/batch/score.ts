// The batch scoring pipeline: input -> record batch -> predictor.predictColumns -> sink.
// Every row read ends up scored, filtered (--filter-duration) or rejected (bad or missing fields),
// and the summary says how many of each.
import { statSync } from "node:fs";
import { basename } from "node:path";
import { copyRuns, gather, isDict, materialize, type Column } from "../columns.js";
import { RidepredError } from "../errors.js";
import { resolveColumns, triedNames } from "../io/aliases.js";
import { openSink, openSource, type ParquetCompression } from "../io/index.js";
import { toMillis } from "../io/timestamp.js";
import type { Format, OutColumn, OutValues, Sink } from "../io/types.js";
import { coerceCategory, isMissing } from "../runtime/coerce.js";
import type { Predictor } from "../runtime/predictor.js";
import { planColumns, type ColumnPlan } from "./columns.js";
import { addStats, newStats, summarize } from "./stats.js";

export interface ScoreJob {
  input: string;
  inputFormat: Format;
  output: string;
  outputFormat: Format;
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
  /** Parquet output compression (default snappy). */
  compression?: ParquetCompression;
  /** Encode Parquet output on a second thread: "auto" (default) does so for inputs of ~750k rows and up. */
  writerThread?: "auto" | "on" | "off";
  /** Generated ride ids are PREFIX + row number (0-based, counting every row read): stable across re-runs. */
  rideIdPrefix?: string;
  onProgress?: (p: Progress) => void;
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
  /** Rejections by field, e.g. {"PULocationID": 3}. */
  rejected_by_field: Record<string, number>;
  predictions: { mean: number; std: number; min: number; max: number } | null;
  seconds: number;
  rows_per_second: number;
}

export async function score(job: ScoreJob): Promise<ScoreSummary> {
  const t0 = performance.now();
  const { predictor } = job;
  const batchSize = job.batchSize ?? 8192;
  const label = job.input === "-" ? "stdin" : job.input;
  const source = await openSource(job.input, job.inputFormat);
  let sink: Sink | undefined;
  let rejectSink: Sink | undefined;
  // Killed (Ctrl-C, a Kubernetes eviction): remove the temp files, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals) => {
    void Promise.allSettled([sink?.abort(), rejectSink?.abort()]).finally(() => process.kill(process.pid, signal));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    // Which input column feeds each model input and each role.
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
    const rawNames = new Set(source.names);
    const plan = planColumns(job.columns, predictor.inputs, { pickup: !!pickupCol, dropoff: !!dropoffCol, raw: (n) => rawNames.has(n) });

    // Read only what is needed: model inputs, the two times, a ride id column, passed-through columns.
    const wanted = [
      ...new Set(
        [...inputNames.map((n) => found[n]), pickupCol, dropoffCol, found.ride_id, ...plan.filter((c) => c.source === "raw").map((c) => c.name)].filter(
          (c): c is string => c !== undefined,
        ),
      ),
    ];
    // A passed-through Parquet timestamp arrives as epoch ms: write it as a timestamp, not a number.
    for (const c of plan) if (c.source === "raw" && source.timestampColumns.has(c.name)) c.kind = "timestamp";
    const outColumns: OutColumn[] = plan.map((c) => ({ name: c.name, kind: c.kind }));
    sink = await openSink(job.output, job.outputFormat, outColumns, { compression: job.compression, threaded: useWriterThread(job, source.totalRows) });
    if (job.rejects) {
      rejectSink = await openSink(job.rejects, job.rejectsFormat ?? "csv", [
        { name: "row", kind: "raw" },
        { name: "field", kind: "string" },
        { name: "reason", kind: "string" },
        ...wanted.map((w): OutColumn => ({ name: w, kind: source.timestampColumns.has(w) ? "timestamp" : "raw" })),
      ]);
    }

    const prefix = job.rideIdPrefix ?? defaultPrefix(job.input);
    const stats = newStats();
    let rowsRead = 0,
      scored = 0,
      filtered = 0,
      rejected = 0;
    const byField: Record<string, number> = {};
    const [lo, hi] = job.filterDuration ?? [-Infinity, Infinity];
    let pred = new Float64Array(batchSize);
    const pickMs = new Float64Array(batchSize);
    const dropMs = new Float64Array(batchSize);
    const status = new Uint8Array(batchSize); // 0 keep, 1 filtered, 2 rejected
    const why: (readonly [string, string] | undefined)[] = new Array(batchSize);
    let keep = new Int32Array(batchSize);
    const scratch: Scratch[] = plan.map(() => ({ f64: new Float64Array(batchSize), i32: new Int32Array(batchSize) }));

    for await (const batch of source.batches(wanted, batchSize)) {
      const { n, columns } = batch;
      if (pred.length < n) pred = new Float64Array(n);
      status.fill(0, 0, n);
      const reject = (r: number, field: string, reason: string) => {
        if (status[r] === 2) return;
        status[r] = 2;
        why[r] = [field, reason];
      };
      for (const e of batch.errors) reject(e.row, e.field, e.reason);

      // Times: naive wall clock read as UTC; durations are plain differences.
      const timeCols: [string | undefined, Float64Array][] = [
        [pickupCol, pickMs],
        [dropoffCol, dropMs],
      ];
      for (const [col, ms] of timeCols) {
        if (!col) continue;
        const column = columns[col]!;
        if (column instanceof Float64Array) {
          ms.set(column.subarray(0, n)); // Parquet timestamps: already epoch ms, NaN where missing
          continue;
        }
        const vals = materialize(column);
        for (let r = 0; r < n; r++) {
          const t = toMillis(vals[r]);
          if (t === undefined) {
            ms[r] = NaN;
            if (status[r] !== 2) reject(r, col, `not a timestamp: ${JSON.stringify(String(vals[r]).slice(0, 40))}`);
          } else ms[r] = t;
        }
      }
      if (job.filterDuration) {
        for (let r = 0; r < n; r++) {
          if (status[r]) continue;
          const d = (dropMs[r]! - pickMs[r]!) / 60000;
          if (!(d >= lo && d <= hi)) status[r] = 1; // NaN (a missing time) is dropped too, as pandas' filter does
        }
      }

      // One call per batch; model inputs are the input columns under their resolved names.
      const modelCols: Record<string, Column | undefined> = {};
      for (const name of inputNames) modelCols[name] = found[name] === undefined ? undefined : columns[found[name]!];
      const result = predictor.predictColumns(modelCols, n, pred);
      for (const e of result.errors) if (status[e.row] === 0) reject(e.row, e.field, e.reason);

      // Tally, then fail fast or set rejects aside.
      if (keep.length < n) keep = new Int32Array(n);
      let k = 0;
      let rejectedHere = 0;
      for (let r = 0; r < n; r++) {
        const s = status[r];
        if (s === 0) keep[k++] = r;
        else if (s === 1) filtered++;
        else {
          rejectedHere++;
          const [field, reason] = why[r]!;
          byField[field] = (byField[field] ?? 0) + 1;
          if (job.onError === "fail") {
            throw new RidepredError(`${label}: row ${rowsRead + r + 1}: ${field}: ${reason} (--on-error skip --rejects FILE sets such rows aside)`, 1);
          }
        }
      }
      scored += k;
      rejected += rejectedHere;
      addStats(stats, pred, keep, k);
      if (rejectSink && rejectedHere > 0) await rejectSink.write(rejectBatch(status, why, columns, wanted, n, rowsRead));

      // Output columns are views of per-column buffers reused batch after batch (sinks consume a batch in write()).
      const ctx: BatchContext = { columns, pred, pickMs, dropMs, found, predictor, rowsRead, prefix };
      await sink.write({ n: k, values: plan.map((c, j) => outValues(c, k, keep, ctx, (scratch[j] = grown(scratch[j]!, k)))) });
      rowsRead += n;
      job.onProgress?.({ rows: rowsRead, fraction: source.progress(), seconds: (performance.now() - t0) / 1000 });
    }

    await sink.finish();
    sink = undefined;
    if (rejectSink) await rejectSink.finish();
    rejectSink = undefined;
    if (rowsRead !== scored + filtered + rejected) throw new Error(`internal: rows do not reconcile (${rowsRead} != ${scored} + ${filtered} + ${rejected})`);
    const seconds = (performance.now() - t0) / 1000;
    return {
      input: job.input,
      output: job.output,
      ...(job.rejects ? { rejects: job.rejects } : {}),
      model: { name: predictor.name, version: predictor.version },
      rows_read: rowsRead,
      scored,
      filtered,
      rejected,
      rejected_by_field: byField,
      predictions: summarize(stats),
      seconds,
      rows_per_second: seconds > 0 ? rowsRead / seconds : 0,
    };
  } catch (e) {
    await sink?.abort();
    await rejectSink?.abort();
    throw e;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await source.close();
  }
}

/**
 * A second thread pays for its start (a second V8 heap, its own JIT warm-up) from somewhere between
 * 300k rows (even) and 1M rows (1.13x faster; 10M rows 1.4x), since batches cross in shared memory:
 * the row count is known for Parquet, guessed from the size otherwise (~100 bytes a CSV row); a stream
 * from stdin may be long, so it gets one.
 */
function useWriterThread(job: ScoreJob, totalRows: number | undefined): boolean {
  if (job.outputFormat !== "parquet" || job.writerThread === "off") return false;
  if (job.writerThread === "on" || job.input === "-") return true;
  if (totalRows !== undefined) return totalRows >= 750_000;
  try {
    return statSync(job.input).size >= 72 << 20;
  } catch {
    return false;
  }
}

function defaultPrefix(input: string): string {
  if (input === "-") return "stdin_";
  return basename(input).replace(/\.(csv\.gz|csv|parquet|pq|jsonl|ndjson)$/i, "") + "_";
}

interface BatchContext {
  columns: Record<string, Column>;
  pred: Float64Array;
  pickMs: Float64Array;
  dropMs: Float64Array;
  found: Record<string, string | undefined>;
  predictor: Predictor;
  rowsRead: number;
  prefix: string;
}

/** Reused output buffers of one column. */
interface Scratch {
  f64: Float64Array;
  i32: Int32Array;
  /** The input dictionary dictOut was coerced from. */
  dictFrom?: ArrayLike<unknown>;
  dictOut?: unknown[];
}

function grown(s: Scratch, k: number): Scratch {
  return s.f64.length >= k ? s : { f64: new Float64Array(k), i32: new Int32Array(k) };
}

/** One output column for the kept rows (keep[0..k)), in the column's scratch buffers where it is numeric. */
function outValues(c: ColumnPlan, k: number, keep: Int32Array, ctx: BatchContext, scratch: Scratch): OutValues {
  const { pred, pickMs, dropMs } = ctx;
  if (c.source === "raw") return gather(ctx.columns[c.name]!, keep, k);
  if (c.source === "input") {
    const col = ctx.found[c.name];
    const src = col === undefined ? undefined : ctx.columns[col];
    const spec = ctx.predictor.inputs.find((i) => i.name === c.name)!;
    // The value the model saw: coerced, or the input's default where missing.
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
      const indices = copyRuns(src.indices, keep, k, scratch.i32.subarray(0, k));
      if (spec.default !== undefined) for (let i = 0; i < k; i++) if (indices[i]! < 0) indices[i] = dictionary.length - 1;
      return { dictionary, indices }; // without a default, -1 (missing) is written as null
    }
    const cells = src === undefined ? undefined : materialize(src);
    const out = new Array<unknown>(k);
    for (let i = 0; i < k; i++) out[i] = value(cells?.[keep[i]!]);
    return out;
  }
  // Derived numbers: one plain loop each (these run for every row of every batch); straight copies go
  // run by run (kept rows come in long consecutive stretches).
  const out = scratch.f64.subarray(0, k);
  switch (c.name) {
    case "ride_id": {
      const col = ctx.found.ride_id;
      if (col) return Array.from(materialize(gather(ctx.columns[col]!, keep, k)), (v) => (v === null || v === undefined ? null : String(v)));
      for (let i = 0; i < k; i++) out[i] = ctx.rowsRead + keep[i]!;
      return { prefix: ctx.prefix, numbers: out };
    }
    case "pickup_datetime":
      return copyRuns(pickMs, keep, k, out);
    case "dropoff_datetime":
      return copyRuns(dropMs, keep, k, out);
    case "actual_duration":
      for (let i = 0; i < k; i++) {
        const r = keep[i]!;
        out[i] = (dropMs[r]! - pickMs[r]!) / 60000;
      }
      return out;
    case "predicted_duration":
      return copyRuns(pred, keep, k, out);
    case "diff":
      for (let i = 0; i < k; i++) {
        const r = keep[i]!;
        out[i] = (dropMs[r]! - pickMs[r]!) / 60000 - pred[r]!;
      }
      return out;
    case "model_version":
      return { dictionary: [ctx.predictor.version], indices: scratch.i32.subarray(0, k).fill(0) };
  }
  throw new Error(`internal: unknown output column ${c.name}`);
}

/** Rejected rows with their 1-based row number, field, reason, and the values the job read. */
function rejectBatch(
  status: Uint8Array,
  why: (readonly [string, string] | undefined)[],
  columns: Record<string, Column>,
  wanted: string[],
  n: number,
  rowsRead: number,
) {
  const rows: number[] = [];
  for (let r = 0; r < n; r++) if (status[r] === 2) rows.push(r);
  return {
    n: rows.length,
    values: [
      rows.map((r) => rowsRead + r + 1),
      rows.map((r) => why[r]![0]),
      rows.map((r) => why[r]![1]),
      ...wanted.map((w) => gather(columns[w]!, Int32Array.from(rows), rows.length)),
    ],
  };
}
