// Open a source or a sink by format.
import { openCsv } from "./csv-read.js";
import { openJsonl } from "./jsonl-read.js";
import { openParquet } from "./parquet-read.js";
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

export function openSink(path: string, format: Format, columns: readonly OutColumn[], compression: ParquetCompression = "snappy"): Sink {
  switch (format) {
    case "parquet":
      return parquetSink(path, columns, { codec: compression === "none" ? "UNCOMPRESSED" : "SNAPPY" });
    case "jsonl":
      return jsonlSink(path, columns);
    default:
      return csvSink(path, columns, format === "csv.gz");
  }
}

export { formatOf } from "./format.js";
export type { BatchSource, Format, OutColumn, Sink } from "./types.js";
