// The CSV writer: rows encoded straight into byte buffers, column by column with an encoder chosen once
// per column and batch, instead of one string per cell joined per row (those strings, their
// concatenation and the UTF-8 encoding of the result were most of the time a CSV -> CSV run spent
// writing). The bytes are exactly those of the cell strings of text-write.ts (cellText, csvQuote):
// numbers in JS's shortest round-trip form, timestamps as formatTimestamp writes them.
import { type DictColumn, isDict } from "../columns.js";
import { openText } from "./sink.js";
import { csvQuote, cellText } from "./text-write.js";
import { formatTimestamp } from "./timestamp.js";
import { isGeneratedIds, type ColumnKind, type GeneratedIds, type OutBatch, type OutColumn, type OutValues, type Sink } from "./types.js";
import { ascii32, NumberCache, one } from "./csv-number.js";

/** Longest cell an encoder writes without asking for room itself (numbers, timestamps, ids' digits). */
const SMALL = 64;

/** Bytes per output piece: large enough that each write is cheap, small enough to stay out of the old generation. */
const PIECE = 1 << 16;

/**
 * An output buffer being filled; a full one goes to `pending` and a new one starts. A row starts with
 * room(0): `reserve` bytes, room for each of its cells' SMALL bytes and separators; a longer cell asks
 * room() for its own length, which keeps the reserve behind it for the rest of the row.
 */
class Out {
  buf!: Buffer<ArrayBufferLike>;
  /** buf's bytes as a DataView: a few bytes (digits, a date) in one store. */
  view!: DataView;
  pos = 0;

  /** reserve: the most a row of `columns` small cells takes (each cell SMALL bytes and its separator). */
  constructor(
    columns: number,
    readonly reserve = columns * (SMALL + 1) + 1,
  ) {
    this.use(this.fresh(0));
  }

  /** A new buffer for n bytes and the reserve: a piece, or more for a large cell or a wide row. */
  fresh(n: number): Buffer {
    return Buffer.allocUnsafe(Math.max(PIECE, 8 * this.reserve, n + this.reserve));
  }

  /** Writes go to buf from pos 0 on. */
  use(buf: Buffer<ArrayBufferLike>): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
  }

  /** Room for `n` more bytes and the reserve after them (a new buffer when they do not fit). */
  room(n: number, pending: Buffer[]): void {
    if (this.pos + n + this.reserve <= this.buf.length) return;
    if (this.pos > 0) pending.push(this.buf.subarray(0, this.pos));
    this.use(this.fresh(n));
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

/** Writes row r of one column into out (room for SMALL bytes is there; longer cells ask for their own). */
type Encoder = (out: Out, r: number, pending: Buffer[]) => void;

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** A dictionary's cells, encoded once; those of up to 16 bytes also as four words (zeros past the cell). */
class DictCells {
  readonly lens: Int32Array;
  readonly words: Uint32Array;

  constructor(readonly cells: Buffer[]) {
    this.lens = Int32Array.from(cells, (c) => c.length);
    this.words = new Uint32Array(4 * cells.length);
    const padded = Buffer.alloc(16);
    cells.forEach((c, j) => {
      if (c.length > 16) return;
      padded.fill(0);
      c.copy(padded);
      for (let k = 0; k < 4; k++) this.words[4 * j + k] = padded.readUInt32LE(4 * k);
    });
  }
}

/** A column's encoder for one batch's values: the same function each batch, pointed at these values. */
type Bind<V> = (values: V) => Encoder;

/**
 * A column's encoders, each made once and pointed at each batch's values: an encoder made per batch was
 * new code to V8 each time a full GC had collected the last batch's (a closure's optimized code is held
 * weakly), so the writing thread compiled its encoders again and again, and ran them unoptimized between.
 */
function columnEncoder(kind: ColumnKind): Bind<OutValues> {
  const ids = idsEncoder();
  const dict = dictEncoder(kind);
  const numbers = new NumberCache(kind === "double"); // a double column's recent numbers' bytes
  const stamp = timestampWriter();
  const typed = kind === "double" || kind === "timestamp" ? typedEncoder(kind, numbers, stamp) : undefined;
  const cells = cellsEncoder(kind, numbers, stamp);
  return (values) => {
    if (isGeneratedIds(values)) return ids(values);
    if (isDict(values)) return dict(values);
    // Doubles and times from a Float64Array are read where they are written (see csv-number.ts's `one`).
    if (typed && values instanceof Float64Array) return typed(values);
    return cells(values as ArrayLike<unknown>);
  };
}

function idsEncoder(): Bind<GeneratedIds> {
  let prefix = Buffer.alloc(0);
  let numbers: Float64Array = new Float64Array(0);
  const encode: Encoder = (out, r, pending) => {
    const v = numbers[r]!;
    out.room(prefix.length, pending); // the digits are a small cell's
    out.bytes(prefix);
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) out.uint(v);
    else out.ascii(String(v));
  };
  return (values) => {
    prefix = utf8(values.prefix);
    numbers = values.numbers;
    return encode;
  };
}

function dictEncoder(kind: ColumnKind): Bind<DictColumn> {
  // Each dictionary entry encoded once (a row group's batches share the dictionary).
  const dicts = new Map<ArrayLike<unknown>, DictCells>();
  let { cells, lens, words } = new DictCells([]);
  let indices: Int32Array = new Int32Array(0);
  // A short cell goes as one word or four (the bytes past it are written over by what follows; a small
  // cell's room covers them); a longer one asks for room and is copied.
  const encode: Encoder = (out, r, pending) => {
    const j = indices[r]!;
    if (j < 0) return;
    const n = lens[j]!;
    const v = out.view;
    const p = out.pos;
    const w = 4 * j;
    if (n <= 4) {
      v.setUint32(p, words[w]!, true);
      out.pos = p + n;
    } else if (n <= 16) {
      v.setUint32(p, words[w]!, true);
      v.setUint32(p + 4, words[w + 1]!, true);
      v.setUint32(p + 8, words[w + 2]!, true);
      v.setUint32(p + 12, words[w + 3]!, true);
      out.pos = p + n;
    } else {
      out.room(n, pending);
      out.bytes(cells[j]!);
    }
  };
  return (values) => {
    let dict = dicts.get(values.dictionary);
    if (!dict) {
      const text = cellOf(kind);
      dict = new DictCells(Array.from(values.dictionary as ArrayLike<unknown>, (v) => utf8(text(v))));
      if (dicts.size > 64) dicts.clear();
      dicts.set(values.dictionary, dict);
    }
    ({ cells, lens, words } = dict);
    indices = values.indices;
    return encode;
  };
}

/** A double or timestamp column's encoder for a Float64Array (NaN: an empty cell). */
function typedEncoder(kind: "double" | "timestamp", numbers: NumberCache, stamp: TimestampWriter): Bind<Float64Array> {
  let values: Float64Array = new Float64Array(0);
  let encode: Encoder;
  if (kind === "double") {
    encode = (out, r) => {
      if (values[r] === values[r]) numbers.writeAt(out, values, r);
    };
  } else {
    encode = (out, r) => {
      if (values[r] === values[r]) stamp(out, values, r);
    };
  }
  return (v) => {
    values = v;
    return encode;
  };
}

/** A column's encoder for plain cells. */
function cellsEncoder(kind: ColumnKind, numbers: NumberCache, stamp: TimestampWriter): Bind<ArrayLike<unknown>> {
  let cellsOf: ArrayLike<unknown> = [];
  let encode: Encoder;
  if (kind === "double") {
    encode = (out, r, pending) => {
      const v = cellsOf[r];
      if (typeof v === "number") {
        if (v === v) numbers.write(out, v);
      } else if (v !== null && v !== undefined) out.text(String(v), pending);
    };
  } else if (kind === "timestamp") {
    encode = (out, r, pending) => {
      const v = cellsOf[r];
      if (typeof v === "number") {
        if (v === v) {
          one[0] = v;
          stamp(out, one, 0);
        }
      } else if (v !== null && v !== undefined) out.text(formatTimestamp(v as number), pending);
    };
  } else {
    const text = cellOf(kind);
    encode = (out, r, pending) => {
      const v = cellsOf[r];
      if (v === null || v === undefined) return;
      out.text(text(v), pending);
    };
  }
  return (values) => {
    cellsOf = values;
    return encode;
  };
}

/** A cell's text as text-write's csvSink wrote it (null/undefined: ""). */
function cellOf(kind: ColumnKind): (v: unknown) => string {
  if (kind === "string") return (v) => (v === null || v === undefined ? "" : csvQuote(v as string));
  return (v) => csvQuote(cellText(v, kind));
}

const pad2 = (n: number) => String(n).padStart(2, "0");
/** The time of day by ten-minute step (secs / 600: h * 6 + tens of minutes): "HH:M" as a word. */
const TIME_HM = Uint32Array.from({ length: 144 }, (_, i) => ascii32(`${pad2((i / 6) | 0)}:${i % 6}`));
/** The rest of a ten-minute step (0..599 s: minute's digit * 60 + seconds): "M:SS" as a word. */
const TIME_MS = Uint32Array.from({ length: 600 }, (_, i) => ascii32(`${(i / 60) | 0}:${pad2(i % 60)}`));

/**
 * formatTimestamp's bytes without its strings: the date part is formatted once per day and written as
 * words, the time of day as two words from tables; milliseconds, and instants outside the plain range,
 * go through formatTimestamp itself.
 */
type TimestampWriter = (out: Out, times: Float64Array, i: number) => void;

function timestampWriter(): TimestampWriter {
  let lastDay = Number.NaN;
  let date = Buffer.alloc(0);
  // "YYYY-MM-DD " (11 bytes, years 0..9999) as words: "YYYY", "-MM-", "-DD " (the last from byte 7 on).
  let plain = false;
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  return (out, times, i) => {
    const ms = times[i]!;
    const day = Math.floor(ms / 86400000);
    const rem = ms - day * 86400000;
    const secs = (rem / 1000) | 0;
    if (!(Math.abs(ms) < 8.64e15) || secs * 1000 !== rem) {
      out.ascii(formatTimestamp(ms));
      return;
    }
    if (day !== lastDay) {
      lastDay = day;
      const s = formatTimestamp(day * 86400000);
      date = Buffer.from(s.slice(0, s.length - 8), "latin1"); // "YYYY-MM-DD "
      plain = date.length === 11;
      if (plain) {
        w0 = date.readUInt32LE(0);
        w1 = date.readUInt32LE(4);
        w2 = date.readUInt32LE(7);
      }
    }
    const tens = (secs / 600) | 0;
    const v = out.view;
    let p = out.pos;
    if (plain) {
      v.setUint32(p, w0, true);
      v.setUint32(p + 4, w1, true);
      v.setUint32(p + 7, w2, true);
      p += 11;
    } else {
      out.bytes(date);
      p = out.pos;
    }
    v.setUint32(p, TIME_HM[tens]!, true);
    v.setUint32(p + 4, TIME_MS[secs - tens * 600]!, true);
    out.pos = p + 8;
  };
}

/**
 * Encodes batches of rows as CSV bytes (no header): one encoder per column and batch, the dictionaries'
 * cells kept across batches. csvSink uses one here; csv-encode-thread.ts one on a worker thread.
 */
export class CsvEncoder {
  private readonly binds: Bind<OutValues>[];
  private readonly out: Out;
  private readonly rows: RowLoop;

  constructor(columns: readonly OutColumn[]) {
    this.out = new Out(columns.length);
    this.binds = columns.map((c) => columnEncoder(c.kind));
    this.rows = rowLoop(columns.length);
  }

  /** The batch's rows as bytes, in pieces; `pending` gets full pieces as they come (a caller may write them at once). */
  encode(batch: OutBatch, pending: Buffer[]): void {
    const { out } = this;
    this.rows(out, batch.n, pending, this.encoders(batch));
    // The batch's last part goes now (the caller may reuse its arrays; the bytes are ours).
    if (out.pos > 0) {
      pending.push(out.buf.subarray(0, out.pos));
      out.use(out.fresh(0));
    }
  }

  /**
   * The batch's rows as bytes written into `into` from its start: returns their length, or -1 when they
   * did not fit (then `pending` gets them all, in pieces, the first of them in `into`).
   */
  encodeInto(batch: OutBatch, into: Buffer, pending: Buffer[]): number {
    const { out } = this;
    const spare = out.buf;
    out.use(into);
    this.rows(out, batch.n, pending, this.encoders(batch));
    const n = out.pos;
    const fitted = out.buf === into;
    if (!fitted) pending.push(out.buf.subarray(0, n));
    out.use(spare);
    return fitted ? n : -1;
  }

  private encoders(batch: OutBatch): Encoder[] {
    const { binds } = this;
    return batch.values.map((v, j) => binds[j]!(v));
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
  const cells = names.map((e, j) => `${j > 0 ? "out.buf[out.pos++] = 44; " : ""}${e}(out, r, pending);`);
  const body = `const [${names.join(", ")}] = enc;
for (let r = 0; r < n; r++) {
  out.room(0, pending);
  ${cells.join("\n  ")}
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
