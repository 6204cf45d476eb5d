// Open a source or a sink by format. Each format's module loads only when a run uses it: a CSV job
// never loads hyparquet and its codecs.
import type { BatchSource, Format, OutColumn, Sink } from "./types.js";

export async function openSource(path: string, format: Format): Promise<BatchSource> {
  switch (format) {
    case "parquet":
      return (await import("./parquet-read.js")).openParquet(path);
    case "jsonl":
      return (await import("./jsonl-read.js")).openJsonl(path);
    default:
      return (await import("./csv-read.js")).openCsv(path, format === "csv.gz");
  }
}

/** Parquet compression: snappy (the default, as pandas writes) or none (bigger files, faster to write). */
export type ParquetCompression = "snappy" | "none";

export interface SinkOptions {
  compression?: ParquetCompression;
  /** Encode Parquet on a worker thread (worth it for long runs: see useWriterThread in batch/score.ts). */
  threaded?: boolean;
}

export async function openSink(path: string, format: Format, columns: readonly OutColumn[], options: SinkOptions = {}): Promise<Sink> {
  switch (format) {
    case "parquet": {
      const parquet = { codec: options.compression === "none" ? ("UNCOMPRESSED" as const) : ("SNAPPY" as const) };
      if (options.threaded) return (await import("./parquet-thread.js")).threadedParquetSink(path, columns, parquet);
      return (await import("./parquet-write.js")).parquetSink(path, columns, parquet);
    }
    case "jsonl":
      return (await import("./text-write.js")).jsonlSink(path, columns);
    default:
      return (await import("./text-write.js")).csvSink(path, columns, format === "csv.gz");
  }
}

export { formatOf } from "./format.js";
export type { BatchSource, Format, OutColumn, Sink } from "./types.js";
