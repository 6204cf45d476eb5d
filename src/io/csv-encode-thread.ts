// CSV output encoded on a worker thread: the main thread keeps the file (its temp name, the rename, an
// abort on a signal: sink.ts's openText, as the one-thread csvSink) and posts each batch's columns to
// a worker running the same CsvEncoder; the bytes come back and are written in batch order. Encoding
// was about as much CPU as parsing and predicting together in a CSV -> CSV run; this puts it beside them.
// The first batches are encoded here: a short run does not pay for a worker's start. So is a batch that
// comes while the worker still has two to do: this thread would otherwise wait (encoding is the larger
// half of the work), and the bytes still go out in batch order. A dictionary
// column's dictionary is posted only when it changes (a run's zone ids share one).
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { isDict } from "../columns.js";
import { CsvEncoder, csvHeader } from "./csv-write.js";
import { openText } from "./sink.js";
import { isGeneratedIds, type OutBatch, type OutColumn, type OutValues, type Sink } from "./types.js";

/** Rows encoded here before a worker starts (its start, ~30 ms of CPU, pays off beyond; RIDEPRED_CSV_INLINE_ROWS for tests). */
const inlineRows = () => Number(process.env.RIDEPRED_CSV_INLINE_ROWS ?? 100_000);
/** Batches out at once: enough to keep the worker busy while the next are scored; beyond, this thread encodes. */
const MAX_IN_FLIGHT = 2;
/** Batches encoded but not yet written to the file. */
const MAX_UNWRITTEN = 6;

interface Init {
  ridepredCsvEncoder: true;
  columns: readonly OutColumn[];
}

/** A dictionary column as posted: its dictionary only when it differs from the previous batch's. */
type Posted = OutValues | { sameDictionary: true; indices: Int32Array };

export function threadedCsvSink(path: string, columns: readonly OutColumn[], gzip: boolean): Sink {
  const file = openText(path, gzip);
  let header: string | undefined = csvHeader(columns);
  const inline = new CsvEncoder(columns);
  let rowsInline = 0;
  const firstRows = inlineRows();
  let worker: Worker | undefined;
  const lastDictionary: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  let seq = 0;
  const waiting = new Map<number, (bytes: Uint8Array) => void>();
  let chain: Promise<void> = Promise.resolve(); // the writes of the bytes, in batch order
  const unwritten: Promise<void>[] = []; // each batch's write, until it is done
  let inFlight = 0;
  let failure: unknown;

  const start = () => {
    const w = new Worker(new URL(import.meta.url), { workerData: { ridepredCsvEncoder: true, columns } satisfies Init });
    w.on("message", ({ seq, bytes }: { seq: number; bytes: Uint8Array }) => {
      waiting.get(seq)?.(bytes);
      waiting.delete(seq);
    });
    w.on("error", (e) => (failure ??= e));
    w.on("exit", () => {
      failure ??= new Error("internal: the CSV encoder thread stopped");
      for (const resolve of waiting.values()) resolve(new Uint8Array(0));
    });
    return w;
  };
  const post = (batch: OutBatch): Promise<Uint8Array> => {
    worker ??= start();
    const values: Posted[] = batch.values.map((v, j) => {
      if (isGeneratedIds(v) || !isDict(v)) return v;
      if (lastDictionary[j] === v.dictionary) return { sameDictionary: true, indices: v.indices };
      lastDictionary[j] = v.dictionary;
      return v;
    });
    const s = seq++;
    const bytes = new Promise<Uint8Array>((resolve) => waiting.set(s, resolve));
    worker.postMessage({ seq: s, n: batch.n, values }); // copied now: the caller may reuse the batch
    return bytes;
  };
  const check = () => {
    if (failure !== undefined) throw failure;
  };

  return {
    async write(batch: OutBatch) {
      // Back-pressure: at most MAX_UNWRITTEN batches' bytes wait for the file (memory stays bounded).
      while (unwritten.length >= MAX_UNWRITTEN) await unwritten.shift()!.catch(() => {});
      check();
      if (header !== undefined) {
        const h = header;
        header = undefined;
        chain = chain.then(() => file.write(h));
      }
      if (rowsInline < firstRows || inFlight >= MAX_IN_FLIGHT) {
        rowsInline += batch.n;
        const pending: Buffer[] = [];
        inline.encode(batch, pending);
        chain = chain.then(async () => {
          for (const p of pending) await file.write(p);
        });
        chain.catch((e) => (failure ??= e));
        unwritten.push(chain);
        return;
      }
      inFlight++;
      const bytes = post(batch);
      chain = chain.then(async () => {
        const b = await bytes;
        inFlight--;
        check();
        await file.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      });
      chain.catch((e) => (failure ??= e)); // a failed write ends the run at the next write or finish
      unwritten.push(chain);
    },
    async finish() {
      try {
        if (header !== undefined) chain = chain.then(() => file.write(header!)); // no rows: still a valid CSV with its header
        await chain;
        check();
        await file.finish();
      } finally {
        await worker?.terminate();
      }
    },
    async abort() {
      await worker?.terminate();
      await file.abort();
    },
  };
}

// Worker side: batches in, their bytes out (moved, not copied).
if (!isMainThread && (workerData as Init | undefined)?.ridepredCsvEncoder) {
  const { columns } = workerData as Init;
  const encoder = new CsvEncoder(columns);
  const dictionaries: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  parentPort!.on("message", ({ seq, n, values }: { seq: number; n: number; values: Posted[] }) => {
    const batch: OutBatch = {
      n,
      values: values.map((v, j) => {
        if (typeof v === "object" && v !== null && "sameDictionary" in v) return { dictionary: dictionaries[j]!, indices: v.indices };
        if (!isGeneratedIds(v) && isDict(v)) dictionaries[j] = v.dictionary;
        return v;
      }),
    };
    const pending: Buffer[] = [];
    encoder.encode(batch, pending);
    const total = pending.reduce((a, p) => a + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const p of pending) {
      bytes.set(p, at);
      at += p.length;
    }
    parentPort!.postMessage({ seq, bytes }, [bytes.buffer]);
  });
}
