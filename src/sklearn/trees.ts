// scikit-learn's tree models, read from their pickled state into the artifact's parallel-array trees.
//   sklearn.tree._tree.Tree: REDUCE(Tree, (n_features, n_classes, n_outputs)) + BUILD {max_depth, node_count,
//     nodes: structured array (left_child, right_child, feature, threshold, impurity, n_node_samples,
//     weighted_n_node_samples[, missing_go_to_left since 1.3]), values: (node_count, n_outputs, max_n_classes)}
//   HistGradientBoosting's TreePredictor: {nodes: structured array (value, count, feature_idx,
//     num_threshold (threshold before 0.24), missing_go_to_left, left, right, ..., is_leaf, is_categorical...)}

import type { TreeEnsembleEstimator, TreeSpec } from "../artifact/types.js";
import { isNdArray, numbersOf, type Records } from "./numpy.js";
import type { PyObject, PyValue } from "./pickle.js";
import { describe, isPyObject } from "./pickle.js";
import { attr, shortName, stateOf } from "./state.js";

type Fail = (message: string) => never;

/** Nodes across all trees of one model. A forest can name one tree a million times through the memo;
 *  the artifact would then hold a million copies. 5M nodes is far beyond the models ridepred serves. */
export const MAX_TREE_NODES = 5_000_000;
export type Charge = (nodes: number) => void;

export function records(v: PyValue, what: string, fail: Fail): { n: number; cols: Records } {
  if (!isNdArray(v) || !v.dtype?.fields || Array.isArray(v.data)) return fail(`${what} must be a structured numpy array, got ${describe(v)}`);
  if (v.shape.length !== 1) fail(`${what} has shape [${v.shape}], expected one dimension`);
  return { n: v.shape[0]!, cols: v.data as Records };
}

export function column(cols: Records, names: string[], what: string, fail: Fail): number[] {
  for (const name of names) {
    const c = cols[name];
    if (Array.isArray(c) && c.every((x) => typeof x === "number")) return c as number[];
  }
  return fail(`${what} has no numeric ${names.join("/")} field (fields: ${Object.keys(cols).join(", ")})`);
}

/** Nodes must form a tree whose children follow their parent (as both builders lay them out): no cycles. */
export function checkTopology(t: TreeSpec, nFeatures: number, what: string, fail: Fail): void {
  const n = t.feature.length;
  for (let i = 0; i < n; i++) {
    if (t.feature[i]! < 0) continue;
    if (!Number.isInteger(t.feature[i]) || t.feature[i]! >= nFeatures)
      fail(`${what} node ${i} splits on feature ${t.feature[i]}, but there are ${nFeatures} features`);
    const l = t.left[i]!;
    const r = t.right[i]!;
    if (!(l > i && l < n && r > i && r < n)) fail(`${what} node ${i} has children ${l}/${r} outside the tree of ${n} nodes`);
    if (Number.isNaN(t.threshold[i])) fail(`${what} node ${i} has a NaN threshold`);
  }
  const bad = t.value.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) fail(`${what} node ${bad} has value ${t.value[bad]}: the model cannot predict`);
}

/**
 * A fitted sklearn.tree._tree.Tree (one output) as a TreeSpec: a regression tree's node values, or with
 * `classes` a classification tree's weighted class counts (`classes` numbers a node).
 */
export function sklearnTree(tree: PyValue, nFeatures: number, what: string, fail: Fail, charge: Charge = () => {}, classes?: number): TreeSpec {
  if (!isPyObject(tree) || shortName(tree) !== "Tree") return fail(`${what} is a ${describe(tree)}, not a sklearn.tree._tree.Tree`);
  const [nf, nClasses, nOutputs] = tree.args;
  if (typeof nOutputs === "number" && nOutputs !== 1) fail(`${what} has ${nOutputs} outputs: multi-output models are not supported`);
  if (typeof nf === "number" && nf !== nFeatures) fail(`${what} was fitted on ${nf} features, but the DictVectorizer makes ${nFeatures}`);
  if (classes !== undefined) {
    const kk = numbersOf(nClasses ?? null, `${what} n_classes`, fail);
    if (kk.length !== 1 || kk[0] !== classes) fail(`${what} has [${kk}] classes, but classes_ lists ${classes}`);
  }
  const st = stateOf(tree, fail);
  const { n, cols } = records(st.get("nodes") ?? null, `${what}.nodes`, fail);
  charge(n);
  const nodeCount = st.get("node_count");
  if (typeof nodeCount === "number" && nodeCount !== n) fail(`${what} says node_count ${nodeCount} but has ${n} nodes`);
  const valuesV = st.get("values") ?? null;
  const values = numbersOf(valuesV, `${what}.values`, fail);
  if (classes !== undefined) {
    if (values.length !== n * classes) fail(`${what}.values has ${values.length} numbers for ${n} nodes of ${classes} classes`);
  } else if (values.length !== n || (isNdArray(valuesV) && valuesV.shape[0] !== n)) {
    fail(`${what}.values has shape [${isNdArray(valuesV) ? valuesV.shape : values.length}] for ${n} nodes: only single-output regression trees are supported`);
  }
  const left = column(cols, ["left_child"], `${what}.nodes`, fail);
  const right = column(cols, ["right_child"], `${what}.nodes`, fail);
  const feature = column(cols, ["feature"], `${what}.nodes`, fail);
  const threshold = column(cols, ["threshold"], `${what}.nodes`, fail);
  const spec: TreeSpec = {
    // A leaf has left_child == -1 (TREE_LEAF); its feature is -2 (TREE_UNDEFINED). Store -1 uniformly.
    feature: feature.map((f, i) => (left[i] === -1 ? -1 : f)),
    threshold: threshold.map((t, i) => (left[i] === -1 ? 0 : t)),
    left: left.map((l) => (l === -1 ? 0 : l)),
    right: right.map((r) => (r === -1 ? 0 : r)),
    value: values,
  };
  if (cols.missing_go_to_left) spec.missing_left = column(cols, ["missing_go_to_left"], `${what}.nodes`, fail).map((m, i) => (left[i] === -1 ? 0 : m ? 1 : 0));
  checkTopology(spec, nFeatures, what, fail);
  return spec;
}

function decisionTree(est: PyValue, nFeatures: number, what: string, fail: Fail, charge: Charge): TreeSpec {
  if (!isPyObject(est) || !["DecisionTreeRegressor", "ExtraTreeRegressor"].includes(shortName(est))) {
    return fail(`${what} is a ${describe(est)}, not a DecisionTreeRegressor`);
  }
  return sklearnTree(attr(est, "tree_", fail), nFeatures, `${what}.tree_`, fail, charge);
}

export const objects = (v: PyValue, what: string, fail: Fail): PyValue[] => {
  if (Array.isArray(v)) return v;
  if (isNdArray(v) && Array.isArray(v.data) && v.dtype?.kind === "O") return v.data as PyValue[];
  return fail(`${what} must be a list or object array of estimators, got ${describe(v)}`);
};

export function scalarOf(v: PyValue, what: string, fail: Fail): number {
  const xs = numbersOf(v, what, fail);
  if (xs.length !== 1 || !Number.isFinite(xs[0])) fail(`${what} must be one finite number, got [${xs.slice(0, 3)}${xs.length > 3 ? ", ..." : ""}]`);
  return xs[0]!;
}

export function treeEstimator(est: PyObject, nFeatures: number, fail: Fail): TreeEnsembleEstimator {
  const cls = shortName(est);
  const base = { kind: "tree_ensemble" as const, sklearn_class: cls };
  let total = 0;
  const charge: Charge = (n) => {
    total += n;
    if (total > MAX_TREE_NODES) fail(`${cls} has more than ${MAX_TREE_NODES} tree nodes in all: too large to import`);
  };
  switch (cls) {
    case "DecisionTreeRegressor":
    case "ExtraTreeRegressor":
      return { ...base, aggregate: "sum", compare: "float32", init: 0, scale: 1, trees: [decisionTree(est, nFeatures, cls, fail, charge)] };
    case "RandomForestRegressor":
    case "ExtraTreesRegressor": {
      const members = objects(attr(est, "estimators_", fail), `${cls}.estimators_`, fail);
      if (!members.length) fail(`${cls}.estimators_ is empty`);
      const trees = members.map((m, i) => decisionTree(m, nFeatures, `${cls}.estimators_[${i}]`, fail, charge));
      // Forests average: sum of tree outputs in order, then divided by the count (as _accumulate_prediction).
      return { ...base, aggregate: "mean", compare: "float32", init: 0, scale: 1, trees };
    }
    case "GradientBoostingRegressor":
      return gradientBoosting(est, nFeatures, fail, charge);
    case "HistGradientBoostingRegressor":
      return histGradientBoosting(est, nFeatures, fail, charge);
  }
  return fail(`estimator ${est.$class} is not supported`);
}

function gradientBoosting(est: PyObject, nFeatures: number, fail: Fail, charge: Charge): TreeEnsembleEstimator {
  const cls = "GradientBoostingRegressor";
  const lr = scalarOf(attr(est, "learning_rate", fail), `${cls}.learning_rate`, fail);
  const stages = attr(est, "estimators_", fail);
  if (isNdArray(stages) && stages.shape.length === 2 && stages.shape[1] !== 1)
    fail(`${cls}.estimators_ has shape [${stages.shape}]: only one tree per stage (regression) is supported`);
  const members = objects(stages, `${cls}.estimators_`, fail);
  if (!members.length) fail(`${cls}.estimators_ is empty`);
  const trees = members.map((m, i) => decisionTree(m, nFeatures, `${cls}.estimators_[${i}]`, fail, charge));
  // raw = init_.predict(X), then raw += learning_rate * tree(X) per stage (predict_stages).
  const initV = attr(est, "init_", fail);
  let init: number;
  if (initV === "zero") init = 0;
  else if (isPyObject(initV) && shortName(initV) === "DummyRegressor") init = scalarOf(attr(initV, "constant_", fail), `${cls}.init_.constant_`, fail);
  else return fail(`${cls}.init_ is a ${describe(initV)}: only DummyRegressor (the default) and "zero" are supported`);
  const loss = stateOf(est, fail).get("loss");
  if (typeof loss === "string" && !["squared_error", "ls", "absolute_error", "lad", "huber", "quantile"].includes(loss))
    fail(`${cls} loss ${loss} is not supported`);
  return { kind: "tree_ensemble", sklearn_class: cls, aggregate: "sum", compare: "float32", init, scale: lr, trees };
}

function histGradientBoosting(est: PyObject, nFeatures: number, fail: Fail, charge: Charge): TreeEnsembleEstimator {
  const cls = "HistGradientBoostingRegressor";
  const st = stateOf(est, fail);
  const loss = st.get("loss");
  // Identity-link losses predict the raw sums; poisson and gamma predict exp(raw) (their LogLink's inverse).
  const identity = ["squared_error", "least_squares", "absolute_error", "least_absolute_deviation", "quantile"];
  if (typeof loss === "string" && !identity.includes(loss) && !EXP_LINK.includes(loss)) {
    fail(`${cls} loss ${loss} is not supported (supported: ${[...identity, ...EXP_LINK].join(", ")})`);
  }
  const cat = st.get("is_categorical_");
  if (cat !== undefined && cat !== null && numbersOf(cat, `${cls}.is_categorical_`, fail).some((c) => c))
    fail(`${cls} with categorical features is not supported`);
  const init = scalarOf(attr(est, "_baseline_prediction", fail), `${cls}._baseline_prediction`, fail);
  const iterations = objects(attr(est, "_predictors", fail), `${cls}._predictors`, fail);
  if (!iterations.length) fail(`${cls}._predictors is empty`);
  const trees = iterations.map((it, i) => {
    const preds = objects(it, `${cls}._predictors[${i}]`, fail);
    if (preds.length !== 1) fail(`${cls}._predictors[${i}] has ${preds.length} trees: only one per iteration (regression) is supported`);
    return histTree(preds[0]!, nFeatures, `${cls}._predictors[${i}][0]`, fail, charge);
  });
  const link = typeof loss === "string" && EXP_LINK.includes(loss) ? { link: "exp" as const } : {};
  return { kind: "tree_ensemble", sklearn_class: cls, aggregate: "sum", compare: "float64", init, scale: 1, trees, ...link };
}

const EXP_LINK = ["poisson", "gamma"];

export function histTree(p: PyValue, nFeatures: number, what: string, fail: Fail, charge: Charge): TreeSpec {
  if (!isPyObject(p) || shortName(p) !== "TreePredictor") return fail(`${what} is a ${describe(p)}, not a TreePredictor`);
  const { n, cols } = records(stateOf(p, fail).get("nodes") ?? null, `${what}.nodes`, fail);
  charge(n);
  const isLeaf = column(cols, ["is_leaf"], `${what}.nodes`, fail);
  const categorical = cols.is_categorical ? column(cols, ["is_categorical"], `${what}.nodes`, fail) : [];
  if (categorical.some((c, i) => c && !isLeaf[i])) fail(`${what} splits on a categorical feature: not supported`);
  const featureIdx = column(cols, ["feature_idx"], `${what}.nodes`, fail);
  const threshold = column(cols, ["num_threshold", "threshold"], `${what}.nodes`, fail);
  const left = column(cols, ["left"], `${what}.nodes`, fail);
  const right = column(cols, ["right"], `${what}.nodes`, fail);
  const missing = column(cols, ["missing_go_to_left"], `${what}.nodes`, fail);
  const spec: TreeSpec = {
    feature: featureIdx.map((f, i) => (isLeaf[i] ? -1 : f)),
    threshold: threshold.map((t, i) => (isLeaf[i] ? 0 : t)),
    left: left.map((l, i) => (isLeaf[i] ? 0 : l)),
    right: right.map((r, i) => (isLeaf[i] ? 0 : r)),
    value: column(cols, ["value"], `${what}.nodes`, fail),
    missing_left: missing.map((m, i) => (isLeaf[i] ? 0 : m ? 1 : 0)),
  };
  checkTopology(spec, nFeatures, what, fail);
  return spec;
}
