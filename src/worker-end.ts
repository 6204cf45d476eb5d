// Ending a thread without racing its background compiles. Node 20 takes an ending isolate (a worker's,
// or the main one at exit) off its platform before V8 has stopped that isolate's background TurboFan
// jobs; a job still compiling then may ask the platform for the isolate's task runner, and node aborts the
// whole process (SIGABRT, "Assertion failed: (data.first) != nullptr" in NodePlatform::ForIsolate).
// A short run's threads end while their hot functions are still being compiled: with four small
// CSV -> CSV runs at once on two CPUs, 9 runs in ~1,600 died so (README). So a worker ends in two steps:
// asked to end, it waits for its own background compiles and answers; only then is it terminated. The
// main thread waits for its own before the process exits (bin/ridepred).
//
// The wait is V8's %WaitForBackgroundOptimization(), a runtime function V8 keeps for its tests, reached
// by switching natives syntax on for one compile and off again (code that parses without it parses the
// same with it). test/worker-end.test.ts fails when a Node's V8 no longer has it; then nothing waits.
import { setFlagsFromString } from "node:v8";
import type { MessagePort, Worker } from "node:worker_threads";

const END = "ridepred:end";
const ENDED = "ridepred:ended";
/** How long a worker is given to answer before it is terminated all the same. */
const ANSWER_MS = 2000;

let waitForCompiles: (() => void) | null | undefined;

/**
 * Wait until this thread's background compiles are done. False where V8 offers no way to wait (it then
 * returns at once); the thread must run no more hot code afterwards for the wait to hold.
 */
export function settleCompiles(): boolean {
  if (waitForCompiles === undefined) {
    try {
      setFlagsFromString("--allow-natives-syntax");
      waitForCompiles = new Function("%WaitForBackgroundOptimization()") as () => void;
    } catch {
      waitForCompiles = null;
    } finally {
      setFlagsFromString("--no-allow-natives-syntax");
    }
  }
  waitForCompiles?.();
  return waitForCompiles !== null;
}

/** The worker side: its messages to handler, except a request to end, answered here once compiles are done. */
export function onRequests<T>(port: MessagePort, handler: (m: T) => void): void {
  port.on("message", (m: T | typeof END) => {
    if (m !== END) return handler(m as T);
    settleCompiles();
    port.postMessage(ENDED);
  });
}

export type Ending = "answered" | "gone" | "timed out";

/**
 * End a worker whose side takes its messages through onRequests: ask it, wait for its answer (or its exit,
 * or ANSWER_MS), then terminate it. From here on none of its messages reach the caller's listeners.
 * RIDEPRED_TRACE_WORKER_ENDS=1 prints each ending on stderr (the tests count them).
 */
export async function endWorker(worker: Worker, ms = ANSWER_MS): Promise<Ending> {
  worker.removeAllListeners("message");
  let ending: Ending = "gone";
  if (worker.threadId !== -1) {
    ending = await new Promise<Ending>((resolve) => {
      const timer = setTimeout(() => resolve("timed out"), ms);
      const done = (how: Ending) => {
        clearTimeout(timer);
        resolve(how);
      };
      worker.on("message", (m) => m === ENDED && done("answered"));
      worker.once("exit", () => done("gone"));
      worker.postMessage(END);
    });
  }
  if (ending === "timed out") process.stderr.write(`ridepred: internal: a worker thread did not answer its end in ${ms} ms; terminated\n`);
  else if (process.env.RIDEPRED_TRACE_WORKER_ENDS === "1") process.stderr.write(`ridepred: a worker thread ended: ${ending}\n`);
  await worker.terminate();
  return ending;
}
