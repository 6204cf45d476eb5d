// Parquet -> Parquet on several threads, the way DuckDB splits a scan: this thread and threads - 1
// workers each run the whole job (read, predict, encode, compress) on row groups they take one at a time
// from a shared counter, as they become free, writing each group's output as a part in memory; this
// thread writes the parts into the output in row-group order. No thread waits on another's half of a
// batch, so a core that stalls (another process, a VM whose host takes the CPU) slows only the group it holds.
// The output holds the same rows in the same order as a run on one thread; its row groups end where
// the input's do. Counts add up; the predictions' statistics are pooled (Chan et al.), as across inputs.
import { Worker } from "node:worker_threads";
import { RidepredError } from "../errors.js";
import { parquetAssembler } from "../io/parquet-parts.js";
import { redactLocation } from "../io/redact.js";
import { stopOnSignals } from "../io/sink.js";
import type { ParquetPart, PartMemory } from "../io/types.js";
import { endWorker } from "../worker-end.js";
import { addUp } from "./many.js";
import { score, type ScoreJob, type ScoreSummary } from "./score.js";

/** The shared counters (Int32Array over a SharedArrayBuffer): next group to take, parts written, stop. */
export const NEXT = 0;
export const WRITTEN = 1;
export const STOP = 2;

/** What a worker is given: the job without its functions and predictor, the model, the groups, the counters. */
export interface RowGroupInit {
  job: Omit<ScoreJob, "predictor" | "rowGroups" | "onProgress" | "observer">;
  artifact: ScoreJob["predictor"]["artifact"];
  groups: readonly number[];
  state: Int32Array;
  /** A worker takes group i only once fewer than `ahead` parts before it wait to be written. */
  ahead: number;
}
export type RowGroupReply =
  | { type: "part"; index: number; part: ParquetPart; last: boolean }
  | { type: "done"; summary: ScoreSummary }
  | { type: "error"; index: number; message: string; exitCode: 1 | 2 };
/** To a worker: blocks of parts written, to write later parts into. */
export type RowGroupSpare = { spare: SharedArrayBuffer[] };

type Ended = { summary: ScoreSummary } | { index: number; error: RidepredError };

/** Groups a thread may run ahead of the one the output waits for (their parts wait in memory). */
const AHEAD = 2;

export async function scoreRowGroups(job: ScoreJob, groups: readonly number[], t0: number): Promise<ScoreSummary> {
  const { predictor, rowGroups: _r, onProgress, observer: _o, ...rest } = job;
  const label = redactLocation(job.input);
  const threads = Math.min(job.threads ?? 2, groups.length);
  const state = new Int32Array(new SharedArrayBuffer(3 * 4));
  const ahead = threads * AHEAD;
  const init: RowGroupInit = { job: rest, artifact: predictor.artifact, groups, state, ahead };
  const workers: Worker[] = [];
  const assembler = parquetAssembler(job.output);
  const stop = stopOnSignals(() => Promise.allSettled(workers.map((w) => w.terminate())));
  const halt = () => {
    Atomics.store(state, STOP, 1);
    Atomics.notify(state, WRITTEN);
    wake();
  };
  // Pieces of parts arrive in any order: those of the group the output is at are written at once, the
  // others once every group before theirs is; blocks written go back to the thread that filled them.
  const pending: { part: ParquetPart; from?: Worker }[][] = groups.map(() => []);
  const ended = groups.map(() => false);
  let written = 0; // groups written whole
  let rows = 0;
  let waiting: (() => void)[] = [];
  const wake = () => {
    const w = waiting;
    waiting = [];
    for (const resolve of w) resolve();
  };
  const put = ({ part, from }: { part: ParquetPart; from?: Worker }) => {
    assembler.append(part);
    rows += part.rows;
    const spare = part.blocks.map((b) => b.buffer as SharedArrayBuffer);
    if (from) from.postMessage({ spare } satisfies RowGroupSpare);
    else here.spare.push(...spare);
  };
  const onPart = (index: number, part: ParquetPart, last: boolean, from?: Worker) => {
    if (index === written) put({ part, from });
    else pending[index]!.push({ part, from });
    if (last) ended[index] = true;
    while (written < groups.length && ended[written]) {
      written++;
      Atomics.store(state, WRITTEN, written);
      Atomics.notify(state, WRITTEN);
      if (written < groups.length) for (const p of pending[written]!.splice(0)) put(p);
    }
    wake();
    onProgress?.({ rows, seconds: (performance.now() - t0) / 1000 });
  };

  // This thread's share: it never blocks (it writes the parts), so it waits for the output asynchronously.
  let current = -1;
  const here: PartMemory = { spare: [], onPart: (part, last) => onPart(current, part, last) };
  const claim = async (): Promise<number | undefined> => {
    if (current >= 0) here.cut!();
    current = -1;
    const i = Atomics.load(state, STOP) ? groups.length : Atomics.add(state, NEXT, 1);
    if (i >= groups.length) return undefined;
    while (i - written >= ahead && !Atomics.load(state, STOP)) await new Promise<void>((resolve) => waiting.push(resolve));
    current = i;
    return groups[i];
  };
  const scoreHere = async (): Promise<Ended> => {
    try {
      return { summary: await score({ ...rest, predictor, claimRowGroup: claim, part: here, rowGroupThreads: false, writerThread: "off" }) };
    } catch (e) {
      halt();
      return { index: current, error: e instanceof RidepredError ? e : new RidepredError(`${label}: ${(e as Error).message}`, 1) };
    }
  };

  try {
    for (let i = 1; i < threads; i++) workers.push(new Worker(new URL("./row-group-worker.js", import.meta.url), { workerData: init }));
    const ended = await Promise.all([scoreHere(), ...workers.map((w) => workerEnd(w, label, halt, onPart))]);
    const failures = ended.filter((s): s is Extract<Ended, { error: RidepredError }> => "error" in s).sort((a, b) => a.index - b.index);
    if (failures.length) throw failures[0]!.error;
    if (written !== groups.length) throw new RidepredError(`${label}: internal: ${written} of ${groups.length} row groups written`, 1);
    const summaries = ended.map((s) => (s as { summary: ScoreSummary }).summary);
    return summarize(job, summaries, assembler.finish(), t0);
  } catch (e) {
    halt();
    assembler.abort();
    throw e;
  } finally {
    stop.dispose();
    await Promise.allSettled(workers.map((w) => endWorker(w)));
  }
}

/**
 * A worker's end: its summary, or its error and the group it failed in. A failure stops the others from
 * taking more groups; they finish the groups they hold, whose errors, if any, come first in the file.
 */
function workerEnd(
  worker: Worker,
  label: string,
  halt: () => void,
  onPart: (index: number, part: ParquetPart, last: boolean, from: Worker) => void,
): Promise<Ended> {
  return new Promise((resolve) => {
    let over = false; // its summary or error arrived: its exit, later, is no failure
    const fail = (index: number, error: RidepredError) => {
      if (over) return;
      over = true;
      halt();
      resolve({ index, error });
    };
    worker.on("message", (m: RowGroupReply) => {
      if (m.type === "part") {
        try {
          onPart(m.index, m.part, m.last, worker);
        } catch (e) {
          fail(-1, e instanceof RidepredError ? e : new RidepredError(`${label}: ${(e as Error).message}`, 1));
        }
      } else if (m.type === "done") {
        over = true;
        resolve({ summary: m.summary });
      } else fail(m.index, new RidepredError(m.message, m.exitCode));
    });
    worker.on("error", (e) => fail(Number.MAX_SAFE_INTEGER, new RidepredError(`${label}: scoring thread failed: ${e.message}`, 1)));
    worker.on("exit", (code) => fail(Number.MAX_SAFE_INTEGER, new RidepredError(`${label}: scoring thread exited (code ${code}) before finishing`, 1)));
  });
}

function summarize(job: ScoreJob, s: readonly ScoreSummary[], written: number, t0: number): ScoreSummary {
  // A classifier's runs have no predictions to pool (null), and rows per class instead.
  let classes: Record<string, number> | undefined;
  for (const x of s) if (x.classes) for (const [k, v] of Object.entries(x.classes)) (classes ??= {})[k] = (classes[k] ?? 0) + v;
  const sums = addUp(s);
  const seconds = (performance.now() - t0) / 1000;
  return {
    input: redactLocation(job.input),
    output: redactLocation(job.output),
    model: { name: job.predictor.name, version: job.predictor.version },
    ...sums,
    rows_written: written,
    ...(classes ? { classes } : {}),
    seconds,
    rows_per_second: seconds > 0 ? sums.rows_read / seconds : 0,
  };
}
