// Open a source or a sink by format.
import { openCsv } from "./csv-read.js";
import { openJsonl } from "./jsonl-read.js";
import { openParquet } from "./parquet-read.js";
import { threadedParquetSink } from "./parquet-thread.js";
import { parquetSink } from "./parquet-write.js";
import { csvSink, jsonlSink } from "./text-write.js";
import type { BatchSource, Format, OutColumn, Sink } from "./types.js";

export function openSource(path: string, format: Format): Promise<BatchSource> {
  switch (format) {
    case "parquet":
      return openParquet(path);
    case "jsonl":
      return openJsonl(path);
    default:
      return openCsv(path, format === "csv.gz");
  }
}

/** Parquet compression: snappy (the default, as pandas writes) or none (bigger files, faster to write). */
export type ParquetCompression = "snappy" | "none";

export interface SinkOptions {
  compression?: ParquetCompression;
  /** Encode Parquet on a worker thread (worth it for long runs: see useWriterThread in batch/score.ts). */
  threaded?: boolean;
}

export function openSink(path: string, format: Format, columns: readonly OutColumn[], options: SinkOptions = {}): Sink {
  switch (format) {
    case "parquet": {
      const parquet = { codec: options.compression === "none" ? ("UNCOMPRESSED" as const) : ("SNAPPY" as const) };
      return options.threaded ? threadedParquetSink(path, columns, parquet) : parquetSink(path, columns, parquet);
    }
    case "jsonl":
      return jsonlSink(path, columns);
    default:
      return csvSink(path, columns, format === "csv.gz");
  }
}

export { formatOf } from "./format.js";
export type { BatchSource, Format, OutColumn, Sink } from "./types.js";
