// Stage 1 of a predictor (predictor.ts): what each of DictVectorizer's feature fields reads from the
// inputs, and which vocabulary column it may set. Planned once per artifact; vectorize.ts applies it.
import type { FeatureField, ModelArtifact } from "../artifact/types.js";
import { smallIdIn } from "../columns.js";

type Part = string | number; // template literal text, or an input index

/** Per feature field k (the arrays are indexed by k): what it reads and which vocabulary columns it may set. */
export interface FieldPlan {
  readonly fields: readonly FeatureField[];
  readonly nFields: number;
  /** A number field's vocabulary column (-1: not in the vocabulary, or not a number field). */
  readonly fieldColumn: readonly number[];
  /** The input a field reads (-1: a template, read through fieldParts). */
  readonly fieldInput: readonly number[];
  /** A template field's parts: literal text, or an input index. */
  readonly fieldParts: readonly (Part[] | null)[];
  /** A category field's value -> vocabulary column (null for a pair field, which fieldPairs answers). */
  readonly fieldVocab: readonly (Map<string, number> | null)[];
  /** "{A}<sep>{B}" templates (the course's PU_DO), looked up as A then B without building the string. */
  readonly fieldPairs: readonly (PairIndex | null)[];
}

export function planFields(artifact: ModelArtifact, inputIndex: Map<string, number>): FieldPlan {
  const vec = artifact.features.vectorizer;
  const names = vec.feature_names;
  const fields = artifact.features.fields;
  // The vocabulary prefix ("PU_DO=") or the numeric feature's column (-1: not in the vocabulary; the
  // last of equal names, as a Map of the names would say). No Map of all 13k names: start-up pays for it.
  const fieldPrefix = fields.map((f) => f.name + vec.separator);
  const fieldColumn = fields.map((f) => (f.kind === "number" ? names.lastIndexOf(f.name) : -1));
  const fieldInput = fields.map((f) => ("input" in f ? inputIndex.get(f.input)! : -1));
  const fieldParts = fields.map((f) => ("template" in f ? parseTemplate(f.template, inputIndex) : null));
  // A pair template is answered from the names directly (fieldPairs); any other category field gets a
  // value -> column Map, so the hot path does one Map lookup per categorical field.
  const fieldPairs = fields.map((f, k) => (f.kind === "category" ? pairIndex(fieldParts[k] ?? null, names, fieldPrefix[k]!) : null));
  const fieldVocab = fields.map((f, k) => (f.kind === "category" && fieldPairs[k] === null ? vocabFor(names, fieldPrefix[k]!) : null));
  return { fields, nFields: fields.length, fieldColumn, fieldInput, fieldParts, fieldVocab, fieldPairs };
}

function parseTemplate(template: string, inputIndex: Map<string, number>): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push(inputIndex.get(m[1]!)!);
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

export interface PairIndex {
  a: number;
  b: number;
  /** left -> right -> column; built on first use (pairs of small ids never need it, and building it would slow start-up). */
  index(): Map<string, Map<string, number>>;
  /**
   * When both sides of every vocabulary value are small integers in canonical form (zone ids, "130"):
   * column = dense[a * width + b] (-1: not in the vocabulary), one array read instead of two Map lookups.
   */
  dense: Int32Array | null;
  width: number;
}

/**
 * A two-level index for a template of exactly two inputs around one literal, when every vocabulary
 * value splits on that literal in exactly one place (so the index answers exactly what the joined
 * string would). Otherwise null, and the string is built.
 */
function pairIndex(parts: Part[] | null, names: readonly string[], prefix: string): PairIndex | null {
  if (parts?.length !== 3) return null;
  const [a, lit, b] = parts;
  if (typeof a !== "number" || typeof lit !== "string" || typeof b !== "number" || lit === "") return null;
  // First pass, over the names with this field's prefix, without building strings: every value splits
  // once, and the two sides' small ids. Equal names: the last one's column, in order, as a Map would keep.
  const p = prefix.length;
  const xs = new Int32Array(names.length),
    ys = new Int32Array(names.length),
    cols = new Int32Array(names.length);
  let maxA = -1,
    maxB = -1,
    allInts = true,
    size = 0;
  for (let col = 0; col < names.length; col++) {
    const name = names[col]!;
    if (!name.startsWith(prefix)) continue;
    const at = name.indexOf(lit, p);
    if (at < 0 || name.indexOf(lit, at + 1) >= 0) return null; // ambiguous: "1_2_3"
    const x = smallIdIn(name, p, at),
      y = smallIdIn(name, at + lit.length, name.length);
    xs[size] = x;
    ys[size] = y;
    cols[size++] = col;
    if (x < 0 || y < 0) allInts = false;
    else {
      maxA = Math.max(maxA, x);
      maxB = Math.max(maxB, y);
    }
  }
  let built: Map<string, Map<string, number>> | undefined;
  const index = () => {
    if (built) return built;
    built = new Map();
    for (let col = 0; col < names.length; col++) {
      const name = names[col]!;
      if (!name.startsWith(prefix)) continue;
      const at = name.indexOf(lit, p);
      const left = name.slice(p, at);
      let inner = built.get(left);
      if (!inner) built.set(left, (inner = new Map()));
      inner.set(name.slice(at + lit.length), col);
    }
    return built;
  };
  if (!allInts || maxA < 0) return { a, b, index, dense: null, width: 0 };
  const width = maxB + 1;
  const dense = new Int32Array((maxA + 1) * width).fill(-1);
  for (let j = 0; j < size; j++) dense[xs[j]! * width + ys[j]!] = cols[j]!;
  return { a, b, index, dense, width };
}

function vocabFor(featureNames: string[], prefix: string): Map<string, number> {
  const m = new Map<string, number>();
  featureNames.forEach((name, i) => {
    if (name.startsWith(prefix)) m.set(name.slice(prefix.length), i);
  });
  return m;
}
