// Buffers lent for a while and then reused: a batch a reader yields (valid until the next batch is
// requested; page arrays are recycled), a batch handed to a sink (the caller may reuse it once write()
// has resolved), a writer thread's shared-memory slot. TypeScript cannot check such lifetimes, so the
// types name them (Borrowed) and tests check them: under RIDEPRED_POISON_BUFFERS=1 a buffer is poisoned
// as it is given back, and code that holds it too long reads values no input has, and fails loudly:
// numbers read +Infinity (which the predictor refuses: "expected a finite number"), dictionary indices
// point past any dictionary.

declare const borrowed: unique symbol;

/** A value lent until its lender's next call (see each lender): copy what must outlive that. */
export type Borrowed<T> = T & { readonly [borrowed]?: "valid until the lender's next call" };

/** A dictionary index no dictionary reaches. */
export const POISON_INDEX = 0x7fffffff;

/** Whether released buffers are poisoned (read at each release: tests turn it on in-process). */
export function poisoning(): boolean {
  return process.env.RIDEPRED_POISON_BUFFERS === "1";
}

/** Fill a released array with values no real input has (under RIDEPRED_POISON_BUFFERS=1 only). */
export function poison(a: Float64Array | Int32Array | Uint8Array): void {
  if (!poisoning()) return;
  if (a instanceof Float64Array) a.fill(Infinity);
  else if (a instanceof Int32Array) a.fill(POISON_INDEX);
  else a.fill(0xff);
}
