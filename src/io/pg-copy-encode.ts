// Output batches in PostgreSQL's binary COPY format, for COPY ... FROM STDIN (FORMAT binary): per row an
// int16 field count, per field an int32 length (-1: NULL) and the value in its column type's binary
// receive format: double precision as an IEEE double, timestamp as int64 microseconds since 2000-01-01,
// text as UTF-8 bytes. No string is built per number or time, the server parses nothing, a dictionary's
// entries are encoded once per batch and generated ids are written as prefix bytes + digits.
// The values written are those of the text format the sink used before (textOf), with two exceptions
// where text lost information: -0 stays -0, and an infinite time is PostgreSQL's 'infinity'.
import { type BytesColumn, isDict, materialize } from "../columns.js";
import { formatTimestamp } from "./timestamp.js";
import { type ColumnKind, isGeneratedIds, type OutBatch, type OutValues } from "./types.js";

/** Signature, flags (0: no OIDs), header extension length (0). */
export const COPY_HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
/** The int16 field count -1 that ends the data. */
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** 2000-01-01 (PostgreSQL's epoch) in Unix ms. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO32 = 4294967296;

/** The text a non-number cell is stored as (NULL: null), as the text COPY format wrote it. */
export function textOf(kind: ColumnKind, v: unknown): string | null {
  if (v === null || v === undefined || (typeof v === "number" && v !== v)) return null;
  if (typeof v === "string") return v;
  if (kind === "raw") {
    if (v instanceof Date) return formatTimestamp(v.getTime());
    if (typeof v === "object") return JSON.stringify(v);
  }
  return String(v);
}

/** How a column's cells are written: each batch's column is turned into one of these. */
enum Code {
  Double = 0,
  Timestamp = 1,
  /** Pre-encoded fields (length + bytes) by dictionary index; -1 is NULL. */
  Dict = 2,
  /** Prefix bytes + the decimal digits of an integer. */
  Ids = 3,
  /** Strings, or null. */
  Text = 4,
  /** UTF-8 bytes as read (BytesColumn). */
  Bytes = 5,
}

/** One column of a batch, ready to write. Every field is set by the constructor, with the same types for every code, so the row loop sees one object shape. */
class Prepared {
  nums: Float64Array = NO_NUMS;
  idx: Int32Array = NO_IDX;
  /** Dict: each entry's field (length + bytes). */
  entries: Uint8Array[] = [];
  /** Dict: entries of up to 16 bytes as four big-endian int32 each (zone ids, codes, a model version). */
  words: Int32Array = NO_IDX;
  texts: ArrayLike<string | null> = [];
  prefix: Uint8Array = NO_BYTES;
  /** Bytes: the cells' bytes, n + 1 offsets, NULL flags. */
  data: Uint8Array = NO_BYTES;
  offsets: Int32Array = NO_IDX;
  nulls: Uint8Array = NO_BYTES;

  constructor(readonly code: Code) {}
}

/** A dictionary's entries encoded, kept while batches share the dictionary. */
interface EncodedDictionary {
  dictionary: ArrayLike<unknown>;
  entries: Uint8Array[];
  words: Int32Array;
  longest: number;
}

const NO_NUMS = new Float64Array(0);
const NO_IDX = new Int32Array(0);
const NO_BYTES = new Uint8Array(0);
/** Dictionary entries up to this long (with their length word) are written as four 32-bit stores. */
const WORDS = 16;

/** A text field's full bytes (length + UTF-8), for dictionary entries. */
function fieldBytes(s: string | null): Uint8Array {
  if (s === null) return Uint8Array.of(0xff, 0xff, 0xff, 0xff);
  const body = Buffer.from(s, "utf8");
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Encodes batches of fixed column kinds; one instance per COPY. */
export class CopyEncoder {
  private buf: Buffer = Buffer.allocUnsafe(1 << 16);
  private view: DataView = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);

  /** Per column, its last dictionary encoded (a table source's batches share one until it grows). */
  private readonly dicts: (EncodedDictionary | undefined)[];

  constructor(private readonly kinds: readonly ColumnKind[]) {
    this.dicts = kinds.map(() => undefined);
  }

  /** The batch's rows as binary COPY tuples (header and trailer are the caller's). */
  encode(batch: OutBatch): Buffer {
    const { n } = batch;
    const cols = this.kinds.map((kind, j) => {
      const bytes = batch.bytes?.[j];
      return bytes ? prepareBytes(bytes, n) : prepare(kind, batch.values[j]!, this.dicts, j);
    });
    // Bytes a row can take outside its Text fields, which make room for themselves.
    let bound = 2;
    for (let j = 0; j < cols.length; j++) {
      const c = cols[j]!;
      if (c.code === Code.Double || c.code === Code.Timestamp) bound += 12;
      // A short entry is stored as WORDS bytes (the next field overwrites the excess).
      else if (c.code === Code.Dict) bound += Math.max(this.dicts[j]!.longest, WORDS);
      else if (c.code === Code.Ids) bound += 4 + c.prefix.length + 16;
      else if (c.code === Code.Bytes) bound += 4 + longestCell(c.offsets, n);
    }
    const end = this.rows(cols, n, bound);
    const out = this.buf.subarray(0, end);
    // The stream may still hold this batch's bytes: the next one is written into a new buffer.
    this.setBuffer(Buffer.allocUnsafe(Math.max(1 << 16, end + (end >> 3))));
    return out;
  }

  /**
   * The row loop, on its own so that it is compiled once for the whole run: nothing after the loop for
   * V8 to lack feedback on, and objects of one shape in it. Returns the end of the bytes written.
   */
  private rows(cols: Prepared[], n: number, bound: number): number {
    const m = cols.length;
    let pos = 0;
    for (let r = 0; r < n; r++) {
      if (pos + bound > this.buf.length) this.grow(pos, bound);
      let b = this.buf;
      let v = this.view;
      v.setInt16(pos, m);
      pos += 2;
      for (let j = 0; j < m; j++) {
        const c = cols[j]!;
        switch (c.code) {
          case Code.Double: {
            const x = c.nums[r]!;
            if (x !== x) v.setInt32(pos, -1);
            else {
              v.setInt32(pos, 8);
              v.setFloat64(pos + 4, x);
              pos += 8;
            }
            pos += 4;
            break;
          }
          case Code.Timestamp: {
            const x = c.nums[r]!;
            if (x !== x) v.setInt32(pos, -1);
            else {
              v.setInt32(pos, 8);
              timestamp(v, pos + 4, x);
              pos += 8;
            }
            pos += 4;
            break;
          }
          case Code.Dict: {
            const i = c.idx[r]!;
            if (i < 0) {
              v.setInt32(pos, -1);
              pos += 4;
              break;
            }
            const e = c.entries[i]!;
            const len = e.length;
            if (len <= WORDS) {
              const w = c.words;
              v.setInt32(pos, w[4 * i]!);
              v.setInt32(pos + 4, w[4 * i + 1]!);
              if (len > 8) {
                v.setInt32(pos + 8, w[4 * i + 2]!);
                v.setInt32(pos + 12, w[4 * i + 3]!);
              }
            } else b.set(e, pos);
            pos += len;
            break;
          }
          case Code.Ids:
            pos = digits(b, v, pos, c.prefix, c.nums[r]!);
            break;
          case Code.Bytes: {
            if (c.nulls[r] === 1) {
              v.setInt32(pos, -1);
              pos += 4;
              break;
            }
            const start = c.offsets[r]!;
            const len = c.offsets[r + 1]! - start;
            v.setInt32(pos, len);
            pos += 4;
            const data = c.data;
            if (len <= 32) for (let k = 0; k < len; k++) b[pos + k] = data[start + k]!;
            else b.set(data.subarray(start, start + len), pos);
            pos += len;
            break;
          }
          default: {
            const s = c.texts[r];
            if (s === null || s === undefined) {
              v.setInt32(pos, -1);
              pos += 4;
              break;
            }
            // Room for this string and the rest of the row's bounded fields.
            if (pos + 4 + s.length * 3 + bound > b.length) {
              this.grow(pos, 4 + s.length * 3 + bound);
              b = this.buf;
              v = this.view;
            }
            pos = text(b, v, pos, s);
          }
        }
      }
    }
    return pos;
  }

  private grow(pos: number, need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, pos + need));
    this.buf.copy(next, 0, 0, pos);
    this.setBuffer(next);
  }

  private setBuffer(b: Buffer): void {
    this.buf = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }
}

function prepare(kind: ColumnKind, values: OutValues, dicts: (EncodedDictionary | undefined)[], j: number): Prepared {
  if (isGeneratedIds(values)) {
    const p = new Prepared(Code.Ids);
    p.prefix = Buffer.from(values.prefix, "utf8");
    p.nums = values.numbers;
    return p;
  }
  if (kind === "double" || kind === "timestamp") {
    const p = new Prepared(kind === "double" ? Code.Double : Code.Timestamp);
    const cells = materialize(values);
    p.nums = cells instanceof Float64Array ? cells : Float64Array.from(cells as ArrayLike<unknown>, toNumber);
    return p;
  }
  if (isDict(values)) {
    const p = new Prepared(Code.Dict);
    let d = dicts[j];
    if (d?.dictionary !== values.dictionary) d = dicts[j] = encodeDictionary(kind, values.dictionary);
    p.entries = d.entries;
    p.words = d.words;
    p.idx = values.indices;
    return p;
  }
  const p = new Prepared(Code.Text);
  const cells = values as ArrayLike<unknown>;
  let strings = true;
  for (let r = 0; r < cells.length && strings; r++) strings = typeof cells[r] === "string" || cells[r] === null;
  p.texts = strings ? (cells as ArrayLike<string | null>) : Array.from(cells, (v) => textOf(kind, v));
  return p;
}

function prepareBytes(c: BytesColumn, n: number): Prepared {
  if (c.nulls.length !== n) throw new Error(`internal: a bytes column of ${c.nulls.length} rows in a batch of ${n}`);
  const p = new Prepared(Code.Bytes);
  p.data = c.data;
  p.offsets = c.offsets;
  p.nulls = c.nulls;
  return p;
}

function encodeDictionary(kind: ColumnKind, dictionary: ArrayLike<unknown>): EncodedDictionary {
  const entries = Array.from(dictionary, (v) => fieldBytes(textOf(kind, v)));
  const words = new Int32Array(4 * entries.length);
  const first = Buffer.alloc(WORDS);
  entries.forEach((e, i) => {
    first.fill(0);
    first.set(e.subarray(0, WORDS));
    for (let w = 0; w < 4; w++) words[4 * i + w] = first.readInt32BE(4 * w);
  });
  return { dictionary, entries, words, longest: entries.reduce((a, e) => Math.max(a, e.length), 0) };
}

/** The longest of n cells, in bytes. */
function longestCell(offsets: Int32Array, n: number): number {
  let most = 0;
  for (let r = 0; r < n; r++) most = Math.max(most, offsets[r + 1]! - offsets[r]!);
  return most;
}

/** Unix ms (whole ms kept, as the text format printed them) as int64 microseconds since 2000-01-01. */
function timestamp(v: DataView, at: number, ms: number): void {
  if (ms === Infinity || ms === -Infinity) {
    // PostgreSQL's 'infinity' and '-infinity' are the int64 extremes.
    v.setInt32(at, ms > 0 ? 0x7fffffff : -0x80000000);
    v.setUint32(at + 4, ms > 0 ? 0xffffffff : 0);
    return;
  }
  // ms * 1000 passes 2^53 beyond ~2285: multiply the two 32-bit halves separately, exactly.
  const d = Math.floor(ms) - PG_EPOCH_MS;
  const dHi = Math.floor(d / TWO32);
  const low = (d - dHi * TWO32) * 1000;
  const carry = Math.floor(low / TWO32);
  const hi = dHi * 1000 + carry;
  if (hi > 0x7fffffff || hi < -0x80000000) throw new RangeError(`timestamp ${ms} ms is out of PostgreSQL's range`);
  v.setInt32(at, hi);
  v.setUint32(at + 4, low - carry * TWO32);
}

/** A text field: length, then the string's UTF-8 bytes (short ASCII copied byte by byte). Returns the end. */
function text(b: Buffer, v: DataView, pos: number, s: string): number {
  const n = s.length;
  const start = pos + 4;
  let len = n;
  if (n < 64) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        len = b.write(s, start, "utf8");
        break;
      }
      b[start + i] = c;
    }
  } else len = b.write(s, start, "utf8");
  v.setInt32(pos, len);
  return start + len;
}

/** A text field holding prefix + the decimal digits of k (a non-negative integer: a row number). Returns the end. */
function digits(b: Buffer, v: DataView, pos: number, prefix: Uint8Array, k: number): number {
  if (!(k >= 0 && k <= Number.MAX_SAFE_INTEGER && Math.floor(k) === k)) throw new RangeError(`generated id number ${k} is not a row number`);
  let p = pos + 4;
  for (let i = 0; i < prefix.length; i++) b[p++] = prefix[i]!;
  let count = 1;
  for (let t = k; t >= 10; t = Math.floor(t / 10)) count++;
  for (let i = count - 1, t = k; i >= 0; i--, t = Math.floor(t / 10)) b[p + i] = 48 + (t % 10);
  p += count;
  v.setInt32(pos, p - pos - 4);
  return p;
}

/** A double or timestamp cell that is not already a number: NaN for missing. */
function toNumber(v: unknown): number {
  if (v === null || v === undefined) return NaN;
  if (typeof v === "number") return v;
  if (v instanceof Date) return v.getTime();
  return Number(v);
}
