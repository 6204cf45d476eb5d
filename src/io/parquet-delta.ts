// Generated ride ids (prefix + row number) as a DELTA_BYTE_ARRAY data page body: each id is stored as
// the length of what it shares with the id before it, and the bytes that differ. Consecutive row
// numbers differ in their last digit or two, so a page of 8,192 ids of 20+ bytes each comes to ~1.6
// bytes an id, made without formatting each id in full. Parquet's layout of the body:
//   DELTA_BINARY_PACKED prefix lengths, DELTA_BINARY_PACKED suffix lengths, the suffixes' bytes.
// Readers: DuckDB, hyparquet (and so ridepred's own reader), Arrow/pyarrow and parquet-mr read it.
import { type Bytes, packerFor, reserve, varintAt } from "./parquet-bytes.js";
import type { GeneratedIds } from "./types.js";

const encoder = new TextEncoder();

/** Reused work arrays: the ids' prefix and suffix lengths, their suffix bytes, and one block's deltas. */
export interface DeltaScratch {
  lengths: Int32Array; // prefix lengths in [0, n), suffix lengths in [n, 2n)
  suffixes: Bytes;
  block: Int32Array;
  /** One block's 64-bit deltas (then their excess over the block's least), as low and high words. */
  lo: Int32Array;
  hi: Int32Array;
  /** One block's deltas as doubles (deltaPackedSafe). */
  d: Float64Array;
}

export const deltaScratch = (): DeltaScratch => ({
  lengths: new Int32Array(1 << 14),
  suffixes: { b: new Uint8Array(1 << 16), n: 0 },
  block: new Int32Array(BLOCK),
  lo: new Int32Array(BLOCK),
  hi: new Int32Array(BLOCK),
  d: new Float64Array(BLOCK),
});

/** Append ids' first n rows to body as a DELTA_BYTE_ARRAY page's values. */
export function deltaIds(ids: GeneratedIds, n: number, body: Bytes, s: DeltaScratch): void {
  if (s.lengths.length < 2 * n) s.lengths = new Int32Array(2 * n);
  const prefix = encoder.encode(ids.prefix);
  const p = prefix.length;
  const out = s.suffixes;
  reserve(out, p + 17 * n);
  const b = out.b;
  const lengths = s.lengths;
  const numbers = ids.numbers;
  const digits = new Uint8Array(24); // the previous id's count digits, right-aligned (ends at 24)
  const next = new Uint8Array(24);
  let count = 0;
  let at = 0;
  let prev = Number.NaN; // the previous row number
  for (let r = 0; r < n; r++) {
    const x = numbers[r]!;
    let from = -1; // digits[from..24) are this id's digits that may differ from the previous id's
    if (x === prev + 1) {
      let u = digits[23]!;
      if (u !== 57) {
        // The usual case: the next row numbers, of which only the last digit changes, as one stretch
        // up to the next carry (or the next gap).
        const same = p + count - 1;
        let y = x;
        do {
          lengths[r] = same;
          lengths[n + r] = 1;
          b[at++] = ++u;
          r++;
          y++;
        } while (u !== 57 && r < n && numbers[r] === y);
        digits[23] = u;
        prev = y - 1;
        r--;
        continue;
      }
      // A carry: count up in place; a carry into a new digit goes the long way.
      const top = 24 - count;
      let d = 23;
      while (d >= top && digits[d] === 57) digits[d--] = 48; // "9" -> "0", carry left
      if (d >= top) {
        digits[d]!++;
        from = d;
      }
    }
    if (from < 0) {
      const c = formatDigits(x, next);
      from = 24 - c;
      if (r > 0 && c === count) while (from < 24 && next[from] === digits[from]) from++;
      digits.set(next.subarray(24 - c), 24 - c);
      count = c;
    }
    prev = x;
    const start = 24 - count;
    if (r === 0) {
      for (let i = 0; i < p; i++) b[at++] = prefix[i]!;
      lengths[0] = 0;
      lengths[n] = p + count;
      from = start;
    } else {
      lengths[r] = p + from - start;
      lengths[n + r] = 24 - from;
    }
    for (let i = from; i < 24; i++) b[at++] = digits[i]!;
  }
  deltaPacked(body, lengths, 0, n, s.block);
  deltaPacked(body, lengths, n, n, s.block);
  reserve(body, at);
  body.b.set(b.subarray(0, at), body.n);
  body.n += at;
}

// "00".."99" as byte pairs: numbers are formatted two digits per division.
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) (PAIRS[2 * i] = 48 + Math.floor(i / 10)), (PAIRS[2 * i + 1] = 48 + (i % 10));

/** A row number's decimal digits as JavaScript prints it (an integer below 2^53), right-aligned in out (ending at 24); returns their count. */
function formatDigits(x: number, out: Uint8Array): number {
  let d = 24;
  if (x < 2147483648) {
    let v = x | 0;
    while (v >= 100) {
      const q = (v / 100) | 0;
      const pair = (v - q * 100) * 2;
      out[--d] = PAIRS[pair + 1]!;
      out[--d] = PAIRS[pair]!;
      v = q;
    }
    if (v >= 10) {
      out[--d] = PAIRS[v * 2 + 1]!;
      out[--d] = PAIRS[v * 2]!;
    } else out[--d] = 48 + v;
    return 24 - d;
  }
  do {
    const q = Math.floor(x / 10);
    out[--d] = 48 + (x - q * 10);
    x = q;
  } while (x > 0);
  return 24 - d;
}

// DELTA_BINARY_PACKED: blocks of 128 deltas, each in 4 miniblocks of 32 bit-packed (delta - the block's least delta).
const BLOCK = 128;
const MINIBLOCKS = 4;
const PER_MINIBLOCK = BLOCK / MINIBLOCKS;

/** Append v[from..from + n) as DELTA_BINARY_PACKED (values and deltas within int32; bit widths up to 24). */
export function deltaPacked(buf: Bytes, v: Int32Array, from: number, n: number, block: Int32Array): void {
  // Room for the header (4 varints) and every block at its widest: one reserve, then plain stores.
  reserve(buf, 20 + Math.ceil(n / BLOCK) * (5 + MINIBLOCKS + BLOCK * 3));
  const b = buf.b;
  let at = varintAt(b, buf.n, BLOCK);
  at = varintAt(b, at, MINIBLOCKS);
  at = varintAt(b, at, n);
  at = varintAt(b, at, zigzag(n > 0 ? v[from]! : 0));
  for (let i = from + 1, end = from + n; i < end; i += BLOCK) {
    const m = Math.min(BLOCK, end - i); // deltas in this block
    // The deltas, their least, and each miniblock's greatest: its bit width is that of (greatest - least).
    let min = 2147483647;
    for (let j = 0, k = 0; j < MINIBLOCKS; j++) {
      let max = -2147483648;
      for (const e = Math.min(k + PER_MINIBLOCK, m); k < e; k++) {
        const d = v[i + k]! - v[i + k - 1]!;
        block[k] = d;
        if (d < min) min = d;
        if (d > max) max = d;
      }
      tops[j] = max;
    }
    for (let k = m; k < BLOCK; k++) block[k] = min; // the last miniblock padded: excess 0
    at = varintAt(b, at, zigzag(min));
    const widthsAt = at;
    at += MINIBLOCKS;
    for (let j = 0; j < MINIBLOCKS; j++) {
      const lo = j * PER_MINIBLOCK;
      if (lo >= m) {
        b[widthsAt + j] = 0; // not needed: no body
        continue;
      }
      const width = 32 - Math.clz32(tops[j]! - min);
      if (width > 24 || tops[j]! - min > 2147483647) throw new Error(`internal: DELTA_BINARY_PACKED bit width ${width}`);
      b[widthsAt + j] = width;
      if (width > 0) at = packerFor(width)(b, at, block, lo, PER_MINIBLOCK / 8, min);
    }
  }
  buf.n = at;
}

const tops = new Int32Array(MINIBLOCKS); // deltaPacked's miniblocks' greatest deltas

const zigzag = (x: number) => ((x << 1) ^ (x >> 31)) >>> 0;

/**
 * Room for a DELTA_BINARY_PACKED run of k int64 values (the header's 4 varints of up to 10 bytes and
 * every block at its widest: one reserve, then plain stores) and the header's first three varints
 * (block size, miniblocks, count) at buf.n, which then points at the first value's place. Returns buf.b.
 */
function headerBuffer(buf: Bytes, k: number): Uint8Array {
  reserve(buf, 40 + Math.ceil(k / BLOCK) * (10 + MINIBLOCKS + BLOCK * 8));
  const b = buf.b;
  buf.n = varintAt(b, varintAt(b, varintAt(b, buf.n, BLOCK), MINIBLOCKS), k);
  return b;
}

/**
 * Append k INT64 values as DELTA_BINARY_PACKED; value i is halves[2i] (low word) and halves[2i + 1]
 * (high word, signed). Any int64 values: deltas and their excess over a block's least delta wrap
 * modulo 2^64 as the encoding specifies (readers add them back the same way), bit widths up to 64.
 * Returns the bytes appended.
 */
export function deltaPacked64(buf: Bytes, halves: Int32Array, k: number, s: DeltaScratch): number {
  const start = buf.n;
  const b = headerBuffer(buf, k);
  const at = k > 0 ? zigzag64At(b, buf.n, halves[1]!, halves[0]!) : varintAt(b, buf.n, 0);
  buf.n = blocks64(b, at, halves, k, s.lo, s.hi);
  return buf.n - start;
}

/** deltaPacked64's blocks at b[at]; returns where they ended. (Apart from it so that V8 can compile this loop on the stack without deoptimizing on the store after it.) */
function blocks64(b: Uint8Array, at: number, halves: Int32Array, k: number, lo: Int32Array, hi: Int32Array): number {
  for (let i = 1; i < k; i += BLOCK) {
    const m = Math.min(BLOCK, k - i); // deltas in this block
    // Deltas, and the least of them (signed 64-bit order: high words signed, low words unsigned).
    let minHi = 0x7fffffff;
    let minLo = -1; // 0xffffffff as unsigned
    for (let j = 0; j < m; j++) {
      const a = 2 * (i + j);
      const aLo = halves[a]! >>> 0;
      const bLo = halves[a - 2]! >>> 0;
      const dHi = (halves[a + 1]! - halves[a - 1]! - (aLo < bLo ? 1 : 0)) | 0;
      const dLo = (aLo - bLo) | 0;
      lo[j] = dLo;
      hi[j] = dHi;
      if (dHi < minHi || (dHi === minHi && dLo >>> 0 < minLo >>> 0)) {
        minHi = dHi;
        minLo = dLo;
      }
    }
    at = zigzag64At(b, at, minHi, minLo);
    const widthsAt = at;
    at += MINIBLOCKS;
    const minLoU = minLo >>> 0;
    for (let w = 0; w < MINIBLOCKS; w++) {
      const first = w * PER_MINIBLOCK;
      if (first >= m) {
        b[widthsAt + w] = 0; // not needed: no body
        continue;
      }
      // Each delta's excess over the least (the last miniblock padded with zeros), and their bit width.
      let topLo = 0;
      let topHi = 0;
      for (let j = first; j < first + PER_MINIBLOCK; j++) {
        let zLo = 0;
        let zHi = 0;
        if (j < m) {
          const dLo = lo[j]! >>> 0;
          zHi = (hi[j]! - minHi - (dLo < minLoU ? 1 : 0)) | 0;
          zLo = (dLo - minLoU) | 0;
        }
        lo[j] = zLo;
        hi[j] = zHi;
        topLo |= zLo;
        topHi |= zHi;
      }
      const width = topHi !== 0 ? 64 - Math.clz32(topHi) : 32 - Math.clz32(topLo);
      b[widthsAt + w] = width;
      if (width > 0) at = pack64(b, at, lo, hi, first, width);
    }
  }
  return at;
}

/** Values deltaPackedSafe takes: their deltas, and those less a block's least delta, stay exact doubles. */
export const SAFE_INT64 = 2 ** 51;

/**
 * deltaPacked64's bytes for k integers within +-SAFE_INT64 given as doubles (microseconds of any time
 * in 1899-2041), with double arithmetic instead of 64-bit words: the common case, faster.
 */
export function deltaPackedSafe(buf: Bytes, v: Float64Array, k: number, s: DeltaScratch): number {
  const start = buf.n;
  const b = headerBuffer(buf, k);
  const at = k > 0 ? zigzagDoubleAt(b, buf.n, v[0]!) : varintAt(b, buf.n, 0);
  buf.n = blocksSafe(b, new DataView(b.buffer, b.byteOffset, b.length), at, v, k, s.d);
  return buf.n - start;
}

/** deltaPackedSafe's blocks at b[at]; returns where they ended. */
function blocksSafe(b: Uint8Array, dv: DataView, at: number, v: Float64Array, k: number, d: Float64Array): number {
  for (let i = 1; i < k; i += BLOCK) {
    const m = Math.min(BLOCK, k - i); // deltas in this block
    // The deltas, their least, and each miniblock's greatest: its bit width is that of (greatest - least).
    let min = Infinity;
    for (let w = 0, j = 0; w < MINIBLOCKS; w++) {
      let max = -Infinity;
      for (const e = Math.min(j + PER_MINIBLOCK, m); j < e; j++) {
        const x = v[i + j]! - v[i + j - 1]!;
        d[j] = x;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      topsSafe[w] = max;
    }
    for (let j = m; j < BLOCK; j++) d[j] = min; // the last miniblock padded: excess 0
    at = zigzagDoubleAt(b, at, min);
    const widthsAt = at;
    at += MINIBLOCKS;
    for (let w = 0; w < MINIBLOCKS; w++) {
      const first = w * PER_MINIBLOCK;
      if (first >= m) {
        b[widthsAt + w] = 0; // not needed: no body
        continue;
      }
      const top = topsSafe[w]! - min;
      const width = top < 4294967296 ? 32 - Math.clz32(top) : 64 - Math.clz32(Math.floor(top / 4294967296));
      b[widthsAt + w] = width;
      if (width > 32) at = packWide(dv, at, d, first, min, width - 32);
      else if (width > 0) at = packNarrow(dv, at, d, first, min, width);
    }
  }
  return at;
}

const topsSafe = new Float64Array(MINIBLOCKS); // blocksSafe's miniblocks' greatest deltas

/** A miniblock's 32 excesses (d[j] - min, below 2^32) in width bits each, LSB first at b[at]; returns where they ended. */
function packNarrow(b: DataView, at: number, d: Float64Array, first: number, min: number, width: number): number {
  let word = 0; // the next 32 bits out, filled from the bottom
  let filled = 0; // bits of word in use (< 32)
  for (let j = first; j < first + PER_MINIBLOCK; j++) {
    const x = (d[j]! - min) | 0; // below 2^32: wraps to int32, the same bits
    word |= x << filled;
    filled += width;
    if (filled >= 32) {
      at = put32(b, at, word);
      filled -= 32;
      word = filled === 0 ? 0 : x >>> (width - filled); // x's bits that did not fit
    }
  }
  return at; // 32 values: a whole number of words, nothing pending
}

/** A miniblock's 32 excesses (d[j] - min, 2^32 or more) as their low 32 bits, then their high hiBits, LSB first at b[at]; returns where they ended. */
function packWide(b: DataView, at: number, d: Float64Array, first: number, min: number, hiBits: number): number {
  let word = 0;
  let filled = 0;
  for (let j = first; j < first + PER_MINIBLOCK; j++) {
    const z = d[j]! - min;
    const h = Math.floor(z / 4294967296);
    const l = (z - h * 4294967296) | 0;
    at = put32(b, at, word | (l << filled)); // a whole low word always completes one
    word = filled === 0 ? 0 : l >>> (32 - filled);
    word |= h << filled;
    filled += hiBits;
    if (filled >= 32) {
      at = put32(b, at, word);
      filled -= 32;
      word = filled === 0 ? 0 : h >>> (hiBits - filled);
    }
  }
  return at;
}

/** word as 4 little-endian bytes at b[at]; returns at + 4. */
function put32(b: DataView, at: number, word: number): number {
  b.setInt32(at, word, true);
  return at + 4;
}

/** zigzag64At of an integer given as a double (exact: |x| < 2^53). */
function zigzagDoubleAt(b: Uint8Array, at: number, x: number): number {
  const h = Math.floor(x / 4294967296);
  return zigzag64At(b, at, h | 0, (x - h * 4294967296) | 0);
}

/** 32 values of width bits (low words lo, high words hi) bit-packed LSB first at b[at], 32 bits at a time. */
function pack64(b: Uint8Array, at: number, lo: Int32Array, hi: Int32Array, first: number, width: number): number {
  if (width <= 32) return packWords(b, at, lo, first, width, undefined, 0);
  return packWords(b, at, lo, first, 32, hi, width - 32);
}

/** Each value's low loBits from lo, then (if hi) its high hiBits from hi, LSB first, 32 values; returns where they ended. */
function packWords(b: Uint8Array, at: number, lo: Int32Array, first: number, loBits: number, hi: Int32Array | undefined, hiBits: number): number {
  let word = 0; // the next 32 bits out, filled from the bottom
  let filled = 0; // bits of word in use (< 32)
  for (let j = first; j < first + PER_MINIBLOCK; j++) {
    let x = lo[j]!; // no bits above its width
    let bits = loBits;
    for (let high = false; ; high = true) {
      word |= x << filled;
      if (filled + bits < 32) filled += bits;
      else {
        b[at] = word;
        b[at + 1] = word >>> 8;
        b[at + 2] = word >>> 16;
        b[at + 3] = word >>> 24;
        at += 4;
        word = filled === 0 ? 0 : x >>> (32 - filled); // x's bits that did not fit
        filled = filled + bits - 32;
      }
      if (hi === undefined || high) break;
      x = hi[j]!;
      bits = hiBits;
    }
  }
  return at; // 32 values: a whole number of words, nothing pending
}

/** The zigzag form of the int64 (hi, lo) as a ULEB128 varint at b[at] (room for 10 bytes needed); returns where it ended. */
function zigzag64At(b: Uint8Array, at: number, hi: number, lo: number): number {
  const sign = hi >> 31;
  let zHi = ((hi << 1) | (lo >>> 31)) ^ sign;
  let zLo = (lo << 1) ^ sign;
  while (zHi !== 0 || zLo >>> 0 > 0x7f) {
    b[at++] = (zLo & 0x7f) | 0x80;
    zLo = (zLo >>> 7) | (zHi << 25);
    zHi >>>= 7;
  }
  b[at++] = zLo;
  return at;
}
