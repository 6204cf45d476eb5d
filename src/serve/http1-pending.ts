// The bytes of a fast-path connection (http1.ts) that arrived but are not answered yet.
/**
 * A connection's bytes not yet answered. Each byte is copied in once (amortised: the buffer doubles), so a
 * client sending one byte at a time costs linear, not quadratic, work.
 */
export class Pending {
  buf = Buffer.alloc(0);
  start = 0;
  end = 0;
  get size(): number {
    return this.end - this.start;
  }
  append(b: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.end + n > this.buf.length) {
      const size = this.size;
      if (size + n <= this.buf.length / 2)
        this.buf.copy(this.buf, 0, this.start, this.end); // room enough once moved down
      else {
        const grown = Buffer.allocUnsafe(Math.max(2 * (size + n), 4096));
        this.buf.copy(grown, 0, this.start, this.end);
        this.buf = grown;
      }
      this.start = 0;
      this.end = size;
    }
    b.copy(this.buf, this.end, from, to);
    this.end += n;
  }
  clear(): void {
    this.start = this.end = 0;
    if (this.buf.length > 64 * 1024) this.buf = Buffer.alloc(0); // a large request's buffer is not kept for life
  }
}
