// The kept rows of a batch as stretches of consecutive rows, found once per batch and shared by every
// output column that copies its kept rows (times, zone indices, predictions): each copy then moves
// whole stretches instead of scanning the kept rows again. Rows are filtered rarely (about 1% on real
// months), so a batch of 8,192 rows is a few dozen stretches.

/** Whether keep[0..k) (ascending, distinct, k > 0) is 0..k-1, a batch that kept every row: then its first is 0 and its last k - 1. */
export function keepsEvery(keep: Int32Array, k: number): boolean {
  return keep[0] === 0 && keep[k - 1] === k - 1;
}

/** Stretches of keep[0..k) (ascending) as (first row, length) pairs in runs; returns how many. runs needs room for 2k numbers. */
export function keptRuns(keep: Int32Array, k: number, runs: Int32Array): number {
  let count = 0;
  let i = 0;
  while (i < k) {
    const from = keep[i]!;
    // A batch that kept every row is one stretch, found without a scan. Through the same stores as any
    // other: batches that keep every row come rarely, and code V8 had compiled before the first one
    // was deoptimized by a separate branch for them.
    let j = i === 0 && keepsEvery(keep, k) ? k : i + 1;
    while (j < k && keep[j] === from + (j - i)) j++;
    runs[2 * count] = from;
    runs[2 * count + 1] = j - i;
    count++;
    i = j;
  }
  return count;
}

/** The kept rows of src, stretch by stretch, into out[0..k); returns out. */
export function copyKept<T extends Float64Array | Int32Array>(src: T, runs: Int32Array, count: number, out: T): T {
  let at = 0;
  for (let t = 0; t < count; t++) {
    const from = runs[2 * t]!;
    const length = runs[2 * t + 1]!;
    // A very short stretch element by element: there subarray() and set() cost more than the copy.
    if (length >= 16) out.set(src.subarray(from, from + length), at);
    else for (let i = 0; i < length; i++) out[at + i] = src[from + i]!;
    at += length;
  }
  return out;
}
