// XGBoost's legacy binary model format (Booster.save_model("model.xgb"/".bin") before XGBoost 2.1; what
// MLflow's model_format "xgb" holds), little-endian C structs written as they lie in memory:
//   ["binf"]  LearnerModelParamLegacy (136 bytes: base_score f32, num_feature u32, num_class i32,
//             contain_extra_attrs i32, contain_eval_metrics i32, major_version u32, minor_version u32,
//             num_target u32, reserved)
//   objective, booster: u64 length + bytes
//   GBTreeModelParam (160 bytes: num_trees i32, num_parallel_tree i32, ... , size_leaf_vector i32 at 36)
//   per tree: TreeParam (148 bytes: num_roots, num_nodes, num_deleted, max_depth, num_feature,
//             size_leaf_vector, reserved), num_nodes x Node (20 bytes: parent i32, cleft i32, cright i32,
//             sindex u32 = split feature | default_left << 31, info f32 = threshold or leaf value),
//             num_nodes x RTreeNodeStat (16 bytes), [leaf vector]
//   tree_info: num_trees x i32;  [attributes: u64 count, then key/value strings]
// The pickled memory snapshot of XGBoost 1.0-1.5 is "CONFIG-offset:" + i64 offset + this + JSON config.
// Every count is checked against the bytes that remain before it is used.

import { boosterFail, MAX_BOOSTER_NODES, type RawBooster, type RawTree } from "./model.js";

const LEARNER_PARAM = 136;
const GBTREE_PARAM = 160;
const TREE_PARAM = 148;
const NODE = 20;
const NODE_STAT = 16;
/** Strings in this format are names (objective, booster, attribute keys and small values). */
const MAX_STRING = 1 << 20;

export function readLegacyBinary(bytes: Uint8Array, format = "legacy binary"): RawBooster {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const need = (n: number, what: string) => {
    if (n > bytes.length - pos) boosterFail(`truncated: ${what} needs ${n} bytes at byte ${pos}, ${bytes.length - pos} left`);
  };
  const i32 = (at: number) => view.getInt32(at, true);
  const u64 = (what: string): number => {
    need(8, what);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) boosterFail(`${what} declares ${v}, more than the file holds`);
    return Number(v);
  };
  const str = (what: string): string => {
    const n = u64(`${what} length`);
    if (n > MAX_STRING) boosterFail(`${what} is ${n} bytes long`);
    need(n, what);
    const s = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  };

  if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === "binf") pos = 4;
  need(LEARNER_PARAM, "the learner parameters");
  const lp = pos;
  pos += LEARNER_PARAM;
  const baseScore = view.getFloat32(lp, true);
  const numFeature = view.getUint32(lp + 4, true);
  const numClass = i32(lp + 8);
  const extraAttrs = i32(lp + 12);
  const major = view.getUint32(lp + 20, true);
  const minor = view.getUint32(lp + 24, true);
  // num_target was a reserved (zero) field before XGBoost 1.6.
  const numTarget = Math.max(1, view.getUint32(lp + 28, true));
  if (numClass < 0) boosterFail(`num_class is ${numClass}`);
  const objective = str("objective name");
  const booster = str("booster name");
  const base = {
    format,
    // Versions were first written in 1.0; a file from before says 0.0 (reserved bytes).
    ...(major > 0 || minor > 0 ? { version: [major, minor] } : {}),
    objective,
    booster,
    baseScore: [baseScore],
    // Before 1.0 base_score was saved after the objective's ProbToMargin (learner.cc, LoadModel).
    baseScoreIsMargin: major === 0,
    numFeature,
    numClass,
    numTarget,
    attributes: {} as Record<string, string>,
  };
  if (booster !== "gbtree" && booster !== "dart") return { ...base, trees: [], treeInfo: [], numParallelTree: 1 };

  need(GBTREE_PARAM, "the gbtree parameters");
  const numTrees = i32(pos);
  const numParallelTree = Math.max(1, i32(pos + 4));
  pos += GBTREE_PARAM;
  if (numTrees < 0) boosterFail(`num_trees is ${numTrees}`);
  // The smallest tree is its parameters plus one node and its statistics.
  if (numTrees > (bytes.length - pos) / (TREE_PARAM + NODE + NODE_STAT))
    boosterFail(`declares ${numTrees} trees, more than the ${bytes.length} bytes can hold`);
  const trees: RawTree[] = [];
  let total = 0;
  for (let t = 0; t < numTrees; t++) {
    const tree = readTree(t);
    total += tree.left.length;
    if (total > MAX_BOOSTER_NODES) boosterFail(`more than ${MAX_BOOSTER_NODES} tree nodes in all: too large to import`);
    trees.push(tree);
  }
  need(4 * numTrees, "tree_info");
  const treeInfo = new Int32Array(numTrees);
  for (let t = 0; t < numTrees; t++) treeInfo[t] = i32(pos + 4 * t);
  pos += 4 * numTrees;
  if (booster === "dart") return { ...base, trees, treeInfo, numParallelTree };
  if (extraAttrs !== 0 && pos < bytes.length) {
    const n = u64("attribute count");
    for (let k = 0; k < n; k++) {
      const key = str(`attribute ${k} name`);
      base.attributes[key] = str(`attribute ${key}`);
    }
  }
  return { ...base, trees, treeInfo, numParallelTree };

  function readTree(t: number): RawTree {
    const what = `tree ${t}`;
    need(TREE_PARAM, `${what} parameters`);
    const numNodes = i32(pos + 4);
    const sizeLeafVector = i32(pos + 20);
    pos += TREE_PARAM;
    if (numNodes <= 0) boosterFail(`${what} declares ${numNodes} nodes`);
    if (numNodes > (bytes.length - pos) / (NODE + NODE_STAT)) boosterFail(`${what} declares ${numNodes} nodes, more than the file holds`);
    if (sizeLeafVector < 0 || sizeLeafVector > 1) boosterFail(`${what} has leaf vectors of size ${sizeLeafVector} (multi-target trees): not supported`);
    const left = new Int32Array(numNodes);
    const right = new Int32Array(numNodes);
    const splitIndex = new Uint32Array(numNodes);
    const defaultLeft = new Uint8Array(numNodes);
    const splitCondition = new Float32Array(numNodes);
    const deleted = new Uint8Array(numNodes);
    for (let i = 0; i < numNodes; i++) {
      const at = pos + i * NODE;
      left[i] = i32(at + 4);
      right[i] = i32(at + 8);
      const sindex = view.getUint32(at + 12, true);
      splitIndex[i] = sindex & 0x7fffffff;
      defaultLeft[i] = sindex >>> 31;
      deleted[i] = sindex === 0xffffffff ? 1 : 0;
      splitCondition[i] = view.getFloat32(at + 16, true);
    }
    pos += numNodes * (NODE + NODE_STAT);
    if (sizeLeafVector !== 0) {
      // std::vector<float>: a count, then the floats (unused by single-target trees)
      const n = u64(`${what} leaf vector length`);
      need(4 * n, `${what} leaf vector`);
      pos += 4 * n;
    }
    return { left, right, splitIndex, splitCondition, defaultLeft, deleted, sizeLeafVector: 1 };
  }
}
