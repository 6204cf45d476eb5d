// CSV (and CSV.gz) as record batches, streaming: quoted fields, CRLF, a BOM. A row with the wrong
// number of fields or a stray quote is reported as a row error, never dropped or padded silently.
import { readSync } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { RidepredError } from "../errors.js";
import { CsvCells } from "./csv-cells.js";
import type { ParallelChunks } from "./csv-chunks.js";
import type { ChunkPlan } from "./csv-chunk-parse.js";
import { RecordEnd, RecordTooLong, scanRecords, UnclosedQuote, type RowProblem, type ScanTarget } from "./csv-scan.js";
import { openInputBytes } from "./open.js";
import { isHttp, isS3 } from "./range.js";
import { redactLocation } from "./redact.js";
import { type BatchOptions, type BatchSource, DEFAULT_MAX_RECORD, type RecordBatch } from "./types.js";

const MAX_HEADER = 4096;

/** `threads` above 1: the records are parsed on threads - 1 worker threads (csv-chunks.ts), the batches the same. */
export async function openCsv(path: string, gzip: boolean, chunkSize?: number, maxRecord = DEFAULT_MAX_RECORD, threads = 1): Promise<BatchSource> {
  // Worker threads get blocks of ~1M characters: read in pieces of that size (fewer, larger strings).
  const readSize = chunkSize ?? (threads > 1 ? 1 << 20 : undefined);
  const input = await openInputBytes(path, gzip, readSize);
  const label = path === "-" ? "stdin" : redactLocation(path);
  const chunks = input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let decoder = new StringDecoder("utf8");
  let text = "";
  let pos = 0;
  let ended = false;
  let readError: unknown; // met by the worker threads' reading, thrown when this reader reads next
  // A plain file is read by position once the worker threads start (readInto: straight into their
  // blocks' memory), from where the stream's bytes taken so far end.
  const plainFile = !gzip && path !== "-" && !isS3(path) && !isHttp(path);
  let taken = 0; // bytes taken from the stream
  let byPosition = false;
  let file: FileHandle | undefined; // open while read by position, until its end
  let fileAt = 0;
  const tooLong = (row: string) => new RidepredError(`${label}: ${row} is longer than --max-record-bytes (${maxRecord}): a quote never closed, or not CSV?`);

  /** The next chunk of input as bytes; undefined at the end. */
  const nextBytes = async (): Promise<Buffer | undefined> => {
    if (readError !== undefined) throw readError;
    if (byPosition) {
      const into = Buffer.allocUnsafe(readSize ?? 1 << 16);
      const n = await readInto(into);
      return n === 0 ? undefined : into.subarray(0, n);
    }
    let r: IteratorResult<Buffer>;
    try {
      r = await chunks.next();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err?.code?.startsWith("Z_")) throw new RidepredError(`${label}: not valid gzip: ${err.message}`);
      throw new RidepredError(`${label}: cannot read: ${err?.message ?? e}`);
    }
    if (r.done) return undefined;
    taken += r.value.length;
    return r.value;
  };

  /** The file's next bytes (at most one read's worth) into `into`; 0 at the end, where the file is closed. */
  const readInto = async (into: Uint8Array): Promise<number> => {
    if (!file) return 0;
    let n: number;
    try {
      // Synchronous, as the Parquet reader's (range.ts): the blocks wait for their bytes anyway, and an
      // async read costs two thread wake-ups, slow on a machine whose cores are taken by others.
      n = readSync(file!.fd, into, 0, Math.min(into.length, readSize ?? 1 << 16), fileAt);
    } catch (e) {
      throw new RidepredError(`${label}: cannot read: ${(e as Error)?.message ?? e}`);
    }
    fileAt += n;
    if (n === 0) await closeFile();
    return n;
  };

  const closeFile = async () => {
    const f = file;
    file = undefined;
    await f?.close();
  };

  /** The next chunk of input as text; undefined at the end. */
  const nextChunk = async (): Promise<string | undefined> => {
    const bytes = await nextBytes();
    return bytes === undefined ? undefined : decoder.write(bytes);
  };

  /**
   * Read on until the text not yet consumed holds one more complete record than it did (`row`, named in
   * errors, is the record cut off at its end), or the input ends; false when nothing is left. That
   * record's start is searched once, then each new chunk once (RecordEnd): linear however long the
   * record, and bounded by maxRecord.
   */
  const more = async (row: string): Promise<boolean> => {
    if (ended) return false;
    const parts = [text.slice(pos)];
    const end = new RecordEnd();
    end.feed(parts[0]!);
    let size = parts[0]!.length;
    pos = 0;
    for (;;) {
      const chunk = await nextChunk();
      if (chunk === undefined) {
        ended = true;
        text = parts.join("") + decoder.end();
        return text.length > 0;
      }
      if (end.feed(chunk) >= 0) {
        // One flat string (join copies), not a concatenation: V8 reads a character of a concatenated
        // string through an indirection on every access, and the scanner reads each one.
        parts.push(chunk);
        text = parts.join("");
        return true;
      }
      parts.push(chunk);
      size += chunk.length;
      if (size > maxRecord) throw tooLong(row);
    }
  };

  // Header: the first record, every field kept.
  const headerCells = Array.from({ length: MAX_HEADER }, () => new CsvCells(undefined, 1));
  const header: ScanTarget = {
    slots: Int32Array.from({ length: MAX_HEADER }, (_, i) => i),
    cols: headerCells,
    width: MAX_HEADER,
    header: true,
    maxRecord,
  };
  for (;;) {
    const got = await more("the header line");
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const r = scan(text, pos, header, 0, 1, [], 0);
    pos = r.pos;
    if (r.rows === 1) break;
    if (!got) throw new RidepredError(`${label}: empty CSV (no header line)`);
  }
  const names: string[] = [];
  for (let k = 0; k < MAX_HEADER && headerCells[k]!.text(0) !== undefined; k++) names.push(String(headerCells[k]!.text(0)).trim());

  let rowsDone = 0;
  let parallel: ParallelChunks | undefined;

  /** The worker threads' part of the reading; undefined with one thread or when all the text is read already. */
  async function startParallel(slots: Int32Array, uses: ChunkPlan["uses"]): Promise<ParallelChunks | undefined> {
    if (threads < 2 || ended) return undefined;
    const { ParallelChunks } = await import("./csv-chunks.js");
    const plan: ChunkPlan = { ridepredCsvChunks: true, slots, uses, width: names.length, maxRecord };
    // From here the workers get bytes (they decode them): the text not yet consumed, encoded again (a
    // decoder's text holds no lone surrogate, so it decodes back to itself), then the bytes of a
    // character the decoder holds incomplete, then the input's bytes as they come.
    const held = heldBytes(decoder);
    if (held === undefined) return undefined;
    if (plainFile) {
      file = await openRegular(path); // cannot, or not a regular file: the stream reads on
      if (file) {
        byPosition = true;
        fileAt = taken;
        input.stream.destroy();
      }
    }
    const p = new ParallelChunks(plan, threads, [Buffer.from(text.slice(pos), "utf8"), held], nextBytes, byPosition ? readInto : undefined);
    text = "";
    pos = 0;
    return p;
  }

  /** Rows n.. of the batch from the worker threads; 0 when they have no more (the text is then this reader's again). */
  async function fillParallel(cols: CsvCells[], n: number, max: number, problems: RowProblem[]): Promise<number> {
    const got = await parallel!.fill(cols, n, max, problems);
    if (got > 0) return got;
    const back = await parallel!.handBack();
    parallel = undefined;
    decoder = new StringDecoder("utf8"); // the bytes handed back start at a record, so at a character
    text = decoder.write(back.bytes);
    pos = 0;
    readError = back.error;
    if (back.ended) {
      text += decoder.end();
      ended = true;
    }
    return 0;
  }

  async function* batches(wanted: readonly string[], batchSize: number, options?: BatchOptions): AsyncGenerator<RecordBatch> {
    const slots = new Int32Array(names.length).fill(-1);
    wanted.forEach((w, j) => {
      const k = names.indexOf(w);
      if (k >= 0) slots[k] = j;
    });
    parallel = await startParallel(
      slots,
      wanted.map((w) => options?.parse?.[w]),
    );
    try {
      yield* batchesFrom(wanted, slots, batchSize, options);
    } finally {
      parallel?.close();
      parallel = undefined;
    }
  }

  async function* batchesFrom(wanted: readonly string[], slots: Int32Array, batchSize: number, options?: BatchOptions): AsyncGenerator<RecordBatch> {
    for (;;) {
      const cols = wanted.map((w) => new CsvCells(options?.parse?.[w], batchSize));
      const target: ScanTarget = { slots, cols, width: names.length, maxRecord };
      const problems: RowProblem[] = [];
      let n = 0;
      while (n < batchSize) {
        if (parallel) {
          n += await fillParallel(cols, n, batchSize - n, problems);
          continue;
        }
        const r = scan(text, pos, target, n, batchSize - n, problems, rowsDone);
        pos = r.pos;
        n += r.rows;
        if (n < batchSize && !(await more(`row ${rowsDone + n + 1}`))) break;
      }
      if (n > 0) {
        const columns: RecordBatch["columns"] = {};
        for (const [j, w] of wanted.entries()) columns[w] = cols[j]!.column(n);
        rowsDone += n;
        const text = (column: string, row: number) => cols[wanted.indexOf(column)]?.text(row);
        yield { n, columns, errors: problems.map((p) => ({ row: p.row, field: "$", reason: p.reason })), text };
      }
      if (n < batchSize) return;
    }
  }

  /** scanRecords, its errors told as the user sees the file: data rows numbered from 1 after rowsBefore. */
  function scan(s: string, at: number, t: ScanTarget, n: number, max: number, problems: RowProblem[], rowsBefore: number) {
    try {
      return scanRecords(s, at, ended, t, n, max, problems);
    } catch (e) {
      const row = (e as UnclosedQuote | RecordTooLong).row;
      const where = t.header ? "the header line" : `row ${rowsBefore + row + 1}`;
      if (e instanceof UnclosedQuote) throw new RidepredError(`${label}: not valid CSV: the quoted field opened in ${where} is never closed`);
      if (e instanceof RecordTooLong) throw tooLong(where);
      throw e;
    }
  }

  return {
    names,
    timestampColumns: new Set(),
    progress: () => (input.size ? (byPosition ? fileAt : input.read()) / input.size : undefined), // compressed bytes for .gz: still the share done
    batches,
    close: async () => {
      parallel?.close();
      input.stream.destroy();
      await closeFile();
    },
  };
}

/**
 * The bytes of an incomplete character a StringDecoder holds (Node's lastChar, lastNeed and lastTotal,
 * which its type declarations omit); undefined if this Node has no such fields (then no worker threads).
 * test/csv-parallel.test.ts fails if a Node upgrade changes them.
 */
export function heldBytes(d: StringDecoder): Buffer | undefined {
  const state = d as unknown as { lastChar?: Buffer; lastNeed?: number; lastTotal?: number };
  if (typeof state.lastNeed !== "number" || typeof state.lastTotal !== "number" || !state.lastChar) return undefined;
  return state.lastNeed > 0 ? Buffer.from(state.lastChar.subarray(0, state.lastTotal - state.lastNeed)) : Buffer.alloc(0);
}

/**
 * `path` opened again for reads by position if it is a regular file; else undefined (a pipe or FIFO has no
 * positions, and a second open of a FIFO whose writer is gone blocks for good).
 */
async function openRegular(path: string): Promise<FileHandle | undefined> {
  const regular = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  return regular ? await open(path, "r").catch(() => undefined) : undefined;
}
