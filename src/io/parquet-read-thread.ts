// Parquet pages read and decoded on a worker thread: snappy, levels, dictionary indices and plain numbers
// run on the second core while the main thread predicts and hands batches to the sink. Same reader, same
// batches; only where the pages are decoded differs. The worker runs the direct reader (parquet-read.ts)
// and copies each batch's typed arrays into one of SLOTS slots of shared memory; the main thread yields
// views of the slot. A dictionary's entries cross only when a column's dictionary changes (once per row
// group), so batches of a row group share one dictionary object, as they do without the thread; other
// cells are cloned. A batch is valid until the next one is requested, as from the direct reader: then
// its slot goes back to the worker, which fills it with a later batch (under RIDEPRED_POISON_BUFFERS=1
// it is poisoned instead and never reused). At most SLOTS batches are decoded ahead: memory stays bounded.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type Column, isDict } from "../columns.js";
import { RidepredError } from "../errors.js";
import { endWorker, onRequests } from "../worker-end.js";
import { type Borrowed, poison, poisoning } from "./borrowed.js";
import type { RecordBatch } from "./types.js";

const SLOTS = 8;

interface Init {
  ridepredParquetReader: true;
  path: string;
  wanted: readonly string[];
  batchSize: number;
  /** The row groups to read (a shard's), or undefined for all; batches then carry firstRow. */
  rowGroups: number[] | undefined;
}

/** One column of a batch as it crosses: typed arrays as (byte offset, length) in the slot's shared memory. */
type Wire = { t: "f64"; at: number } | { t: "dict"; at: number; entries?: ArrayLike<unknown> } | { t: "cells"; values: ArrayLike<unknown> };

type FromWorker =
  | { type: "batch"; n: number; memory: SharedArrayBuffer; columns: Wire[]; firstRow?: number }
  | { type: "end" }
  | { type: "error"; message: string; exitCode: 1 | 2; ridepred: boolean };
type ToWorker = { type: "free" };

/**
 * The direct reader's batches (wanted columns, batchSize rows), decoded on a worker thread. The worker is
 * stopped when the batches end, fail or are abandoned.
 */
export async function* threadedBatches(
  path: string,
  label: string,
  wanted: readonly string[],
  batchSize: number,
  rowGroups: number[] | undefined,
): AsyncGenerator<Borrowed<RecordBatch>> {
  const init: Init = { ridepredParquetReader: true, path, wanted, batchSize, rowGroups };
  const worker = new Worker(new URL(import.meta.url), { workerData: init });
  const queue: FromWorker[] = [];
  let wake: (() => void) | undefined;
  let exited = false;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on("message", (m: FromWorker) => {
    queue.push(m);
    notify();
  });
  worker.on("error", (e) => {
    queue.push({ type: "error", message: `${label}: Parquet reader thread failed: ${e.message}`, exitCode: 1, ridepred: true });
    notify();
  });
  worker.on("exit", () => {
    exited = true;
    notify();
  });
  const dictionaries: (ArrayLike<unknown> | undefined)[] = wanted.map(() => undefined);
  try {
    for (;;) {
      while (queue.length === 0) {
        if (exited) throw new RidepredError(`${label}: Parquet reader thread exited before the last batch`, 1);
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const m = queue.shift()!;
      if (m.type === "end") return;
      if (m.type === "error") throw m.ridepred ? new RidepredError(m.message, m.exitCode) : new Error(m.message);
      const columns: Record<string, Column> = {};
      for (let j = 0; j < wanted.length; j++) columns[wanted[j]!] = fromWire(m.columns[j]!, m.n, m.memory, dictionaries, j);
      yield { n: m.n, columns, errors: [], ...(m.firstRow !== undefined ? { firstRow: m.firstRow } : {}) };
      // The batch is done with (the next was asked for): its slot goes back to the worker.
      if (poisoning()) for (const c of Object.values(columns)) releaseColumn(c);
      worker.postMessage({ type: "free" } satisfies ToWorker);
    }
  } finally {
    await endWorker(worker);
  }
}

function fromWire(w: Wire, n: number, memory: SharedArrayBuffer, dictionaries: (ArrayLike<unknown> | undefined)[], j: number): Column {
  switch (w.t) {
    case "f64":
      return new Float64Array(memory, w.at, n);
    case "dict":
      if (w.entries) dictionaries[j] = w.entries;
      return { dictionary: dictionaries[j]!, indices: new Int32Array(memory, w.at, n) };
    case "cells":
      return w.values;
    default:
      throw new Error(`internal: unknown wire column ${(w as { t: string }).t}`);
  }
}

function releaseColumn(c: Column): void {
  if (c instanceof Float64Array) poison(c);
  else if (isDict(c)) poison(c.indices);
}

const align8 = (x: number) => (x + 7) & ~7;

function slotBytes(columns: readonly Column[], n: number): number {
  let bytes = 0;
  for (const c of columns) {
    if (c instanceof Float64Array) bytes += align8(n * 8);
    else if (isDict(c)) bytes += align8(n * 4);
  }
  return Math.max(bytes, 8);
}

/** Copy a batch's typed arrays into memory and describe every column. */
function toWire(columns: readonly Column[], n: number, memory: SharedArrayBuffer, lastDictionary: (ArrayLike<unknown> | undefined)[]): Wire[] {
  let at = 0;
  return columns.map((c, j): Wire => {
    const start = at;
    if (c instanceof Float64Array) {
      new Float64Array(memory, start, n).set(c.subarray(0, n));
      at += align8(n * 8);
      return { t: "f64", at: start };
    }
    if (isDict(c)) {
      new Int32Array(memory, start, n).set(c.indices.subarray(0, n));
      at += align8(n * 4);
      if (lastDictionary[j] === c.dictionary) return { t: "dict", at: start };
      lastDictionary[j] = c.dictionary;
      return { t: "dict", at: start, entries: c.dictionary };
    }
    // A typed view clones its whole buffer (a page's): only its own cells cross.
    return { t: "cells", values: ArrayBuffer.isView(c) ? (c as unknown as { slice(): ArrayLike<unknown> }).slice() : c };
  });
}

// Worker side: the direct reader, SLOTS batches ahead of the main thread at most.
if (!isMainThread && (workerData as Init | undefined)?.ridepredParquetReader) {
  const { path, wanted, batchSize, rowGroups } = workerData as Init;
  const port = parentPort!;
  let free = SLOTS;
  let wake: (() => void) | undefined;
  onRequests(port, (m: ToWorker) => {
    if (m.type !== "free") return;
    free++;
    const w = wake;
    wake = undefined;
    w?.();
  });
  const run = async () => {
    const { openParquet } = await import("./parquet-read.js");
    const chosen = rowGroups && new Set(rowGroups);
    const source = await openParquet(path, { rowGroups: chosen && ((i) => chosen.has(i)), thread: "off" });
    const slots: SharedArrayBuffer[] = [];
    const lastDictionary: (ArrayLike<unknown> | undefined)[] = wanted.map(() => undefined);
    const fresh = poisoning(); // poisoned slots are never reused
    let sent = 0;
    try {
      for await (const b of source.batches(wanted, batchSize)) {
        while (free === 0) await new Promise<void>((resolve) => (wake = resolve));
        free--;
        const cols = wanted.map((name) => b.columns[name]!);
        const need = slotBytes(cols, b.n);
        const slot = sent++ % SLOTS;
        let memory = slots[slot];
        if (fresh || !memory || memory.byteLength < need) memory = slots[slot] = new SharedArrayBuffer(need);
        const m: FromWorker = { type: "batch", n: b.n, memory, columns: toWire(cols, b.n, memory, lastDictionary) };
        if (b.firstRow !== undefined) m.firstRow = b.firstRow;
        port.postMessage(m);
      }
    } finally {
      await source.close();
    }
    port.postMessage({ type: "end" } satisfies FromWorker);
  };
  run().catch((e: unknown) => {
    const ridepred = e instanceof RidepredError;
    port.postMessage({
      type: "error",
      message: ridepred || e instanceof Error ? e.message : String(e),
      exitCode: ridepred ? e.exitCode : 1,
      ridepred,
    } satisfies FromWorker);
  });
}
