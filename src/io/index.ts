// Open a source or a sink by location: a file path ("-" for stdin/stdout), whose format comes from
// --input-format/--output-format or the extension, or a table URL (postgresql://, postgres://,
// duckdb:PATH?table=NAME). Each module loads only when a run uses it: a CSV job never loads hyparquet
// and its codecs, a file job never loads pg or DuckDB.
import { RidepredError } from "../errors.js";
import { formatOf } from "./format.js";
import { isHttp, isS3, type Listed } from "./range.js";
import { redactLocation } from "./redact.js";
import { isTableLocation, parseTableUrl } from "./table-url.js";
import type { BatchSource, Format, OutColumn, PartMemory, RunPeriod, Sink } from "./types.js";
import type { EarlyWriter } from "./parquet-writer-start.js";

export interface SourceOptions {
  /** File format (default: from the extension; stdin is CSV). Ignored for tables. */
  format?: Format;
  /** Tables: an SQL condition on the rows read; {start} {end} {year} {month} {day} are the run period's. */
  where?: string;
  /** Tables: the SELECT that gives the rows (same placeholders), instead of the URL's table. */
  query?: string;
  period?: RunPeriod;
  /** Parquet: read only the row groups this accepts (a shard's share of one file). */
  rowGroups?: (index: number, count: number) => boolean;
  /** Parquet: read the row groups this hands out, one at a time, until it returns undefined (ParquetReadOptions.claim). */
  claimRowGroup?: () => number | undefined | Promise<number | undefined>;
  /** Files: the longest CSV record or JSONL line accepted (default 1 MiB). */
  maxRecordBytes?: number;
  /** CSV files: threads to parse on (default 1; N: N - 1 worker threads beside this one). */
  threads?: number;
  /** Parquet on S3: the object as the listing that found it described it, opened without a HEAD. */
  listed?: Listed;
}

/** The file format of a location; undefined for a table URL. */
export function formatFor(location: string, explicit?: string): Format | undefined {
  if (isTableLocation(location)) return undefined;
  return formatOf(location, explicit, location === "-" ? "csv" : undefined);
}

export async function openSource(location: string, options: SourceOptions = {}): Promise<BatchSource> {
  const table = parseTableUrl(location);
  if (table?.engine === "postgresql") return (await import("./pg-read.js")).openPgSource(table, options);
  if (table?.engine === "duckdb") return (await import("./duckdb-read.js")).openDuckdbSource(table, options);
  if (options.where !== undefined || options.query !== undefined) throw new RidepredError("--where and --query need a table input (postgresql:// or duckdb:)");
  const format = options.format ?? (formatFor(location) as Format);
  switch (format) {
    case "parquet":
      return (await import("./parquet-read.js")).openParquet(location, { rowGroups: options.rowGroups, claim: options.claimRowGroup, listed: options.listed });
    case "jsonl":
      return (await import("./jsonl-read.js")).openJsonl(location, options.maxRecordBytes);
    default:
      return (await import("./csv-read.js")).openCsv(location, format === "csv.gz", undefined, options.maxRecordBytes, options.threads);
  }
}

/** Parquet compression: snappy (the default, as pandas writes) or none (bigger files, faster to write). */
export type ParquetCompression = "snappy" | "none";

/** How a table output meets the rows already in it (see README "Batch from and to databases"). */
export type IfExists = "upsert" | "replace-period" | "replace" | "append";
export const IF_EXISTS: readonly IfExists[] = ["upsert", "replace-period", "replace", "append"];

export interface SinkOptions {
  /** File format (default: from the extension; stdout is CSV). Ignored for tables. */
  format?: Format;
  compression?: ParquetCompression;
  /** Encode Parquet on a worker thread (worth it for long runs: see useWriterThread in batch/writer-thread.ts). */
  threaded?: boolean;
  /** With threaded: a writer thread started early (parquet-writer-start.ts), taken if still unused. */
  writer?: EarlyWriter;
  /** CSV: encode on a worker thread (csv-encode-thread.ts; the run was given more than one thread). */
  encodeThread?: boolean;
  /** Tables: default upsert when the columns hold the key, else append. */
  ifExists?: IfExists;
  /** Tables: the period replace-period deletes before inserting. */
  period?: RunPeriod;
  /** Tables: the column that identifies a row (ride_id): primary key of a created table. */
  key?: string;
  /** Parquet: write in memory a part of a file that parquet-parts.ts assembles (ParquetSinkOptions.part). */
  part?: PartMemory;
}

export async function openSink(location: string, columns: readonly OutColumn[], options: SinkOptions = {}): Promise<Sink> {
  const table = parseTableUrl(location);
  if (table?.engine === "postgresql") return (await import("./pg-write.js")).openPgSink(table, columns, options);
  if (table?.engine === "duckdb") return (await import("./duckdb-write.js")).openDuckdbSink(table, columns, options);
  // s3://: the format's sink writes a staging file that a multipart upload sends as it grows.
  if (isS3(location))
    return (await import("./s3-write.js")).s3Sink(location, (local) => openSink(local, columns, { ...options, format: options.format ?? formatFor(location) }));
  if (isHttp(location)) throw new RidepredError(`${redactLocation(location)}: cannot write to an HTTP URL (outputs go to a file, s3://, a table or stdout)`);
  const format = options.format ?? (formatFor(location) as Format);
  switch (format) {
    case "parquet": {
      const parquet = { codec: options.compression === "none" ? ("UNCOMPRESSED" as const) : ("SNAPPY" as const) };
      if (options.part) return (await import("./parquet-write.js")).parquetSink(location, columns, { ...parquet, part: options.part });
      if (options.threaded) return (await import("./parquet-thread.js")).threadedParquetSink(location, columns, parquet, options.writer);
      return (await import("./parquet-write.js")).parquetSink(location, columns, parquet);
    }
    case "jsonl":
      return (await import("./text-write.js")).jsonlSink(location, columns);
    default:
      if (options.encodeThread) return (await import("./csv-encode-thread.js")).threadedCsvSink(location, columns, format === "csv.gz");
      return (await import("./text-write.js")).csvSink(location, columns, format === "csv.gz");
  }
}

export { formatOf } from "./format.js";
export { inputSize, isHttp, type Listed } from "./range.js";
export { isTableLocation } from "./table-url.js";
export { redactLocation } from "./redact.js";
export type { BatchSource, Format, OutColumn, RunPeriod, Sink } from "./types.js";
