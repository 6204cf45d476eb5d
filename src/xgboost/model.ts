// A booster as its file states it, whatever the file format: what the readers (binary.ts, json.ts) produce
// and what estimator.ts turns into the artifact's prediction. Nothing here is interpreted yet: base_score
// is as stored, trees are XGBoost's node arrays, deleted nodes included.

export interface RawTree {
  /** Child indices, -1 at a leaf. */
  left: ArrayLike<number>;
  right: ArrayLike<number>;
  /** Feature index of each split (the low 31 bits of sindex_ in the binary format). */
  splitIndex: ArrayLike<number>;
  /** The split threshold at an inner node, the leaf value at a leaf: float32 values. */
  splitCondition: ArrayLike<number>;
  /** 1: a missing value goes to the left child. */
  defaultLeft: ArrayLike<number>;
  /** Nodes XGBoost marked deleted (pruned); they are never reached from the root. */
  deleted?: ArrayLike<number>;
  /** 1 at a categorical split (JSON split_type); ridepred refuses those. */
  splitType?: ArrayLike<number>;
  /** Leaf vectors (multi-target trees): more than one value per leaf is refused. */
  sizeLeafVector: number;
}

export interface RawBooster {
  /** "legacy binary", "json", "ubjson", or a pickled memory snapshot of either. */
  format: string;
  /** [major, minor, patch?] of the XGBoost that wrote the file, when it says. */
  version?: number[];
  objective: string;
  /** "gbtree", "dart" or "gblinear". */
  booster: string;
  /** learner_model_param.base_score as stored: one value, or one per target/class (XGBoost >= 3.1). */
  baseScore: number[];
  /** True when the stored base_score is already a margin (binary models written before XGBoost 1.0). */
  baseScoreIsMargin: boolean;
  numFeature: number;
  /** 0 for anything but multi-class. */
  numClass: number;
  numTarget: number;
  numParallelTree: number;
  trees: RawTree[];
  /** Output group (class) of each tree. */
  treeInfo: ArrayLike<number>;
  /** Boosting rounds as tree offsets (JSON iteration_indptr, XGBoost >= 2.0), when stored. */
  iterationIndptr?: ArrayLike<number>;
  /** Booster attributes (best_iteration, ...). */
  attributes: Record<string, string>;
  /** Feature names the booster was trained with, when it recorded them. */
  featureNames?: string[];
}

export class BoosterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BoosterError";
  }
}

export const boosterFail = (message: string): never => {
  throw new BoosterError(message);
};

/** Nodes across all trees; the same bound as scikit-learn models (src/sklearn/trees.ts). */
export const MAX_BOOSTER_NODES = 5_000_000;
