// CSV and JSONL writers for record batches. Cells are formatted per column kind; CSV quoting follows
// RFC 4180 (a cell with a comma, quote or line break is quoted, quotes doubled).
import { formatTimestamp } from "./timestamp.js";
import { openText } from "./sink.js";
import { cells as cellsOf, type ColumnKind, type OutBatch, type OutColumn, type Sink } from "./types.js";

const needsQuote = /[",\r\n]/;

export function csvQuote(s: string): string {
  return needsQuote.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/** A cell as text ("" for missing): doubles in JS shortest round-trip form, timestamps like the TLC files. */
export function cellText(v: unknown, kind: ColumnKind): string {
  if (v === null || v === undefined) return "";
  if (kind === "double" || kind === "timestamp") {
    const x = v as number;
    if (x !== x) return "";
    return kind === "double" ? String(x) : formatTimestamp(x);
  }
  if (typeof v === "string") return v;
  if (typeof v === "number") return v !== v ? "" : String(v);
  if (typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (v instanceof Date) return formatTimestamp(v.getTime());
  return JSON.stringify(v);
}

/** A cell as a JSON value: numbers stay numbers (NaN -> null), timestamps become "YYYY-MM-DD HH:MM:SS". */
export function cellJson(v: unknown, kind: ColumnKind): unknown {
  if (v === null || v === undefined) return null;
  if (kind === "double") return v === v ? v : null;
  if (kind === "timestamp") return v === v ? formatTimestamp(v as number) : null;
  if (typeof v === "number") return v === v ? v : null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return formatTimestamp(v.getTime());
  return v;
}

/** CSV output: csv-write.ts (bytes straight from the columns). */
export { csvSink } from "./csv-write.js";

export function jsonlSink(path: string, columns: readonly OutColumn[]): Sink {
  const out = openText(path, false);
  return {
    async write(batch: OutBatch) {
      const { n } = batch;
      const values = batch.values.map((v) => cellsOf(v, n));
      const lines: string[] = [];
      for (let r = 0; r < n; r++) {
        const o: Record<string, unknown> = {};
        for (const [j, c] of columns.entries()) o[c.name] = cellJson(values[j]![r], c.kind);
        lines.push(JSON.stringify(o));
      }
      lines.push("");
      await out.write(lines.join("\n"));
    },
    finish: () => out.finish(),
    abort: () => out.abort(),
  };
}
