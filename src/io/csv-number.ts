// Numbers as CSV text: exactly String(x) (JS's shortest round-trip form), written as bytes without
// making the string. String(x) cost about a microsecond a double in a CSV -> CSV run, three doubles a row.
//
// The fast path, for 1e-4 <= |x| < 1e17 (fixed notation): v = |x| * 10^k lies in [1e16, 1e17], computed
// exactly as hi + lo (Dekker's product; 10^k is exact for k <= 22, and hi is then an integer). The
// doubles that round to x are those within half a unit in the last place of it: in v's units an interval
// [lo - below, lo + above] around hi, a few units wide, whose ends count when x's mantissa is even
// (round-half-even). Every decimal of at most 17 significant digits is an integer there; the shortest
// one is the integer in the interval with the most trailing zeros, the closest to v among several (then
// the even one). All this arithmetic is exact for k <= 20 (the operands' bits fit in 53). A case that
// leaves any doubt (no integer inside, the choice on an end of the interval, x outside the range) is
// written by String(x) itself; the tests compare the two on hundreds of millions of numbers.
import type { Out } from "./csv-write.js";

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact up to 1e22
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer); // little-endian: [low, high]
/** 2^(e - 1076) by biased exponent e: half a unit in the last place of a double of exponent e. */
const HALF_ULP = Float64Array.from({ length: 2048 }, (_, e) => 2 ** (e - 1076));
/** 16 - log10(a) from a's biased binary exponent, give or take one (fast()'s loop corrects it). */
const K_GUESS = Int16Array.from({ length: 2048 }, (_, e) => 16 - Math.floor((e - 1023) * 0.3010299956639812));
const SPLIT = 134217729; // 2^27 + 1, Veltkamp's splitter
/** 10^i as int32, i <= 9. */
const STEPS = Int32Array.from({ length: 10 }, (_, i) => 10 ** i);
/** "0000".."9999" as little-endian words of four bytes: four digits in one store. */
export const QUADS = Uint32Array.from({ length: 10000 }, (_, i) => ascii32(String(i).padStart(4, "0")));

/** Four ASCII characters as the little-endian word that stores them in order. */
export function ascii32(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

/**
 * A double handed over in memory. V8 boxes a double passed as an argument to a function it does not
 * inline (a heap number per cell, garbage for the GC), so the writers take an array and an index.
 */
export const one = new Float64Array(1);

/** x (not NaN) as String(x) writes it. */
export function writeShortest(out: Out, x: number): void {
  one[0] = x;
  writeShortestAt(out, one, 0);
}

/** xs[i] (not NaN) as String(x) writes it. */
export function writeShortestAt(out: Out, xs: Float64Array, i: number): void {
  if (!fast(out, xs, i)) out.ascii(String(xs[i]));
}

/** Writes x = xs[i] and returns true, or returns false having written nothing (String(x) then does it). */
function fast(out: Out, xs: Float64Array, i: number): boolean {
  const x = xs[i]!;
  if (x === 0) {
    out.buf[out.pos++] = 48; // "0", also for -0
    return true;
  }
  const a = x < 0 ? -x : x;
  if (!(a >= 1e-4 && a < 1e17)) return false;
  bits[0] = x;
  const high = words[1]!; // with x's sign bit
  const low = words[0]!;
  const exp = (high >>> 20) & 0x7ff;
  let k = K_GUESS[exp]!;
  let hi = 0;
  let lo = 0;
  for (let tries = 0; ; tries++) {
    if (k < 0 || k > 20 || tries > 3) return false;
    const p = POW10[k]!;
    // Dekker: hi + lo = a * p exactly.
    hi = a * p;
    let t = SPLIT * a;
    const ah = t - (t - a);
    const al = a - ah;
    t = SPLIT * p;
    const ph = t - (t - p);
    const pl = p - ph;
    lo = ah * ph - hi + ah * pl + al * ph + al * pl;
    if (hi < 1e16 || (hi === 1e16 && lo < 0)) k++;
    else if (hi > 1e17 || (hi === 1e17 && lo > 0)) k--;
    else break;
  }
  // Half the gap to each neighbour of a, in v's units (exact: a power of two times 10^k).
  const above = HALF_ULP[exp]! * POW10[k]!;
  const below = low === 0 && (high & 0xfffff) === 0 && exp > 1 ? above / 2 : above;
  const inclusive = (low & 1) === 0;
  const lower = lo - below;
  const upper = lo + above;
  let dMin = Math.ceil(lower);
  if (dMin === lower && !inclusive) dMin++;
  let dMax = Math.floor(upper);
  if (dMax === upper && !inclusive) dMax--;
  if (dMin > dMax) return false;

  // hi = hiA * 1e8 + hiB, both exact (and int32: hiA <= 1e9); the product's floor is off by one at most.
  let hiA = Math.floor(hi * 1e-8);
  let hiB = (hi - hiA * 1e8) | 0;
  if (hiB < 0) {
    hiA--;
    hiB += 1e8;
  } else if (hiB >= 1e8) {
    hiA++;
    hiB -= 1e8;
  }
  // The candidate with the most trailing zeros: levels of 10, 100, ... while a multiple of that is in
  // [dMin, dMax] (from 100 on there is at most one: the interval is under 23 units wide). Each level's
  // divisor is a constant (a remainder by a constant is a multiplication; by a variable, a division).
  // Among several, the closest to v (lo), then the one whose last significant digit is even.
  const low0 = (hiB + dMin + 1e8) | 0; // the lowest candidate's last 8 digits, plus 1e8: never negative
  let zeros = 0;
  let best = dMin;
  let r = low0 % 10;
  let first = r === 0 ? dMin : dMin + 10 - r;
  if (first > dMax) {
    // No multiple of ten: the integer nearest to lo, kept inside the interval; a tie is left to String(x).
    // floor(lo + 0.5) (exact: lo is small) is Math.round's rule; V8 compiles Math.round with a branch.
    best = Math.floor(lo + 0.5);
    if (best - lo === 0.5) return false;
    if (best < dMin) best = dMin;
    else if (best > dMax) best = dMax;
  } else {
    zeros = 1;
    best = first;
    r = low0 % 100;
    first = r === 0 ? dMin : dMin + 100 - r;
    if (first > dMax) {
      // Up to three multiples of ten.
      let bestDist = Math.abs(best - lo);
      for (let d = best + 10; d <= dMax; d += 10) {
        const dist = Math.abs(d - lo);
        if (dist < bestDist || (dist === bestDist && (((hiB + d + 1e8) / 10) & 1) === 0)) {
          best = d;
          bestDist = dist;
        }
      }
    } else {
      // Rare from here on (a decimal of 15 digits or fewer): the levels from 1000 up, by the table.
      zeros = 2;
      best = first;
      while (zeros < 8) {
        const m = STEPS[zeros + 1]!;
        r = low0 % m;
        first = r === 0 ? dMin : dMin + m - r;
        if (first > dMax) break;
        zeros++;
        best = first;
      }
    }
  }
  let bestA = hiA | 0;
  let bestB = (hiB + best) | 0;
  if (bestB < 0) {
    bestA--;
    bestB += 1e8;
  } else if (bestB >= 1e8) {
    bestA++;
    bestB -= 1e8;
  }
  let bestZeros = zeros;
  if (zeros === 8) for (let t = bestA; t % 10 === 0 && t !== 0; t = (t / 10) | 0) bestZeros++;
  // On an end of the interval, the answer depends on how the reader rounds a tie: leave it to String(x).
  if (best === lower || best === upper) return false;

  // bestA * 1e8 + bestB has nd digits (bestA >= 1e7: v >= 1e16 less the interval's few units).
  if (bestA < 1e7) return false; // cannot happen; String(x) if it ever did
  const nd = (bestA >= 1e9 ? 10 : bestA >= 1e8 ? 9 : 8) + 8;
  const sig = nd - bestZeros; // significant digits
  const n = nd - k; // value = 0.d1d2... * 10^n
  // All nd digits are written (those past the significant ones are zeros, which an integer needs and
  // the room every cell has takes otherwise); out.pos then ends the number after its last significant one.
  const b = out.buf;
  let p = out.pos;
  b[p] = 45; // "-", kept only for a negative x (no branch on the sign)
  p += high >>> 31;
  if (n >= sig) {
    allDigits(out.view, b, p, bestA, bestB, nd);
    out.pos = p + n;
  } else if (n > 0) {
    // The digits one place to the right, then the integer part moved back over the point's place.
    allDigits(out.view, b, p + 1, bestA, bestB, nd);
    for (let i = 0; i < n; i++) b[p + i] = b[p + i + 1]!;
    b[p + n] = 46;
    out.pos = p + sig + 1;
  } else {
    b[p++] = 48;
    b[p++] = 46;
    for (let i = n; i < 0; i++) b[p++] = 48;
    allDigits(out.view, b, p, bestA, bestB, nd);
    out.pos = p + sig;
  }
  return true;
}

/** The nd (16..18) digits of a * 1e8 + c at b[at..]: c's eight, and a's (its 8..10 digits) before them. */
function allDigits(view: DataView, b: Uint8Array, at: number, a: number, c: number, nd: number): void {
  const end = at + nd;
  eightDigits(view, end - 8, c);
  let t = a;
  if (nd !== 16) {
    const top = (a / 1e8) | 0; // 1..10
    t = a - top * 1e8;
    if (top < 10) b[at] = 48 + top;
    else {
      b[at] = 49;
      b[at + 1] = 48;
    }
  }
  eightDigits(view, end - 16, t);
}

/** v (0 <= v < 1e8) as exactly eight digits at at..at + 7: two stores of four. */
function eightDigits(view: DataView, at: number, v: number): void {
  const h = (v / 10000) | 0;
  view.setUint32(at, QUADS[h]!, true);
  view.setUint32(at + 4, QUADS[v - h * 10000]!, true);
}

/** The platform's byte order: a Uint32Array's words stored through a DataView as they lie in memory. */
const NATIVE_LE = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Entries of a NumberCache (a power of two) and the bytes kept per entry (longer texts are not kept). */
const CACHE_BITS = 14;
const STRIDE = 24;
/** Lookups after which a cache that hit less than a quarter of them turns itself off. */
const TRIAL = 1 << 16;

/**
 * A column's recently written numbers and their bytes, by a hash of the double's bits (one slot each,
 * the newest wins): a column with few distinct values (a duration in whole seconds, in minutes: a few
 * thousand values) copies its bytes instead of running fast() again. The bytes are fast()'s or
 * String(x)'s own, so the output is the same; a column whose values rarely repeat (most computed
 * doubles) stops looking after TRIAL lookups.
 */
export class NumberCache {
  private readonly keys = new Float64Array(1 << CACHE_BITS).fill(Number.NaN);
  private readonly lens = new Uint8Array(1 << CACHE_BITS);
  /** Each entry's bytes as STRIDE / 4 little-endian words (copied out a word at a time). */
  private readonly bytes = new Uint8Array(STRIDE << CACHE_BITS);
  private readonly words = new Uint32Array(this.bytes.buffer);
  private lookups = 0;
  private hits = 0;

  constructor(private on: boolean) {}

  /** x (not NaN) as writeShortest writes it. */
  write(out: Out, x: number): void {
    one[0] = x;
    this.writeAt(out, one, 0);
  }

  /** xs[i] (not NaN) as writeShortest writes it (up to 3 bytes past the number may be overwritten: out has room). */
  writeAt(out: Out, xs: Float64Array, i: number): void {
    if (!this.on) {
      writeShortestAt(out, xs, i);
      return;
    }
    const x = xs[i]!;
    bits[0] = x;
    const h = Math.imul(words[0]! ^ words[1]!, 0x9e3779b1) >>> (32 - CACHE_BITS);
    let p = out.pos;
    if (this.keys[h] === x) {
      const n = this.lens[h]!;
      const src = this.words;
      const v = out.view;
      for (let i = h * (STRIDE / 4), end = p + n; p < end; p += 4) v.setUint32(p, src[i++]!, NATIVE_LE);
      out.pos += n;
      this.hits++;
      this.lookups++;
      return;
    }
    writeShortestAt(out, xs, i);
    const n = out.pos - p;
    if (n <= STRIDE) {
      this.keys[h] = x;
      this.lens[h] = n;
      const dst = this.bytes;
      const b = out.buf;
      for (let i = h * STRIDE, end = i + n; i < end; i++) dst[i] = b[p++]!;
    }
    if (++this.lookups >= TRIAL && this.hits < TRIAL / 4) this.on = false;
  }
}
