// A growable byte buffer for the Parquet writer: pages, dictionaries and chunks are built in these and
// reused across pages and row groups; and the two byte-level encoders its encodings share (varints, bit-packing).

export interface Bytes {
  b: Uint8Array;
  n: number;
}

export const bytes = (size = 1 << 16): Bytes => ({ b: new Uint8Array(size), n: 0 });

/** Make room for extra more bytes at buf.n (the buffer doubles, keeping what it holds). */
export function reserve(buf: Bytes, extra: number): void {
  if (buf.n + extra <= buf.b.length) return;
  const next = new Uint8Array(Math.max(buf.b.length * 2, buf.n + extra));
  next.set(buf.b.subarray(0, buf.n));
  buf.b = next;
}

/** Append src[0..len) at buf.n. */
export function append(buf: Bytes, src: Uint8Array, len = src.length): void {
  reserve(buf, len);
  buf.b.set(len === src.length ? src : src.subarray(0, len), buf.n);
  buf.n += len;
}

/** v (unsigned, < 2^32) as a ULEB128 varint at b[at] (room for 5 bytes needed); returns where it ended. */
export function varintAt(b: Uint8Array, at: number, v: number): number {
  while (v > 0x7f) {
    b[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[at++] = v;
  return at;
}

/**
 * v[start..end) bit-packed LSB first at b[at], in groups of 8 values (width bytes each; a last partial
 * group padded with zeros); returns where it ended. Parquet's RLE/bit-packing hybrid and
 * DELTA_BINARY_PACKED's miniblocks (32 values: four whole groups) pack alike.
 */
export function packGroups(b: Uint8Array, at: number, v: Int32Array | Uint8Array, start: number, end: number, width: number): number {
  const full = start + ((end - start) & ~7);
  for (let j = start; j < full; j += 8) {
    let acc = 0;
    let bits = 0;
    for (let t = j; t < j + 8; t++) {
      acc |= v[t]! << bits;
      bits += width;
      while (bits >= 8) {
        b[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
  if (full < end) {
    let acc = 0;
    let bits = 0;
    for (let t = full; t < full + 8; t++) {
      acc |= (t < end ? v[t]! : 0) << bits;
      bits += width;
      while (bits >= 8) {
        b[at++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      }
    }
  }
  return at;
}

/** Pack `groups` whole groups of 8 values less `base` from v[t..] at b[a]; returns where they ended. */
export type Pack = (b: Uint8Array, a: number, v: Int32Array, t: number, groups: number, base: number) => number;
const packers: (Pack | undefined)[] = [];

/**
 * The bit-packer for one width (1..24), made once: each of a group's `width` bytes as the constant shifts
 * of the values it holds bits of, unrolled (the reader's unpackers, in reverse; a loop that carries an
 * accumulator from value to value takes several times as long). Values less base must fit the width.
 */
export function packerFor(width: number): Pack {
  const known = packers[width];
  if (known) return known;
  const lines: string[] = [];
  for (let j = 0; j < width; j++) {
    const terms: string[] = [];
    for (let i = 0; i < 8; i++) {
      const from = i * width; // the value's first bit in the group
      if (from + width <= 8 * j || from >= 8 * j + 8) continue;
      terms.push(from <= 8 * j ? `(x${i} >>> ${8 * j - from})` : `(x${i} << ${from - 8 * j})`);
    }
    lines.push(`b[a + ${j}] = ${terms.join(" | ")};`);
  }
  const load = Array.from({ length: 8 }, (_, i) => `const x${i} = v[t + ${i}] - base;`).join("\n");
  const body = `for (const end = t + g * 8; t < end; t += 8, a += ${width}) {\n${load}\n${lines.join("\n")}\n}\nreturn a;`;
  const made = new Function("b", "a", "v", "t", "g", "base", body) as Pack;
  packers[width] = made;
  return made;
}
