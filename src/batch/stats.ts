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
 * with the running ones (Chan et al.), so the hot loop has no division per value.
 */
export function addStats(s: Stats, values: Float64Array, idx: Int32Array, k: number): void {
  if (k === 0) return;
  // Every row kept: the same sums without the indirection.
  if (keepsEvery(idx, k)) {
    addAll(s, values, k);
    return;
  }
  let sum = 0,
    min = s.min,
    max = s.max;
  for (let i = 0; i < k; i++) {
    const x = values[idx[i]!]!;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / k;
  let m2 = 0;
  for (let i = 0; i < k; i++) {
    const d = values[idx[i]!]! - mean;
    m2 += d * d;
  }
  merge(s, k, mean, m2, min, max);
}

/** addStats of values[0..k), in the same order: the same bits. */
function addAll(s: Stats, values: Float64Array, k: number): void {
  let sum = 0,
    min = s.min,
    max = s.max;
  for (let i = 0; i < k; i++) {
    const x = values[i]!;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / k;
  let m2 = 0;
  for (let i = 0; i < k; i++) {
    const d = values[i]! - mean;
    m2 += d * d;
  }
  merge(s, k, mean, m2, min, max);
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
