// The Parquet sink on a worker thread: encoding and snappy run on the second core while the main thread
// reads and predicts the next batches. Same writer, same file; only where it runs differs.
// Batches are copied to the worker (structured clone: typed arrays are memcpy'd, dictionary columns
// carry a few hundred strings), so the caller may reuse or drop them as soon as write() returns.
// At most MAX_IN_FLIGHT batches wait in the worker: memory stays bounded when writing is the slower side.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RidepredError } from "../errors.js";
import { parquetSink, type ParquetSinkOptions } from "./parquet-write.js";
import type { OutBatch, OutColumn, Sink } from "./types.js";

const MAX_IN_FLIGHT = 8;

interface Init {
  ridepredParquetSink: true;
  path: string;
  columns: readonly OutColumn[];
  options: ParquetSinkOptions;
}

type Request = { type: "write"; batch: OutBatch } | { type: "finish" } | { type: "abort" };
type Reply = { type: "written" } | { type: "done" } | { type: "error"; message: string; exitCode: 1 | 2 };

export function threadedParquetSink(path: string, columns: readonly OutColumn[], options: ParquetSinkOptions = {}): Sink {
  if (path === "-") throw new RidepredError("Parquet cannot be written to stdout: give a file name");
  const init: Init = { ridepredParquetSink: true, path, columns, options };
  // A small young generation: the worker's garbage is the cloned batches, and at V8's default the
  // second heap added ~40 MB of peak RSS to a 10M-row run (measured: 224 MB default, 187 MB at 4 MB).
  const worker = new Worker(new URL(import.meta.url), { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  let inFlight = 0;
  let failure: RidepredError | undefined;
  let wake: (() => void) | undefined; // a write or finish waiting for the worker
  let settled = false;

  const fail = (e: RidepredError) => {
    failure ??= e;
    wake?.();
  };
  worker.on("message", (m: Reply) => {
    if (m.type === "error") fail(new RidepredError(m.message, m.exitCode));
    else if (m.type === "written") inFlight--;
    else settled = true;
    wake?.();
  });
  worker.on("error", (e) => fail(new RidepredError(`${path}: Parquet writer thread failed: ${e.message}`, 1)));
  worker.on("exit", (code) => {
    if (!settled) fail(new RidepredError(`${path}: Parquet writer thread exited (code ${code}) before finishing`, 1));
  });

  /** Wait until cond() holds or the worker failed. */
  const until = async (cond: () => boolean) => {
    while (!cond() && !failure) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    if (failure) throw failure;
  };
  let ended = false;
  const end = async (request: Request) => {
    // The worker is stopped afterwards, whatever happened: on a failure it has already removed its temp file.
    ended = true;
    worker.postMessage(request);
    try {
      await until(() => settled);
    } finally {
      await worker.terminate();
    }
  };

  return {
    async write(batch: OutBatch) {
      if (failure) throw failure;
      if (batch.n === 0) return;
      worker.postMessage({ type: "write", batch } satisfies Request);
      inFlight++;
      await until(() => inFlight < MAX_IN_FLIGHT);
    },
    async finish() {
      await end({ type: "finish" });
    },
    async abort() {
      if (ended) return;
      failure = undefined; // aborting after a failure still removes the temp file
      await end({ type: "abort" }).catch(() => {});
    },
  };
}

// Worker side: one sink, fed in order.
if (!isMainThread && (workerData as Init | undefined)?.ridepredParquetSink) {
  const { path, columns, options } = workerData as Init;
  const port = parentPort!;
  let sink: Sink | undefined;
  let queue = Promise.resolve();
  const reply = (m: Reply) => port.postMessage(m);
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
  port.on("message", (m: Request) => {
    queue = queue.then(async () => {
      if (!sink) {
        if (m.type !== "write") reply({ type: "done" }); // after a failure: nothing left to finish or remove
        return;
      }
      try {
        if (m.type === "write") {
          await sink.write(m.batch);
          reply({ type: "written" });
        } else {
          await (m.type === "finish" ? sink.finish() : sink.abort());
          sink = undefined;
          reply({ type: "done" });
        }
      } catch (e) {
        const failed = sink;
        sink = undefined;
        if (m.type !== "abort") await failed?.abort().catch(() => {});
        report(e);
      }
    });
  });
}
