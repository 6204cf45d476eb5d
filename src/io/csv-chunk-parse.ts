// A worker thread's part of reading a CSV file on several threads (csv-chunks.ts is the main thread's):
// parse one chunk of whole records with the same scanner (scanRecords) and the same cell parsers as the
// one-thread reader, and send back what each cell gave: a typed value, or, for a cell the parsers do
// not take, its text. The main thread replays that into the batch's CsvCells in row order, so the
// batches are the ones the one-thread reader makes (a column turned back to strings, a row error's
// cleared cells included). The worker clears nothing: row errors come back as a list, replayed there.
import { StringDecoder } from "node:string_decoder";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { onRequests } from "../worker-end.js";
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
  /** The worker's shared memory the typed columns are in (Arenas' id), to be given back once replayed. */
  arena?: number;
  /** The chunk held whole records only, scanned to its end: the rows are the one-thread reader's. */
  ok: boolean;
  rows: number;
  columns: ChunkColumn[];
  problems: RowProblem[];
}

/** A typed column's first memory: `size` cells, for numbers/times (8 bytes each) or ids (4). */
type Alloc = (ids: boolean, size: number) => Float64Array | Int32Array;

const ownMemory: Alloc = (ids, size) => (ids ? new Int32Array(size) : new Float64Array(size));

/** Cells of one wanted column over one chunk, grown as rows come. */
class ChunkCells implements CellSink, ByteSink {
  private typed: Float64Array | Int32Array | undefined;
  private strings: (string | undefined)[] | undefined;
  private rawRows: number[] = [];
  private rawTexts: string[] = [];

  constructor(
    private readonly use: ColumnUse | undefined,
    size: number,
    alloc: Alloc,
  ) {
    if (use === undefined) this.strings = [];
    else this.typed = alloc(use === "category", size);
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
      col.typed = this.typed!.subarray(0, rows);
    }
    return col;
  }
}

/** Rows a chunk's typed columns make room for at first (more grow them). */
const rowsAtMost = (bytes: Uint8Array) => Math.ceil(bytes.length / 64);

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
export function parseChunk(plan: ChunkPlan, seq: number, bytes: Uint8Array, alloc = ownMemory): ParsedChunk {
  const cells = plan.uses.map((u) => new ChunkCells(u, rowsAtMost(bytes), alloc));
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

/**
 * A worker's shared memory for its chunks' typed columns, one arena per chunk in flight, reused once the
 * main thread gives it back. The columns go back in it as they are: no copy, and no transfer. A
 * transferred buffer is detached in the sending thread, and its first detached buffer makes V8 throw
 * away all of the thread's optimized typed-array code and compile it again with a check for detached
 * buffers at each access (the ArrayBufferDetaching protector).
 */
class Arenas {
  private readonly all: SharedArrayBuffer[] = [];
  private readonly free: number[] = [];

  /** An arena of at least `size` bytes for the next chunk (a new one when none free is large enough). */
  take(size: number): number {
    const k = this.free.findIndex((id) => this.all[id]!.byteLength >= size);
    if (k >= 0) return this.free.splice(k, 1)[0]!;
    this.all.push(new SharedArrayBuffer(size));
    return this.all.length - 1;
  }

  /** An allocator of the arena's memory from its start (8-byte aligned); beyond it, this thread's own memory. */
  alloc(id: number): Alloc {
    const memory = this.all[id]!;
    let at = 0;
    return (ids, size) => {
      const bytes = (ids ? 4 : 8) * size;
      if (at + bytes > memory.byteLength) return ownMemory(ids, size);
      const a = ids ? new Int32Array(memory, at, size) : new Float64Array(memory, at, size);
      at += (bytes + 7) & ~7;
      return a;
    };
  }

  give(id: number): void {
    this.free.push(id);
  }
}

/** A chunk's typed columns' bytes at their first size. */
function arenaSize(plan: ChunkPlan, bytes: Uint8Array): number {
  return plan.uses.reduce((sum, u) => sum + (u === undefined ? 0 : u === "category" ? 4 : 8) * rowsAtMost(bytes) + 8, 0);
}

function ownUse(use: ColumnUse | undefined): ColumnUse | undefined {
  return use === "category" ? "category" : use === "timestamp" ? "timestamp" : use === "number" ? "number" : undefined;
}

/** A worker's message: a chunk to parse, or an arena the main thread has replayed. */
export type ChunkRequest = { seq: number; bytes: Uint8Array } | { free: number };

// Worker side: chunks' bytes in (decoded here, not on the main thread), parsed chunks out, their typed
// columns in an arena (a grown column, rarely, in this thread's memory: copied by the message).
if (!isMainThread && (workerData as ChunkPlan | undefined)?.ridepredCsvChunks) {
  // The uses as this thread's own string constants: the cell parsers compare them per cell, and strings
  // that came in a message are compared character by character, constants by reference.
  const plan: ChunkPlan = { ...(workerData as ChunkPlan), uses: (workerData as ChunkPlan).uses.map(ownUse) };
  const port = parentPort!;
  const arenas = new Arenas();
  onRequests(port, (m: ChunkRequest) => {
    if ("free" in m) {
      arenas.give(m.free);
      return;
    }
    const arena = arenas.take(arenaSize(plan, m.bytes));
    const parsed = parseChunk(plan, m.seq, m.bytes, arenas.alloc(arena));
    parsed.arena = arena;
    port.postMessage(parsed);
  });
}
