// The CSV writer: rows encoded straight into byte buffers, column by column with an encoder chosen once
// per column and batch, instead of one string per cell joined per row (those strings, their
// concatenation and the UTF-8 encoding of the result were most of the time a CSV -> CSV run spent
// writing). The bytes are exactly those of the cell strings of text-write.ts (cellText, csvQuote):
// numbers in JS's shortest round-trip form, timestamps as formatTimestamp writes them.
import { isDict } from "../columns.js";
import { openText } from "./sink.js";
import { csvQuote, cellText } from "./text-write.js";
import { formatTimestamp } from "./timestamp.js";
import { isGeneratedIds, type ColumnKind, type OutBatch, type OutColumn, type OutValues, type Sink } from "./types.js";
import { NumberCache } from "./csv-number.js";

/** Bytes per output piece: large enough that each write is cheap, small enough to stay out of the old generation. */
const PIECE = 1 << 16;

/** An output buffer being filled; `flush` hands the full part to the file and starts a new buffer. */
class Out {
  buf: Buffer<ArrayBufferLike> = Buffer.allocUnsafe(PIECE);
  pos = 0;

  /** Room for `n` more bytes (a new, larger buffer when one cell is larger than a piece). */
  room(n: number, pending: Buffer[]): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos > 0) pending.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(PIECE, n));
    this.pos = 0;
  }

  text(s: string, pending: Buffer[]): void {
    // 3 bytes per UTF-16 unit is the most UTF-8 needs (a surrogate pair: 4 bytes for 2 units).
    this.room(s.length * 3, pending);
    this.pos += this.buf.write(s, this.pos, "utf8");
  }

  /** An ASCII string (numbers, timestamps), one byte per character. */
  ascii(s: string): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  bytes(src: Uint8Array): void {
    const n = src.length;
    if (n > 32) {
      this.buf.set(src, this.pos);
      this.pos += n;
      return;
    }
    // A short cell (an id, a date, a version) byte by byte: set() is a call into the runtime that costs
    // more than copying a few bytes.
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = src[i]!;
    this.pos = p;
  }

  /** A non-negative integer below 2^53 in decimal. */
  uint(v: number): void {
    const b = this.buf;
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = Math.floor(v / 10);
      b[--p] = 48 + (v - q * 10);
      v = q;
    } while (v > 0);
  }
}

/** Longest cell an encoder writes without asking for room itself (numbers, timestamps, ids' digits). */
const SMALL = 64;

/** Writes row r of one column into out (room for SMALL bytes is there; longer cells ask for their own). */
type Encoder = (out: Out, r: number, pending: Buffer[]) => void;

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** What a column's encoder keeps from batch to batch. */
interface ColumnCache {
  /** Each dictionary's cells, encoded once (a row group's batches share the dictionary). */
  dicts: Map<ArrayLike<unknown>, Buffer[]>;
  /** A double column's recent numbers' bytes. */
  numbers: NumberCache;
}

/** The encoder of one column of one batch. */
function encoder(values: OutValues, kind: ColumnKind, cache: ColumnCache): Encoder {
  if (isGeneratedIds(values)) {
    const prefix = utf8(values.prefix);
    const { numbers } = values;
    return (out, r, pending) => {
      const v = numbers[r]!;
      out.room(prefix.length + SMALL, pending);
      out.bytes(prefix);
      if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) out.uint(v);
      else out.ascii(String(v));
    };
  }
  if (isDict(values)) {
    // Each dictionary entry encoded once (a row group's batches share the dictionary).
    const dicts = cache.dicts;
    let cells = dicts.get(values.dictionary);
    if (!cells) {
      const text = cellOf(kind);
      cells = Array.from(values.dictionary as ArrayLike<unknown>, (v) => utf8(text(v)));
      if (dicts.size > 64) dicts.clear();
      dicts.set(values.dictionary, cells);
    }
    const all = cells;
    const { indices } = values;
    return (out, r, pending) => {
      const j = indices[r]!;
      if (j < 0) return;
      const cell = all[j]!;
      out.room(cell.length, pending);
      out.bytes(cell);
    };
  }
  const cellsOf = values as ArrayLike<unknown>;
  if (kind === "double") {
    const numbers = cache.numbers;
    return (out, r, pending) => {
      const v = cellsOf[r];
      if (typeof v === "number") {
        if (v === v) numbers.write(out, v);
      } else if (v !== null && v !== undefined) out.text(String(v), pending);
    };
  }
  if (kind === "timestamp") {
    const stamp = timestampWriter();
    return (out, r, pending) => {
      const v = cellsOf[r];
      if (typeof v === "number") {
        if (v === v) stamp(out, v);
      } else if (v !== null && v !== undefined) out.text(formatTimestamp(v as number), pending);
    };
  }
  const text = cellOf(kind);
  return (out, r, pending) => {
    const v = cellsOf[r];
    if (v === null || v === undefined) return;
    out.text(text(v), pending);
  };
}

/** A cell's text as text-write's csvSink wrote it (null/undefined: ""). */
function cellOf(kind: ColumnKind): (v: unknown) => string {
  if (kind === "string") return (v) => (v === null || v === undefined ? "" : csvQuote(v as string));
  return (v) => csvQuote(cellText(v, kind));
}

/**
 * formatTimestamp's bytes without its strings: the date part is formatted once per day, the time of day
 * from digits; milliseconds, and instants outside the plain range, go through formatTimestamp itself.
 */
function timestampWriter(): (out: Out, ms: number) => void {
  let lastDay = Number.NaN;
  let date = Buffer.alloc(0);
  return (out, ms) => {
    const day = Math.floor(ms / 86400000);
    const rem = ms - day * 86400000;
    if (!(Math.abs(ms) < 8.64e15) || rem !== Math.floor(rem / 1000) * 1000) {
      out.ascii(formatTimestamp(ms));
      return;
    }
    if (day !== lastDay) {
      lastDay = day;
      const s = formatTimestamp(day * 86400000);
      date = Buffer.from(s.slice(0, s.length - 8), "latin1"); // "YYYY-MM-DD "
    }
    out.bytes(date);
    const secs = rem / 1000;
    const h = (secs / 3600) | 0;
    const m = ((secs - h * 3600) / 60) | 0;
    const s = secs - h * 3600 - m * 60;
    const b = out.buf;
    let p = out.pos;
    b[p++] = 48 + ((h / 10) | 0);
    b[p++] = 48 + (h % 10);
    b[p++] = 58;
    b[p++] = 48 + ((m / 10) | 0);
    b[p++] = 48 + (m % 10);
    b[p++] = 58;
    b[p++] = 48 + ((s / 10) | 0);
    b[p++] = 48 + (s % 10);
    out.pos = p;
  };
}

/**
 * Encodes batches of rows as CSV bytes (no header): one encoder per column and batch, the dictionaries'
 * cells kept across batches. csvSink uses one here; csv-encode-thread.ts one on a worker thread.
 */
export class CsvEncoder {
  private readonly caches: ColumnCache[];
  private readonly out = new Out();
  private readonly rows: RowLoop;

  constructor(private readonly columns: readonly OutColumn[]) {
    this.caches = columns.map((c) => ({ dicts: new Map(), numbers: new NumberCache(c.kind === "double") }));
    this.rows = rowLoop(columns.length);
  }

  /** The batch's rows as bytes, in pieces; `pending` gets full pieces as they come (a caller may write them at once). */
  encode(batch: OutBatch, pending: Buffer[]): void {
    const { out } = this;
    this.rows(out, batch.n, pending, this.encoders(batch));
    // The batch's last part goes now (the caller may reuse its arrays; the bytes are ours).
    if (out.pos > 0) {
      pending.push(out.buf.subarray(0, out.pos));
      out.buf = Buffer.allocUnsafe(PIECE);
      out.pos = 0;
    }
  }

  /**
   * The batch's rows as bytes written into `into` from its start: returns their length, or -1 when they
   * did not fit (then `pending` gets them all, in pieces, the first of them in `into`).
   */
  encodeInto(batch: OutBatch, into: Buffer, pending: Buffer[]): number {
    const { out } = this;
    const spare = out.buf;
    out.buf = into;
    out.pos = 0;
    this.rows(out, batch.n, pending, this.encoders(batch));
    const n = out.pos;
    const fitted = out.buf === into;
    if (!fitted) pending.push(out.buf.subarray(0, n));
    out.buf = spare;
    out.pos = 0;
    return fitted ? n : -1;
  }

  private encoders(batch: OutBatch): Encoder[] {
    const { columns, caches } = this;
    return batch.values.map((v, j) => encoder(v, columns[j]!.kind, caches[j]!));
  }
}

/**
 * A batch's bytes in a buffer reused from batch to batch, grown to fit the largest batch so far: no
 * garbage per batch. The buffer may be a view of shared memory (the encoder thread's).
 */
export class BatchBytes {
  constructor(
    public buf: Buffer,
    private readonly grow: (size: number) => Buffer = Buffer.allocUnsafe,
  ) {}

  /** Encodes the batch into buf (grown and filled again if it did not fit); returns the bytes' length. */
  encode(encoder: CsvEncoder, batch: OutBatch): number {
    const pending: Buffer[] = [];
    const n = encoder.encodeInto(batch, this.buf, pending);
    if (n >= 0) return n;
    const total = pending.reduce((a, p) => a + p.length, 0);
    const bigger = this.grow(Math.ceil(total * 1.25));
    let at = 0;
    for (const p of pending) at += p.copy(bigger, at);
    this.buf = bigger;
    return total;
  }
}

/** Writes rows 0..n-1, each cell by its column's encoder. */
type RowLoop = (out: Out, n: number, pending: Buffer[], enc: Encoder[]) => void;

/**
 * The row loop for m columns, made for one encoder: each column's encoder is called from a call site of
 * its own. One call site for all columns sees m different functions and V8 inlines none of them.
 */
function rowLoop(m: number): RowLoop {
  const names = Array.from({ length: m }, (_, j) => `e${j}`);
  const cells = names.map((e, j) => `out.room(${SMALL + 1}, pending);${j > 0 ? " out.buf[out.pos++] = 44;" : ""} ${e}(out, r, pending);`);
  const body = `const [${names.join(", ")}] = enc;
for (let r = 0; r < n; r++) {
  ${cells.join("\n  ")}
  out.room(1, pending);
  out.buf[out.pos++] = 10;
}`;
  return new Function("out", "n", "pending", "enc", body) as RowLoop;
}

/** The header line's bytes. */
export const csvHeader = (columns: readonly OutColumn[]) => columns.map((c) => csvQuote(c.name)).join(",") + "\n";

export function csvSink(path: string, columns: readonly OutColumn[], gzip: boolean): Sink {
  const file = openText(path, gzip);
  let header: string | undefined = csvHeader(columns);
  const encoder = new CsvEncoder(columns);
  const bytes = new BatchBytes(Buffer.allocUnsafe(BATCH_BYTES));
  return {
    async write(batch: OutBatch) {
      if (header !== undefined) await file.write(header);
      header = undefined;
      const n = bytes.encode(encoder, batch);
      await file.writeLent(bytes.buf.subarray(0, n)); // written before the next batch refills it
    },
    async finish() {
      if (header !== undefined) await file.write(header); // no rows: still a valid CSV with its header
      await file.finish();
    },
    abort: () => file.abort(),
  };
}

/** A batch's bytes to start with (8,192 rows of ~100 bytes); BatchBytes grows beyond. */
export const BATCH_BYTES = 1 << 20;

export type { Out };
