// The Parquet sink on a worker thread: encoding and snappy run on the second core while the main thread
// reads and predicts the next batches. Same writer, same file; only where it runs differs.
// A batch's typed arrays are built in (columnMemory) or copied into one of MAX_IN_FLIGHT slots of shared
// memory, and the worker writes from views of the slot: no structured clone, no per-batch garbage in
// either heap. A dictionary's
// entries cross only when a column's dictionary changes (once per row group); other cells are cloned.
// The caller may reuse or drop a batch as soon as write() returns. At most MAX_IN_FLIGHT batches wait
// in the worker: memory stays bounded when writing is the slower side.
import { closeSync } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { poisoning } from "./borrowed.js";
import { fromWire, releaseWire, toWire, type Wire, wireBytes, wireColumns } from "./batch-wire.js";
import { RidepredError } from "../errors.js";
import { endWorker, onRequests } from "../worker-end.js";
import { parquetSink, type ParquetSinkOptions } from "./parquet-write.js";
import { type EarlyWriter, startParquetWriter, type WRITER_THREAD_DATA } from "./parquet-writer-start.js";
import { forgetTemp, tempTarget } from "./sink.js";
import type { OutBatch, OutColumn, Sink } from "./types.js";

// Deep enough that the two threads rarely wait on each other: each one's speed varies from batch to batch
// and, on a machine whose cores are shared, by whole time slices; a wait costs a sleep and a wake-up of
// the other thread. Bounded all the same: a slot holds one batch (~0.5 MB for 8,192 rows of 7 columns).
const MAX_IN_FLIGHT = 32;
const ACK_EVERY = 4; // < MAX_IN_FLIGHT: the main thread never waits on an ack held back

/** The first message to the worker: its output. */
interface Init {
  type: "init";
  path: string;
  columns: readonly OutColumn[];
  options: ParquetSinkOptions;
}

type Request = { type: "write"; n: number; memory: SharedArrayBuffer; columns: Wire[] } | { type: "finish" };
type Reply = { type: "written"; count: number } | { type: "done" } | { type: "error"; message: string; exitCode: 1 | 2 };

export function threadedParquetSink(path: string, columns: readonly OutColumn[], options: ParquetSinkOptions = {}, early?: EarlyWriter): Sink {
  if (path === "-") throw new RidepredError("Parquet cannot be written to stdout: give a file name");
  // The temp file is made here, on the main thread, so that a signal handler here can remove it; the
  // worker opens it again (never creating it: once removed, it stays removed).
  const target = tempTarget(path);
  closeSync(target.fd);
  const worker = early?.take() ?? startParquetWriter();
  worker.postMessage({ type: "init", path, columns, options: { ...options, temp: target.tmp } } satisfies Init);
  let inFlight = 0;
  let sent = 0; // batches posted: batch i uses slot i % MAX_IN_FLIGHT, free again once the worker wrote it
  const slots: SharedArrayBuffer[] = [];
  const lastDictionary: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  let failure: RidepredError | undefined;
  let waiting: (() => void)[] = []; // writes and a finish waiting for the worker: every one is woken
  const wake = () => {
    const w = waiting;
    waiting = [];
    for (const resolve of w) resolve();
  };
  let settled = false;
  let exited = false; // nothing will arrive from the worker any more

  const fail = (e: RidepredError) => {
    failure ??= e;
    wake();
  };
  worker.on("message", (m: Reply) => {
    if (m.type === "error") fail(new RidepredError(m.message, m.exitCode));
    else if (m.type === "written") inFlight -= m.count;
    else settled = true;
    wake();
  });
  worker.on("error", (e) => fail(new RidepredError(`${path}: Parquet writer thread failed: ${e.message}`, 1)));
  worker.on("exit", (code) => {
    exited = true;
    if (!settled) fail(new RidepredError(`${path}: Parquet writer thread exited (code ${code}) before finishing`, 1));
    wake();
  });

  /** Wait until cond() holds, or the worker failed or is gone (then throw: never wait on a dead worker). */
  const until = async (cond: () => boolean) => {
    while (!cond() && !failure && !exited) await new Promise<void>((resolve) => waiting.push(resolve));
    if (failure) throw failure;
    if (!cond()) throw new RidepredError(`${path}: Parquet writer thread exited before finishing`, 1);
  };
  const finish = async () => {
    // The worker is stopped afterwards, whatever happened: on a failure it has already removed its temp file.
    worker.postMessage({ type: "finish" } satisfies Request);
    try {
      await until(() => settled);
    } finally {
      await endWorker(worker);
    }
  };

  /** The memory of the next batch's slot, for n rows: free, since write() returns only once fewer than MAX_IN_FLIGHT wait. */
  const nextSlot = (n: number) => {
    const slot = sent % MAX_IN_FLIGHT;
    const need = wireBytes(columns.length, n);
    let memory = slots[slot];
    if (!memory || memory.byteLength < need) memory = slots[slot] = new SharedArrayBuffer(need);
    return memory;
  };

  return {
    columnMemory: (n: number) => wireColumns(nextSlot(n), n),
    async write(batch: OutBatch) {
      if (failure) throw failure;
      if (batch.n === 0) return;
      const memory = nextSlot(batch.n);
      sent++;
      worker.postMessage({ type: "write", n: batch.n, memory, columns: toWire(batch.values, batch.n, memory, lastDictionary) } satisfies Request);
      inFlight++;
      await until(() => inFlight < MAX_IN_FLIGHT);
    },
    async finish() {
      await finish();
      forgetTemp(target.tmp); // renamed by the worker
    },
    async abort() {
      // Stopped mid-batch, not after the batches still queued: Node closes the files a worker opened.
      if (!exited) await endWorker(worker);
      target.discard();
    },
  };
}

// Worker side: one sink, fed in order. The first message names the output; the worker may have been
// started before that was known (parquet-writer-start.ts).
if (!isMainThread && (workerData as typeof WRITER_THREAD_DATA | undefined)?.ridepredParquetSink) {
  const port = parentPort!;
  let handle: ((m: Request) => void) | undefined;
  onRequests(port, (m: Init | Request) => {
    if (handle) handle(m as Request);
    else handle = writeFor(m as Init, port);
  });
}

/** The worker's handler of the messages after the first (`init`): its sink's writes and finish. */
function writeFor({ path, columns, options }: Init, port: NonNullable<typeof parentPort>): (m: Request) => void {
  const dictionaries: (ArrayLike<unknown> | undefined)[] = columns.map(() => undefined);
  let sink: Sink | undefined;
  let queue = Promise.resolve();
  const reply = (m: Reply) => port.postMessage(m);
  // Written batches are acknowledged ACK_EVERY at a time, or as soon as nothing else waits here: a
  // message and a wake-up of the main thread per batch cost both threads more than the writes need.
  let waitingHere = 0;
  let unacked = 0;
  const ack = (force: boolean) => {
    if (unacked > 0 && (force || unacked >= ACK_EVERY || waitingHere === 0)) {
      reply({ type: "written", count: unacked });
      unacked = 0;
    }
  };
  const report = (e: unknown) =>
    reply(
      e instanceof RidepredError
        ? { type: "error", message: e.message, exitCode: e.exitCode }
        : { type: "error", message: `internal error in the Parquet writer thread: ${(e as Error)?.stack ?? String(e)}`, exitCode: 1 },
    );
  try {
    sink = parquetSink(path, columns, options);
  } catch (e) {
    report(e);
  }
  return (m: Request) => {
    waitingHere++;
    queue = queue.then(async () => {
      waitingHere--;
      if (!sink) {
        if (m.type !== "write") reply({ type: "done" }); // after a failure: nothing left to finish or remove
        return;
      }
      try {
        if (m.type === "write") {
          const batch = fromWire(m.n, m.memory, m.columns, dictionaries);
          await sink.write(batch);
          // The slot goes back to the main thread, which fills it with a later batch.
          // (poisoning() reads the environment: once per batch, not per column.)
          if (poisoning()) releaseWire(batch);
          unacked++;
          ack(false);
        } else {
          ack(true);
          await sink.finish();
          sink = undefined;
          reply({ type: "done" });
        }
      } catch (e) {
        const failed = sink;
        sink = undefined;
        await failed?.abort().catch(() => {});
        report(e);
      }
    });
  };
}
