// CSV output encoded on a worker thread: the main thread keeps the file (its temp name, the rename, an
// abort on a signal: sink.ts's openText, as the one-thread csvSink) and hands each batch's columns to
// a worker running the same CsvEncoder; the bytes come back and are written in batch order. Encoding
// was about as much CPU as parsing and predicting together in a CSV -> CSV run; this puts it beside them.
// Both ways go through shared memory (batch-wire.ts; the bytes are encoded into memory the worker keeps
// per slot): a structured clone of the columns and a copy of the bytes per batch, and the garbage they
// made, cost more CPU than the thread saved on two cores. The first batches are encoded here: a short
// run does not pay for a worker's start. So is a batch that comes while the worker still has two to
// encode (it counts them in shared memory: its messages wait for this thread's event loop), and the
// bytes still go out in batch order.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { endWorker, onRequests } from "../worker-end.js";
import { poisoning } from "./borrowed.js";
import { fromWire, releaseWire, toWire, type Wire, wireBytes } from "./batch-wire.js";
import { BATCH_BYTES, BatchBytes, CsvEncoder, csvHeader } from "./csv-write.js";
import { openText } from "./sink.js";
import type { OutBatch, OutColumn, Sink } from "./types.js";

/** Rows encoded here before a worker starts (its start, ~30 ms of CPU, pays off beyond; RIDEPRED_CSV_INLINE_ROWS for tests). */
const inlineRows = () => Number(process.env.RIDEPRED_CSV_INLINE_ROWS ?? 100_000);
/** Batches posted and not yet encoded by the worker: enough to keep it busy while the next are scored; beyond, this thread encodes. */
const MAX_QUEUED = 2;
/** Batches encoded but not yet written to the file; also the slots of memory batches are encoded from and into. */
const SLOTS = 6;

interface Init {
  ridepredCsvEncoder: true;
  columns: readonly OutColumn[];
  /** Int32 [0]: batches the worker has encoded (read here without waiting for its messages). */
  progress: SharedArrayBuffer;
}

interface Request {
  seq: number;
  slot: number;
  n: number;
  memory: SharedArrayBuffer;
  columns: Wire[];
}

interface Reply {
  seq: number;
  /** The bytes: the first `length` of the worker's shared memory for the slot. */
  bytes: SharedArrayBuffer;
  length: number;
}

/** A slot: the memory a batch crosses in, or this thread's buffer it is encoded into. */
interface Slot {
  memory?: SharedArrayBuffer;
  bytes?: BatchBytes;
}

export function threadedCsvSink(path: string, columns: readonly OutColumn[], gzip: boolean): Sink {
  const file = openText(path, gzip);
  let header: string | undefined = csvHeader(columns);
  const inline = new CsvEncoder(columns);
  let rowsInline = 0;
  const firstRows = inlineRows();
  let worker: Worker | undefined;
  const progress = new SharedArrayBuffer(4);
  const encoded = new Int32Array(progress);
  let posted = 0;
  const slots: Slot[] = Array.from({ length: SLOTS }, () => ({}));
  const lastDictionary: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  let seq = 0;
  const waiting = new Map<number, (reply: Reply | undefined) => void>();
  let chain: Promise<void> = Promise.resolve(); // the writes of the bytes, in batch order
  const unwritten: Promise<void>[] = []; // each batch's write, until it is done
  let failure: unknown;

  const start = () => {
    const init: Init = { ridepredCsvEncoder: true, columns, progress };
    const w = new Worker(new URL(import.meta.url), { workerData: init });
    w.on("message", (reply: Reply) => {
      waiting.get(reply.seq)?.(reply);
      waiting.delete(reply.seq);
    });
    w.on("error", (e) => (failure ??= e));
    w.on("exit", () => {
      failure ??= new Error("internal: the CSV encoder thread stopped");
      for (const resolve of waiting.values()) resolve(undefined);
    });
    return w;
  };
  /** The batch copied into the slot's shared memory and posted; resolves to the worker's reply. */
  const post = (batch: OutBatch, s: number, slot: Slot): Promise<Reply | undefined> => {
    worker ??= start();
    const need = wireBytes(batch.values.length, batch.n);
    if (!slot.memory || slot.memory.byteLength < need) slot.memory = new SharedArrayBuffer(need);
    const columns = toWire(batch.values, batch.n, slot.memory, lastDictionary);
    const reply = new Promise<Reply | undefined>((resolve) => waiting.set(s, resolve));
    worker.postMessage({ seq: s, slot: s % SLOTS, n: batch.n, memory: slot.memory, columns } satisfies Request);
    posted++;
    return reply;
  };
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  const queue = (write: () => Promise<void>) => {
    chain = chain.then(write);
    chain.catch((e) => (failure ??= e)); // a failed write ends the run at the next write or finish
    unwritten.push(chain);
  };

  return {
    async write(batch: OutBatch) {
      // Back-pressure: at most SLOTS batches' bytes wait for the file (memory stays bounded), and the
      // slot this batch takes is free: the batch that used it last is written.
      while (unwritten.length >= SLOTS) await unwritten.shift()!.catch(() => {});
      check();
      if (header !== undefined) {
        const h = header;
        header = undefined;
        chain = chain.then(() => file.write(h));
      }
      const s = seq++;
      const slot = slots[s % SLOTS]!;
      if (rowsInline < firstRows || posted - Atomics.load(encoded, 0) >= MAX_QUEUED) {
        rowsInline += batch.n;
        slot.bytes ??= new BatchBytes(Buffer.allocUnsafe(BATCH_BYTES));
        const n = slot.bytes.encode(inline, batch); // first: it may grow the buffer
        const bytes = slot.bytes.buf.subarray(0, n);
        queue(() => file.writeLent(bytes));
        return;
      }
      const reply = post(batch, s, slot);
      queue(async () => {
        const r = await reply;
        check();
        await file.writeLent(Buffer.from(r!.bytes, 0, r!.length));
      });
    },
    async finish() {
      try {
        if (header !== undefined) chain = chain.then(() => file.write(header!)); // no rows: still a valid CSV with its header
        await chain;
        check();
        await file.finish();
      } finally {
        if (worker) await endWorker(worker);
      }
    },
    async abort() {
      if (worker) await endWorker(worker);
      await file.abort();
    },
  };
}

// Worker side: batches in, their bytes out, both through shared memory: a slot's bytes are encoded into
// the same memory each time it comes back (the main thread has written them by then).
if (!isMainThread && (workerData as Init | undefined)?.ridepredCsvEncoder) {
  const { columns, progress } = workerData as Init;
  const encoded = new Int32Array(progress);
  const encoder = new CsvEncoder(columns);
  const dictionaries: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  const shared = (size: number) => Buffer.from(new SharedArrayBuffer(size));
  const outs: BatchBytes[] = [];
  onRequests(parentPort!, ({ seq, slot, n, memory, columns: wire }: Request) => {
    const batch = fromWire(n, memory, wire, dictionaries);
    const out = (outs[slot] ??= new BatchBytes(shared(BATCH_BYTES), shared));
    const length = out.encode(encoder, batch);
    Atomics.add(encoded, 0, 1);
    if (poisoning()) releaseWire(batch);
    parentPort!.postMessage({ seq, bytes: out.buf.buffer as SharedArrayBuffer, length } satisfies Reply);
  });
}
