// The explicit allow-list of Python globals a model file may name. Everything here is either an inert
// class (recorded, never constructed by running code) or a pure decoder of data. Nothing else resolves.

import type { GlobalRule, PyValue } from "./pickle.js";
import { describe } from "./pickle.js";
import { numpyRules } from "./numpy.js";
import { joblibRules } from "./joblib.js";

/** scikit-learn classes by short name, with every module path they have lived at (0.2x to 1.x). */
export const SKLEARN_CLASSES: Record<string, string[]> = {
  DictVectorizer: ["sklearn.feature_extraction._dict_vectorizer", "sklearn.feature_extraction.dict_vectorizer"],
  LinearRegression: ["sklearn.linear_model._base", "sklearn.linear_model.base"],
  Ridge: ["sklearn.linear_model._ridge", "sklearn.linear_model.ridge"],
  Lasso: ["sklearn.linear_model._coordinate_descent", "sklearn.linear_model.coordinate_descent"],
  ElasticNet: ["sklearn.linear_model._coordinate_descent", "sklearn.linear_model.coordinate_descent"],
  SGDRegressor: ["sklearn.linear_model._stochastic_gradient", "sklearn.linear_model.stochastic_gradient"],
  Pipeline: ["sklearn.pipeline"],
  // Trees and ensembles, and the helper objects they carry (losses, init estimators, binners).
  DecisionTreeRegressor: ["sklearn.tree._classes", "sklearn.tree.tree"],
  ExtraTreeRegressor: ["sklearn.tree._classes", "sklearn.tree.tree"],
  Tree: ["sklearn.tree._tree"],
  RandomForestRegressor: ["sklearn.ensemble._forest", "sklearn.ensemble.forest"],
  ExtraTreesRegressor: ["sklearn.ensemble._forest", "sklearn.ensemble.forest"],
  GradientBoostingRegressor: ["sklearn.ensemble._gb", "sklearn.ensemble.gradient_boosting"],
  DummyRegressor: ["sklearn.dummy"],
  LeastSquaresError: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  LeastAbsoluteError: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  HuberLossFunction: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  QuantileLossFunction: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  HistGradientBoostingRegressor: ["sklearn.ensemble._hist_gradient_boosting.gradient_boosting"],
  TreePredictor: ["sklearn.ensemble._hist_gradient_boosting.predictor"],
  _BinMapper: ["sklearn.ensemble._hist_gradient_boosting.binning"],
  LeastSquares: ["sklearn.ensemble._hist_gradient_boosting.loss"],
  LeastAbsoluteDeviation: ["sklearn.ensemble._hist_gradient_boosting.loss"],
  HalfSquaredError: ["sklearn._loss.loss"],
  AbsoluteError: ["sklearn._loss.loss"],
  PinballLoss: ["sklearn._loss.loss"],
  HalfPoissonLoss: ["sklearn._loss.loss"],
  HalfGammaLoss: ["sklearn._loss.loss"],
  HuberLoss: ["sklearn._loss.loss"],
  IdentityLink: ["sklearn._loss.link"],
  LogLink: ["sklearn._loss.link"],
  Interval: ["sklearn._loss.link"],
  CyHalfSquaredError: ["sklearn._loss._loss"],
  CyAbsoluteError: ["sklearn._loss._loss"],
  CyPinballLoss: ["sklearn._loss._loss"],
  CyHalfPoissonLoss: ["sklearn._loss._loss"],
  CyHalfGammaLoss: ["sklearn._loss._loss"],
  CyHuberLoss: ["sklearn._loss._loss"],
  StandardScaler: ["sklearn.preprocessing._data", "sklearn.preprocessing.data"],
  MaxAbsScaler: ["sklearn.preprocessing._data", "sklearn.preprocessing.data"],
  MinMaxScaler: ["sklearn.preprocessing._data", "sklearn.preprocessing.data"],
  // XGBoost's scikit-learn wrappers: the fitted booster rides along as Booster.handle, its raw model bytes.
  XGBRegressor: ["xgboost.sklearn"],
  XGBClassifier: ["xgboost.sklearn"],
  Booster: ["xgboost.core"],

  // Classifiers (src/sklearn/classifiers.ts) and the helper objects they carry.
  LogisticRegression: ["sklearn.linear_model._logistic", "sklearn.linear_model.logistic"],
  DecisionTreeClassifier: ["sklearn.tree._classes", "sklearn.tree.tree"],
  ExtraTreeClassifier: ["sklearn.tree._classes", "sklearn.tree.tree"],
  RandomForestClassifier: ["sklearn.ensemble._forest", "sklearn.ensemble.forest"],
  ExtraTreesClassifier: ["sklearn.ensemble._forest", "sklearn.ensemble.forest"],
  GradientBoostingClassifier: ["sklearn.ensemble._gb", "sklearn.ensemble.gradient_boosting"],
  DummyClassifier: ["sklearn.dummy"],
  BinomialDeviance: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  MultinomialDeviance: ["sklearn.ensemble._gb_losses", "sklearn.ensemble.gradient_boosting"],
  HistGradientBoostingClassifier: ["sklearn.ensemble._hist_gradient_boosting.gradient_boosting"],
  BinaryCrossEntropy: ["sklearn.ensemble._hist_gradient_boosting.loss"],
  CategoricalCrossEntropy: ["sklearn.ensemble._hist_gradient_boosting.loss"],
  HalfBinomialLoss: ["sklearn._loss.loss"],
  HalfMultinomialLoss: ["sklearn._loss.loss"],
  LogitLink: ["sklearn._loss.link"],
  MultinomialLogit: ["sklearn._loss.link"],
  CyHalfBinomialLoss: ["sklearn._loss._loss"],
  CyHalfMultinomialLoss: ["sklearn._loss._loss"],
  LabelEncoder: ["sklearn.preprocessing._label", "sklearn.preprocessing.label"],
};

const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

function baseRules(): Map<string, GlobalRule> {
  const rules = numpyRules();
  // Protocol 2 writes bytes as _codecs.encode(latin-1 text, "latin1").
  rules.set("_codecs.encode", {
    kind: "function",
    call: ([s, enc], ctx) => {
      if (typeof s !== "string" || (enc !== "latin1" && enc !== "latin-1"))
        return ctx.fail(`_codecs.encode(${describe(s ?? null)}, ${String(enc)}) is not the bytes idiom`);
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
  // Protocols 0/1 make instances with copyreg._reconstructor(cls, object, None): `object` is named, never called.
  rules.set("builtins.object", { kind: "class" });
  rules.set("__builtin__.object", { kind: "class" });
  const asList = (args: PyValue[]): PyValue => (Array.isArray(args[0]) ? [...args[0]] : []);
  rules.set("builtins.set", { kind: "function", call: asList });
  rules.set("builtins.frozenset", { kind: "function", call: asList });
  rules.set("__builtin__.set", { kind: "function", call: asList });
  rules.set("builtins.bytearray", {
    kind: "function",
    call: ([b]) => (b instanceof Uint8Array ? b.slice() : typeof b === "string" ? latin1Bytes(b) : new Uint8Array()),
  });
  rules.set("collections.OrderedDict", { kind: "function", call: () => new Map() });
  // bytes() is how protocol 2 writes b"" (sklearn's Cython losses pickle one).
  for (const b of ["builtins.bytes", "__builtin__.bytes"]) {
    rules.set(b, { kind: "function", call: (args, ctx) => (args.length === 0 ? new Uint8Array() : ctx.fail(`${b} called with arguments`)) });
  }
  // numpy RandomState objects ride along in fitted ensembles (GradientBoosting's _rng); kept as inert data.
  const rng = (cls: string): GlobalRule => ({ kind: "function", call: () => ({ $class: cls, args: [], state: null }) });
  for (const m of ["numpy.random._pickle", "numpy.random.__init__"]) {
    rules.set(`${m}.__randomstate_ctor`, rng("numpy.random.mtrand.RandomState"));
    rules.set(`${m}.__bit_generator_ctor`, rng("numpy.random._mt19937.MT19937"));
    rules.set(`${m}.__generator_ctor`, rng("numpy.random._generator.Generator"));
  }
  for (const c of ["numpy.random.mtrand.RandomState", "numpy.random._mt19937.MT19937", "numpy.random._generator.Generator", "numpy.random._pcg64.PCG64"]) {
    rules.set(c, { kind: "class" });
  }
  // Cython classes pickle through a module-level __pyx_unpickle_<Class>(type, checksum, state): kept as data.
  for (const c of [
    "CyHalfSquaredError",
    "CyAbsoluteError",
    "CyPinballLoss",
    "CyHalfPoissonLoss",
    "CyHalfGammaLoss",
    "CyHuberLoss",
    "CyHalfBinomialLoss",
    "CyHalfMultinomialLoss",
  ]) {
    rules.set(`sklearn._loss._loss.__pyx_unpickle_${c}`, {
      kind: "function",
      call: ([, , state]) => ({ $class: `sklearn._loss._loss.${c}`, args: [], state: state ?? null }),
    });
  }
  for (const [k, v] of joblibRules()) rules.set(k, v);
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
