import { keepsEvery } from "./kept-runs.js";

/** Running mean / std / min / max, merged batch by batch, so the summary needs no second pass over the output. */
export interface Stats {
  count: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export const newStats = (): Stats => ({ count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity });

/**
 * Add values[idx[0..k)] at once: the batch's own mean and squared deviations (two plain passes), merged
 * with the running ones (Chan et al.), so the hot loop has no division per value. Each pass is a function
 * of its own: one function holding both loops was compiled (on-stack) while in its first loop, before its
 * second had run, and deoptimized on every batch after.
 */
export function addStats(s: Stats, values: Float64Array, idx: Int32Array, k: number): void {
  if (k === 0) return;
  // Every row kept: the same sums without the indirection.
  const every = keepsEvery(idx, k);
  const scan = every ? scanAll(values, k, s.min, s.max) : scanKept(values, idx, k, s.min, s.max);
  const mean = scan.sum / k;
  merge(s, k, mean, every ? squaresAll(values, k, mean) : squaresKept(values, idx, k, mean), scan.min, scan.max);
}

/** One batch's sum, min and max (reused: read at once). */
const scan = { sum: 0, min: 0, max: 0 };

// Math.min/Math.max compile to branch-free instructions; an `if (x < min)` per value cost this loop
// about three times as much. They differ from it only on NaN (which they keep) and on zeros (which they
// order, -0 first), and both show in the result: then the plain comparisons are run again.
function scanKept(values: Float64Array, idx: Int32Array, k: number, min: number, max: number): typeof scan {
  let sum = 0;
  let lo = min;
  let hi = max;
  for (let i = 0; i < k; i++) {
    const x = values[idx[i]!]!;
    sum += x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return scanned(sum, lo, hi) ? scan : exactMinMax(values, idx, k, min, max);
}

/** scanKept of values[0..k), in the same order: the same bits. */
function scanAll(values: Float64Array, k: number, min: number, max: number): typeof scan {
  let sum = 0;
  let lo = min;
  let hi = max;
  for (let i = 0; i < k; i++) {
    const x = values[i]!;
    sum += x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  return scanned(sum, lo, hi) ? scan : exactMinMax(values, undefined, k, min, max);
}

/** Keep a scan's result in `scan`; false if its min or max may differ from the plain comparisons'. */
function scanned(sum: number, lo: number, hi: number): boolean {
  scan.sum = sum;
  scan.min = lo;
  scan.max = hi;
  return sum === sum && lo !== 0 && hi !== 0;
}

/** Min and max by `<` and `>` (NaN skipped, the first of equal zeros kept), into `scan` beside its sum. */
function exactMinMax(values: Float64Array, idx: Int32Array | undefined, k: number, min: number, max: number): typeof scan {
  for (let i = 0; i < k; i++) {
    const x = values[idx ? idx[i]! : i]!;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  scan.min = min;
  scan.max = max;
  return scan;
}

function squaresKept(values: Float64Array, idx: Int32Array, k: number, mean: number): number {
  let m2 = 0;
  for (let i = 0; i < k; i++) {
    const d = values[idx[i]!]! - mean;
    m2 += d * d;
  }
  return m2;
}

function squaresAll(values: Float64Array, k: number, mean: number): number {
  let m2 = 0;
  for (let i = 0; i < k; i++) {
    const d = values[i]! - mean;
    m2 += d * d;
  }
  return m2;
}

/** The batch's count, mean and squared deviations merged into the running ones (Chan et al.). */
function merge(s: Stats, k: number, mean: number, m2: number, min: number, max: number): void {
  const n = s.count + k;
  const delta = mean - s.mean;
  s.mean += (delta * k) / n;
  s.m2 += m2 + (delta * delta * s.count * k) / n;
  s.count = n;
  s.min = min;
  s.max = max;
}

/** Population std (numpy's default, ddof=0). */
export function summarize(s: Stats): { mean: number; std: number; min: number; max: number } | null {
  if (!s.count) return null;
  return { mean: s.mean, std: Math.sqrt(s.m2 / s.count), min: s.min, max: s.max };
}
