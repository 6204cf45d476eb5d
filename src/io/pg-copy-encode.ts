// Output batches in PostgreSQL's binary COPY format, for COPY ... FROM STDIN (FORMAT binary): per row an
// int16 field count, per field an int32 length (-1: NULL) and the value in its column type's binary
// receive format: double precision as an IEEE double, timestamp as int64 microseconds since 2000-01-01,
// text as UTF-8 bytes. No string is built per number or time, the server parses nothing, a dictionary's
// entries are encoded once per batch and generated ids are written as prefix bytes + digits.
// The values written are those of the text format the sink used before (textOf), with two exceptions
// where text lost information: -0 stays -0, and an infinite time is PostgreSQL's 'infinity'.
import { isDict, materialize } from "../columns.js";
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

/** A growable byte buffer written front to back. */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 16);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  null(): void {
    this.ensure(4);
    this.buf.writeInt32BE(-1, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(12);
    const b = this.buf;
    b.writeInt32BE(8, this.pos);
    b.writeDoubleBE(v, this.pos + 4);
    this.pos += 12;
  }

  /** Unix ms (whole ms kept, as the text format printed them) as int64 microseconds since 2000-01-01. */
  timestamp(ms: number): void {
    this.ensure(12);
    const b = this.buf;
    b.writeInt32BE(8, this.pos);
    if (ms === Infinity || ms === -Infinity) {
      // PostgreSQL's 'infinity' and '-infinity' are the int64 extremes.
      b.writeInt32BE(ms > 0 ? 0x7fffffff : -0x80000000, this.pos + 4);
      b.writeUInt32BE(ms > 0 ? 0xffffffff : 0, this.pos + 8);
    } else {
      // ms * 1000 passes 2^53 beyond ~2285: multiply the two 32-bit halves separately, exactly.
      const d = Math.floor(ms) - PG_EPOCH_MS;
      const dHi = Math.floor(d / TWO32);
      const low = (d - dHi * TWO32) * 1000;
      const carry = Math.floor(low / TWO32);
      b.writeInt32BE(dHi * 1000 + carry, this.pos + 4);
      b.writeUInt32BE(low - carry * TWO32, this.pos + 8);
    }
    this.pos += 12;
  }

  /** A text field: length, then the string's UTF-8 bytes (ASCII copied byte by byte, the rest by Buffer). */
  text(s: string): void {
    const n = s.length;
    this.ensure(4 + n * 3);
    const b = this.buf;
    const start = this.pos + 4;
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
    b.writeInt32BE(len, this.pos);
    this.pos = start + len;
  }

  /** Pre-encoded field bytes (length included). */
  raw(field: Buffer): void {
    this.ensure(field.length);
    const b = this.buf;
    let p = this.pos;
    if (field.length <= 32) for (let i = 0; i < field.length; i++) b[p++] = field[i]!;
    else p += field.copy(b, p);
    this.pos = p;
  }

  /** A text field holding prefix + the decimal digits of a non-negative integer. */
  prefixed(prefix: Buffer, k: number): void {
    if (!(k >= 0 && k <= Number.MAX_SAFE_INTEGER && Math.floor(k) === k)) {
      this.text(prefix.toString("utf8") + String(k));
      return;
    }
    this.ensure(4 + prefix.length + 16);
    const b = this.buf;
    let p = this.pos + 4;
    p += prefix.copy(b, p);
    let digits = 1;
    for (let t = k; t >= 10; t = Math.floor(t / 10)) digits++;
    for (let i = digits - 1, t = k; i >= 0; i--, t = Math.floor(t / 10)) b[p + i] = 48 + (t % 10);
    p += digits;
    b.writeInt32BE(p - this.pos - 4, this.pos);
    this.pos = p;
  }

  /** The bytes written so far; writing goes on in a new buffer (the stream may still hold this one). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(Math.max(1 << 16, this.pos + (this.pos >> 3)));
    this.pos = 0;
    return out;
  }
}

type Field = (r: number) => void;

/** A text field's full bytes (length + UTF-8), for dictionary entries. */
function fieldBytes(s: string | null): Buffer {
  if (s === null) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const body = Buffer.from(s, "utf8");
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Encodes batches of fixed column kinds; one instance per COPY. */
export class CopyEncoder {
  private readonly out = new Bytes();

  constructor(private readonly kinds: readonly ColumnKind[]) {}

  /** The batch's rows as binary COPY tuples (header and trailer are the caller's). */
  encode(batch: OutBatch): Buffer {
    const { n } = batch;
    const m = this.kinds.length;
    const fields = this.kinds.map((kind, j) => this.field(kind, batch.values[j]!));
    const o = this.out;
    for (let r = 0; r < n; r++) {
      o.ensure(2);
      o.buf.writeInt16BE(m, o.pos);
      o.pos += 2;
      for (let j = 0; j < m; j++) fields[j]!(r);
    }
    return o.take();
  }

  private field(kind: ColumnKind, values: OutValues): Field {
    const o = this.out;
    if (isGeneratedIds(values)) {
      const prefix = Buffer.from(values.prefix, "utf8");
      const nums = values.numbers;
      return (r) => o.prefixed(prefix, nums[r]!);
    }
    if (kind === "double" || kind === "timestamp") {
      const cells = materialize(values);
      const put = kind === "double" ? (v: number) => o.double(v) : (v: number) => o.timestamp(v);
      if (cells instanceof Float64Array)
        return (r) => {
          const v = cells[r]!;
          if (v !== v) o.null();
          else put(v);
        };
      return (r) => {
        const v = toNumber(cells[r]);
        if (v !== v) o.null();
        else put(v);
      };
    }
    if (isDict(values)) {
      const entries = Array.from(values.dictionary, (v) => fieldBytes(textOf(kind, v)));
      const idx = values.indices;
      return (r) => {
        const i = idx[r]!;
        if (i < 0) o.null();
        else o.raw(entries[i]!);
      };
    }
    return (r) => {
      const s = textOf(kind, values[r]);
      if (s === null) o.null();
      else o.text(s);
    };
  }
}

/** A double or timestamp cell that is not already a number: NaN for missing. */
function toNumber(v: unknown): number {
  if (v === null || v === undefined) return NaN;
  if (typeof v === "number") return v;
  if (v instanceof Date) return v.getTime();
  return Number(v);
}
