// Reading a CSV file on several threads, the main thread's part: it reads the bytes, cuts them into
// blocks at their last line feed (speculatively, as DuckDB does: a line feed inside a quoted field makes
// a wrong cut), hands the blocks to worker threads (csv-chunk-parse.ts) round-robin and takes their
// results back in order. A worker's scan from a true record start that ends exactly at its block's end
// proves the block's end a true record end (the scanner is the one-thread reader's), so each block is
// verified by the one before. Anything else (a wrong cut, a record the scanner refuses, a worker that
// failed, a block without a line feed, a read error) hands the bytes from that block on back to the
// one-thread reader, which then reads, and reports, exactly as it always does. So do the last partial
// line and a file smaller than one block (a worker's start would cost more than it saves).
import { Worker } from "node:worker_threads";
import { endWorker } from "../worker-end.js";
import { type Borrowed, poison } from "./borrowed.js";
import { type ChunkPlan, type ChunkRequest, type ParsedChunk, parseChunk } from "./csv-chunk-parse.js";
import type { CsvCells } from "./csv-cells.js";
import type { RowProblem } from "./csv-scan.js";

/** Blocks of about 1M characters (RIDEPRED_CSV_BLOCK: smaller, for tests of the cuts). */
const blockSize = () => Number(process.env.RIDEPRED_CSV_BLOCK) || 1 << 20;

/** Blocks parsed on a worker thread, in this process (the tests check the workers did work). */
export const chunkStats = { byWorkers: 0 };

/** What is left for the one-thread reader: bytes not parsed here (from a record's start), whether the input ended after them, a read error to throw next. */
export interface HandBack {
  bytes: Buffer;
  ended: boolean;
  error?: unknown;
}

/**
 * A block of whole lines (speculatively), as bytes: a worker decodes it (this thread only reads and cuts
 * the input), or this thread does when it parses the block itself (parsed). Its bytes are a slot of
 * shared memory (the worker reads them where they are, no copy), lent until the block is placed or
 * handed back; then the slot holds a later block.
 */
interface Block {
  seq: number;
  bytes: Borrowed<Uint8Array>;
  result?: Promise<ParsedChunk>;
  parsed?: ParsedChunk;
}

export class ParallelChunks {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, (p: ParsedChunk) => void>();
  private readonly queue: Block[] = [];
  private readonly block = blockSize();
  private seq = 0;
  private out = 0; // blocks at the workers
  private eof = false;
  private stopped = false;
  private readError: unknown;
  private pumping: Promise<void> | undefined;
  private current: ParsedChunk | undefined;
  private readonly freeSlots: Uint8Array[] = []; // shared memory for blocks, reused
  private at = 0; // rows of `current` already placed

  constructor(
    private readonly plan: ChunkPlan,
    private readonly threads: number,
    private pending: Buffer[],
    private readonly read: () => Promise<Buffer | undefined>,
    /** Reads the input's next bytes straight into memory given (0 at the end): blocks are read into their slots, not copied there. */
    private readonly readInto?: (into: Uint8Array) => Promise<number>,
  ) {
    this.pendingBytes = pending.reduce((a, b) => a + b.length, 0);
  }

  /** Bytes in `pending`. */
  private pendingBytes: number;

  /** Place up to max rows at rows n.. of the batch's cells; 0: nothing more from here (then handBack()). */
  async fill(cells: CsvCells[], n: number, max: number, problems: RowProblem[]): Promise<number> {
    while (this.current === undefined || this.at >= this.current.rows) {
      if (this.current) this.replayed(this.current);
      this.current = undefined;
      this.kick();
      if (this.queue.length === 0 && this.pumping) await this.pumping;
      const head = this.queue[0];
      if (head === undefined) return 0;
      const parsed = await this.parsed(head);
      if (!parsed.ok) return 0;
      this.release(this.queue.shift()!.bytes);
      this.current = parsed;
      this.at = 0;
      this.kick();
    }
    const count = Math.min(max, this.current.rows - this.at);
    replay(cells, this.current, this.at, count, n, problems);
    this.at += count;
    return count;
  }

  /**
   * The head block parsed. Rather than wait for a worker, this thread parses a block no worker has yet
   * (the head itself, or while the head is at a worker, the last one queued): the threads share the
   * work whatever else this one has to do (scoring, writing) and however the machine's cores are shared.
   */
  private async parsed(head: Block): Promise<ParsedChunk> {
    if (head.parsed) return head.parsed;
    if (!head.result) return (head.parsed = parseChunk(this.plan, head.seq, head.bytes));
    for (let i = this.queue.length - 1; i > 0; i--) {
      const spare = this.queue[i]!;
      if (spare.result || spare.parsed) continue;
      spare.parsed = parseChunk(this.plan, spare.seq, spare.bytes);
      break;
    }
    return await head.result;
  }

  /** A chunk all placed: a worker's arena back to it (poisoned first under RIDEPRED_POISON_BUFFERS=1). */
  private replayed(chunk: ParsedChunk): void {
    if (chunk.arena === undefined || this.workers.length === 0) return;
    for (const c of chunk.columns) if (c.typed) poison(c.typed);
    this.workers[chunk.seq % this.workers.length]!.postMessage({ free: chunk.arena } satisfies ChunkRequest);
  }

  /** Stop (after fill() gave 0); the bytes from the first block not placed on, for the one-thread reader. */
  async handBack(): Promise<HandBack> {
    this.stopped = true;
    await this.pumping;
    const bytes = Buffer.concat([...this.queue.map((b) => b.bytes), ...this.pending]);
    for (const b of this.queue) this.release(b.bytes);
    this.queue.length = 0;
    this.pending = [];
    this.close();
    return { bytes, ended: this.eof, error: this.readError };
  }

  close(): void {
    this.stopped = true;
    for (const w of this.workers) void endWorker(w);
    this.workers.length = 0;
    for (const resolve of this.waiting.values()) resolve(failed(-1));
    this.waiting.clear();
  }

  private kick(): void {
    if (this.pumping || this.stopped || this.eof) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  /** Read and queue blocks while fewer than three per thread are queued. */
  private async pump(): Promise<void> {
    while (!this.stopped && !this.eof && this.queue.length < 3 * this.threads) {
      let bytes: Uint8Array | undefined;
      try {
        bytes = this.readInto ? await this.readBlock(this.readInto) : await this.readAndCut();
      } catch (e) {
        this.readError = e;
        this.stopped = true;
        return;
      }
      if (bytes === undefined) return;
      this.queue.push({ seq: this.seq++, bytes });
      this.send();
    }
  }

  /** The next block from read(): pending bytes gathered to a block's size, then cut(); undefined: none (stopped says whether for good). */
  private async readAndCut(): Promise<Uint8Array | undefined> {
    while (this.pendingBytes < this.block && !this.eof) {
      const chunk = await this.read();
      if (chunk === undefined) this.eof = true;
      else {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
    }
    // A small file, or the end of a large one: only whole blocks' worth of text is ours.
    if (this.eof && this.seq === 0) return undefined;
    const bytes = this.cut();
    if (bytes === undefined) this.stopped = this.pendingBytes >= this.block; // one record longer than a block: not ours
    return bytes;
  }

  /**
   * The next block read into a slot: the pending bytes (a record's start), then the input's bytes after
   * them until a block's size, cut at the last line feed; the bytes after it pending again. As
   * readAndCut(), with the input's bytes copied once fewer.
   */
  private async readBlock(readInto: (into: Uint8Array) => Promise<number>): Promise<Uint8Array | undefined> {
    const slot = this.slot(this.pendingBytes + this.block);
    let n = 0;
    for (const p of this.pending) {
      slot.set(p, n);
      n += p.length;
    }
    try {
      while (n < this.block && !this.eof) {
        const got = await readInto(slot.subarray(n));
        if (got === 0) this.eof = true;
        n += got;
      }
    } catch (e) {
      this.keepPending(slot, 0, n); // for the hand-back
      this.release(slot);
      throw e;
    }
    // A small file: not ours (as in readAndCut).
    const at = (this.eof && this.seq === 0) || n === 0 ? -1 : slot.lastIndexOf(10, n - 1); // (-1 would search it all)
    if (at < 0) {
      if (!(this.eof && this.seq === 0)) this.stopped = n >= this.block; // one record longer than a block: not ours
      this.keepPending(slot, 0, n);
      return this.release(slot);
    }
    this.keepPending(slot, at + 1, n);
    return slot.subarray(0, at + 1);
  }

  /** slot[from, to) as the pending bytes (a copy: the slot goes to a block, or back). */
  private keepPending(slot: Uint8Array, from: number, to: number): void {
    this.pending = to > from ? [Buffer.from(slot.subarray(from, to))] : [];
    this.pendingBytes = to - from;
  }

  /**
   * The pending bytes up to their last line feed, as one block of its own (a copy into a slot: read
   * buffers may be slices of a shared pool), the rest kept; undefined when they hold no line feed.
   */
  private cut(): Uint8Array | undefined {
    const pieces = this.pending;
    let k = pieces.length - 1;
    let at = -1;
    for (; k >= 0 && at < 0; k--) at = pieces[k]!.lastIndexOf(10);
    if (at < 0) return undefined;
    k++; // pieces[k] holds the last line feed, at `at`
    let size = at + 1;
    for (let i = 0; i < k; i++) size += pieces[i]!.length;
    const block = this.slot(size);
    let o = 0;
    for (let i = 0; i < k; i++) {
      block.set(pieces[i]!, o);
      o += pieces[i]!.length;
    }
    block.set(pieces[k]!.subarray(0, at + 1), o);
    const rest = pieces[k]!.subarray(at + 1);
    this.pending = rest.length > 0 ? [rest, ...pieces.slice(k + 1)] : pieces.slice(k + 1);
    this.pendingBytes -= size;
    return block;
  }

  /** size bytes of shared memory: a free slot, or a new one (blocks vary: room for twice a block). */
  private slot(size: number): Uint8Array {
    let i = this.freeSlots.findIndex((s) => s.length >= size);
    if (i < 0) {
      this.freeSlots.push(new Uint8Array(new SharedArrayBuffer(Math.max(size, 2 * this.block))));
      i = this.freeSlots.length - 1;
    }
    return this.freeSlots.splice(i, 1)[0]!.subarray(0, size);
  }

  /** A block's slot back, for a later block (poisoned first under RIDEPRED_POISON_BUFFERS=1). */
  private release(bytes: Uint8Array): undefined {
    const whole = new Uint8Array(bytes.buffer);
    poison(whole);
    this.freeSlots.push(whole);
    return undefined;
  }

  /** Queued blocks to the workers, two at a time each, in order. */
  private send(): void {
    if (this.stopped) return;
    if (this.workers.length === 0) for (let i = 1; i < this.threads; i++) this.workers.push(this.start());
    for (const b of this.queue) {
      if (this.out >= 2 * this.workers.length) return;
      if (b.result || b.parsed) continue;
      this.out++;
      b.result = new Promise<ParsedChunk>((resolve) => this.waiting.set(b.seq, resolve));
      this.workers[b.seq % this.workers.length]!.postMessage({ seq: b.seq, bytes: b.bytes } satisfies ChunkRequest); // shared, not copied
    }
  }

  private start(): Worker {
    const w = new Worker(new URL("./csv-chunk-parse.js", import.meta.url), { workerData: this.plan });
    w.on("message", (p: ParsedChunk) => {
      this.waiting.get(p.seq)?.(p);
      this.waiting.delete(p.seq);
      this.out--;
      if (p.ok) chunkStats.byWorkers++;
      this.send();
    });
    // A worker that fails fails its blocks: the one-thread reader takes over from the first.
    const fail = () => {
      for (const [seq, resolve] of this.waiting) resolve(failed(seq));
      this.waiting.clear();
    };
    w.on("error", fail);
    w.on("exit", fail);
    return w;
  }
}

const failed = (seq: number): ParsedChunk => ({ seq, ok: false, rows: 0, columns: [], problems: [] });

/**
 * Rows from..from+count of a parsed chunk into rows n.. of the batch's cells, cell by cell in row order
 * as the one-thread scanner puts them (typed runs in one copy): a cell the parsers did not take turns
 * the column to strings there, and a row error clears its row after its cells were put.
 */
function replay(cells: CsvCells[], chunk: ParsedChunk, from: number, count: number, n: number, problems: RowProblem[]): void {
  const end = from + count;
  const probRows: number[] = [];
  for (const p of chunk.problems) {
    if (p.row >= from && p.row < end) {
      probRows.push(p.row);
      problems.push({ row: n + p.row - from, reason: p.reason });
    }
  }
  for (const [j, col] of chunk.columns.entries()) {
    const c = cells[j]!;
    const copy = (a: number, b: number) => {
      if (col.typed) c.putParsedRun(n + a - from, col.typed, a, b);
      else for (let i = a; i < b; i++) c.putValue(n + i - from, col.strings![i] as string);
    };
    let ri = lowerBound(col.rawRows, from);
    let pi = 0;
    let cursor = from;
    for (;;) {
      const raw = ri < col.rawRows.length ? col.rawRows[ri]! : end;
      const prob = pi < probRows.length ? probRows[pi]! : end;
      const e = Math.min(raw, prob);
      if (e >= end) break;
      copy(cursor, e);
      if (e === raw) c.putValue(n + e - from, col.rawTexts[ri++]!);
      else copy(e, e + 1);
      if (e === prob) {
        c.clear(n + e - from);
        pi++;
      }
      cursor = e + 1;
    }
    copy(cursor, end);
  }
}

function lowerBound(a: Int32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
