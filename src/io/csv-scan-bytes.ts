// The scanner's fast path (csv-scan.ts, a record without a quote) over bytes, for the worker threads
// (csv-chunk-parse.ts): records of ASCII bytes without a quote are split at their commas and their
// wanted cells handed over as byte ranges, without decoding the block into a string. It stops at the
// first record that holds a quote or a byte above 127 (the string scanner reads the rest of the block:
// quoting, and decoding, are its business) or that has no line feed. It reads every record exactly as
// scanRecords does: a CR only counts before the line feed, an empty line is skipped, a record of another
// field count is a row error, one as long as the record limit throws RecordTooLong.
import { RecordTooLong, type RowProblem } from "./csv-scan.js";

/** Where the byte scanner puts the wanted fields (a worker's ChunkCells). */
export interface ByteSink {
  /** Row `row` holds bytes[a, b) (ASCII, no quote). */
  putBytes(row: number, bytes: Uint8Array, a: number, b: number): void;
}

export interface ByteTarget {
  /** Field index -> slot in `cols`, or -1. */
  slots: Int32Array;
  cols: ByteSink[];
  /** Fields the header has. */
  width: number;
  maxRecord: number;
}

/**
 * Scan ASCII, quote-free records from bytes[pos..] into rows 0, 1, ...; stops at the end or before the
 * first record it does not take. Returns the offset reached and the rows stored.
 */
export function scanAsciiRecords(bytes: Uint8Array, pos: number, t: ByteTarget, problems: RowProblem[]): { pos: number; rows: number } {
  const len = bytes.length;
  const { slots, cols, width } = t;
  // commas[k]: where field k ends (its comma, or the record's end), for k < width.
  const commas = new Int32Array(width + 1);
  let rows = 0;
  records: while (pos < len) {
    let i = pos;
    let f = 0;
    for (;;) {
      if (i >= len) break records; // no line feed: not a whole record
      const c = bytes[i]!;
      if (c > 44) {
        if (c > 127) break records;
        i++;
        continue;
      }
      if (c === 44) {
        if (f < width) commas[f] = i;
        f++;
      } else if (c === 10) break;
      else if (c === 34) break records;
      i++;
    }
    const eol = i;
    let end = eol;
    if (end > pos && bytes[end - 1] === 13) end--;
    if (end === pos) {
      pos = eol + 1; // empty line
      continue;
    }
    if (eol - pos >= t.maxRecord) throw new RecordTooLong(rows);
    if (f < width) commas[f] = end;
    const fields = f + 1;
    const kept = Math.min(fields, width);
    let a = pos;
    for (let k = 0; k < kept; k++) {
      const b = commas[k]!;
      const slot = slots[k]!;
      if (slot >= 0) cols[slot]!.putBytes(rows, bytes, a, b);
      a = b + 1;
    }
    if (fields !== width) problems.push({ row: rows, reason: `has ${fields} fields, the header has ${width}` });
    pos = eol + 1;
    rows++;
  }
  return { pos, rows };
}
