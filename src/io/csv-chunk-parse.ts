// A worker thread's part of reading a CSV file on several threads (csv-chunks.ts is the main thread's):
// parse one chunk of whole records with the same scanner (scanRecords) and the same cell parsers as the
// one-thread reader, and send back what each cell gave: a typed value, or, for a cell the parsers do
// not take, its text. The main thread replays that into the batch's CsvCells in row order, so the
// batches are the ones the one-thread reader makes (a column turned back to strings, a row error's
// cleared cells included). The worker clears nothing: row errors come back as a list, replayed there.
import { StringDecoder } from "node:string_decoder";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { parseCellBytesInto, parseCellInto } from "./csv-cells.js";
import { type CellSink, type RowProblem, scanRecords } from "./csv-scan.js";
import { type ByteSink, scanAsciiRecords } from "./csv-scan-bytes.js";
import type { ColumnUse } from "./types.js";

/** What the worker is told once: which fields to keep, and how to read them. */
export interface ChunkPlan {
  ridepredCsvChunks: true;
  /** Field index -> wanted column, or -1. */
  slots: Int32Array;
  uses: (ColumnUse | undefined)[];
  width: number;
  maxRecord: number;
}

/** One wanted column of a parsed chunk. */
export interface ChunkColumn {
  /** Parsed cells (a typed column): numbers or epoch ms (NaN: empty), or small ids (-1: empty). */
  typed?: Float64Array | Int32Array;
  /** A string column's cells (undefined: the record had no such field). */
  strings?: (string | undefined)[];
  /** Cells of a typed column the parsers did not take: their rows (ascending) and texts. */
  rawRows: Int32Array;
  rawTexts: string[];
}

export interface ParsedChunk {
  seq: number;
  /** The chunk held whole records only, scanned to its end: the rows are the one-thread reader's. */
  ok: boolean;
  rows: number;
  columns: ChunkColumn[];
  problems: RowProblem[];
}

/** Cells of one wanted column over one chunk, grown as rows come. */
class ChunkCells implements CellSink, ByteSink {
  private typed: Float64Array | Int32Array | undefined;
  private strings: (string | undefined)[] | undefined;
  private rawRows: number[] = [];
  private rawTexts: string[] = [];

  constructor(
    private readonly use: ColumnUse | undefined,
    size: number,
  ) {
    if (use === undefined) this.strings = [];
    else this.typed = use === "category" ? new Int32Array(size) : new Float64Array(size);
  }

  put(row: number, s: string, a: number, b: number): void {
    if (this.typed === undefined) {
      this.strings![row] = s.slice(a, b);
      return;
    }
    if (row >= this.typed.length) this.grow(row);
    if (!parseCellInto(this.use!, s, a, b, this.typed!, row)) this.raw(row, s.slice(a, b));
  }

  putValue(row: number, v: string): void {
    this.put(row, v, 0, v.length);
  }

  /** put() of bytes[a, b), ASCII: the same value, or the same text. */
  putBytes(row: number, bytes: Uint8Array, a: number, b: number): void {
    if (this.typed === undefined) {
      this.strings![row] = ascii(bytes, a, b);
      return;
    }
    if (row >= this.typed.length) this.grow(row);
    if (!parseCellBytesInto(this.use!, bytes, a, b, this.typed!, row)) this.raw(row, ascii(bytes, a, b));
  }

  clear(): void {}

  private raw(row: number, text: string): void {
    this.rawRows.push(row);
    this.rawTexts.push(text);
  }

  private grow(row: number): void {
    const old = this.typed!;
    const bigger = old instanceof Int32Array ? new Int32Array(2 * row + 16) : new Float64Array(2 * row + 16);
    bigger.set(old);
    this.typed = bigger;
  }

  export(rows: number): ChunkColumn {
    const col: ChunkColumn = { rawRows: Int32Array.from(this.rawRows), rawTexts: this.rawTexts };
    if (this.strings) {
      this.strings.length = rows;
      col.strings = this.strings;
    } else {
      if (this.typed!.length < rows) this.grow(rows); // the last rows were all short or unparsed
      col.typed = this.typed!.length === rows ? this.typed : this.typed!.slice(0, rows);
    }
    return col;
  }
}

/**
 * A block's text: its bytes decoded as the one-thread reader's StringDecoder decodes them in the stream.
 * A block ends at a line feed, which no character's bytes contain, so the decoder holds nothing there.
 */
export function blockText(bytes: Uint8Array): string {
  return new StringDecoder("utf8").write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

const ONE_CHAR = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));

/** bytes[a, b) (ASCII) as a string. */
function ascii(bytes: Uint8Array, a: number, b: number): string {
  if (b - a === 1) return ONE_CHAR[bytes[a]!]!;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1", a, b);
}

/**
 * Parse one chunk of bytes (whole records, speculatively: `ok` says whether it really was): its ASCII
 * records without quotes straight from the bytes, the rest of it (from the first record with a quote or
 * another character) as text, by the string scanner; the same rows either way.
 */
export function parseChunk(plan: ChunkPlan, seq: number, bytes: Uint8Array): ParsedChunk {
  const cells = plan.uses.map((u) => new ChunkCells(u, Math.ceil(bytes.length / 64)));
  const problems: RowProblem[] = [];
  try {
    const target = { slots: plan.slots, cols: cells, width: plan.width, maxRecord: plan.maxRecord };
    const fast = scanAsciiRecords(bytes, 0, target, problems);
    let rows = fast.rows;
    let ok = fast.pos === bytes.length;
    if (!ok) {
      const text = blockText(bytes.subarray(fast.pos)); // from a record's start: a character's start
      const r = scanRecords(text, 0, false, target, rows, Infinity, problems);
      rows += r.rows;
      ok = r.pos === text.length;
    }
    return { seq, ok, rows, columns: ok ? cells.map((c) => c.export(rows)) : [], problems: ok ? problems : [] };
  } catch {
    return { seq, ok: false, rows: 0, columns: [], problems: [] }; // a bad record: the one-thread reader names it
  }
}

// Worker side: chunks' bytes in (decoded here, not on the main thread), parsed chunks out (typed arrays
// moved, not copied).
if (!isMainThread && (workerData as ChunkPlan | undefined)?.ridepredCsvChunks) {
  const plan = workerData as ChunkPlan;
  const port = parentPort!;
  port.on("message", ({ seq, bytes }: { seq: number; bytes: Uint8Array }) => {
    const parsed = parseChunk(plan, seq, bytes);
    const moved: ArrayBuffer[] = [];
    for (const c of parsed.columns) {
      moved.push(c.rawRows.buffer as ArrayBuffer);
      if (c.typed) moved.push(c.typed.buffer as ArrayBuffer);
    }
    port.postMessage(parsed, moved);
  });
}
