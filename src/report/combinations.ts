// Which scored rows carry a combination (PU_DO = "{PULocationID}_{DOLocationID}") the model never saw,
// without building a string per row: each input's values get small ids as they first appear, and a
// combination of ids is looked up in the vocabulary once, then remembered. Both tables are bounded;
// past their size a row takes the slow way (its string is built), so the answer never changes.

/** Row ids: a missing value, or a value past the id table's size. */
export const MISSING = -1;
export const UNINDEXED = -2;

const MAX_IDS = 1 << 16;
const MAX_REMEMBERED = 1 << 20;
/** Bytes the pair table may take (one a pair of ids seen: 265 zones by 265 take 70 KB). */
const PAIR_BYTES = 16 << 20;

export class ValueIds {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];

  idOf(v: string): number {
    let id = this.ids.get(v);
    if (id !== undefined) return id;
    if (this.names.length >= MAX_IDS) return UNINDEXED;
    id = this.names.length;
    this.ids.set(v, id);
    this.names.push(v);
    return id;
  }
}

/** One input's kept rows in a batch: ids, and the values of UNINDEXED rows by row. */
export interface RowIds {
  ids: Int32Array;
  names: readonly string[];
  text: Map<number, string>;
}

export interface Template {
  build: (parts: readonly string[]) => string;
  known: Set<string>;
}

export class Combinations {
  count = 0;
  unseen = 0;
  private readonly remembered = new Map<number, boolean>();
  /** Two inputs: pairs[a][b] is 0 not yet looked up, 1 known, 2 unseen. */
  private readonly pairs: Uint8Array[] = [];
  private pairBytes = 0;

  constructor(private readonly t: Template) {}

  /** k rows of the template's inputs (in template order); a row with a missing part is not counted. */
  add(cols: readonly RowIds[], k: number): void {
    if (cols.length === 2) this.addPairs(cols[0]!, cols[1]!, k);
    else this.addAny(cols, k);
  }

  /** The course's case, two inputs: a table lookup a row. */
  private addPairs(x: RowIds, y: RowIds, k: number): void {
    for (let i = 0; i < k; i++) {
      const a = x.ids[i]!;
      const b = y.ids[i]!;
      if (a === MISSING || b === MISSING) continue;
      this.count++;
      if (a === UNINDEXED || b === UNINDEXED) {
        if (!this.t.known.has(this.t.build([a === UNINDEXED ? x.text.get(i)! : x.names[a]!, b === UNINDEXED ? y.text.get(i)! : y.names[b]!]))) this.unseen++;
        continue;
      }
      let row = this.pairs[a];
      let state = row !== undefined && b < row.length ? row[b]! : 0;
      if (state === 0) {
        state = this.t.known.has(this.t.build([x.names[a]!, y.names[b]!])) ? 1 : 2;
        row = this.room(a, b, y.names.length);
        if (row) row[b] = state;
      }
      if (state === 2) this.unseen++;
    }
  }

  /** pairs[a], long enough for b, while the budget lasts. */
  private room(a: number, b: number, size: number): Uint8Array | undefined {
    const row = this.pairs[a];
    if (row !== undefined && b < row.length) return row;
    const length = Math.max(b + 1, size, 2 * (row?.length ?? 0));
    if (this.pairBytes + length > PAIR_BYTES) return undefined;
    const grown = new Uint8Array(length);
    if (row) grown.set(row);
    this.pairBytes += length - (row?.length ?? 0);
    this.pairs[a] = grown;
    return grown;
  }

  private addAny(cols: readonly RowIds[], k: number): void {
    const parts = new Array<string>(cols.length);
    const fast = cols.length <= 3;
    next: for (let i = 0; i < k; i++) {
      let key = 0;
      let slow = !fast;
      for (const c of cols) {
        const id = c.ids[i]!;
        if (id === MISSING) continue next;
        if (id === UNINDEXED) slow = true;
        key = key * MAX_IDS + id;
      }
      this.count++;
      let known = slow ? undefined : this.remembered.get(key);
      if (known === undefined) {
        cols.forEach((c, j) => {
          const id = c.ids[i]!;
          parts[j] = id === UNINDEXED ? c.text.get(i)! : c.names[id]!;
        });
        known = this.t.known.has(this.t.build(parts));
        if (!slow && this.remembered.size < MAX_REMEMBERED) this.remembered.set(key, known);
      }
      if (!known) this.unseen++;
    }
  }
}
