// From unpickled scikit-learn objects (inert PyObjects) to the artifact's vectorizer and estimator.

import type { ClassifierSpec, DictVectorizerSpec, Estimator, ScalerSpec } from "../artifact/types.js";
import { numbersOf } from "./numpy.js";
import type { PyObject, PyValue } from "./pickle.js";
import { describe, isPyObject } from "./pickle.js";
import { SCALERS, scalerSpec } from "./scalers.js";
import { attr, shortName, stateOf } from "./state.js";
import { treeEstimator } from "./trees.js";
import { wrapperClassifier, wrapperEstimator, XGBOOST_WRAPPERS } from "../xgboost/sklearn.js";

import { CLASSIFIERS, classifierParts } from "./classifiers.js";

export { attr, shortName, stateOf };

export interface ModelParts {
  vectorizer: DictVectorizerSpec;
  /** Scaling steps of the Pipeline between the vectorizer and the estimator. */
  scalers?: ScalerSpec[];
  estimator: Estimator;
  /** Classifiers: classes and how raw outputs become probabilities. */
  classifier?: ClassifierSpec;
  /** _sklearn_version of each object that recorded one, by class name. */
  sklearnVersions: Record<string, string>;
}

type Fail = (message: string) => never;

/** The (DictVectorizer, estimator) pair of a (dv, model) tuple or list, or a Pipeline / make_pipeline of them. */
export function modelObjects(root: PyValue, fail: Fail): { dv: PyObject; scalers: PyObject[]; est: PyObject; pipeline: boolean } {
  if (isPyObject(root) && shortName(root) === "Pipeline") {
    const steps = attr(root, "steps", fail);
    if (!Array.isArray(steps)) return fail(`Pipeline.steps is a ${describe(steps)}, not a list`);
    const objs: PyObject[] = [];
    steps.forEach((step, i) => {
      if (!Array.isArray(step) || step.length !== 2) fail(`Pipeline.steps[${i}] is not a (name, estimator) pair`);
      const obj = (step as PyValue[])[1]!;
      if (obj === null || obj === "passthrough") return; // skipped steps
      if (!isPyObject(obj)) fail(`Pipeline step ${JSON.stringify((step as PyValue[])[0])} is a ${describe(obj)}`);
      objs.push(obj as PyObject);
    });
    const names = objs.map(shortName);
    const middle = names.slice(1, -1);
    if (objs.length < 2 || names[0] !== "DictVectorizer" || !middle.every((m) => SCALERS.has(m))) {
      fail(
        `expected a Pipeline of DictVectorizer, optional scalers (${[...SCALERS].join(", ")}), then one estimator; found steps ${names.join(" -> ") || "(none)"}`,
      );
    }
    return { dv: objs[0]!, scalers: objs.slice(1, -1), est: objs[objs.length - 1]!, pipeline: true };
  }
  const objs = Array.isArray(root) ? root : [root];
  const dv = objs.find((o) => isPyObject(o) && shortName(o) === "DictVectorizer") as PyObject | undefined;
  const est = objs.find((o) => isPyObject(o) && shortName(o) !== "DictVectorizer") as PyObject | undefined;
  if (!dv || !est || objs.length !== 2) {
    fail(
      `expected a Pipeline(DictVectorizer, estimator) or a (DictVectorizer, estimator) tuple, found ${Array.isArray(root) ? `a tuple of ${objs.map(describe).join(", ")}` : describe(root)}`,
    );
  }
  return { dv: dv!, scalers: [], est: est!, pipeline: false };
}

export function modelParts(root: PyValue, fail: Fail): ModelParts {
  const { dv, scalers, est } = modelObjects(root, fail);
  const versions: Record<string, string> = {};
  const pipe = isPyObject(root) && shortName(root) === "Pipeline" ? [root] : [];
  for (const o of [...pipe, dv, ...scalers, est]) {
    const v = stateOf(o, fail).get("_sklearn_version");
    if (typeof v === "string") versions[shortName(o)] = v;
  }
  const vectorizer = dictVectorizer(dv, fail);
  const n = vectorizer.feature_names.length;
  const cls = shortName(est);
  const specs = scalers.map((o) => scalerSpec(o, n, vectorizer.sparse !== false, fail));
  const withScalers = specs.length ? { scalers: specs } : {};
  // Centring or shifting a dense matrix makes every unset feature non-zero: the linear regressor and XGBoost
  // paths carry per-feature defaults; scikit-learn's tree walk and the classifiers read unset features as 0.
  const shifts = specs.some((sc) => sc.kind === "MinMaxScaler" || (sc.kind === "StandardScaler" && sc.mean !== null));
  const refuseShift = () =>
    fail(
      `${specs.map((sc) => sc.kind).join(", ")} shifting features before ${cls} is not supported (drop the scaler, or use StandardScaler(with_mean=False) / MaxAbsScaler)`,
    );
  if (cls === "XGBClassifier") {
    if (shifts) refuseShift();
    return { vectorizer, ...wrapperClassifier(est, n, absentFeatures(dv, fail), fail), sklearnVersions: versions, ...withScalers };
  }
  if (CLASSIFIERS.has(cls)) {
    if (shifts) refuseShift();
    return { vectorizer, ...classifierParts(est, n, fail), sklearnVersions: versions, ...withScalers };
  }
  const estimator = LINEAR.has(cls)
    ? linear(est, n, fail)
    : XGBOOST_WRAPPERS.has(cls)
      ? wrapperEstimator(est, n, absentFeatures(dv, fail), fail)
      : treeEstimator(est, n, fail);
  if (estimator.kind === "tree_ensemble" && shifts) refuseShift();
  return { vectorizer, estimator, sklearnVersions: versions, ...withScalers };
}

export function dictVectorizer(dv: PyObject, fail: Fail): DictVectorizerSpec {
  const sep = stateOf(dv, fail).get("separator") ?? "=";
  if (typeof sep !== "string") fail("DictVectorizer.separator is not a string");
  const vocab = attr(dv, "vocabulary_", fail);
  if (!(vocab instanceof Map)) return fail("DictVectorizer.vocabulary_ is not a dict");
  const names: string[] = new Array(vocab.size);
  for (const [k, v] of vocab) {
    if (typeof k !== "string" || typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= vocab.size || names[v] !== undefined) {
      fail(`DictVectorizer.vocabulary_ entry ${JSON.stringify(k)} -> ${String(v)} is not a valid column index`);
    }
    names[v as number] = k as string;
  }
  const listed = stateOf(dv, fail).get("feature_names_");
  if (Array.isArray(listed) && (listed.length !== names.length || listed.some((n, i) => n !== names[i]))) {
    fail("DictVectorizer.feature_names_ disagrees with vocabulary_");
  }
  return { kind: "DictVectorizer", separator: sep as string, feature_names: names, ...(stateOf(dv, fail).get("sparse") === false ? { sparse: false } : {}) };
}

/**
 * How DictVectorizer hands an unset feature to the estimator: "missing" when it builds a sparse matrix
 * (the default; XGBoost treats an entry that is not stored as missing), "zero" when sparse=False.
 */
export function absentFeatures(dv: PyObject, fail: Fail): "missing" | "zero" {
  const sparse = stateOf(dv, fail).get("sparse");
  return sparse === false ? "zero" : "missing";
}

const LINEAR = new Set(["LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor"]);

export function linear(est: PyObject, nFeatures: number, fail: Fail): Estimator {
  const cls = shortName(est);
  if (!LINEAR.has(cls)) fail(`estimator ${est.$class} is not supported`);
  const coefV = attr(est, "coef_", fail);
  const coef = numbersOf(coefV, `${cls}.coef_`, fail);
  if (typeof coefV === "object" && coefV !== null && "shape" in coefV) {
    const shape = (coefV as { shape: number[] }).shape;
    if (shape.length > 1 && shape[0] !== 1) fail(`${cls}.coef_ has shape [${shape}]: multi-output models are not supported`);
  }
  if (coef.length !== nFeatures) fail(`${cls}.coef_ has ${coef.length} entries but the DictVectorizer has ${nFeatures} features`);
  const interceptV = stateOf(est, fail).get("intercept_") ?? 0;
  const intercepts = numbersOf(interceptV, `${cls}.intercept_`, fail);
  if (intercepts.length !== 1) fail(`${cls}.intercept_ has ${intercepts.length} values: multi-output models are not supported`);
  const bad = coef.findIndex((c) => !Number.isFinite(c));
  if (bad >= 0) fail(`${cls}.coef_[${bad}] is ${coef[bad]}: the model cannot predict`);
  if (!Number.isFinite(intercepts[0]!)) fail(`${cls}.intercept_ is ${intercepts[0]}`);
  return { kind: "linear", sklearn_class: cls, coef, intercept: intercepts[0]! };
}
