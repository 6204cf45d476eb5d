import { type BytesColumn, materialize, type Column } from "../columns.js";
import type { Borrowed } from "./borrowed.js";
import type { ThriftStruct } from "./thrift.js";

export type { Column, DictColumn } from "../columns.js";

// Record batches: the unit that flows input -> predictor -> sink. Columnar, so the predictor's
// predictColumns runs once per batch and memory is bounded by the batch size, not the file size.

export type Format = "csv" | "csv.gz" | "parquet" | "jsonl";

/** The longest CSV record or JSONL line a reader accepts unless told otherwise (--max-record-bytes). */
export const DEFAULT_MAX_RECORD = 1 << 20;

/** A row the reader itself could not make sense of (wrong field count, invalid JSON line). */
export interface ReadError {
  /** 0-based row index within the batch. */
  row: number;
  field: string;
  reason: string;
}

export interface RecordBatch {
  /** Rows in this batch. */
  n: number;
  /** One column per requested name (undefined or null cells are missing values). */
  columns: Record<string, Column>;
  /** Rows the reader could not parse; their column values are undefined. */
  errors: ReadError[];
  /** Columns delivered as UTF-8 bytes (BatchOptions.bytes) instead of in `columns`. */
  bytes?: Readonly<Record<string, BytesColumn>>;
  /**
   * 0-based position in the input of the batch's first row, when the reader skips rows (a shard reading
   * some of a file's row groups): ride ids and row numbers stay those of the whole file. Absent, rows follow on.
   */
  firstRow?: number;
  /**
   * The cell as the input spelled it, from readers that may deliver a column parsed (CSV: BatchOptions.parse):
   * what a rejects file shows. Absent, the column's own cells are that.
   */
  text?(column: string, row: number): unknown;
}

export interface BatchOptions {
  /**
   * The caller numbers the rows (generated ride ids): give them in an order that is the same on every
   * run over the same data. Files are read in file order anyway; a table orders its rows (see pg-read).
   */
  stableOrder?: boolean;
  /**
   * Columns the run uses only as this (a model input, a pickup or dropoff time): a reader may deliver them
   * parsed (typed numbers, epoch ms, dictionary ids) where that changes nothing a later stage sees.
   */
  parse?: Readonly<Record<string, ColumnUse>>;
  /**
   * Text columns the run only passes through to a sink that takes bytes (a ride id, a raw column): a
   * reader may deliver them in RecordBatch.bytes, each cell's UTF-8 bytes as read, no string made.
   */
  bytes?: readonly string[];
}

/** The run's period ({start} inclusive, {end} exclusive, as naive wall-clock ms read as UTC) and its date. */
export interface RunPeriod {
  start: number;
  end: number;
  year: number;
  month: number;
  day: number;
}

/** What a run reads a column as. */
export type ColumnUse = "number" | "category" | "timestamp";

export interface BatchSource {
  /** Column names of the input, in file order. */
  readonly names: readonly string[];
  /** Row count when the format knows it up front (Parquet), for the progress ETA. */
  readonly totalRows?: number;
  /** Parquet: the row groups it reads (their indices in the file), which other threads may read apart. */
  readonly rowGroups?: readonly number[];
  /** Columns decoded to epoch milliseconds from a Parquet TIMESTAMP (naive wall-clock time read as UTC). */
  readonly timestampColumns: ReadonlySet<string>;
  /**
   * Tables: refuse (a RidepredError naming the column and its type) a column whose type can never serve
   * this use, e.g. a boolean as a distance. Files have no column types to check: their cells are coerced.
   */
  checkColumn?(name: string, use: ColumnUse): void;
  /** Fraction of the input consumed so far (0..1) when it can be known, e.g. bytes of a plain file. */
  progress(): number | undefined;
  /**
   * Stream the wanted columns in batches of at most batchSize rows. Call once. A batch's columns are
   * valid until the next batch is requested: readers reuse their arrays (copy what must outlive it).
   */
  batches(wanted: readonly string[], batchSize: number, options?: BatchOptions): AsyncGenerator<Borrowed<RecordBatch>>;
  close(): Promise<void>;
}

/** How an output column is typed, so CSV, JSONL and Parquet writers agree. */
export type ColumnKind = "string" | "double" | "timestamp" | "raw";

export interface OutColumn {
  name: string;
  kind: ColumnKind;
}

/**
 * Ids made of a prefix and a row number ("trips_2021-02_41"), kept as numbers until a writer formats
 * them: a million rows would otherwise be a million strings built only to be encoded again.
 */
export interface GeneratedIds {
  readonly prefix: string;
  /** numbers[r] for row r (integers). */
  readonly numbers: Float64Array;
}

export type OutValues = Column | GeneratedIds;

export function isGeneratedIds(v: OutValues): v is GeneratedIds {
  return (v as GeneratedIds).numbers !== undefined && (v as GeneratedIds).prefix !== undefined;
}

/** Values as plain cells (ids become their strings, dictionaries are expanded): for writers that work per cell. */
export function cells(v: OutValues, n: number): ArrayLike<unknown> {
  if (!isGeneratedIds(v)) return materialize(v);
  const out = new Array<string>(n);
  for (let r = 0; r < n; r++) out[r] = v.prefix + v.numbers[r];
  return out;
}

/** One batch of output rows: values[j] holds column j for rows 0..n-1. Doubles and timestamps use NaN for null. */
export interface OutBatch {
  n: number;
  values: OutValues[];
  /** Only for a sink that takesBytes: where bytes[j] is set, it is column j (UTF-8 text) and values[j] is not read. */
  bytes?: (BytesColumn | undefined)[];
}

export interface SinkResult {
  /** Rows the output now holds from this run (a table's inserted + updated rows). */
  rowsWritten: number;
}

/** Where a Parquet sink writing parts (ParquetSinkOptions.part) puts them. */
export interface PartMemory {
  /**
   * Blocks to write parts into before allocating any: the assembling thread hands written parts' back.
   * Shared memory, so handing them over detaches nothing (a detach deoptimizes all of an isolate's
   * typed-array code, which then recompiles with slower checks).
   */
  spare: SharedArrayBuffer[];
  /** Receives each row group as it is written (a piece of the part), then at cut() an empty last piece. */
  onPart(piece: ParquetPart, last: boolean): void;
  /** Set by the sink: end the part here (its last row group flushed and handed over). */
  cut?: () => void;
}

/**
 * Parquet row groups written in memory: the bytes of blocks, one after the other, with offsets counting
 * from the first block's start; io/parquet-parts.ts moves them into the file it assembles.
 */
export interface ParquetPart {
  rows: number;
  blocks: Uint8Array[];
  schema: ThriftStruct[];
  rowGroups: ThriftStruct[];
}

/** Where a batch's numeric columns can be built: column j's numbers as doubles or as 32-bit integers. */
export interface ColumnMemory {
  f64(j: number): Float64Array;
  i32(j: number): Int32Array;
}

export interface Sink {
  /** write() takes text columns as UTF-8 bytes (OutBatch.bytes): a table sink copies them as they are. */
  readonly takesBytes?: boolean;
  /**
   * Memory in which the next write()'s batch of n rows can build its numeric columns so that they reach
   * the sink without a copy (a writer thread's shared memory). Lent until that write() returns; a column
   * built elsewhere is copied as usual.
   */
  columnMemory?(n: number): Borrowed<ColumnMemory>;
  /** Consume a batch: once the promise resolves the caller may reuse the batch's arrays (the sink must not keep them). */
  write(batch: Borrowed<OutBatch>): Promise<void>;
  /** Flush and move the temp file to its final name (a table: merge the staged rows, in one transaction). */
  // biome-ignore lint/suspicious/noConfusingVoidType: file sinks report nothing; `void` lets their finish() leave out the return
  finish(): Promise<SinkResult | void>;
  /** Drop the temp file: a failed run leaves nothing under the final name. */
  abort(): Promise<void>;
}
