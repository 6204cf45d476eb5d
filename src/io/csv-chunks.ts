// Reading a CSV file on several threads, the main thread's part: it reads the text, cuts it into
// blocks at their last line feed (speculatively, as DuckDB does: a line feed inside a quoted field makes
// a wrong cut), hands the blocks to worker threads (csv-chunk-parse.ts) round-robin and takes their
// results back in order. A worker's scan from a true record start that ends exactly at its block's end
// proves the block's end a true record end (the scanner is the one-thread reader's), so each block is
// verified by the one before. Anything else (a wrong cut, a record the scanner refuses, a worker that
// failed, a block without a line feed, a read error) hands the text from that block on back to the
// one-thread reader, which then reads, and reports, exactly as it always does. So do the last partial
// line and a file smaller than one block (a worker's start would cost more than it saves).
import { Worker } from "node:worker_threads";
import type { ChunkPlan, ParsedChunk } from "./csv-chunk-parse.js";
import type { CsvCells } from "./csv-cells.js";
import type { RowProblem } from "./csv-scan.js";

/** Blocks of about 1M characters (RIDEPRED_CSV_BLOCK: smaller, for tests of the cuts). */
const blockSize = () => Number(process.env.RIDEPRED_CSV_BLOCK) || 1 << 20;

/** Blocks whose rows came from a worker thread, in this process (the tests check the threads did work). */
export const chunkStats = { placed: 0 };

/** What is left for the one-thread reader: text not parsed here, whether the input ended after it, a read error to throw next. */
export interface HandBack {
  text: string;
  ended: boolean;
  error?: unknown;
}

interface Sent {
  text: string;
  result: Promise<ParsedChunk>;
}

export class ParallelChunks {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, (p: ParsedChunk) => void>();
  private readonly queue: Sent[] = [];
  private readonly block = blockSize();
  private seq = 0;
  private eof = false;
  private stopped = false;
  private readError: unknown;
  private pumping: Promise<void> | undefined;
  private current: ParsedChunk | undefined;
  private at = 0; // rows of `current` already placed

  constructor(
    private readonly plan: ChunkPlan,
    private readonly threads: number,
    private pending: string,
    private readonly read: () => Promise<string | undefined>,
  ) {}

  /** Place up to max rows at rows n.. of the batch's cells; 0: nothing more from here (then handBack()). */
  async fill(cells: CsvCells[], n: number, max: number, problems: RowProblem[]): Promise<number> {
    while (this.current === undefined || this.at >= this.current.rows) {
      this.current = undefined;
      this.kick();
      if (this.queue.length === 0 && this.pumping) await this.pumping;
      const head = this.queue[0];
      if (head === undefined) return 0;
      const parsed = await head.result;
      if (!parsed.ok) return 0;
      this.queue.shift();
      chunkStats.placed++;
      this.current = parsed;
      this.at = 0;
      this.kick();
    }
    const count = Math.min(max, this.current.rows - this.at);
    replay(cells, this.current, this.at, count, n, problems);
    this.at += count;
    return count;
  }

  /** Stop (after fill() gave 0); the text from the first block not placed on, for the one-thread reader. */
  async handBack(): Promise<HandBack> {
    this.stopped = true;
    await this.pumping;
    const text = this.queue.map((s) => s.text).join("") + this.pending;
    this.queue.length = 0;
    this.pending = "";
    this.close();
    return { text, ended: this.eof, error: this.readError };
  }

  close(): void {
    this.stopped = true;
    for (const w of this.workers) void w.terminate();
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

  /** Read and send blocks while fewer than three per worker are out. */
  private async pump(): Promise<void> {
    while (!this.stopped && !this.eof && this.queue.length < 3 * (this.threads - 1)) {
      while (this.pending.length < this.block && !this.eof) {
        let chunk: string | undefined;
        try {
          chunk = await this.read();
        } catch (e) {
          this.readError = e;
          this.stopped = true;
          return;
        }
        if (chunk === undefined) this.eof = true;
        else this.pending += chunk;
      }
      // A small file, or the end of a large one: the workers get only whole blocks' worth of text.
      if (this.eof && this.workers.length === 0) return;
      const cut = this.pending.lastIndexOf("\n") + 1;
      if (cut === 0) {
        this.stopped = this.pending.length >= this.block; // one record longer than a block: not ours
        return;
      }
      this.send(this.pending.slice(0, cut));
      this.pending = this.pending.slice(cut);
    }
  }

  private send(text: string): void {
    if (this.workers.length === 0) for (let i = 1; i < this.threads; i++) this.workers.push(this.start());
    const seq = this.seq++;
    const result = new Promise<ParsedChunk>((resolve) => this.waiting.set(seq, resolve));
    this.workers[seq % this.workers.length]!.postMessage({ seq, text });
    this.queue.push({ text, result });
  }

  private start(): Worker {
    const w = new Worker(new URL("./csv-chunk-parse.js", import.meta.url), { workerData: this.plan });
    w.unref();
    w.on("message", (p: ParsedChunk) => {
      this.waiting.get(p.seq)?.(p);
      this.waiting.delete(p.seq);
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
