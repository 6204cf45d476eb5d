// XGBoost's JSON model schema (doc/model.schema in XGBoost; the same document in JSON text and in UBJSON):
//   {"version": [major, minor, patch], "learner": {"learner_model_param": {"base_score", "num_feature",
//    "num_class", "num_target"?}, "objective": {"name", ...}, "attributes": {...}, "feature_names"?: [...],
//    "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_trees",
//    "num_parallel_tree"}, "tree_info": [...], "iteration_indptr"?: [...], "trees": [{"tree_param":
//    {"num_nodes", "size_leaf_vector"}, "left_children", "right_children", "split_indices",
//    "split_conditions", "default_left", "split_type"?, "categories"?, ...}]}}}}
// dart nests the gbtree model under "gbtree"; a pickled memory snapshot wraps the model as {"Model", "Config"}.
// Parameters are strings ("5E-1"); XGBoost >= 3.1 writes base_score as a list ("[5E-1]").

import { boosterFail, MAX_BOOSTER_NODES, type RawBooster, type RawTree } from "./model.js";
import type { Ubj } from "./ubjson.js";

type Obj = { [key: string]: Ubj };
const isObj = (v: Ubj | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

function obj(v: Ubj | undefined, what: string): Obj {
  return isObj(v) ? v : boosterFail(`${what} must be an object`);
}

/** A parameter: XGBoost writes them as strings, hand-made files sometimes as numbers. */
function param(o: Obj, key: string, what: string, fallback?: number): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  const n = typeof v === "string" ? Number(v.trim()) : typeof v === "number" ? v : Number.NaN;
  if (v === "" || !Number.isFinite(n)) return boosterFail(`${what}.${key} must be a number, got ${JSON.stringify(v ?? null)}`);
  return n;
}

function count(o: Obj, key: string, what: string, fallback?: number): number {
  const n = param(o, key, what, fallback);
  if (!Number.isInteger(n) || n < 0) boosterFail(`${what}.${key} must be a non-negative integer, got ${n}`);
  return n;
}

function numbers(v: Ubj | undefined, what: string): ArrayLike<number> {
  if (v instanceof Uint8Array || v instanceof Int8Array || v instanceof Int16Array || v instanceof Int32Array) return v;
  if (v instanceof Float32Array || v instanceof Float64Array) return v;
  if (Array.isArray(v)) {
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      out[i] = typeof x === "number" ? x : typeof x === "boolean" ? Number(x) : boosterFail(`${what}[${i}] is not a number`);
    }
    return out;
  }
  return boosterFail(`${what} must be an array of numbers`);
}

/** base_score: "5E-1", or "[5E-1]" / "[1E0,2E0]" since XGBoost 3.1 (a vector intercept). */
export function parseBaseScore(v: Ubj | undefined, what: string): number[] {
  if (typeof v === "number") return [v];
  if (typeof v !== "string") return boosterFail(`${what} must be a string, got ${JSON.stringify(v ?? null)}`);
  const t = v.trim();
  const parts = t.startsWith("[") && t.endsWith("]") ? t.slice(1, -1).split(",") : [t];
  const out = parts.map((p) => Number(p.trim()));
  if (!out.length || parts.some((p) => p.trim() === "") || !out.every(Number.isFinite))
    boosterFail(`${what} ${JSON.stringify(v)} is not a number or a list of numbers`);
  return out;
}

/** The model document (a saved model, or the "Model" half of a pickled memory snapshot) as a RawBooster. */
export function boosterFromDocument(doc: Ubj, format: string): RawBooster {
  let root = obj(doc, "the model");
  if (root.Model !== undefined && root.learner === undefined) {
    root = obj(root.Model, "Model");
    format = `${format} memory snapshot`;
  }
  const version = versionOf(root.version);
  const learner = obj(root.learner, "learner");
  const mp = obj(learner.learner_model_param, "learner.learner_model_param");
  const objective = obj(learner.objective, "learner.objective");
  if (typeof objective.name !== "string") boosterFail("learner.objective.name must be a string");
  const gb = obj(learner.gradient_booster, "learner.gradient_booster");
  if (typeof gb.name !== "string") boosterFail("learner.gradient_booster.name must be a string");
  const booster = gb.name as string;
  const attributes: Record<string, string> = {};
  if (isObj(learner.attributes)) for (const [k, v] of Object.entries(learner.attributes)) if (typeof v === "string") attributes[k] = v;
  const names = learner.feature_names;
  const featureNames = Array.isArray(names) && names.length && names.every((n) => typeof n === "string") ? (names as string[]) : undefined;
  const base: Omit<RawBooster, "trees" | "treeInfo" | "numParallelTree"> = {
    format,
    ...(version ? { version } : {}),
    objective: objective.name as string,
    booster,
    baseScore: parseBaseScore(mp.base_score, "learner_model_param.base_score"),
    baseScoreIsMargin: false,
    numFeature: count(mp, "num_feature", "learner_model_param"),
    numClass: count(mp, "num_class", "learner_model_param", 0),
    numTarget: count(mp, "num_target", "learner_model_param", 1),
    attributes,
    ...(featureNames ? { featureNames } : {}),
  };
  if (booster === "gblinear") return { ...base, trees: [], treeInfo: [], numParallelTree: 1 };
  // dart keeps its gbtree model one level down, beside the per-tree weights.
  const model = obj(booster === "dart" ? obj(gb.gbtree, "gradient_booster.gbtree").model : gb.model, "gradient_booster.model");
  const gp = obj(model.gbtree_model_param, "gbtree_model_param");
  const numTrees = count(gp, "num_trees", "gbtree_model_param");
  const trees = model.trees;
  if (!Array.isArray(trees)) return boosterFail("gradient_booster.model.trees must be an array");
  if (trees.length !== numTrees) boosterFail(`gbtree_model_param.num_trees says ${numTrees} but the model holds ${trees.length} trees`);
  const treeInfo = numbers(model.tree_info, "tree_info");
  if (treeInfo.length !== numTrees) boosterFail(`tree_info has ${treeInfo.length} entries for ${numTrees} trees`);
  let total = 0;
  const raw = trees.map((t, i) => {
    const tree = treeFromJson(t, `trees[${i}]`);
    total += tree.left.length;
    if (total > MAX_BOOSTER_NODES) boosterFail(`more than ${MAX_BOOSTER_NODES} tree nodes in all: too large to import`);
    return tree;
  });
  return {
    ...base,
    trees: raw,
    treeInfo,
    numParallelTree: count(gp, "num_parallel_tree", "gbtree_model_param", 1),
    ...(model.iteration_indptr !== undefined ? { iterationIndptr: numbers(model.iteration_indptr, "iteration_indptr") } : {}),
  };
}

function versionOf(v: Ubj | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<number>) : [];
  if (!xs.length || !xs.every((x) => Number.isInteger(x) && x >= 0)) boosterFail(`version must be a list of integers, got ${JSON.stringify(v)}`);
  return xs;
}

function treeFromJson(t: Ubj, what: string): RawTree {
  const o = obj(t, what);
  const tp = obj(o.tree_param, `${what}.tree_param`);
  const n = count(tp, "num_nodes", `${what}.tree_param`);
  const arr = (key: string, optional = false): ArrayLike<number> | undefined => {
    if (o[key] === undefined && optional) return undefined;
    const a = numbers(o[key], `${what}.${key}`);
    if (a.length !== n) boosterFail(`${what}.${key} has ${a.length} entries but tree_param.num_nodes is ${n}`);
    return a;
  };
  if (n === 0) boosterFail(`${what} has no nodes`);
  const categories = o.categories;
  const splitType = arr("split_type", true);
  if ((Array.isArray(categories) || ArrayBuffer.isView(categories)) && (categories as ArrayLike<number>).length > 0 && !splitType) {
    boosterFail(`${what} has categorical splits: not supported`);
  }
  return {
    left: arr("left_children")!,
    right: arr("right_children")!,
    splitIndex: arr("split_indices")!,
    splitCondition: arr("split_conditions")!,
    defaultLeft: arr("default_left")!,
    ...(splitType ? { splitType } : {}),
    sizeLeafVector: count(tp, "size_leaf_vector", `${what}.tree_param`, 1),
  };
}
