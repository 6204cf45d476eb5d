// PostgreSQL's binary COPY format, read into record-batch columns: a header, then per row an int16
// field count and per field an int32 length (-1: NULL) and the value in the type's binary send format.
// The SELECT feeding COPY casts every column to one of the few types decoded here (see pg-read.ts), so
// numbers arrive as IEEE doubles or integers, times as int64 microseconds, the rest as UTF-8 text.
import type { BytesColumn, Column } from "../columns.js";

/** How a column's binary values are decoded. */
/** "bytes": a text column read as its UTF-8 bytes (a BytesColumn), for columns only passed through. */
export type Decode = "float8" | "int2" | "int4" | "int8" | "timestamp" | "text" | "bytes";

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01, in ms. */
const PG_EPOCH_MS = 946_684_800_000;

const [FLOAT8, INT2, INT4, INT8, TIMESTAMP, TEXT, BYTES] = [0, 1, 2, 3, 4, 5, 6];
const CODES: Record<Decode, number> = { float8: FLOAT8, int2: INT2, int4: INT4, int8: INT8, timestamp: TIMESTAMP, text: TEXT, bytes: BYTES };

/** A timestamp's int64 microseconds since 2000-01-01 as Unix ms, read as hi * 2^32 + lo (exact below 2^53 us). */
function timestampMs(v: DataView, p: number): number {
  const hi = v.getInt32(p);
  const lo = v.getUint32(p + 4);
  // PostgreSQL's 'infinity' and '-infinity' are the int64 extremes.
  if (hi === 0x7fffffff && lo === 0xffffffff) return Infinity;
  if (hi === -0x80000000 && lo === 0) return -Infinity;
  return (hi * 4294967296 + lo) / 1000 + PG_EPOCH_MS;
}

/** Buffer's own UTF-8 decoder, without toString's argument handling (called once per text cell). */
const utf8 = (buf: Buffer, p: number, len: number): string => (buf as unknown as { utf8Slice(start: number, end: number): string }).utf8Slice(p, p + len);

/** Text values of up to 6 bytes (zone ids, "N", short codes) are keyed by their bytes: no string is made per cell. */
const SHORT = 6;
/** A column's dictionary starts over when it passes this many entries (memory stays bounded). */
const MAX_ENTRIES = 1 << 16;

/**
 * One text column's dictionary, kept from batch to batch: a value has the same index in every batch, and
 * a batch that added no entry hands out the same dictionary object as the one before, so what later
 * stages derived from it (coerced entries, pair tables, encoded entries) is reused, not rebuilt per batch.
 */
class TextDictionary {
  readonly entries: string[] = [];
  readonly byKey = new Map<number, number>();
  readonly byText = new Map<string, number>();
  /** The copy last handed out (a dictionary never changes once handed out). */
  private handed: string[] | undefined;
  /** entries.length when the batch started. */
  private batchStart = 0;

  index(buf: Buffer, p: number, len: number): number {
    const { entries } = this;
    if (len <= SHORT) {
      let key = len;
      for (let i = 0; i < len; i++) key = key * 256 + buf[p + i]!;
      let idx = this.byKey.get(key);
      if (idx === undefined) {
        idx = entries.length;
        entries.push(buf.toString("utf8", p, p + len));
        this.byKey.set(key, idx);
      }
      return idx;
    }
    const s = utf8(buf, p, len);
    let idx = this.byText.get(s);
    if (idx === undefined) {
      idx = entries.length;
      entries.push(s);
      this.byText.set(s, idx);
    }
    return idx;
  }

  dictionary(): string[] {
    if (this.handed?.length !== this.entries.length) this.handed = this.entries.slice();
    return this.handed;
  }

  /** Entries the batch added. */
  get added(): number {
    return this.entries.length - this.batchStart;
  }

  nextBatch(): void {
    this.batchStart = this.entries.length;
  }
}

/** A bytes column's reused arrays: the cells' bytes one after another, n + 1 offsets, n NULL flags. */
interface BytesWork {
  data: Uint8Array;
  offsets: Int32Array;
  nulls: Uint8Array;
}

/** Builds one batch of columns from tuples; call reset() after a batch has been handed on. */
export class BinaryBatcher {
  n = 0;
  private readonly nums: Float64Array[];
  private readonly texts: Int32Array[];
  private dicts: (TextDictionary | undefined)[];
  /** Text columns found to be mostly distinct (ids): plain string arrays, no dictionary to build. */
  private readonly plain: boolean[];
  private strs: (string | null)[][];
  private readonly bytes: BytesWork[];

  /** decode[] as small integers, for the row loop. */
  private readonly codes: Uint8Array;

  constructor(
    private readonly decode: readonly Decode[],
    private readonly size: number,
  ) {
    this.codes = Uint8Array.from(decode, (d) => CODES[d]);
    this.nums = decode.map((d) => (d === "text" || d === "bytes" ? new Float64Array(0) : new Float64Array(size)));
    this.texts = decode.map((d) => (d === "text" ? new Int32Array(size) : new Int32Array(0)));
    this.dicts = decode.map((d) => (d === "text" ? new TextDictionary() : undefined));
    this.plain = decode.map(() => false);
    this.strs = decode.map(() => []);
    this.bytes = decode.map((d) => {
      const rows = d === "bytes" ? size : 0;
      return { data: new Uint8Array(rows * 16), offsets: new Int32Array(rows + 1), nulls: new Uint8Array(rows) };
    });
  }

  get full(): boolean {
    return this.n >= this.size;
  }

  /**
   * Decode whole tuples from buf[at..end); returns where the first incomplete tuple starts (the caller
   * keeps those bytes for the next chunk), or -1 at the trailer. Stops early when the batch is full.
   * One pass per tuple: an incomplete one is abandoned midway and decoded again from the start with the
   * next chunk, into the same row (what it left behind is overwritten; a dictionary entry it added is
   * that row's anyway).
   */
  tuples(buf: Buffer, at: number, end: number): number {
    const m = this.decode.length;
    const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
    const codes = this.codes;
    while (!this.full) {
      if (at + 2 > end) return at;
      const fields = v.getInt16(at);
      if (fields === -1) return -1;
      if (fields !== m) throw new Error(`COPY: a row with ${fields} fields, expected ${m}`);
      let p = at + 2;
      const r = this.n;
      for (let j = 0; j < m; j++) {
        if (p + 4 > end) return at;
        const len = v.getInt32(p);
        p += 4;
        if (len > 0 && p + len > end) return at;
        const code = codes[j]!;
        if (code === TEXT) this.text(j, r, buf, p, len);
        else if (code === BYTES) this.byteCell(j, r, buf, p, len);
        else {
          const out = this.nums[j]!;
          if (len < 0) out[r] = NaN;
          else if (code === FLOAT8) out[r] = v.getFloat64(p);
          else if (code === INT4) out[r] = v.getInt32(p);
          else if (code === INT2) out[r] = v.getInt16(p);
          // int8 as hi * 2^32 + lo: one rounding, as Number(BigInt) rounds.
          else if (code === INT8) out[r] = v.getInt32(p) * 4294967296 + v.getUint32(p + 4);
          else out[r] = timestampMs(v, p);
        }
        if (len > 0) p += len;
      }
      this.n = r + 1;
      at = p;
    }
    return at;
  }

  private text(j: number, r: number, buf: Buffer, p: number, len: number): void {
    if (this.plain[j]) this.strs[j]![r] = len < 0 ? null : utf8(buf, p, len);
    else this.texts[j]![r] = len < 0 ? -1 : this.dicts[j]!.index(buf, p, len);
  }

  private byteCell(j: number, r: number, buf: Buffer, p: number, len: number): void {
    const w = this.bytes[j]!;
    const at = w.offsets[r]!;
    if (len < 0) {
      w.nulls[r] = 1;
      w.offsets[r + 1] = at;
      return;
    }
    w.nulls[r] = 0;
    if (at + len > w.data.length) {
      const grown = new Uint8Array(Math.max(2 * w.data.length, at + len));
      grown.set(w.data.subarray(0, at));
      w.data = grown;
    }
    const data = w.data;
    if (len <= 32) for (let i = 0; i < len; i++) data[at + i] = buf[p + i]!;
    else data.set(buf.subarray(p, p + len), at);
    w.offsets[r + 1] = at + len;
  }

  /** The batch's columns: numbers and times as Float64Array (NaN: NULL), text dictionary-encoded, bytes as BytesColumn. */
  columns(): (Column | BytesColumn)[] {
    const n = this.n;
    return this.decode.map((d, j) => {
      if (d === "bytes") {
        const w = this.bytes[j]!;
        return { data: w.data, offsets: w.offsets.subarray(0, n + 1), nulls: w.nulls.subarray(0, n) };
      }
      if (d !== "text") return this.nums[j]!.subarray(0, n);
      if (this.plain[j]) return this.strs[j]!.length === n ? this.strs[j]! : this.strs[j]!.slice(0, n);
      return { dictionary: this.dicts[j]!.dictionary(), indices: this.texts[j]!.subarray(0, n) };
    });
  }

  /** Start the next batch. */
  reset(): void {
    for (let j = 0; j < this.decode.length; j++) {
      const dict = this.dicts[j];
      if (dict === undefined) continue;
      // A column whose batch added more than one entry in four rows is read plainly from now on.
      if (dict.added * 4 > this.n) {
        this.plain[j] = true;
        this.dicts[j] = undefined;
      } else if (dict.entries.length > MAX_ENTRIES) this.dicts[j] = new TextDictionary();
      else dict.nextBatch();
    }
    this.strs = this.decode.map(() => []);
    this.n = 0;
  }
}

/** Bytes of the header (signature, flags, extension) at the start of the stream; -1 if incomplete. */
export function headerLength(buf: Buffer): number {
  if (buf.length < 19) return -1;
  if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error("COPY: not a binary COPY stream");
  const ext = buf.readInt32BE(15);
  return buf.length < 19 + ext ? -1 : 19 + ext;
}
