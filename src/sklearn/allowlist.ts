// The explicit allow-list of Python globals a model file may name. Everything here is either an inert
// class (recorded, never constructed by running code) or a pure decoder of data. Nothing else resolves.

import type { GlobalRule, PyValue } from "./pickle.js";
import { describe } from "./pickle.js";
import { numpyRules } from "./numpy.js";

/** scikit-learn classes by short name, with every module path they have lived at (0.2x to 1.x). */
export const SKLEARN_CLASSES: Record<string, string[]> = {
  DictVectorizer: ["sklearn.feature_extraction._dict_vectorizer", "sklearn.feature_extraction.dict_vectorizer"],
  LinearRegression: ["sklearn.linear_model._base", "sklearn.linear_model.base"],
  Ridge: ["sklearn.linear_model._ridge", "sklearn.linear_model.ridge"],
  Lasso: ["sklearn.linear_model._coordinate_descent", "sklearn.linear_model.coordinate_descent"],
  ElasticNet: ["sklearn.linear_model._coordinate_descent", "sklearn.linear_model.coordinate_descent"],
  SGDRegressor: ["sklearn.linear_model._stochastic_gradient", "sklearn.linear_model.stochastic_gradient"],
};

const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

function baseRules(): Map<string, GlobalRule> {
  const rules = numpyRules();
  // Protocol 2 writes bytes as _codecs.encode(latin-1 text, "latin1").
  rules.set("_codecs.encode", {
    kind: "function",
    call: ([s, enc], ctx) => {
      if (typeof s !== "string" || (enc !== "latin1" && enc !== "latin-1")) return ctx.fail(`_codecs.encode(${describe(s ?? null)}, ${String(enc)}) is not the bytes idiom`);
      return latin1Bytes(s);
    },
  });
  // copyreg._reconstructor(cls, object, None): protocol 0/1's way of making an instance of cls.
  rules.set("copyreg._reconstructor", {
    kind: "function",
    call: ([cls], ctx) => {
      if (typeof cls !== "object" || cls === null || !("$global" in cls)) return ctx.fail("copyreg._reconstructor of a non-class");
      return { $class: cls.$global, args: [], state: null };
    },
  });
  const asList = (args: PyValue[]): PyValue => (Array.isArray(args[0]) ? [...args[0]] : []);
  rules.set("builtins.set", { kind: "function", call: asList });
  rules.set("builtins.frozenset", { kind: "function", call: asList });
  rules.set("__builtin__.set", { kind: "function", call: asList });
  rules.set("builtins.bytearray", { kind: "function", call: ([b]) => (b instanceof Uint8Array ? b.slice() : typeof b === "string" ? latin1Bytes(b) : new Uint8Array()) });
  rules.set("collections.OrderedDict", { kind: "function", call: () => new Map() });
  return rules;
}

/** The allow-list as a resolver, extended with any extra rules a caller knows about. */
export function makeResolver(extra?: Map<string, GlobalRule>): (module: string, name: string) => GlobalRule | undefined {
  const rules = baseRules();
  for (const [name, paths] of Object.entries(SKLEARN_CLASSES)) for (const p of paths) rules.set(`${p}.${name}`, { kind: "class" });
  if (extra) for (const [k, v] of extra) rules.set(k, v);
  return (module, name) => rules.get(`${module}.${name}`);
}

/** Short scikit-learn class name of a qualified path, if it is one we know. */
export function sklearnClassName(qualified: string): string | undefined {
  const i = qualified.lastIndexOf(".");
  const name = qualified.slice(i + 1);
  return SKLEARN_CLASSES[name]?.includes(qualified.slice(0, i)) ? name : undefined;
}
