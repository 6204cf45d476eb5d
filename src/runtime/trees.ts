// Tree ensembles compiled for the predictor: the forest flattened into typed arrays (shared memory when
// tree workers help), walked on the calling thread or split between it and workers.
import type { TreeEnsembleEstimator, TreeSpec } from "../artifact/types.js";
import { type Forest, type RangeWalk, rangeWalker, type SparseBatch, sklearnParams, type WalkParams } from "./tree-walk.js";
import { startTreeWorker, type TreeWorker } from "./tree-worker.js";

export type { SparseBatch } from "./tree-walk.js";

/** Walks a batch into out; returns how many threads walked it. */
export type BatchEstimate = (batch: SparseBatch, n: number, skip: Uint8Array, out: Float64Array) => number;

/** The forest's arrays, in shared memory when tree workers will read them too. */
export function flatten(est: { trees: readonly TreeSpec[] }, shared: boolean): Forest {
  const total = est.trees.reduce((n, t) => n + t.feature.length, 0);
  const anyMissing = est.trees.some((t) => t.missing_left?.some((m) => m === 1));
  const mem = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const f: Forest = {
    roots: new Int32Array(mem(4 * est.trees.length)),
    feat: new Int32Array(mem(4 * total)),
    thr: new Float64Array(mem(8 * total)),
    kid: new Int32Array(mem(4 * total)),
    missingLeft: anyMissing ? new Uint8Array(mem(total)) : null,
  };
  let next = 0;
  est.trees.forEach((t, k) => {
    f.roots[k] = next;
    // Breadth first: queue[j] is the source node placed at slot base + j.
    const base = next;
    const queue = [0];
    next++;
    for (let j = 0; j < queue.length; j++) {
      const src = queue[j]!;
      const at = base + j;
      const leaf = t.feature[src]! < 0;
      f.feat[at] = leaf ? -1 : t.feature[src]!;
      f.thr[at] = leaf ? t.value[src]! : t.threshold[src]!;
      if (f.missingLeft) f.missingLeft[at] = t.missing_left?.[src] ?? 0;
      if (leaf) continue;
      f.kid[at] = next;
      queue.push(t.left[src]!, t.right[src]!);
      next += 2;
    }
    if (queue.length !== t.feature.length) throw new Error(`internal: tree ${k} has ${t.feature.length - queue.length} unreachable nodes`);
  });
  return f;
}

export function compileTrees(est: TreeEnsembleEstimator, threads = 1): BatchEstimate {
  // A regressor has one output (validateArtifact); classifiers use runtime/classifier.ts.
  const params = sklearnParams({ f32: est.compare === "float32", init: est.init as number, scale: est.scale, mean: est.aggregate === "mean" });
  return batchWalker(flatten(est, threads > 1), params, threads);
}

/** The batch walk over a flattened forest (shared memory when threads > 1), on the calling thread or split with tree workers. */
export function batchWalker(forest: Forest, params: WalkParams, threads: number): BatchEstimate {
  const walk = rangeWalker(forest, params);
  if (threads <= 1)
    return (batch, n, skip, out) => {
      walk(batch, 0, n, skip, out);
      return 1;
    };
  return parallelWalk(forest, params, walk, threads);
}

/** Below this many rows a batch is walked on the calling thread alone (a request of one ride, say). */
const MIN_PARALLEL_ROWS = 1024;
/** How long the first large batch waits for tree workers to start (far longer than they take: a loaded machine is slow to start threads). */
const WORKER_START_MS = 10_000;

/**
 * The batch's rows split between the calling thread and threads - 1 tree workers: each worker gets its
 * rows copied into its own shared buffers, the caller walks the first share meanwhile, then waits
 * (Atomics.wait: predictColumns stays synchronous) and copies the workers' predictions back.
 */
function parallelWalk(forest: Forest, params: WalkParams, walk: RangeWalk, threads: number): BatchEstimate {
  let pool: TreeWorker[] | undefined;
  return (batch, n, skip, out) => {
    if (n < MIN_PARALLEL_ROWS) {
      walk(batch, 0, n, skip, out);
      return 1;
    }
    // The first large batch waits (boundedly) for the workers to start; one that cannot start gets no
    // share, now or later: the caller walks it.
    const first = pool === undefined;
    pool ??= Array.from({ length: threads - 1 }, () => startTreeWorker(forest, params));
    const helpers = pool.filter((w) => w.ready(first ? WORKER_START_MS : 0));
    const share = Math.ceil(n / (helpers.length + 1));
    const jobs = helpers.map((w, i) => {
      const from = Math.min(n, share * (i + 1));
      const to = Math.min(n, from + share);
      return { w, from, to, seq: w.post(batch, from, to, skip) };
    });
    walk(batch, 0, Math.min(n, share), skip, out);
    for (const { w, from, to, seq } of jobs) w.collect(seq, out, from, to);
    return jobs.length + 1;
  };
}
