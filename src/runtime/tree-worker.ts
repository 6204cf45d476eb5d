// A tree worker: a thread that walks its share of a batch through the forest the main thread shares with
// it. The hand-off is synchronous on purpose (Atomics.wait on the caller's side), so predictColumns stays
// a plain function for every command; a worker thread is unref'd and never keeps the process alive.
import { isMainThread, parentPort, receiveMessageOnPort, Worker, workerData } from "node:worker_threads";
import { settleCompiles } from "../worker-end.js";
import { type Forest, rangeWalker, type WalkParams } from "./tree-walk.js";

// Control words: SEQ is bumped by the caller to post a job, DONE set to that seq by the worker when its
// predictions are in place; ROWS the job's row count; FAILED 1 when the walk threw (message in the log).
const SEQ = 0,
  DONE = 1,
  ROWS = 2,
  FAILED = 3,
  READY = 4;
/** A worker that has not answered in this long is gone (it cannot be observed otherwise while we wait). */
const ANSWER_MS = 120_000;

interface Init {
  forest: Forest;
  params: WalkParams;
  ctrl: Int32Array;
}

export interface TreeWorker {
  /** Whether the worker has started and waits for jobs, waiting up to ms for it (a worker that cannot start never is). */
  ready(ms: number): boolean;
  /** Copy rows [from, to) of the batch into the worker's buffers and start it; returns the job's seq. */
  post(batch: { col: Int32Array; val: Float64Array; stride: number; nFields: number }, from: number, to: number, skip: Uint8Array): number;
  /** Wait for job seq and copy its predictions into out[from..to). */
  collect(seq: number, out: Float64Array, from: number, to: number): void;
}

/** Per-job buffers, grown (and handed to the worker again) when a share outgrows them. */
interface JobBuffers {
  col: Int32Array;
  val: Float64Array;
  skip: Uint8Array;
  out: Float64Array;
}

function jobBuffers(rows: number, nFields: number): JobBuffers {
  return {
    col: new Int32Array(new SharedArrayBuffer(4 * rows * nFields)),
    val: new Float64Array(new SharedArrayBuffer(8 * rows * nFields)),
    skip: new Uint8Array(new SharedArrayBuffer(rows)),
    out: new Float64Array(new SharedArrayBuffer(8 * rows)),
  };
}

export function startTreeWorker(forest: Forest, params: WalkParams): TreeWorker {
  const ctrl = new Int32Array(new SharedArrayBuffer(32));
  const init: Init = { forest, params, ctrl };
  const worker = new Worker(workerUrl(), { workerData: init });
  worker.unref();
  let buf: JobBuffers | undefined;
  let seq = 0;
  return {
    ready: (ms) => {
      if (Atomics.load(ctrl, READY) === 0 && ms > 0) Atomics.wait(ctrl, READY, 0, ms);
      return Atomics.load(ctrl, READY) === 1;
    },
    post(batch, from, to, skip) {
      const rows = to - from;
      const { nFields, stride } = batch;
      if (!buf || buf.skip.length < rows || buf.col.length < rows * nFields) {
        buf = jobBuffers(Math.max(rows, 1024), nFields);
        worker.postMessage(buf); // read by the worker before it takes the next job (see below)
      }
      // The worker's share with its own stride (its row count), so its batch is self-contained.
      const share = buf.skip.length;
      for (let k = 0; k < nFields; k++) {
        buf.col.set(batch.col.subarray(k * stride + from, k * stride + to), k * share);
        buf.val.set(batch.val.subarray(k * stride + from, k * stride + to), k * share);
      }
      buf.skip.set(skip.subarray(from, to));
      Atomics.store(ctrl, ROWS, rows);
      Atomics.store(ctrl, FAILED, 0);
      seq++;
      Atomics.store(ctrl, SEQ, seq);
      Atomics.notify(ctrl, SEQ);
      return seq;
    },
    collect(job, out, from, to) {
      const deadline = Date.now() + ANSWER_MS;
      for (let done = Atomics.load(ctrl, DONE); done !== job; done = Atomics.load(ctrl, DONE)) {
        if (Date.now() > deadline) throw new Error("internal: a tree worker stopped answering");
        Atomics.wait(ctrl, DONE, done, 1000);
      }
      if (Atomics.load(ctrl, FAILED) === 1) throw new Error("internal: a tree worker failed (its error is on stderr)");
      out.set(buf!.out.subarray(0, to - from), from);
    },
  };
}

/**
 * This module, as the worker loads it. Under a TypeScript test runner it is src/runtime/tree-worker.ts,
 * which a worker thread cannot load: the built file in dist/ is the same code.
 */
function workerUrl(): URL {
  const self = import.meta.url;
  return new URL(self.endsWith(".ts") ? self.replace(/\/src\/runtime\/tree-worker\.ts$/, "/dist/runtime/tree-worker.js") : self);
}

/** The worker's loop: wait for a job, walk it, say done. Buffers arrive as messages before their first job. */
function serve({ forest, params, ctrl }: Init): void {
  const walk = rangeWalker(forest, params);
  let buf: JobBuffers | undefined;
  let seen = 0;
  Atomics.store(ctrl, READY, 1);
  Atomics.notify(ctrl, READY);
  for (;;) {
    Atomics.wait(ctrl, SEQ, seen);
    const job = Atomics.load(ctrl, SEQ);
    // A job posted after new buffers finds them already queued: take every pending message, keep the last.
    for (let m = receiveMessageOnPort(parentPort!); m; m = receiveMessageOnPort(parentPort!)) buf = m.message as JobBuffers;
    try {
      const rows = Atomics.load(ctrl, ROWS);
      const nFields = buf!.col.length / buf!.skip.length;
      walk({ col: buf!.col, val: buf!.val, stride: buf!.skip.length, nFields }, 0, rows, buf!.skip, buf!.out);
    } catch (e) {
      process.stderr.write(`ridepred: tree worker: ${(e as Error)?.stack ?? e}\n`);
      Atomics.store(ctrl, FAILED, 1);
    }
    seen = job;
    Atomics.store(ctrl, DONE, job);
    Atomics.notify(ctrl, DONE);
    // Never asked to end (it dies with the process, in Atomics.wait): so it never waits there with a
    // function of its still compiling (src/worker-end.ts). Once warm, nothing is compiling: no wait.
    settleCompiles();
  }
}

if (!isMainThread && (workerData as Partial<Init> | undefined)?.ctrl) serve(workerData as Init);
