// The distribution of one numeric column in bounded memory, one pass, batch after batch: a histogram
// whose buckets grow geometrically (each covers a 2% band of values, as DDSketch does), so any value
// range fits in a few hundred buckets and every quantile is known within 1% of its value. Quantile bins
// are drawn on bucket boundaries: counting a run into another run's bins is then exact, from the two
// histograms alone (no second pass, no rows kept).

/** Bucket width: a bucket holds (g^(i-1), g^i]. */
export const GAMMA = 1.02;
const LOG_GAMMA = Math.log(GAMMA);
/** |x| below this is counted as zero. */
const TINY = 1e-9;
/** Bucket indices are shifted by this so a non-zero value's key is never 0 (index >= log(TINY)/log(g) ~ -1047). */
const SHIFT = 2000;

/** The bucket's key: 0 for zero, +(i + SHIFT) for x > 0, -(i + SHIFT) for x < 0; keys are ordered as the values. */
export function keyOf(x: number): number {
  const a = Math.abs(x);
  if (a < TINY) return 0;
  const i = Math.ceil(Math.log(a) / LOG_GAMMA) + SHIFT;
  return x > 0 ? i : -i;
}

/** The largest value bucket `key` holds (its lower end for negative buckets, which hold [-g^i, -g^(i-1))). */
export function upperOf(key: number): number {
  if (key === 0) return TINY;
  return key > 0 ? GAMMA ** (key - SHIFT) : -(GAMMA ** (-key - SHIFT - 1));
}

/** The smallest value bucket `key` holds. */
export function lowerOf(key: number): number {
  if (key === 0) return -TINY;
  return key > 0 ? GAMMA ** (key - SHIFT - 1) : -(GAMMA ** (-key - SHIFT));
}

/** The middle of bucket `key`: the value its rows are taken at. */
export const middleOf = (key: number) => (key === 0 ? 0 : (lowerOf(key) + upperOf(key)) / 2);

/** A sketch as the --json summary carries it: the non-empty buckets, in key order. */
export interface SketchJSON {
  gamma: number;
  count: number;
  missing: number;
  sum: number;
  /** Sum of squares (the error's RMSE). */
  squares: number;
  min: number | null;
  max: number | null;
  keys: number[];
  counts: number[];
}

export class Sketch {
  count = 0;
  missing = 0;
  sum = 0;
  squares = 0;
  min = Infinity;
  max = -Infinity;
  /** Dense counts for keys [lo, lo + counts.length). */
  private lo = 0;
  private counts = new Float64Array(0);

  /** A value; NaN (and an infinite value, which has no bucket) counts as missing. */
  add(x: number): void {
    if (!Number.isFinite(x)) {
      this.missing++;
      return;
    }
    const k = keyOf(x);
    if (k < this.lo || k >= this.lo + this.counts.length) this.cover(k);
    this.counts[k - this.lo]!++;
    this.count++;
    this.sum += x;
    this.squares += x * x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  /** Grow the dense range to hold key k (doubling, so a run of new keys costs little). */
  private cover(k: number): void {
    const n = this.counts.length;
    if (n === 0) {
      this.lo = k - 32;
      this.counts = new Float64Array(64);
      return;
    }
    const hi = this.lo + n;
    const lo = k < this.lo ? Math.min(k, this.lo - n) : this.lo;
    const size = (k >= hi ? Math.max(k + 1, hi + n) : hi) - lo;
    const next = new Float64Array(size);
    next.set(this.counts, this.lo - lo);
    this.lo = lo;
    this.counts = next;
  }

  /** [key, count] of the non-empty buckets, in key order. */
  buckets(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) out.push([this.lo + i, this.counts[i]!]);
    return out;
  }

  toJSON(): SketchJSON {
    const b = this.buckets();
    return {
      gamma: GAMMA,
      count: this.count,
      missing: this.missing,
      sum: this.sum,
      squares: this.squares,
      min: this.count ? this.min : null,
      max: this.count ? this.max : null,
      keys: b.map((e) => e[0]),
      counts: b.map((e) => e[1]),
    };
  }

  static fromJSON(j: SketchJSON): Sketch {
    if (j.gamma !== GAMMA || j.keys.length !== j.counts.length) throw new Error(`a sketch with gamma ${j.gamma} (this version uses ${GAMMA})`);
    const s = new Sketch();
    for (let i = 0; i < j.keys.length; i++) {
      const k = j.keys[i]!;
      if (k < s.lo || k >= s.lo + s.counts.length) s.cover(k);
      s.counts[k - s.lo] = j.counts[i]!;
    }
    s.count = j.count;
    s.missing = j.missing;
    s.sum = j.sum;
    s.squares = j.squares;
    s.min = j.min ?? Infinity;
    s.max = j.max ?? -Infinity;
    return s;
  }
}

/**
 * Up to `bins` quantile bins of a sketch: the keys after which each bin ends (the last bin is open),
 * at the bucket where the cumulative count first reaches q = 1/bins, 2/bins, ... Ties (a value holding
 * more than a bin's share) make fewer bins, never empty ones.
 */
export function quantileCuts(s: Sketch, bins = 10): number[] {
  const b = s.buckets();
  const cuts: number[] = [];
  let seen = 0;
  let q = 1;
  for (const [key, c] of b) {
    seen += c;
    if (seen >= (q * s.count) / bins && q < bins) {
      cuts.push(key);
      while (q < bins && seen >= (q * s.count) / bins) q++;
    }
  }
  // The last bucket ends the last bin: no cut after it.
  if (cuts.length && cuts[cuts.length - 1] === b[b.length - 1]?.[0]) cuts.pop();
  return cuts;
}

/** Counts of a sketch in the bins that end after each cut (plus the open last bin): cuts.length + 1 counts. */
export function countInto(s: Sketch, cuts: readonly number[]): number[] {
  const out = new Array<number>(cuts.length + 1).fill(0);
  let j = 0;
  for (const [key, c] of s.buckets()) {
    while (j < cuts.length && key > cuts[j]!) j++;
    out[j]! += c;
  }
  return out;
}

/** The value at quantile q (0..1), within 1% of it: the middle of the bucket that holds it. */
export function quantile(s: Sketch, q: number): number | null {
  if (!s.count) return null;
  let seen = 0;
  for (const [key, c] of s.buckets()) {
    seen += c;
    if (seen >= q * s.count) return Math.min(s.max, Math.max(s.min, middleOf(key)));
  }
  return s.max;
}
