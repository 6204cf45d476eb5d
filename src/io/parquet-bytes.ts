// A growable byte buffer for the Parquet writer: pages, dictionaries and chunks are built in these and
// reused across pages and row groups.

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
