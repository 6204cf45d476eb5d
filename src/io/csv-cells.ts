// One wanted CSV column of one batch, filled cell by cell by the scanner. A column the run reads as a
// number, a timestamp or a category (BatchOptions.parse) is parsed straight from the text into a typed
// array, without a string per cell, as long as each cell is in a form whose meaning and whose text are
// both certain: a plain decimal of at most 15 significant digits written as String(x) writes it,
// "YYYY-MM-DD HH:MM:SS" with a real date, a zone id "0".."4095" without leading zeros. Then every later
// stage (coercion, rejects, reports) sees the same values it would see from the strings, and the text of
// any cell can be given back exactly (text()). The first cell of another form turns the column back
// into plain strings for the rest of the batch, the earlier cells rewritten from their values.
import { SMALL_IDS, smallIdIn } from "../columns.js";
import type { ColumnUse } from "./types.js";
import { formatTimestamp } from "./timestamp.js";

/** "0".."4095": the zone ids' dictionary, shared by every batch (stages cache by its identity). */
const SMALL_ID_TEXTS: readonly string[] = Array.from({ length: SMALL_IDS }, (_, i) => String(i));

const STRINGS = 0;
const NUMBERS = 1;
const TIMES = 2;
const IDS = 3;

export class CsvCells {
  private mode: number;
  private strings: unknown[] = [];
  private f64: Float64Array;
  private ids: Int32Array;

  constructor(
    readonly use: ColumnUse | undefined,
    private readonly size: number,
  ) {
    this.mode = use === "number" ? NUMBERS : use === "timestamp" ? TIMES : use === "category" ? IDS : STRINGS;
    this.f64 = new Float64Array(this.mode === NUMBERS || this.mode === TIMES ? size : 0);
    this.ids = new Int32Array(this.mode === IDS ? size : 0);
    if (this.mode === STRINGS) this.strings = new Array<unknown>(size);
  }

  /** Row `row` holds s[a, b). */
  put(row: number, s: string, a: number, b: number): void {
    switch (this.mode) {
      case NUMBERS:
        if (b === a) this.f64[row] = Number.NaN;
        else if (!parseNumber(s, a, b, this.f64, row)) this.demote(row, s.slice(a, b));
        return;
      case TIMES:
        if (b === a) this.f64[row] = Number.NaN;
        else if (!parseTime(s, a, b, this.f64, row)) this.demote(row, s.slice(a, b));
        return;
      case IDS: {
        const id = smallIdIn(s, a, b); // -1: empty (missing) or not a small id
        if (id >= 0 || b === a) this.ids[row] = id;
        else this.demote(row, s.slice(a, b));
        return;
      }
      default:
        this.strings[row] = s.slice(a, b);
    }
  }

  /** Row `row` holds v (a quoted field's value). */
  putValue(row: number, v: string): void {
    if (this.mode === STRINGS) this.strings[row] = v;
    else this.put(row, v, 0, v.length);
  }

  /** Row `row` has no values (a row error). */
  clear(row: number): void {
    if (this.mode === STRINGS) this.strings[row] = undefined;
    else if (this.mode === IDS) this.ids[row] = -1;
    else this.f64[row] = Number.NaN;
  }

  /** The cell's text as the file has it ("" for an empty cell; undefined after a row error in string mode). */
  text(row: number): unknown {
    if (this.mode === STRINGS) return this.strings[row];
    return textOf(this.use, this.mode === IDS ? this.ids[row]! : this.f64[row]!);
  }

  /**
   * Row `row` holds the value a cell of this column's use parsed to (a number, epoch ms, a small id; NaN
   * or -1: empty), as put() of the cell's text would store it (csv-chunks.ts replays chunks parsed on
   * worker threads through this): in string mode, that text.
   */
  putParsed(row: number, v: number): void {
    if (this.mode === STRINGS) this.strings[row] = textOf(this.use, v);
    else if (this.mode === IDS) this.ids[row] = v;
    else this.f64[row] = v;
  }

  /** Rows row.. hold src[from, to) (parsed values, as putParsed): one copy while the column is typed. */
  putParsedRun(row: number, src: Float64Array | Int32Array, from: number, to: number): void {
    if (this.mode === IDS) this.ids.set(src.subarray(from, to), row);
    else if (this.mode !== STRINGS) this.f64.set(src.subarray(from, to), row);
    else for (let i = from; i < to; i++) this.putParsed(row + i - from, src[i]!);
  }

  /** The first n rows as a batch column. */
  column(n: number): ArrayLike<unknown> | { dictionary: readonly string[]; indices: Int32Array } {
    if (this.mode === NUMBERS || this.mode === TIMES) return this.f64.subarray(0, n);
    if (this.mode === IDS) return { dictionary: SMALL_ID_TEXTS, indices: this.ids.subarray(0, n) };
    this.strings.length = n;
    return this.strings;
  }

  /** From row `row` on, plain strings: rows before it get their text back. */
  private demote(row: number, v: string): void {
    const strings = new Array<unknown>(this.size);
    for (let r = 0; r < row; r++) strings[r] = this.text(r);
    strings[row] = v;
    this.strings = strings;
    this.mode = STRINGS;
  }
}

/**
 * s[a, b) parsed as put() parses a cell of a column of this use, stored at out[row] (a Float64Array for
 * numbers and times, an Int32Array for ids): a number, epoch ms, a small id (empty: NaN, or -1 for an
 * id); false, out untouched, when the cell is in no form the parsers take. The parsers store their
 * doubles rather than return them: a double returned from a call V8 does not inline is boxed on the heap,
 * a garbage object per cell.
 */
export function parseCellInto(use: ColumnUse, s: string, a: number, b: number, out: Float64Array | Int32Array, row: number): boolean {
  if (use === "category") {
    const id = smallIdIn(s, a, b);
    if (id < 0 && b !== a) return false;
    out[row] = id;
    return true;
  }
  if (b === a) {
    out[row] = Number.NaN;
    return true;
  }
  return use === "timestamp" ? parseTime(s, a, b, out as Float64Array, row) : parseNumber(s, a, b, out as Float64Array, row);
}

/** The text of a parsed cell (as the file has it: parsing accepts only texts it gives back exactly). */
function textOf(use: ColumnUse | undefined, v: number): string {
  if (use === "category") return v < 0 ? "" : SMALL_ID_TEXTS[v]!;
  if (v !== v) return "";
  return use === "timestamp" ? formatTimestamp(v) : String(v);
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * out[row] = s[a, b) as a number when it is a plain decimal written exactly as String(x) writes that number:
 * -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?, at most 15 significant digits, 1e-6 <= |x| < 1e21 or "0". Then
 * Number() of the text is m / 10^f, correctly rounded by one division, and no shorter text rounds to x
 * (15 digits are more than a double's interval holds), so String(x) gives the text back. false otherwise.
 */
function parseNumber(s: string, a: number, b: number, out: Float64Array, row: number): boolean {
  let i = a;
  const neg = s.charCodeAt(i) === 45;
  if (neg) i++;
  const start = i;
  let m = 0;
  let digits = 0; // significant digits so far
  let c = s.charCodeAt(i);
  if (c === 48) {
    i++;
    if (i < b && s.charCodeAt(i) !== 46) return false; // "05"
  } else {
    while (i < b && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m > 0) digits++;
      i++;
    }
    if (i === start) return false; // "", "-", "x"
  }
  let f = 0;
  if (i < b) {
    if (s.charCodeAt(i) !== 46 || i + 1 === b) return false; // "1x", "1."
    i++;
    while (i < b && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m > 0) digits++;
      f++;
      i++;
    }
    if (i < b || c === 48) return false; // "1.5x", "1.50"
  }
  return decimal(neg, m, digits, f, out, row);
}

/** out[row] = the number a scanned decimal stands for (its sign, digits as an integer, significant and fraction digit counts); false outside parseNumber's rule. */
function decimal(neg: boolean, m: number, digits: number, f: number, out: Float64Array, row: number): boolean {
  if (digits > 15 || f > 22) return false;
  if (m === 0) {
    if (neg || f > 0) return false; // "0" only ("-0", "0.0" are written otherwise)
    out[row] = 0;
    return true;
  }
  const x = m / POW10[f]!;
  if (!(x >= 1e-6 && x < 1e21)) return false;
  out[row] = neg ? -x : x;
  return true;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
let dayKey = -1;
let dayMs = 0;

/** out[row] = "YYYY-MM-DD HH:MM:SS" (year 1000..9999, a real date, 00:00:00..23:59:59) as epoch ms as toMillis gives it; false otherwise. */
function parseTime(s: string, a: number, b: number, out: Float64Array, row: number): boolean {
  if (b - a !== 19 || s.charCodeAt(a + 4) !== 45 || s.charCodeAt(a + 7) !== 45 || s.charCodeAt(a + 10) !== 32) return false;
  if (s.charCodeAt(a + 13) !== 58 || s.charCodeAt(a + 16) !== 58) return false;
  // Two digits at a time, unrolled: a non-digit gives a pair outside 0..99 (pair() is -1 then).
  const century = pair(s, a);
  const yy = pair(s, a + 2);
  return timeOf(century, yy, pair(s, a + 5), pair(s, a + 8), pair(s, a + 11), pair(s, a + 14), pair(s, a + 17), out, row);
}

/** out[row] = epoch ms of a time's two-digit fields (-1 where a field was not two digits); false unless a real date and time. */
function timeOf(century: number, yy: number, mo: number, d: number, h: number, mi: number, sec: number, out: Float64Array, row: number): boolean {
  if (!(century >= 10 && yy >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 59)) return false;
  const y = century * 100 + yy;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 1 : 0;
  if (d > DAYS[mo - 1]! + leap) return false;
  const key = (y * 16 + mo) * 32 + d;
  if (key !== dayKey) {
    dayKey = key;
    dayMs = Date.UTC(y, mo - 1, d);
  }
  out[row] = dayMs + h * 3600000 + mi * 60000 + sec * 1000;
  return true;
}

/** The two digits at s[at], s[at + 1] as 0..99; -1 when either is not a digit. */
function pair(s: string, at: number): number {
  const hi = s.charCodeAt(at) - 48;
  const lo = s.charCodeAt(at + 1) - 48;
  return hi >>> 0 <= 9 && lo >>> 0 <= 9 ? hi * 10 + lo : -1;
}

// The same parsers over a cell's bytes (csv-scan-bytes.ts: worker threads parse ASCII records without
// making a string). Each scans as its string twin above, statement for statement, with bytes for
// characters, and ends in the same decimal() or timeOf();
// test/csv-cells.test.ts checks that both give the same value for every cell of its lists.

/** parseCellInto over bytes[a, b) (ASCII). */
export function parseCellBytesInto(use: ColumnUse, bytes: Uint8Array, a: number, b: number, out: Float64Array | Int32Array, row: number): boolean {
  if (use === "category") {
    const id = smallIdBytes(bytes, a, b);
    if (id < 0 && b !== a) return false;
    out[row] = id;
    return true;
  }
  if (b === a) {
    out[row] = Number.NaN;
    return true;
  }
  return use === "timestamp" ? parseTimeBytes(bytes, a, b, out as Float64Array, row) : parseNumberBytes(bytes, a, b, out as Float64Array, row);
}

/** smallIdIn (columns.ts) over bytes. */
function smallIdBytes(s: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > 4 || (n > 1 && s[start] === 48)) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = s[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v < SMALL_IDS ? v : -1;
}

/** parseNumber over bytes. */
function parseNumberBytes(s: Uint8Array, a: number, b: number, out: Float64Array, row: number): boolean {
  let i = a;
  const neg = s[i] === 45;
  if (neg) i++;
  const start = i;
  let m = 0;
  let digits = 0;
  let c = i < b ? s[i]! : -1;
  if (c === 48) {
    i++;
    if (i < b && s[i] !== 46) return false;
  } else {
    while (i < b && (c = s[i]!) >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m > 0) digits++;
      i++;
    }
    if (i === start) return false;
  }
  let f = 0;
  if (i < b) {
    if (s[i] !== 46 || i + 1 === b) return false;
    i++;
    while (i < b && (c = s[i]!) >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      if (m > 0) digits++;
      f++;
      i++;
    }
    if (i < b || c === 48) return false;
  }
  return decimal(neg, m, digits, f, out, row);
}

/** parseTime over bytes. */
function parseTimeBytes(s: Uint8Array, a: number, b: number, out: Float64Array, row: number): boolean {
  if (b - a !== 19 || s[a + 4] !== 45 || s[a + 7] !== 45 || s[a + 10] !== 32) return false;
  if (s[a + 13] !== 58 || s[a + 16] !== 58) return false;
  const century = pairBytes(s, a);
  const yy = pairBytes(s, a + 2);
  return timeOf(century, yy, pairBytes(s, a + 5), pairBytes(s, a + 8), pairBytes(s, a + 11), pairBytes(s, a + 14), pairBytes(s, a + 17), out, row);
}

function pairBytes(s: Uint8Array, at: number): number {
  const hi = s[at]! - 48;
  const lo = s[at + 1]! - 48;
  return hi >>> 0 <= 9 && lo >>> 0 <= 9 ? hi * 10 + lo : -1;
}
