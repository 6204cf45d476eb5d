// Generated ride ids (prefix + row number) as a DELTA_BYTE_ARRAY data page body: each id is stored as
// the length of what it shares with the id before it, and the bytes that differ. Consecutive row
// numbers differ in their last digit or two, so a page of 8,192 ids of 20+ bytes each comes to ~1.6
// bytes an id, made without formatting each id in full. Parquet's layout of the body:
//   DELTA_BINARY_PACKED prefix lengths, DELTA_BINARY_PACKED suffix lengths, the suffixes' bytes.
// Readers: DuckDB, hyparquet (and so ridepred's own reader), Arrow/pyarrow and parquet-mr read it.
import { type Bytes, packGroups, reserve, varintAt } from "./parquet-bytes.js";
import type { GeneratedIds } from "./types.js";

const encoder = new TextEncoder();

/** Reused work arrays: the ids' prefix and suffix lengths, their suffix bytes, and one block's deltas. */
export interface DeltaScratch {
  lengths: Int32Array; // prefix lengths in [0, n), suffix lengths in [n, 2n)
  suffixes: Bytes;
  block: Int32Array;
}

export const deltaScratch = (): DeltaScratch => ({
  lengths: new Int32Array(1 << 14),
  suffixes: { b: new Uint8Array(1 << 16), n: 0 },
  block: new Int32Array(BLOCK),
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
  for (let r = 0; r < n; r++) {
    const x = numbers[r]!;
    let from = -1; // digits[from..24) are this id's digits that may differ from the previous id's
    if (r > 0 && x === numbers[r - 1]! + 1) {
      // The next row number (the usual case): count up in place; a carry into a new digit goes the long way.
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
    let min = 2147483647;
    for (let k = 0; k < m; k++) {
      const d = v[i + k]! - v[i + k - 1]!;
      block[k] = d;
      if (d < min) min = d;
    }
    at = varintAt(b, at, zigzag(min));
    const widthsAt = at;
    at += MINIBLOCKS;
    for (let j = 0; j < MINIBLOCKS; j++) {
      const lo = j * PER_MINIBLOCK;
      if (lo >= m) {
        b[widthsAt + j] = 0; // not needed: no body
        continue;
      }
      let top = 0;
      for (let k = lo; k < lo + PER_MINIBLOCK; k++) {
        const z = k < m ? block[k]! - min : 0; // the last miniblock is padded with zeros
        block[k] = z;
        top |= z;
      }
      const width = 32 - Math.clz32(top);
      if (width > 24) throw new Error(`internal: DELTA_BINARY_PACKED bit width ${width}`);
      b[widthsAt + j] = width;
      if (width > 0) at = packGroups(b, at, block, lo, lo + PER_MINIBLOCK, width);
    }
  }
  buf.n = at;
}

const zigzag = (x: number) => ((x << 1) ^ (x >> 31)) >>> 0;
