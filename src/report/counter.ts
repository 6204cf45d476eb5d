// Counts of the values of one category column in bounded memory: exact while it has seen at most
// `capacity` distinct values (zone ids, vendors, classes: a few hundred), else a Misra-Gries summary
// (every count is then a lower bound, off by at most total / capacity, and the top values stay on top).

export interface CounterJSON {
  count: number;
  missing: number;
  /** Distinct values seen (a lower bound when approximate). */
  distinct: number;
  /** The counts are lower bounds: there were more distinct values than the counter keeps. */
  approximate: boolean;
  /** The most frequent values with their counts, most frequent first. */
  top: [string, number][];
}

export class Counter {
  count = 0;
  missing = 0;
  approximate = false;
  private readonly counts = new Map<string, number>();

  constructor(private readonly capacity = 20_000) {}

  add(value: string, n = 1): void {
    this.count += n;
    this.counts.set(value, (this.counts.get(value) ?? 0) + n);
    if (this.counts.size > this.capacity) this.shrink();
  }

  /** Misra-Gries, in bulk: take the median count from every value and drop those left at zero. */
  private shrink(): void {
    const sorted = [...this.counts.values()].sort((a, b) => a - b);
    const cut = sorted[sorted.length >> 1]!;
    for (const [k, v] of this.counts) {
      if (v <= cut) this.counts.delete(k);
      else this.counts.set(k, v - cut);
    }
    this.approximate = true;
  }

  get(value: string): number {
    return this.counts.get(value) ?? 0;
  }

  /** A counter read from a summary knows its distinct count, not its values. */
  private restoredDistinct?: number;

  get distinct(): number {
    return this.restoredDistinct ?? this.counts.size;
  }

  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  /** The n most frequent values, ties by value so the order is stable. */
  top(n: number): [string, number][] {
    return [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, n);
  }

  toJSON(keep = 100): CounterJSON {
    return { count: this.count, missing: this.missing, distinct: this.distinct, approximate: this.approximate, top: this.top(keep) };
  }

  /** A counter from a summary: its top values only (enough for a reference's top 20). */
  static fromJSON(j: CounterJSON): Counter {
    const c = new Counter();
    for (const [k, v] of j.top) c.counts.set(k, v);
    c.count = j.count;
    c.missing = j.missing;
    c.approximate = j.approximate;
    c.restoredDistinct = j.distinct;
    return c;
  }
}
