/** Running mean / std / min / max (Welford), so the summary needs no second pass over the output. */
export interface Stats {
  count: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export const newStats = (): Stats => ({ count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity });

export function addStat(s: Stats, x: number): void {
  s.count++;
  const d = x - s.mean;
  s.mean += d / s.count;
  s.m2 += d * (x - s.mean);
  if (x < s.min) s.min = x;
  if (x > s.max) s.max = x;
}

/** Population std (numpy's default, ddof=0). */
export function summarize(s: Stats): { mean: number; std: number; min: number; max: number } | null {
  if (!s.count) return null;
  return { mean: s.mean, std: Math.sqrt(s.m2 / s.count), min: s.min, max: s.max };
}
