// scikit-learn classifiers, read from their pickled state: the estimator's raw outputs (one, or one per
// class) and how predict_proba / predict turn them into probabilities and a label (the artifact's classifier).
//   LogisticRegression: coef_ (1 or K rows), intercept_, multi_class + solver decide OvR (expit) or softmax.
//   DecisionTree / ExtraTree / RandomForest / ExtraTrees classifiers: trees whose leaves hold K class counts.
//   GradientBoostingClassifier: estimators_ (stages x K regression trees), init_ a prior DummyClassifier or "zero".
//   HistGradientBoostingClassifier: _baseline_prediction (1 x K), _predictors (iterations x K TreePredictors).

import type { ClassifierSpec, ClassLabel, Estimator, TreeEnsembleEstimator, TreeSpec } from "../artifact/types.js";
import { isNdArray, numbersOf } from "./numpy.js";
import type { PyObject, PyValue } from "./pickle.js";
import { describe, isPyObject } from "./pickle.js";
import { attr, shortName, stateOf } from "./state.js";
import { type Charge, histTree, MAX_TREE_NODES, objects, scalarOf, sklearnTree } from "./trees.js";

type Fail = (message: string) => never;

export const CLASSIFIERS = new Set([
  "LogisticRegression",
  "DecisionTreeClassifier",
  "ExtraTreeClassifier",
  "RandomForestClassifier",
  "ExtraTreesClassifier",
  "GradientBoostingClassifier",
  "HistGradientBoostingClassifier",
]);

export interface ClassifierParts {
  estimator: Estimator;
  classifier: ClassifierSpec;
}

export function classifierParts(est: PyObject, nFeatures: number, fail: Fail): ClassifierParts {
  const cls = shortName(est);
  const { classes, names } = classesOf(est, fail);
  const spec = (link: ClassifierSpec["link"], decision: ClassifierSpec["decision"]): ClassifierSpec => ({ classes, class_names: names, link, decision });
  let total = 0;
  const charge: Charge = (n) => {
    total += n;
    if (total > MAX_TREE_NODES) fail(`${cls} has more than ${MAX_TREE_NODES} tree nodes in all: too large to import`);
  };
  const k = classes.length;
  switch (cls) {
    case "LogisticRegression":
      return logistic(est, nFeatures, classes.length, spec, fail);
    case "DecisionTreeClassifier":
    case "ExtraTreeClassifier":
    case "RandomForestClassifier":
    case "ExtraTreesClassifier": {
      const single = cls.endsWith("TreeClassifier");
      const members = single ? [est] : objects(attr(est, "estimators_", fail), `${cls}.estimators_`, fail);
      if (!members.length) fail(`${cls}.estimators_ is empty`);
      const trees = members.map((m, i) => classTree(m, nFeatures, k, single ? cls : `${cls}.estimators_[${i}]`, fail, charge));
      // predict_proba: each tree's leaf counts over their sum, summed over the trees in order, divided by their number.
      const estimator: Estimator = {
        kind: "tree_ensemble",
        sklearn_class: cls,
        aggregate: "mean",
        compare: "float32",
        init: 0,
        scale: 1,
        outputs: k,
        value_width: k,
        normalize_leaves: true,
        trees,
      };
      return { estimator, classifier: spec("identity", "proba") };
    }
    case "GradientBoostingClassifier":
      return gradientBoosting(est, nFeatures, k, spec, fail, charge);
    case "HistGradientBoostingClassifier":
      return histGradientBoosting(est, nFeatures, k, spec, fail, charge);
  }
  return fail(`estimator ${est.$class} is not supported`);
}

type Spec = (link: ClassifierSpec["link"], decision: ClassifierSpec["decision"]) => ClassifierSpec;

/** classes_ as JSON values, and each as Python's str() prints it. */
export function classesOf(est: PyObject, fail: Fail): { classes: ClassLabel[]; names: string[] } {
  const cls = shortName(est);
  const v = attr(est, "classes_", fail);
  if (!isNdArray(v) || !Array.isArray(v.data) || v.shape.length !== 1)
    return fail(`${cls}.classes_ must be a one-dimensional numpy array, got ${describe(v)}${isNdArray(v) ? ` of shape [${v.shape}]` : ""}`);
  const kind = v.dtype?.kind ?? "O";
  const data = v.data as PyValue[];
  let classes: ClassLabel[];
  let names: string[];
  if (kind === "b") {
    classes = data.map((x) => x === 1 || x === true);
    names = classes.map((b) => (b ? "True" : "False"));
  } else if (kind === "i" || kind === "u") {
    classes = data as number[];
    names = classes.map(String);
  } else if (kind === "f") {
    classes = data as number[];
    names = (data as number[]).map(pyFloatStr);
  } else if (kind === "U" || kind === "S") {
    classes = data as string[];
    names = data.map((x) => (kind === "S" ? `b'${x}'` : (x as string))); // str(np.bytes_(b"a")) is "b'a'"
  } else if (kind === "O") {
    classes = data.map((x, i) => {
      if (typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && Number.isFinite(x))) return x;
      if (typeof x === "bigint") return Number(x);
      return fail(`${cls}.classes_[${i}] is a ${describe(x)}: class labels must be strings, numbers or booleans`);
    });
    names = classes.map((c) => (typeof c === "boolean" ? (c ? "True" : "False") : String(c)));
  } else return fail(`${cls}.classes_ has numpy dtype kind ${kind}: class labels must be strings, numbers or booleans`);
  if (classes.length < 2) fail(`${cls}.classes_ has ${classes.length} class: a classifier needs at least two`);
  if (new Set(names).size !== names.length) fail(`${cls}.classes_ prints two classes the same way (${names.join(", ")})`);
  return { classes, names };
}

/** Python's str() of a float: shortest round-trip digits, always a decimal point or exponent ("1.0", "1e-07", "1e+16"). */
function pyFloatStr(x: number): string {
  if (!Number.isFinite(x)) return x !== x ? "nan" : x > 0 ? "inf" : "-inf";
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [m, e] = x.toExponential().split("e") as [string, string];
    const exp = Number(e);
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const s = String(x);
  return s.includes(".") || s.includes("e") ? s : `${s}.0`;
}

/**
 * LogisticRegression.predict_proba: one-vs-rest (expit, normalised over classes when there are more than two)
 * when multi_class is "ovr", or "auto" with two classes or a liblinear / newton-cholesky solver; softmax otherwise.
 * predict: the decision function's sign (one row of coef_) or argmax.
 */
function logistic(est: PyObject, nFeatures: number, k: number, spec: Spec, fail: Fail): ClassifierParts {
  const cls = "LogisticRegression";
  const coefV = attr(est, "coef_", fail);
  const coef = numbersOf(coefV, `${cls}.coef_`, fail);
  const rows = isNdArray(coefV) && coefV.shape.length === 2 ? coefV.shape[0]! : 1;
  if (rows !== (k === 2 ? 1 : k)) fail(`${cls}.coef_ has ${rows} rows for ${k} classes`);
  if (coef.length !== rows * nFeatures) fail(`${cls}.coef_ has ${coef.length} entries but the DictVectorizer has ${nFeatures} features (x ${rows})`);
  const intercept = numbersOf(stateOf(est, fail).get("intercept_") ?? 0, `${cls}.intercept_`, fail);
  const intercepts = intercept.length === 1 && rows > 1 ? new Array<number>(rows).fill(intercept[0]!) : intercept; // fit_intercept=False stores 0.0
  if (intercepts.length !== rows) fail(`${cls}.intercept_ has ${intercept.length} values for ${rows} rows of coef_`);
  const bad = [...coef, ...intercepts].findIndex((c) => !Number.isFinite(c));
  if (bad >= 0) fail(`${cls} has a non-finite coefficient: the model cannot predict`);
  const st = stateOf(est, fail);
  const multi = st.get("multi_class") ?? "auto";
  const solver = st.get("solver") ?? "lbfgs";
  const ovr = multi === "ovr" || multi === "warn" || (multi === "auto" && (k <= 2 || solver === "liblinear" || solver === "newton-cholesky"));
  if (!ovr && multi !== "multinomial" && multi !== "auto") fail(`${cls}.multi_class ${describe(multi)} is not supported`);
  const link = ovr ? (rows === 1 ? "logistic" : "logistic_ovr") : "softmax";
  const estimator: Estimator =
    rows === 1
      ? { kind: "linear", sklearn_class: cls, coef, intercept: intercepts[0]! }
      : { kind: "linear", sklearn_class: cls, coef, intercept: intercepts, outputs: rows };
  return { estimator, classifier: spec(link, "raw") };
}

/** A fitted classification tree (DecisionTreeClassifier / ExtraTreeClassifier): K weighted class counts per node. */
function classTree(est: PyValue, nFeatures: number, k: number, what: string, fail: Fail, charge: Charge): TreeSpec {
  if (!isPyObject(est) || !["DecisionTreeClassifier", "ExtraTreeClassifier"].includes(shortName(est)))
    return fail(`${what} is a ${describe(est)}, not a DecisionTreeClassifier`);
  return sklearnTree(attr(est, "tree_", fail), nFeatures, `${what}.tree_`, fail, charge, k);
}

/** float32's machine epsilon: GradientBoosting clips the prior to [eps, 1 - eps] before taking logs. */
const EPS32 = 2 ** -23;
const clip = (p: number) => Math.min(Math.max(p, EPS32), 1 - EPS32);

/**
 * raw = the loss's init from the prior (binomial: log(p / (1 - p)) of class 1; multinomial: log p of each)
 * or 0 ("zero"), then raw[k] += learning_rate * tree(X) stage by stage. Probabilities: expit / exp(raw - logsumexp).
 */
function gradientBoosting(est: PyObject, nFeatures: number, k: number, spec: Spec, fail: Fail, charge: Charge): ClassifierParts {
  const cls = "GradientBoostingClassifier";
  const loss = stateOf(est, fail).get("loss");
  if (typeof loss === "string" && !["log_loss", "deviance"].includes(loss))
    fail(`${cls} loss ${loss} is not supported (only log_loss / deviance, whose probabilities are expit or softmax)`);
  const m = k === 2 ? 1 : k;
  const lr = scalarOf(attr(est, "learning_rate", fail), `${cls}.learning_rate`, fail);
  const stages = attr(est, "estimators_", fail);
  if (!isNdArray(stages) || stages.shape.length !== 2 || stages.shape[1] !== m)
    fail(`${cls}.estimators_ must be an array of stages x ${m} trees, got ${isNdArray(stages) ? `shape [${stages.shape}]` : describe(stages)}`);
  const members = objects(stages, `${cls}.estimators_`, fail);
  if (!members.length) fail(`${cls}.estimators_ is empty`);
  // C order: stage i's tree for output j is member i * m + j, so tree t adds to output t % m.
  const trees = members.map((t, i) => regressionTree(t, nFeatures, `${cls}.estimators_[${Math.floor(i / m)}, ${i % m}]`, fail, charge));
  const initV = attr(est, "init_", fail);
  let init: number[];
  if (initV === "zero") init = new Array<number>(m).fill(0);
  else if (isPyObject(initV) && shortName(initV) === "DummyClassifier") {
    const strategy = stateOf(initV, fail).get("strategy") ?? "prior";
    if (strategy !== "prior") fail(`${cls}.init_ is a DummyClassifier(strategy=${describe(strategy)}): only "prior" (the default) is supported`);
    const prior = numbersOf(attr(initV, "class_prior_", fail), `${cls}.init_.class_prior_`, fail);
    if (prior.length !== k) fail(`${cls}.init_.class_prior_ has ${prior.length} values for ${k} classes`);
    init = m === 1 ? [Math.log(clip(prior[1]!) / (1 - clip(prior[1]!)))] : prior.map((p) => Math.log(clip(p)));
  } else return fail(`${cls}.init_ is a ${describe(initV)}: only DummyClassifier (the default) and "zero" are supported`);
  return { estimator: boosted(cls, "float32", init, lr, trees), classifier: spec(m === 1 ? "logistic" : "logsumexp", "proba") };
}

/** A boosted ensemble's raw scores: init + scale x the sum of its trees; one output per class, or one for two classes. */
function boosted(cls: string, compare: TreeEnsembleEstimator["compare"], init: readonly number[], scale: number, trees: TreeSpec[]): Estimator {
  const m = init.length;
  return {
    kind: "tree_ensemble",
    sklearn_class: cls,
    aggregate: "sum",
    compare,
    init: m === 1 ? init[0]! : [...init],
    scale,
    ...(m > 1 ? { outputs: m } : {}),
    trees,
  };
}

function regressionTree(t: PyValue, nFeatures: number, what: string, fail: Fail, charge: Charge): TreeSpec {
  if (!isPyObject(t) || shortName(t) !== "DecisionTreeRegressor") return fail(`${what} is a ${describe(t)}, not a DecisionTreeRegressor`);
  return sklearnTree(attr(t, "tree_", fail), nFeatures, `${what}.tree_`, fail, charge);
}

/** raw = _baseline_prediction + the iterations' tree values (float64 features); probabilities by expit / softmax. */
function histGradientBoosting(est: PyObject, nFeatures: number, k: number, spec: Spec, fail: Fail, charge: Charge): ClassifierParts {
  const cls = "HistGradientBoostingClassifier";
  const st = stateOf(est, fail);
  const loss = st.get("loss");
  if (typeof loss === "string" && !["log_loss", "auto", "binary_crossentropy", "categorical_crossentropy"].includes(loss))
    fail(`${cls} loss ${loss} is not supported`);
  const cat = st.get("is_categorical_");
  if (cat !== undefined && cat !== null && numbersOf(cat, `${cls}.is_categorical_`, fail).some((c) => c))
    fail(`${cls} with categorical features is not supported`);
  const m = k === 2 ? 1 : k;
  const baseline = numbersOf(attr(est, "_baseline_prediction", fail), `${cls}._baseline_prediction`, fail);
  if (baseline.length !== m || !baseline.every(Number.isFinite)) fail(`${cls}._baseline_prediction has ${baseline.length} values for ${m} outputs`);
  const iterations = objects(attr(est, "_predictors", fail), `${cls}._predictors`, fail);
  if (!iterations.length) fail(`${cls}._predictors is empty`);
  const trees = iterations.flatMap((it, i) => {
    const preds = objects(it, `${cls}._predictors[${i}]`, fail);
    if (preds.length !== m) fail(`${cls}._predictors[${i}] has ${preds.length} trees for ${m} outputs`);
    return preds.map((p, j) => histTree(p, nFeatures, `${cls}._predictors[${i}][${j}]`, fail, charge));
  });
  return { estimator: boosted(cls, "float64", baseline, 1, trees), classifier: spec(m === 1 ? "logistic" : "softmax", "proba") };
}
