// Parquet output in row groups of 8,192 rows (hyparquet-writer holds a whole group: 64k-row groups took
// ~330 MB of RSS, 8k-row groups ~180 MB), streamed to a temp file (hyparquet-writer's file writer
// flushes every ~1 MB), renamed on success. Types: strings UTF8, doubles DOUBLE (null where missing),
// timestamps INT64 TIMESTAMP(MICROS, not adjusted to UTC) like pandas writes naive datetimes.
import type { SchemaElement } from "hyparquet";
import { ParquetWriter } from "hyparquet-writer";
import { fileWriter } from "hyparquet-writer/src/node.js";
import { RidepredError } from "../errors.js";
import { tempTarget } from "./sink.js";
import type { ColumnKind, OutBatch, OutColumn, Sink } from "./types.js";

type RawType = "STRING" | "DOUBLE" | "INT64" | "BOOLEAN";

export function parquetSink(path: string, columns: readonly OutColumn[], rowGroupRows = 8192, codec: "SNAPPY" | "UNCOMPRESSED" = "SNAPPY"): Sink {
  if (path === "-") throw new RidepredError("Parquet cannot be written to stdout: give a file name");
  const target = tempTarget(path);
  let writer: ParquetWriter | undefined;
  let rawTypes: (RawType | undefined)[] = [];

  const start = (first: OutBatch) => {
    rawTypes = columns.map((c, j) => (c.kind === "raw" ? inferRaw(first.values[j]!, first.n) : undefined));
    const schema: SchemaElement[] = [{ name: "root", num_children: columns.length }];
    columns.forEach((c, j) => schema.push(element(c.name, c.kind, rawTypes[j])));
    try {
      writer = new ParquetWriter({ writer: fileWriter(target.tmp), schema, createdBy: "ridepred", codec });
    } catch (e) {
      throw new RidepredError(`${path}: cannot write: ${(e as Error).message}`);
    }
    return writer;
  };

  // Batches are small (memory); row groups should not be (readers pay per group): converted batches
  // are held until ROW_GROUP rows, then written as one group.
  let pending: ArrayLike<unknown>[] = columns.map(() => []);
  let pendingRows = 0;
  const flush = async () => {
    if (!pendingRows) return;
    const w = writer!;
    const columnData = columns.map((c, j) => ({
      name: c.name,
      data: pending[j]! as unknown[],
      // Unique ids, doubles and timestamps hardly gain from a dictionary: skip the attempt. Statistics only where a
      // reader prunes on them (time ranges); computing them for every column cost ~10% of the run.
      ...(c.name === "ride_id" || c.kind === "double" || c.kind === "timestamp" ? { encoding: "PLAIN" as const } : {}),
      statistics: c.kind === "timestamp",
      // Page indexes are held in memory until the footer: per small row group they add up with the file.
      offsetIndex: false,
    }));
    pending = columns.map(() => []);
    const n = pendingRows;
    pendingRows = 0;
    await w.write({ columnData, rowGroupSize: n });
  };

  return {
    async write(batch: OutBatch) {
      if (batch.n === 0) return;
      if (!writer) start(batch);
      columns.forEach((c, j) => {
        const converted = c.name === "ride_id" ? utf8Bytes(batch.values[j]!, batch.n) : toParquet(batch.values[j]!, batch.n, c.kind, rawTypes[j]);
        if (pendingRows === 0) pending[j] = converted; // the usual case, batch size = group size: no copy
        else {
          const target = Array.isArray(pending[j]) ? (pending[j] as unknown[]) : Array.from(pending[j]!);
          for (let r = 0; r < converted.length; r++) target.push(converted[r]);
          pending[j] = target;
        }
      });
      pendingRows += batch.n;
      if (pendingRows >= rowGroupRows) await flush();
    },
    async finish() {
      if (!writer) start({ n: 0, values: columns.map(() => []) });
      await flush();
      await writer!.finish();
      target.commit();
    },
    async abort() {
      target.discard();
    },
  };
}

function element(name: string, kind: ColumnKind, raw: RawType | undefined): SchemaElement {
  const repetition_type = "OPTIONAL" as const;
  if (kind === "double") return { name, type: "DOUBLE", repetition_type };
  if (kind === "timestamp")
    return { name, type: "INT64", repetition_type, converted_type: "TIMESTAMP_MICROS", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" } };
  if (kind === "raw" && raw === "DOUBLE") return { name, type: "DOUBLE", repetition_type };
  if (kind === "raw" && raw === "INT64") return { name, type: "INT64", repetition_type };
  if (kind === "raw" && raw === "BOOLEAN") return { name, type: "BOOLEAN", repetition_type };
  return { name, type: "BYTE_ARRAY", repetition_type, converted_type: "UTF8", logical_type: { type: "STRING" } };
}

/** A passed-through column's type, from its first non-missing value. */
function inferRaw(values: ArrayLike<unknown>, n: number): RawType {
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (v === null || v === undefined) continue;
    if (typeof v === "number") return "DOUBLE";
    if (typeof v === "bigint") return "INT64";
    if (typeof v === "boolean") return "BOOLEAN";
    return "STRING";
  }
  return "STRING";
}

function toParquet(values: ArrayLike<unknown>, n: number, kind: ColumnKind, raw: RawType | undefined): ArrayLike<unknown> {
  if (kind === "double" && values instanceof Float64Array && values.length === n && !values.some((v) => v !== v)) {
    return values; // no nulls: the typed array as it is, no boxed number per value
  }
  const out = new Array<unknown>(n);
  if (kind === "double") {
    for (let r = 0; r < n; r++) {
      const v = values[r] as number;
      out[r] = v === v && v !== undefined && v !== null ? v : null;
    }
  } else if (kind === "timestamp") {
    for (let r = 0; r < n; r++) {
      const v = values[r] as number;
      out[r] = v === v && v !== undefined && v !== null ? BigInt(Math.round(v * 1000)) : null;
    }
  } else {
    const type = kind === "raw" ? raw : "STRING";
    for (let r = 0; r < n; r++) out[r] = rawValue(values[r], type);
  }
  return out;
}

const encoder = new TextEncoder();

/**
 * Unique strings (ride ids) as UTF-8 byte views into one buffer per batch: TextEncoder per value was ~15%
 * of a Parquet run. Only for PLAIN columns: a dictionary would key these views by identity.
 */
function utf8Bytes(values: ArrayLike<unknown>, n: number): (Uint8Array | null)[] {
  let total = 0;
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (typeof v === "string") total += v.length;
  }
  const buf = new Uint8Array(total);
  const out = new Array<Uint8Array | null>(n);
  let at = 0;
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (v === null || v === undefined) {
      out[r] = null;
      continue;
    }
    const s = typeof v === "string" ? v : String(v);
    const start = at;
    let ascii = s.length <= total - at;
    for (let i = 0; ascii && i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) ascii = false;
      else buf[at++] = c;
    }
    if (ascii) out[r] = buf.subarray(start, at);
    else {
      at = start;
      out[r] = encoder.encode(s);
    }
  }
  return out;
}

function rawValue(v: unknown, type: RawType | undefined): unknown {
  if (v === null || v === undefined || (typeof v === "number" && v !== v)) return null;
  switch (type) {
    case "DOUBLE":
      return typeof v === "number" ? v : Number(v);
    case "INT64":
      return typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v)));
    case "BOOLEAN":
      return Boolean(v);
    default:
      return typeof v === "string" ? v : String(v);
  }
}
