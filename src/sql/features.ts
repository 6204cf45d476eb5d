// The DictVectorizer in SQL: each feature field as an expression over the coerced inputs, and each
// vocabulary column as what sets it (a numeric field's value, or a category field equal to one value).
// The same matching rules as the predictor (src/runtime/predictor.ts): a category field's vocabulary is
// the feature names starting with "<field><separator>", a numeric field sets the column of its own name.
import type { FeatureField, InputSpec, ModelArtifact } from "../artifact/types.js";
import type { Dialect } from "./dialects.js";
import { inputOf } from "./inputs.js";

/** Column alias of feature field k inside the generated query. */
export const fieldOf = (k: number) => `f${k}`;

/** Field k's value: a category string (NULL when an input it needs is absent) or a float64 (NULL when absent). */
export function fieldExpr(d: Dialect, f: FeatureField, inputs: readonly InputSpec[]): string {
  const idx = (name: string) => inputs.findIndex((i) => i.name === name);
  if ("input" in f) return inputOf(idx(f.input));
  const parts: string[] = [];
  let last = 0;
  for (const m of f.template.matchAll(/\{([^}]*)\}/g)) {
    if (m.index > last) parts.push(d.str(f.template.slice(last, m.index)));
    parts.push(inputOf(idx(m[1]!)));
    last = m.index + m[0].length;
  }
  if (last < f.template.length) parts.push(d.str(f.template.slice(last)));
  return parts.length === 1 ? parts[0]! : d.concat(parts);
}

/** value -> vocabulary column, per category field (undefined for numeric fields): the predictor's vocabFor. */
export function categoryVocabularies(a: ModelArtifact): (Map<string, number> | undefined)[] {
  const { feature_names: names, separator } = a.features.vectorizer;
  return a.features.fields.map((f) => {
    if (f.kind !== "category") return undefined;
    const prefix = f.name + separator;
    const m = new Map<string, number>();
    names.forEach((name, col) => {
      if (name.startsWith(prefix)) m.set(name.slice(prefix.length), col);
    });
    return m;
  });
}

/** What sets vocabulary column j in a row's dense vector. */
export type ColumnSource =
  | { kind: "number"; field: number } // the field's value, 0 when absent
  | { kind: "category"; hits: { field: number; value: string }[] } // 1 when any field equals its value, else 0
  | { kind: "zero" }; // no field ever sets it

export function columnSources(a: ModelArtifact): ColumnSource[] {
  const names = a.features.vectorizer.feature_names;
  const out: ColumnSource[] = names.map(() => ({ kind: "zero" }));
  const vocabs = categoryVocabularies(a);
  a.features.fields.forEach((f, k) => {
    if (f.kind === "number") {
      const col = names.indexOf(f.name);
      if (col >= 0) out[col] = { kind: "number", field: k };
      return;
    }
    for (const [value, col] of vocabs[k]!) {
      const cur = out[col]!;
      if (cur.kind === "category") cur.hits.push({ field: k, value });
      else out[col] = { kind: "category", hits: [{ field: k, value }] };
    }
  });
  return out;
}
