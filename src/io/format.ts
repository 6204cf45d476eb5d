import { RidepredError } from "../errors.js";
import type { Format } from "./types.js";
import { pathPart, redactLocation } from "./redact.js";

const FORMATS: readonly Format[] = ["csv", "csv.gz", "parquet", "jsonl"];

/** The format named by a path's extension; `fallback` for stdin/stdout ("-") or an unknown extension. */
export function formatOf(path: string, explicit?: string, fallback?: Format): Format {
  if (explicit) {
    if (!(FORMATS as readonly string[]).includes(explicit)) throw new RidepredError(`unknown format ${explicit} (expected ${FORMATS.join(", ")})`);
    return explicit as Format;
  }
  const p = pathPart(path).toLowerCase();
  if (p.endsWith(".csv.gz")) return "csv.gz";
  if (p.endsWith(".csv")) return "csv";
  if (p.endsWith(".parquet") || p.endsWith(".pq")) return "parquet";
  if (p.endsWith(".jsonl") || p.endsWith(".ndjson")) return "jsonl";
  if (fallback) return fallback;
  throw new RidepredError(
    `${redactLocation(path)}: cannot tell the format from the extension (use .csv, .csv.gz, .parquet or .jsonl, or --input-format/--output-format)`,
  );
}
