// Snappy compression (raw format, as Parquet pages use it), following the reference CompressFragment:
// 64 KiB fragments, a 4-byte hash table of positions, and the "skip" heuristic that strides faster
// through data that does not compress (random doubles), so such pages cost little more than a copy.
// Writes into a caller's buffer: no allocation per page.

const BLOCK = 1 << 16;
const TABLE_BITS = 14;
const table = new Uint16Array(1 << TABLE_BITS);
const SHIFT = 32 - TABLE_BITS;

/** The most bytes snappy can take for n input bytes (the reference's MaxCompressedLength). */
export function snappyMaxLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** Compress src[0..n) into out (at least snappyMaxLength(n) long); returns the compressed length. */
export function snappyCompress(src: Uint8Array, n: number, out: Uint8Array): number {
  if (viewOf !== src) {
    view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    viewOf = src;
  }
  let op = 0;
  // Preamble: the uncompressed length as a varint.
  let len = n;
  while (len >= 0x80) {
    out[op++] = (len & 0x7f) | 0x80;
    len >>>= 7;
  }
  out[op++] = len;
  for (let start = 0; start < n; start += BLOCK) op = fragment(src, start, Math.min(start + BLOCK, n), out, op);
  return op;
}

let view: DataView = new DataView(new ArrayBuffer(0));
let viewOf: Uint8Array | undefined;

function load32(a: Uint8Array, i: number): number {
  return view.getInt32(i, true);
}

function hash(v: number): number {
  return Math.imul(v, 0x1e35a7bd) >>> SHIFT;
}

function fragment(src: Uint8Array, start: number, end: number, out: Uint8Array, op: number): number {
  const MARGIN = 15;
  let nextEmit = start;
  if (end - start >= MARGIN) {
    table.fill(0);
    const limit = end - MARGIN;
    let ip = start + 1;
    let nextHash = hash(load32(src, ip));
    outer: for (;;) {
      // Find a 4-byte match, looking further apart the longer nothing matches.
      let skip = 32;
      let nextIp = ip;
      let candidate = 0;
      do {
        ip = nextIp;
        const h = nextHash;
        nextIp = ip + (skip++ >>> 5);
        if (nextIp > limit) break outer;
        nextHash = hash(load32(src, nextIp));
        candidate = start + table[h]!;
        table[h] = ip - start;
      } while (load32(src, ip) !== load32(src, candidate));

      op = literal(src, nextEmit, ip, out, op);
      // Emit copies while the next position matches too.
      let cur: number;
      do {
        const base = ip;
        let matched = 4;
        while (ip + matched + 4 <= end && load32(src, candidate + matched) === load32(src, base + matched)) matched += 4;
        while (ip + matched < end && src[candidate + matched] === src[base + matched]) matched++;
        ip += matched;
        op = copy(base - candidate, matched, out, op);
        nextEmit = ip;
        if (ip >= limit) break outer;
        table[hash(load32(src, ip - 1))] = ip - 1 - start;
        cur = hash(load32(src, ip));
        candidate = start + table[cur]!;
        table[cur] = ip - start;
      } while (load32(src, ip) === load32(src, candidate));
      nextHash = hash(load32(src, ++ip));
    }
  }
  if (nextEmit < end) op = literal(src, nextEmit, end, out, op);
  return op;
}

function literal(src: Uint8Array, from: number, to: number, out: Uint8Array, op: number): number {
  const n = to - from - 1;
  if (n < 60) out[op++] = n << 2;
  else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else if (n < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  } else {
    out[op++] = 62 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = n >>> 16;
  }
  if (to - from < 16) for (let i = from; i < to; i++) out[op++] = src[i]!;
  else {
    out.set(src.subarray(from, to), op);
    op += to - from;
  }
  return op;
}

/** A back-reference; offsets are below 64 KiB (one fragment). */
function copy(offset: number, len: number, out: Uint8Array, op: number): number {
  while (len >= 68) {
    op = copy2(offset, 64, out, op);
    len -= 64;
  }
  if (len > 64) {
    op = copy2(offset, 60, out, op);
    len -= 60;
  }
  if (len < 12 && offset < 2048) {
    out[op++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 0xff;
    return op;
  }
  return copy2(offset, len, out, op);
}

function copy2(offset: number, len: number, out: Uint8Array, op: number): number {
  out[op++] = 2 | ((len - 1) << 2);
  out[op++] = offset & 0xff;
  out[op++] = offset >>> 8;
  return op;
}
