// The population stability index of a column between a reference run and this one, over bins drawn
// from the reference: 10 quantile bins of a number, the 20 most frequent values + "other" of a category,
// plus a "missing" bin when either run has missing values.
//   PSI = sum over bins of (cur - ref) * ln(cur / ref), cur and ref the bins' shares of their run.
// A bin empty on one side would make it infinite: its share counts as 0.0001 (the usual convention),
// so one such bin adds a large but finite amount.
import type { Counter } from "./counter.js";
import { countInto, quantileCuts, upperOf, type Sketch } from "./sketch.js";

export const EMPTY_SHARE = 1e-4;
export const QUANTILE_BINS = 10;
export const TOP_CATEGORIES = 20;

export interface Bin {
  label: string;
  /** Numeric bins: the bin holds values in (previous bin's upper, upper]; the last bin's is null (open). */
  upper?: number | null;
  /** Rows of each run in the bin. */
  reference: number;
  current: number;
}

/** PSI of two runs' counts over the same bins. */
export function psi(bins: readonly Bin[]): number {
  const r = bins.reduce((n, b) => n + b.reference, 0);
  const c = bins.reduce((n, b) => n + b.current, 0);
  if (!r || !c) return 0;
  let sum = 0;
  for (const b of bins) {
    const p = Math.max(b.reference / r, EMPTY_SHARE);
    const q = Math.max(b.current / c, EMPTY_SHARE);
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(2));

/** Quantile bins of the reference sketch, with both runs' counts; labelled by their value ranges. */
export function numericBins(ref: Sketch, cur: Sketch, bins = QUANTILE_BINS): Bin[] {
  const cuts = quantileCuts(ref, bins);
  const r = countInto(ref, cuts);
  const c = countInto(cur, cuts);
  const edges = cuts.map(upperOf);
  const out = r.map((n, i) => ({
    label:
      i === 0 ? (edges.length ? `≤ ${fmt(edges[0]!)}` : "all") : i === edges.length ? `> ${fmt(edges[i - 1]!)}` : `${fmt(edges[i - 1]!)} – ${fmt(edges[i]!)}`,
    upper: i < edges.length ? edges[i]! : null,
    reference: n,
    current: c[i]!,
  }));
  return withMissing(out, ref.missing, cur.missing);
}

/** The reference's most frequent values, then "other" (everything else), then "missing". */
export function categoryBins(ref: Counter, cur: Counter, top = TOP_CATEGORIES): Bin[] {
  const head = ref.top(top);
  const out: Bin[] = head.map(([v, n]) => ({ label: v, reference: n, current: cur.get(v) }));
  const rOther = ref.count - out.reduce((n, b) => n + b.reference, 0);
  const cOther = cur.count - out.reduce((n, b) => n + b.current, 0);
  if (rOther || cOther) out.push({ label: "(other)", reference: rOther, current: cOther });
  return withMissing(out, ref.missing, cur.missing);
}

function withMissing(bins: Bin[], ref: number, cur: number): Bin[] {
  return ref || cur ? [...bins, { label: "(missing)", reference: ref, current: cur }] : bins;
}
