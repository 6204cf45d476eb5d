// When Parquet output is encoded on a second thread (io/parquet-thread.ts), and when that thread is
// started before the run knows for sure: one rule, read twice, once from what a command knows before
// anything is opened and once from the opened input.
import { statSync } from "node:fs";
import { formatOf } from "../io/format.js";
import { type EarlyWriter, startWriterEarly } from "../io/parquet-writer-start.js";
import { isTableLocation } from "../io/table-url.js";

type Setting = "auto" | "on" | "off";

/** Rows from which a run's output is worth a second thread: below, its start and warm-up cost more than it saves. */
const MIN_ROWS = 750_000;
/** Bytes from which a file whose rows are not counted yet is guessed to hold about MIN_ROWS (~100 a CSV row). */
const MIN_BYTES = 72 << 20;
/** Bytes a Parquet row takes, guessed before the footer is read (the TLC files: 20-30). */
const PARQUET_ROW_BYTES = 20;

/**
 * A second thread pays for its start (a second V8 heap, its own JIT warm-up) only on larger outputs
 * (the threshold and its measurements: README, bench/score): the row count is known for Parquet, guessed
 * from the size otherwise; a stream from stdin or a table may be long, so it gets one.
 */
export function useWriterThread(job: { input: string; outputFormat?: string; writerThread?: Setting }, totalRows: number | undefined): boolean {
  if (job.outputFormat !== "parquet" || job.writerThread === "off") return false;
  if (job.writerThread === "on" || job.input === "-" || isTableLocation(job.input)) return true;
  if (totalRows !== undefined) return totalRows >= MIN_ROWS;
  return sizeOf(job.input) >= MIN_BYTES;
}

/**
 * The writer thread, started now, when a run of one input will most likely want it (the same rule on the
 * input's size, before the input is opened); undefined otherwise, or if the run's setting or options
 * rule it out (unknown formats are left for the run to report).
 */
export function writerEarly(run: {
  inputs: readonly string[];
  inputFormat?: string;
  output: string;
  outputFormat?: string;
  writerThread: Setting;
  rowGroupThreads: boolean;
}): EarlyWriter | undefined {
  if (run.inputs.length !== 1 || run.writerThread === "off") return undefined;
  const input = run.inputs[0]!;
  try {
    if (formatOf(run.output, run.outputFormat, "csv") !== "parquet") return undefined;
    const parquetIn = !isTableLocation(input) && input !== "-" && formatOf(input, run.inputFormat, "csv") === "parquet";
    if (parquetIn && run.rowGroupThreads) return undefined; // its row groups get threads of their own instead
    // A Parquet input's rows, guessed from its size; other inputs are judged by their size as always.
    const rows = parquetIn ? sizeOf(input) / PARQUET_ROW_BYTES : undefined;
    return useWriterThread({ input, outputFormat: "parquet", writerThread: run.writerThread }, rows) ? startWriterEarly() : undefined;
  } catch {
    return undefined;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
