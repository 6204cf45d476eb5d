// The category values a model was trained on, read back from its DictVectorizer's feature names: a
// value the vocabulary lacks sets no feature (it is "unseen": the model scores it as if absent).
// A field fed by one input ("PULocationID=130") knows that input's values; a template field
// ("PU_DO=130_205" from "{PULocationID}_{DOLocationID}") knows its combinations and, split back along
// the template, each input's values.
import type { ModelArtifact } from "../artifact/types.js";

export interface Vocabulary {
  /** Model input -> the values some feature names for it (inputs no category field uses are absent). */
  inputs: Map<string, Set<string>>;
  /** Template fields: their inputs in template order, how to build a row's value, and the values known. */
  templates: { name: string; inputs: string[]; build: (parts: readonly string[]) => string; known: Set<string> }[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function vocabularyOf(artifact: ModelArtifact): Vocabulary {
  const vec = artifact.features.vectorizer;
  const inputs = new Map<string, Set<string>>();
  const knownOf = (input: string) => {
    let s = inputs.get(input);
    if (!s) inputs.set(input, (s = new Set()));
    return s;
  };
  const templates: Vocabulary["templates"] = [];
  for (const f of artifact.features.fields) {
    if (f.kind !== "category") continue;
    const prefix = f.name + vec.separator;
    const values = vec.feature_names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
    if ("input" in f) {
      for (const v of values) knownOf(f.input).add(v);
      continue;
    }
    const pieces = f.template.split(/\{([^}]*)\}/); // text, input, text, input, ..., text
    const names = pieces.filter((_, i) => i % 2 === 1);
    const re = new RegExp(`^${pieces.map((p, i) => (i % 2 ? "(.*?)" : escapeRe(p))).join("")}$`);
    for (const v of values) {
      const m = re.exec(v);
      if (m) for (const [i, n] of names.entries()) knownOf(n).add(m[i + 1]!);
    }
    const build = (parts: readonly string[]) => pieces.map((p, i) => (i % 2 ? parts[(i - 1) >> 1] : p)).join("");
    templates.push({ name: f.name, inputs: names, build, known: new Set(values) });
  }
  return { inputs, templates };
}
