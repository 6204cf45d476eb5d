// The model.json format, v1. Specified in docs/model-format.md and schema/model.schema.json.
// Everything a runtime needs to predict, and everything CI needs to check, in one self-describing file.

export const FORMAT = "ridepred.model";
export const FORMAT_VERSION = 1;
/** Format versions this runtime can execute. */
export const SUPPORTED_FORMATS: readonly number[] = [1];

export type InputType = "category" | "number";

export interface InputSpec {
  name: string;
  /** "category": a string or an integral number (stringified like Python: 10 -> "10"); "number": finite numeric. */
  type: InputType;
  required: boolean;
  /** Used when the input is missing (e.g. the third-party model's authors filled a missing id with "-1"). */
  default?: string | number;
  description?: string;
}

/** One entry of the dict handed to DictVectorizer.transform. */
export type FeatureField =
  | { name: string; kind: "category"; input: string }
  | { name: string; kind: "category"; template: string } // e.g. "{PULocationID}_{DOLocationID}"
  | { name: string; kind: "number"; input: string };

export interface DictVectorizerSpec {
  kind: "DictVectorizer";
  separator: string;
  /** feature_names_ in column order; coef[i] belongs to feature_names[i]. */
  feature_names: string[];
  /** false: DictVectorizer(sparse=False), a dense matrix (unset features are 0 to every step); omitted: sparse. */
  sparse?: boolean;
}

/**
 * A scikit-learn scaler between the DictVectorizer and the estimator, its fitted arrays one entry per feature
 * column. Applied as scikit-learn's transform() does: on DictVectorizer's sparse output only stored values
 * change, multiplied by 1 / scale; on dense output (vectorizer.sparse false) every column is transformed,
 * x = (x - mean) / scale, x / scale, or x * scale + min then clipped.
 */
export type ScalerSpec =
  | { kind: "StandardScaler"; mean: number[] | null; scale: number[] | null }
  | { kind: "MaxAbsScaler"; scale: number[] }
  | { kind: "MinMaxScaler"; scale: number[]; min: number[]; clip: [number, number] | null };

export interface LinearEstimator {
  kind: "linear";
  /** The scikit-learn class it came from, e.g. "LinearRegression". */
  sklearn_class: string;
  /** One coefficient per feature and output: output k's coefficient of feature i is coef[k * n_features + i]. */
  coef: number[];
  /** One per output: a number when there is one output (every regressor), an array of `outputs` otherwise. */
  intercept: number | number[];
  /** Raw outputs (classifiers: one per class of a multiclass LogisticRegression); default 1. */
  outputs?: number;
}

/**
 * Trees are stored as parallel arrays (scikit-learn's own layout): for node i, feature[i] < 0 marks a leaf.
 * Thresholds are compared against the feature value cast to float32, as scikit-learn does.
 */
export interface TreeSpec {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
  /** Where a missing (NaN) value goes (HistGradientBoosting / sklearn >= 1.3); omitted: never missing. */
  missing_left?: number[];
}

export interface TreeEnsembleEstimator {
  kind: "tree_ensemble";
  sklearn_class: string;
  /** prediction = init + scale * (sum or mean of trees) */
  aggregate: "sum" | "mean";
  /** "float32": compare Math.fround(x) <= threshold, as scikit-learn's DecisionTree does; "float64": as HistGradientBoosting. */
  compare: "float32" | "float64";
  /** Where each output starts: a number (every output), or one per output. */
  init: number | number[];
  scale: number;
  trees: TreeSpec[];
  /**
   * Raw outputs (default 1). With `value_width` 1 and several outputs, tree t adds to output t % outputs
   * (scikit-learn's boosting stages: one tree per class per stage, stage-major).
   */
  outputs?: number;
  /** Values per node (default 1): node i's are value[i * w .. i * w + w), and a tree adds its leaf's w values to outputs 0..w-1. */
  value_width?: number;
  /** Each leaf's values are divided by their sum before aggregating (scikit-learn's classification trees: class counts -> frequencies). */
  normalize_leaves?: boolean;
  /** "exp": the prediction is exp(raw) (HistGradientBoosting's poisson and gamma losses); omitted: the raw value. */
  link?: "exp";
}

/** XGBoost objectives ridepred predicts, by the output transform each applies to the margin sum. */
export const XGBOOST_OBJECTIVES = [
  "reg:squarederror",
  "reg:linear",
  "reg:absoluteerror",
  "reg:pseudohubererror",
  "reg:tweedie",
  "count:poisson",
  "reg:gamma",
  "reg:logistic",
  "binary:logistic",
  "binary:logitraw",
  "multi:softprob",
  "multi:softmax",
] as const;
export type XGBoostObjective = (typeof XGBOOST_OBJECTIVES)[number];

/**
 * An XGBoost gbtree booster. For node i of a tree: feature[i] < 0 marks a leaf holding value[i]; an inner
 * node sends a feature value x left when float32(x) < threshold[i] (XGBoost's strict comparison), and a
 * missing feature where missing_left[i] says (XGBoost's default direction). Leaf values and thresholds are
 * float32 values. margin[g] = float32 sum, in tree order, of base_margin[g] and the leaves of the trees of
 * group g; the prediction is the objective's transform of the margin (identity, exp, or the sigmoid).
 */
export interface XGBoostEstimator {
  kind: "xgboost";
  /** The Python class it came from: "Booster" (xgboost.core), "XGBRegressor", ... */
  sklearn_class: string;
  objective: XGBoostObjective;
  /** base_score in margin space (after the objective's ProbToMargin), float32, one per output group. */
  base_margin: number[];
  /**
   * A feature the vectorizer leaves unset: "missing" when the model was fed DictVectorizer's sparse matrix
   * (XGBoost's DMatrix treats an entry that is not stored as missing), "zero" when fed a dense array.
   */
  absent: "missing" | "zero";
  /** Output group (class) of each tree, for multi-class objectives; omitted when there is one group. */
  tree_group?: number[];
  trees: TreeSpec[];
}

export type Estimator = LinearEstimator | TreeEnsembleEstimator | XGBoostEstimator;

/** A class label as predict() returns it: a JSON number, string or boolean. */
export type ClassLabel = string | number | boolean;

/**
 * How a classifier's raw outputs become class probabilities (the arithmetic of scikit-learn's predict_proba):
 * "logistic": one raw output s; P = [1 - expit(s), expit(s)]. "logistic_ovr": expit of each, then divided by their sum.
 * "softmax": softmax of the outputs ([-s, s] when there is one). "logsumexp": exp(raw - logsumexp(raw)).
 * "identity": the outputs are the probabilities (forests: the mean of the trees' class frequencies).
 */
export type ClassifierLink = "logistic" | "logistic_ovr" | "softmax" | "logsumexp" | "identity";

/** Present when the model is a classifier: its estimator's raw outputs, through `link`, give one probability per class. */
export interface ClassifierSpec {
  /** classes_ in scikit-learn's order, as JSON values: what predict() returns. */
  classes: ClassLabel[];
  /** str() of each class as Python prints it ("0", "True", "short"): the names of per-class outputs (proba_<name>). */
  class_names: string[];
  link: ClassifierLink;
  /** How predict() picks the label: "raw": argmax of the raw outputs (one output: class 1 when > 0); "proba": argmax of the probabilities. First maximum wins. */
  decision: "raw" | "proba";
}

export interface SourceInfo {
  file: string;
  sha256: string;
  /** "pickle" | "joblib" | "mlflow" ... */
  format: string;
  protocol?: number;
  /** Python globals the file referenced, e.g. "sklearn.linear_model._base.LinearRegression". */
  globals?: string[];
  /** A preprocessor read from its own file (the DictVectorizer an MLflow XGBoost run logs beside the booster). */
  preprocessor?: { file: string; sha256: string; format: string; protocol?: number; globals?: string[] };
}

export interface Environment {
  /** Versions the source itself recorded or implied: python, scikit-learn, numpy, mlflow, ... */
  recorded: Record<string, string>;
  /** How each recorded version was learned, e.g. {"scikit-learn": "_sklearn_version in the pickle"}. */
  evidence?: Record<string, string>;
  /** Pins from files that came with the source (requirements.txt, conda.yaml, ...), by file. */
  pins?: Record<string, Record<string, string>>;
  source: SourceInfo;
  written_by: { ridepred: string; node: string };
  /** Semver-style range of format versions a runtime must support to run this file. */
  requires_format: string;
}

export interface Example {
  input: Record<string, string | number | null>;
  /** A regressor's prediction, or a classifier's label. */
  output: number | string | boolean;
  /** Classifiers: predict_proba, by class name. */
  probabilities?: Record<string, number>;
}

export interface ExampleSet {
  /** Where the expected outputs came from, e.g. "scikit-learn 1.2.1 LinearRegression.predict at training time". */
  source: string;
  tolerance: { relative: number; absolute: number };
  cases: Example[];
}

export interface ModelArtifact {
  format: typeof FORMAT;
  format_version: number;
  name: string;
  version: string;
  created: string;
  description?: string;
  /** event_key: the stream events' name for the prediction (default "ride_<name>"). */
  target: { name: string; unit: string; event_key?: string };
  inputs: InputSpec[];
  /** scalers: the Pipeline's scaling steps after the vectorizer, in order. */
  features: { fields: FeatureField[]; vectorizer: DictVectorizerSpec; scalers?: ScalerSpec[] };
  estimator: Estimator;
  /** Classifiers only. */
  classifier?: ClassifierSpec;
  environment: Environment;
  examples: ExampleSet;
  /** "sha256:<hex>" of the canonical JSON of every other field. */
  digest: string;
}
