// A RawBooster -> the artifact's XGBoostEstimator: the objective's link and base_score as XGBoost applies
// them, trees checked (reachable from the root without cycles, features inside the vocabulary) and laid
// out parent-before-children, and everything ridepred would predict wrongly refused by name.

import type { TreeSpec, XGBoostEstimator, XGBoostObjective } from "../artifact/types.js";
import { boosterFail, type RawBooster, type RawTree } from "./model.js";

type Link = "identity" | "log" | "logit";
/** Each objective's ProbToMargin (how base_score becomes a margin); the output transform follows from it. */
const OBJECTIVES: Partial<Record<XGBoostObjective, Link>> = {
  "reg:squarederror": "identity",
  "reg:linear": "identity",
  "reg:absoluteerror": "identity",
  "reg:pseudohubererror": "identity",
  "reg:tweedie": "log",
  "count:poisson": "log",
  "reg:gamma": "log",
  "reg:logistic": "logit",
  "binary:logistic": "logit",
  "binary:logitraw": "logit",
};
/** Objectives with one output (multi-class ones are read by boosterClassifier). */
export const SUPPORTED_OBJECTIVES = Object.keys(OBJECTIVES) as XGBoostObjective[];

export interface EstimatorOptions {
  /** The vectorizer's width: a split on a feature past it is refused. */
  nFeatures: number;
  absent: "missing" | "zero";
  sklearnClass: string;
  /** Predict with the first `rounds` boosting rounds only (the sklearn wrappers' best_iteration + 1). */
  rounds?: number;
}

export function boosterEstimator(b: RawBooster, opts: EstimatorOptions): XGBoostEstimator {
  if (b.booster === "gblinear") boosterFail("booster gblinear (a linear booster) is not supported: ridepred predicts tree boosters (gbtree)");
  if (b.booster === "dart")
    boosterFail("booster dart is not supported: its trees are weighted by dropout, which ridepred does not reproduce; retrain with booster=gbtree");
  if (b.booster !== "gbtree") boosterFail(`booster ${JSON.stringify(b.booster)} is not supported (gbtree is)`);
  if (b.objective.startsWith("multi:")) {
    boosterFail(`objective ${b.objective} (multi-class) is a classifier: ridepred imports it with its class probabilities, not as one number`);
  }
  const link = OBJECTIVES[b.objective as XGBoostObjective];
  if (link === undefined) boosterFail(`objective ${JSON.stringify(b.objective)} is not supported (supported: ${SUPPORTED_OBJECTIVES.join(", ")})`);
  if (b.numTarget > 1) boosterFail(`the booster has ${b.numTarget} targets: multi-output models are not supported`);
  if (b.numClass > 1) boosterFail(`num_class is ${b.numClass} with objective ${b.objective}: only single-output objectives are supported`);
  // XGBoost refuses a matrix wider than the booster's num_feature ("Number of columns does not match").
  if (b.numFeature > 0 && opts.nFeatures > b.numFeature) {
    boosterFail(`the booster was trained on ${b.numFeature} features, but the preprocessor makes ${opts.nFeatures}: they do not belong together`);
  }
  if (b.baseScore.length !== 1) boosterFail(`base_score has ${b.baseScore.length} values for a single-output objective`);
  const trees = selectRounds(b, opts.rounds);
  for (let i = 0; i < trees.length; i++) {
    if (b.treeInfo[i] !== 0) boosterFail(`tree ${i} belongs to output group ${b.treeInfo[i]}, but the objective has one output`);
  }
  if (!trees.length) boosterFail("the booster has no trees");
  return {
    kind: "xgboost",
    sklearn_class: opts.sklearnClass,
    objective: b.objective as XGBoostObjective,
    base_margin: [baseMargin(b.baseScore[0]!, link!, b.baseScoreIsMargin, b.objective)],
    absent: opts.absent,
    trees: trees.map((t, i) => treeSpec(t, opts.nFeatures, `tree ${i}`)),
  };
}

export interface BoosterClassifier {
  estimator: XGBoostEstimator;
  /** Raw outputs the classifier's link turns into probabilities: 1 (binary: the margin) or one per class. */
  outputs: number;
  link: "logistic" | "softmax";
}

const MULTI = new Set(["multi:softprob", "multi:softmax"]);
/** Objectives read as classifiers: the margins are the raw outputs, the link gives the probabilities. */
export const CLASSIFIER_OBJECTIVES = ["binary:logistic", "reg:logistic", "binary:logitraw", ...MULTI];

/**
 * A booster as a classifier: binary objectives give one margin (class 1 when > 0, probability through the
 * sigmoid), multi-class ones a margin per class (tree t adds to class tree_info[t]; probabilities by softmax).
 */
export function boosterClassifier(b: RawBooster, opts: EstimatorOptions): BoosterClassifier {
  if (!MULTI.has(b.objective)) {
    if (!CLASSIFIER_OBJECTIVES.includes(b.objective)) boosterFail(`objective ${b.objective} is not a classification objective`);
    return { estimator: boosterEstimator(b, opts), outputs: 1, link: "logistic" };
  }
  if (b.booster === "gblinear") boosterFail("booster gblinear (a linear booster) is not supported: ridepred predicts tree boosters (gbtree)");
  if (b.booster !== "gbtree") boosterFail(`booster ${JSON.stringify(b.booster)} is not supported (gbtree is)`);
  const k = b.numClass;
  if (!(k >= 2)) boosterFail(`objective ${b.objective} with num_class ${k}: a multi-class booster needs at least 2 classes`);
  if (b.numTarget > 1) boosterFail(`the booster has ${b.numTarget} targets: multi-output models are not supported`);
  if (b.numFeature > 0 && opts.nFeatures > b.numFeature) {
    boosterFail(`the booster was trained on ${b.numFeature} features, but the preprocessor makes ${opts.nFeatures}: they do not belong together`);
  }
  // Multi-class objectives have no ProbToMargin: base_score is added to every class's margin as stored (one
  // value before 3.1; since 3.1 a vector, one per class, already in margin space).
  if (b.baseScore.length !== 1 && b.baseScore.length !== k) boosterFail(`base_score has ${b.baseScore.length} values for ${k} classes`);
  const base = b.baseScore.length === 1 ? new Array<number>(k).fill(Math.fround(b.baseScore[0]!)) : b.baseScore.map(Math.fround);
  if (!base.every(Number.isFinite)) boosterFail(`base_score ${b.baseScore} is not finite`);
  const trees = selectRounds(b, opts.rounds);
  if (!trees.length) boosterFail("the booster has no trees");
  const group = Array.from({ length: trees.length }, (_, i) => b.treeInfo[i]!);
  const bad = group.findIndex((g) => !(Number.isInteger(g) && g >= 0 && g < k));
  if (bad >= 0) boosterFail(`tree ${bad} belongs to output group ${group[bad]}, but there are ${k} classes`);
  return {
    estimator: {
      kind: "xgboost",
      sklearn_class: opts.sklearnClass,
      objective: b.objective as XGBoostObjective,
      base_margin: base,
      absent: opts.absent,
      tree_group: group,
      trees: trees.map((t, i) => treeSpec(t, opts.nFeatures, `tree ${i}`)),
    },
    outputs: k,
    link: "softmax",
  };
}

/** base_score as a float32 margin, by the objective's ProbToMargin in float32 as XGBoost computes it. */
export function baseMargin(score: number, link: Link, isMargin: boolean, objective: string): number {
  const f = Math.fround;
  const s = f(score);
  if (!Number.isFinite(s)) boosterFail(`base_score is ${score}`);
  if (isMargin || link === "identity") return s;
  if (link === "log") {
    if (!(s > 0)) boosterFail(`base_score ${score} must be positive for ${objective} (its margin is log(base_score))`);
    return f(Math.log(s));
  }
  if (!(s > 0 && s < 1)) boosterFail(`base_score ${score} must lie in (0, 1) for ${objective}`);
  return f(-f(Math.log(f(f(1 / s) - 1))));
}

/** The trees predict() uses: all of them, or the first `rounds` boosting rounds. */
function selectRounds(b: RawBooster, rounds: number | undefined): RawTree[] {
  if (rounds === undefined) return b.trees;
  const perRound = Math.max(1, b.numParallelTree) * Math.max(1, b.numClass);
  const end = b.iterationIndptr ? b.iterationIndptr[Math.min(rounds, b.iterationIndptr.length - 1)]! : rounds * perRound;
  return b.trees.slice(0, end);
}

/**
 * XGBoost's node arrays -> a TreeSpec in depth-first order (children after their parent, deleted nodes
 * dropped), walked from the root without recursion: a node reached twice (a cycle or a shared child) is refused.
 */
export function treeSpec(t: RawTree, nFeatures: number, what: string): TreeSpec {
  const n = t.left.length;
  if (t.sizeLeafVector > 1) boosterFail(`${what} has leaf vectors of size ${t.sizeLeafVector} (multi-target trees): not supported`);
  const order: number[] = [];
  const newIndex = new Int32Array(n).fill(-1);
  const stack = [0];
  while (stack.length) {
    const i = stack.pop()!;
    if (!(Number.isInteger(i) && i >= 0 && i < n)) boosterFail(`${what} has a child index ${i} outside its ${n} nodes`);
    if (newIndex[i] !== -1) boosterFail(`${what} reaches node ${i} twice: its child indices form a cycle or share a node`);
    if (t.deleted?.[i]) boosterFail(`${what} reaches node ${i}, which is marked deleted`);
    newIndex[i] = order.length;
    order.push(i);
    if (t.left[i] === -1) continue;
    if (t.splitType?.[i]) boosterFail(`${what} node ${i} is a categorical split: not supported (ridepred reads one-hot features from a DictVectorizer)`);
    const f = t.splitIndex[i]!;
    if (!Number.isInteger(f) || f < 0 || f >= nFeatures)
      boosterFail(`${what} node ${i} splits on feature ${f}, but the preprocessor makes ${nFeatures} features`);
    if (!Number.isFinite(t.splitCondition[i])) boosterFail(`${what} node ${i} has split condition ${t.splitCondition[i]}`);
    stack.push(t.right[i]!, t.left[i]!);
  }
  const m = order.length;
  const spec: TreeSpec = { feature: [], threshold: [], left: [], right: [], value: [], missing_left: [] };
  for (let k = 0; k < m; k++) {
    const i = order[k]!;
    const leaf = t.left[i] === -1;
    const v = Math.fround(t.splitCondition[i]!);
    if (leaf && !Number.isFinite(v)) boosterFail(`${what} leaf ${i} has value ${t.splitCondition[i]}`);
    spec.feature.push(leaf ? -1 : t.splitIndex[i]!);
    spec.threshold.push(leaf ? 0 : v);
    spec.left.push(leaf ? 0 : newIndex[t.left[i]!]!);
    spec.right.push(leaf ? 0 : newIndex[t.right[i]!]!);
    spec.value.push(leaf ? v : 0);
    spec.missing_left!.push(leaf ? 0 : t.defaultLeft[i] ? 1 : 0);
  }
  return spec;
}
