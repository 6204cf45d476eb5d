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
}

export interface LinearEstimator {
  kind: "linear";
  /** The scikit-learn class it came from, e.g. "LinearRegression". */
  sklearn_class: string;
  coef: number[];
  intercept: number;
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
  init: number;
  scale: number;
  trees: TreeSpec[];
}

/** XGBoost objectives ridepred predicts, by the output transform each applies to the margin sum. */
export type XGBoostObjective =
  | "reg:squarederror"
  | "reg:linear"
  | "reg:absoluteerror"
  | "reg:pseudohubererror"
  | "reg:tweedie"
  | "count:poisson"
  | "reg:gamma"
  | "reg:logistic"
  | "binary:logistic"
  | "binary:logitraw";

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
  /** Output group of each tree; omitted when there is one group. */
  tree_group?: number[];
  trees: TreeSpec[];
}

export type Estimator = LinearEstimator | TreeEnsembleEstimator | XGBoostEstimator;

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
  output: number;
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
  target: { name: string; unit: string };
  inputs: InputSpec[];
  features: { fields: FeatureField[]; vectorizer: DictVectorizerSpec };
  estimator: Estimator;
  environment: Environment;
  examples: ExampleSet;
  /** "sha256:<hex>" of the canonical JSON of every other field. */
  digest: string;
}
