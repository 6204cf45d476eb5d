// Stage 3b of a predictor (predictor.ts): the coerced inputs of a batch (batch-inputs.ts) vectorized
// field by field, as DictVectorizer.transform would: each field sets at most one vocabulary column per
// row, with a value (a number field's value, 1 for a category). Written to w.fieldCol / w.fieldVal.
import { type BatchWork, catStrings, idOf } from "./batch-inputs.js";
import type { FieldPlan, PairIndex } from "./fields.js";

/** Field k's vocabulary column (and value) for rows 0..n-1. */
export function vectorizeField(plan: FieldPlan, w: BatchWork, k: number, n: number): void {
  const pairs = plan.fieldPairs[k]!;
  if (plan.fields[k]!.kind === "number") vectorizeNumber(w, plan.fieldInput[k]!, plan.fieldColumn[k]!, k, n);
  else if (pairs !== null) vectorizePair(w, pairs, k, n);
  else vectorizeCategory(plan, w, k, n);
}

/** A number field: its column with the value, or none for an absent optional input or a name outside the vocabulary. */
function vectorizeNumber(w: BatchWork, input: number, column: number, k: number, n: number): void {
  const { fieldCol, fieldVal } = w;
  const x = w.num[input]!;
  const base = k * w.cap;
  for (let r = 0; r < n; r++) {
    const v = x[r]!;
    fieldCol[base + r] = v === v && column >= 0 ? column : -1;
    fieldVal[base + r] = v;
  }
}

/** A "{A}<sep>{B}" field (the course's PU_DO): looked up as A then B, without building the string. */
function vectorizePair(w: BatchWork, pairs: PairIndex, k: number, n: number): void {
  const { index, dense, width } = pairs;
  const { bad, fieldCol, fieldVal } = w;
  const base = k * w.cap;
  // Small ids come ready from dictionary columns, else each value is parsed (-2: not a small id).
  const ia = w.catIdValid[pairs.a] === 1 ? w.catId[pairs.a]! : null;
  const ib = w.catIdValid[pairs.b] === 1 ? w.catId[pairs.b]! : null;
  if (ia !== null && ib !== null && dense !== null) {
    // Both from dictionaries (Parquet zone ids): strings only for a pair that is not two small ids.
    for (let r = 0; r < n; r++) {
      let col = -1;
      if (bad[r] === 0) {
        const x = ia[r]!;
        const y = ib[r]!;
        if (x >= 0 && y >= 0) col = y < width && x * width + y < dense.length ? dense[x * width + y]! : -1;
        else if (x !== -1 && y !== -1)
          col =
            index()
              .get(catStrings(w, pairs.a, n)[r]!)
              ?.get(catStrings(w, pairs.b, n)[r]!) ?? -1;
      }
      fieldCol[base + r] = col;
      fieldVal[base + r] = 1;
    }
    return;
  }
  const a = catStrings(w, pairs.a, n);
  const b = catStrings(w, pairs.b, n);
  for (let r = 0; r < n; r++) {
    const av = a[r];
    const bv = b[r];
    let col = -1;
    if (bad[r] === 0 && av !== undefined && bv !== undefined) {
      const x = dense === null ? -2 : ia !== null ? ia[r]! : idOf(av);
      const y = x < 0 ? -2 : ib !== null ? ib[r]! : idOf(bv);
      // A pair of small ids reads the dense table (outside it: not in the vocabulary); anything else the Maps.
      if (y >= 0) col = y < width && x * width + y < dense!.length ? dense![x * width + y]! : -1;
      else col = index().get(av)?.get(bv) ?? -1;
    }
    fieldCol[base + r] = col;
    fieldVal[base + r] = 1;
  }
}

/** A category field, of one input or a template: its value's column; an unseen value sets none, as in DictVectorizer. */
function vectorizeCategory(plan: FieldPlan, w: BatchWork, k: number, n: number): void {
  const { fieldCol, fieldVal } = w;
  const base = k * w.cap;
  const vocab = plan.fieldVocab[k]!;
  const parts = plan.fieldParts[k]!;
  const input = plan.fieldInput[k]!;
  for (let r = 0; r < n; r++) {
    let s: string | undefined;
    if (parts === null) s = catStrings(w, input, n)[r];
    else {
      s = "";
      for (const p of parts) {
        if (typeof p === "string") s += p;
        else {
          const v = catStrings(w, p, n)[r];
          if (v === undefined) {
            s = undefined;
            break;
          }
          s += v;
        }
      }
    }
    fieldCol[base + r] = s === undefined ? -1 : (vocab.get(s) ?? -1);
    fieldVal[base + r] = 1;
  }
}
