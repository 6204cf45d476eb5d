// A column chunk's dictionary of doubles, for the Parquet writer: values that repeat (a trip's minutes
// from second-resolution times: a few thousand distinct values in a row group) are stored once in a
// PLAIN dictionary page and referred to by bit-packed indices (RLE_DICTIONARY), as pyarrow and DuckDB do.
// Doubles are told apart by their 64 bits (so -0 and 0 are two entries, and every value reads back with
// the bits it was written with), in an open-addressing table of typed arrays: no Map, no boxed number.
// Columns whose values hardly repeat (predictions) must cost almost nothing: the chunk's first page gives
// up after its first TRIAL values if nearly all of them are new; and a page that leaves the dictionary
// holding more than half of the chunk's values so far, or whose own values are more than half new, or
// that would take it past MAX_ENTRIES, is taken back out of it and, like the rest of the chunk, written
// as before (PLAIN): a column that stops repeating mid-chunk switches at that page.
const MAX_ENTRIES = 1 << 16; // indices of at most 16 bits, as the string dictionaries
const TRIAL = 1024; // the first page's values looked at before it may give up...
const TRIAL_NEW = 896; // ... when more than this many (7/8) of them were new
const EMPTY = -1;
const RECENT_MASK = (1 << 14) - 1;

export class DoubleDictionary {
  /** Entries in index order, and their 32-bit halves (the keys of the table). */
  private readonly entries = new Float64Array(MAX_ENTRIES);
  private readonly words = new Int32Array(this.entries.buffer);
  /** Open addressing, 4 ints a slot: the key's two words and its entry's index (EMPTY: a free slot), one read apart. */
  private slots = emptySlots(1 << 12);
  /**
   * A value's entry, by the value in 60ths rounded (a whole number for minutes from whole seconds):
   * the last entry met of that key, tried before the table. One load and one comparison in a small
   * array, where the table's slots are scattered; and any value may miss it (its entry is then looked
   * up). Entries of earlier chunks and given-up pages are at or past `size`, so it is never cleared.
   */
  private readonly recent = new Int32Array(RECENT_MASK + 1).fill(MAX_ENTRIES);
  private shift = 32 - 12; // slot = hash >>> shift
  private dirty = false; // slots hold entries (cleared lazily, on reset)
  size = 0;
  /** Present values the dictionary has encoded in this chunk. */
  private present = 0;
  /** Given up for the rest of the chunk. */
  off = false;

  /** A new column chunk: empty, and on again. */
  reset(): void {
    if (this.dirty) this.slots.fill(EMPTY);
    // (fill(EMPTY) also sets the key words: they are read only where the index is not EMPTY)
    this.dirty = false;
    this.size = this.present = 0;
    this.off = false;
  }

  /**
   * The dictionary indices of src[0..k) into idx; returns them OR-ed (their bit width is the page's), or
   * -1 if the dictionary gave up on this page (it is then off for the rest of the chunk, holding only the
   * entries of the pages before).
   */
  indices(src: Float64Array, k: number, idx: Int32Array): number {
    const before = this.size;
    const bits = new Int32Array(src.buffer, src.byteOffset, 2 * k);
    this.dirty = true;
    let top = 0;
    // The chunk's first page stops early if its first values are nearly all new.
    const trial = before === 0 && this.present === 0 && k > TRIAL ? TRIAL : 0;
    if (trial > 0) {
      top = this.lookUp(src, bits, 0, trial, idx);
      if (top < 0 || this.size > TRIAL_NEW) return this.giveUp(before);
    }
    const rest = this.lookUp(src, bits, trial, k, idx);
    if (rest < 0) return this.giveUp(before);
    // Given up where the chunk's values so far, or this page's, are more than half new.
    this.present += k;
    if (this.present >= TRIAL && (this.size > this.present / 2 || (k >= TRIAL && this.size - before > k / 2))) {
      this.present -= k;
      return this.giveUp(before);
    }
    return top | rest;
  }

  /** The entries, in index order (a PLAIN dictionary page holds their 8 bytes each, little-endian). */
  values(): Float64Array {
    return this.entries.subarray(0, this.size);
  }

  private giveUp(before: number): number {
    this.size = before;
    this.off = true;
    return -1;
  }

  /**
   * Indices of src[from..to) (whose words are bits[2 * from .. 2 * to)) into idx[from..to); OR-ed, or -1
   * when full. A value found in `recent` is not looked up in the table.
   */
  private lookUp(src: Float64Array, bits: Int32Array, from: number, to: number, idx: Int32Array): number {
    const words = this.words;
    const entries = this.entries;
    const recent = this.recent;
    let slots = this.slots;
    let shift = this.shift;
    let mask = (slots.length >>> 2) - 1;
    let size = this.size;
    let top = 0;
    for (let r = from; r < to; r++) {
      const v = src[r]!;
      const key = Math.round(v * 60) & RECENT_MASK;
      let e = recent[key]!;
      // An entry of this chunk with the same value (so the same bits: -0 and 0 aside, NaN never equal).
      if (e < size && entries[e] === v && v !== 0) {
        idx[r] = e;
        top |= e;
        continue;
      }
      const lo = bits[2 * r]!;
      const hi = bits[2 * r + 1]!;
      let at = (hash(lo, hi) >>> shift) << 2;
      e = slots[at + 2]!;
      while (e !== EMPTY && (slots[at] !== lo || slots[at + 1] !== hi)) {
        at = (at + 4) & ((mask << 2) | 3);
        e = slots[at + 2]!;
      }
      if (e === EMPTY) {
        if (size === MAX_ENTRIES) {
          this.size = size;
          return -1;
        }
        e = size++;
        words[2 * e] = lo;
        words[2 * e + 1] = hi;
        slots[at] = lo;
        slots[at + 1] = hi;
        slots[at + 2] = e;
        if (4 * 2 * size > slots.length) {
          this.size = size;
          this.grow();
          slots = this.slots;
          shift = this.shift;
          mask = (slots.length >>> 2) - 1;
        }
      }
      recent[key] = e;
      idx[r] = e;
      top |= e;
    }
    this.size = size;
    return top;
  }

  /** Twice the slots (kept at most half full), the entries placed again. */
  private grow(): void {
    const slots = emptySlots((this.slots.length >>> 2) * 2);
    const shift = this.shift - 1;
    const wrap = slots.length - 1;
    const words = this.words;
    for (let e = 0; e < this.size; e++) {
      const lo = words[2 * e]!;
      const hi = words[2 * e + 1]!;
      let at = (hash(lo, hi) >>> shift) << 2;
      while (slots[at + 2] !== EMPTY) at = (at + 4) & wrap;
      slots[at] = lo;
      slots[at + 1] = hi;
      slots[at + 2] = e;
    }
    this.slots = slots;
    this.shift = shift;
  }
}

const emptySlots = (count: number) => new Int32Array(4 * count).fill(EMPTY);

/** A 32-bit hash of a double's two words, well mixed in its top bits (the slot). */
function hash(lo: number, hi: number): number {
  const h = Math.imul(lo ^ Math.imul(hi ^ (hi >>> 16), 0x9e3779b1), 0x85ebca6b);
  return h ^ (h >>> 15);
}
