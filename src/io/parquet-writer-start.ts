// Starting the Parquet writer thread (parquet-thread.ts), kept apart from it so that a command can start
// one before it loads anything heavy. Node boots each worker's runtime from scratch, a quarter of a
// second of CPU or more on a small machine before any module of ours loads; a thread started as the
// command begins boots while this thread reads the model and the input's footer, instead of making the
// first batches wait for it. The thread gets its output (path, columns, options) by message (parquet-thread.ts).
import { Worker } from "node:worker_threads";
import { endWorker } from "../worker-end.js";

/** What the worker is started with; the marker tells parquet-thread.js, loaded as a worker, that it is one. */
export const WRITER_THREAD_DATA = { ridepredParquetSink: true } as const;

export function startParquetWriter(): Worker {
  // A small young generation: at V8's default the second heap adds noticeably to a long run's peak RSS.
  return new Worker(new URL("./parquet-thread.js", import.meta.url), {
    workerData: WRITER_THREAD_DATA,
    resourceLimits: { maxYoungGenerationSizeMb: 2 },
  });
}

/** A writer thread started before its output is known: the first sink that wants one takes it; end() stops it if none did. */
export interface EarlyWriter {
  /** The started thread, once, if it is still alive; afterwards undefined (a sink then starts its own). */
  take(): Worker | undefined;
  end(): void;
}

export function startWriterEarly(): EarlyWriter {
  let worker: Worker | undefined = startParquetWriter();
  // Until taken it must neither keep the process alive nor fail it: a thread that dies before a sink
  // takes it is simply not handed out (the sink starts one, and reports what goes wrong with that one).
  worker.unref();
  const gone = () => {
    worker = undefined;
  };
  worker.once("error", gone).once("exit", gone);
  return {
    take() {
      const w = worker;
      worker = undefined;
      w?.off("error", gone).off("exit", gone).ref();
      return w;
    },
    end() {
      const w = worker;
      worker = undefined;
      if (w) {
        w.on("error", () => {}); // stopping it is all that is left to do
        void endWorker(w);
      }
    },
  };
}
