// Category inputs that arrive as numbers (zone ids that Parquet stores as integers, read as a
// Float64Array with NaN for null) seen as dictionary columns, so such a batch takes the paths that
// string ids from a Parquet dictionary take: each distinct id coerced once (batch-inputs.ts) and the
// fused linear scorer's pair tables (linear-fused.ts). Only small whole numbers (0..4095, where coercion
// gives the canonical decimal) are encoded; a column with any other value stays as it is, and goes the
// general way as before.
import { type DictColumn, SMALL_IDS, smallNumberId } from "../columns.js";

/**
 * One input's dictionary of ids, grown as new ids appear. A dictionary is never changed once handed out
 * (stages key what they derive from one by its identity, columns.ts): new ids make a new one, so after
 * a run's first batches every batch shares one.
 */
export class NumberIds {
  private readonly entryOf = new Int32Array(SMALL_IDS).fill(-1);
  private readonly entries: number[] = [];
  private dictionary: readonly number[] = [];
  private indices = new Int32Array(0);

  /** col[0..n) as a dictionary column (NaN: index -1), or undefined if a value is not a small whole number. Its indices are reused by the next call: the predictor uses it within one batch. */
  encode(col: Float64Array, n: number): DictColumn | undefined {
    if (this.indices.length < n) this.indices = new Int32Array(n + (n >>> 3));
    const before = this.entries.length;
    const ok = this.fill(col, n);
    if (this.entries.length !== before) this.dictionary = this.entries.slice();
    return ok ? { dictionary: this.dictionary, indices: this.indices.subarray(0, n) } : undefined;
  }

  private fill(col: Float64Array, n: number): boolean {
    const { entryOf, entries, indices } = this;
    for (let r = 0; r < n; r++) {
      const v = col[r]!;
      if (v !== v) {
        indices[r] = -1;
        continue;
      }
      const id = smallNumberId(v);
      if (id < 0) return false;
      let e = entryOf[id]!;
      if (e < 0) {
        e = entryOf[id] = entries.length;
        entries.push(v);
      }
      indices[r] = e;
    }
    return true;
  }
}
