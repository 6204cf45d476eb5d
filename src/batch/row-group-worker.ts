// A row-group worker (row-groups.ts): compiles the model, then runs the job once, with the same score()
// as any run, over the row groups it takes from the shared counter; each group's output is a part,
// handed to the main thread as soon as the group is done.
import { parentPort, workerData } from "node:worker_threads";
import { RidepredError } from "../errors.js";
import type { ParquetPart, PartMemory } from "../io/types.js";
import { compile } from "../runtime/predictor.js";
import { onRequests } from "../worker-end.js";
import { NEXT, type RowGroupInit, type RowGroupReply, type RowGroupSpare, STOP, WRITTEN } from "./row-groups.js";
import { score } from "./score.js";

const { job, artifact, groups, state, ahead } = workerData as RowGroupInit;
const port = parentPort!;
let current = -1; // the index (in groups) of the group being scored

const memory: PartMemory = {
  spare: [],
  onPart(part: ParquetPart, last: boolean) {
    // The part's blocks are shared memory: the main thread writes them out, then hands them back.
    port.postMessage({ type: "part", index: current, part, last } satisfies RowGroupReply);
  },
};
onRequests(port, (m: RowGroupSpare) => memory.spare.push(...m.spare));

/** The next group's index in the file, or undefined: the group before it is done (its part goes now). */
function claim(): number | undefined {
  if (current >= 0) memory.cut!();
  current = -1;
  if (Atomics.load(state, STOP)) return undefined;
  const i = Atomics.add(state, NEXT, 1);
  if (i >= groups.length) return undefined;
  // Memory stays bounded when the output waits on a slower group: wait for the parts before this one.
  for (let w = Atomics.load(state, WRITTEN); i - w >= ahead && !Atomics.load(state, STOP); w = Atomics.load(state, WRITTEN))
    Atomics.wait(state, WRITTEN, w, 200);
  current = i;
  return groups[i];
}

try {
  const predictor = compile(artifact);
  const summary = await score({ ...job, predictor, claimRowGroup: claim, part: memory, rowGroupThreads: false, writerThread: "off", threads: 1 });
  port.postMessage({ type: "done", summary } satisfies RowGroupReply);
} catch (e) {
  port.postMessage({
    type: "error",
    index: current < 0 ? Number.MAX_SAFE_INTEGER : current,
    ...(e instanceof RidepredError
      ? { message: e.message, exitCode: e.exitCode }
      : { message: `internal error in a scoring thread: ${(e as Error)?.stack ?? String(e)}`, exitCode: 1 as const }),
  } satisfies RowGroupReply);
}
