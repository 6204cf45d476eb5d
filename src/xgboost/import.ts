// A saved XGBoost booster (any format, detected from its bytes) plus the pickled DictVectorizer it was
// trained behind (the course logs it as preprocessor/preprocessor.b) -> a ModelArtifact.

import { basename } from "node:path";
import { sha256Hex } from "../artifact/digest.js";
import type { ClassifierSpec, ModelArtifact, XGBoostEstimator } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import { absentFeatures, dictVectorizer, shortName, stateOf } from "../sklearn/estimators.js";
import { buildArtifact, type ImportOptions, readBytes, readPickle } from "../sklearn/import.js";
import { describe, isPyObject, type PyObject, type PyValue } from "../sklearn/pickle.js";
import { readBooster } from "./detect.js";
import { boosterClassifier, boosterEstimator } from "./estimator.js";
import { BoosterError, type RawBooster } from "./model.js";

export interface BoosterImportOptions extends ImportOptions {
  /** The pickled DictVectorizer the booster was trained behind. */
  preprocessor?: string;
}

export interface BoosterContext {
  /** Versions and pins recorded beside the booster (an MLflow MLmodel and its environment files). */
  extra?: Partial<ModelArtifact["environment"]>;
  /** The Python class that was saved: "Booster", or a scikit-learn wrapper whose predict uses best_iteration. */
  modelClass?: string;
}

/** Read a booster's bytes; errors name the file. */
export function readBoosterFile(path: string, bytes: Uint8Array): RawBooster {
  try {
    return readBooster(bytes);
  } catch (e) {
    if (e instanceof BoosterError) throw new RidepredError(`${path}: ${e.message}`, 2);
    throw new RidepredError(`${path}: cannot read this booster (${(e as Error).name}: ${(e as Error).message})`, 2);
  }
}

export function importBoosterFile(path: string, opts: BoosterImportOptions, ctx: BoosterContext = {}): ModelArtifact {
  return importBoosterBytes(path, readBytes(path), opts, ctx);
}

export function importBoosterBytes(path: string, bytes: Uint8Array, opts: BoosterImportOptions, ctx: BoosterContext = {}): ModelArtifact {
  const raw = readBoosterFile(path, bytes);
  if (!opts.preprocessor) {
    throw new RidepredError(
      `${path}: an XGBoost booster holds no feature names to build rides from: pass --preprocessor FILE, the pickled DictVectorizer it was trained behind (an MLflow run of the course logs it as preprocessor/preprocessor.b)`,
      2,
    );
  }
  const prep = opts.preprocessor;
  const prepBytes = readBytes(prep);
  const pkl = readPickle(prep, prepBytes);
  const failPrep = (m: string): never => {
    throw new RidepredError(`${prep}: ${m}`, 2);
  };
  const dv = findVectorizer(pkl.value, failPrep);
  const vectorizer = dictVectorizer(dv, failPrep);
  const sklearnVersion = stateOf(dv, failPrep).get("_sklearn_version");
  const modelClass = ctx.modelClass ?? "Booster";
  const best = raw.attributes.best_iteration;
  // A saved wrapper (XGBRegressor) predicts with its best iteration; a plain Booster with every tree.
  const rounds = modelClass !== "Booster" && best !== undefined && /^\d+$/.test(best) ? Number(best) + 1 : undefined;
  const eopts = { nFeatures: vectorizer.feature_names.length, absent: absentFeatures(dv, failPrep), sklearnClass: modelClass, rounds };
  let estimator: XGBoostEstimator;
  let classifier: ClassifierSpec | undefined;
  try {
    if (raw.objective.startsWith("multi:")) {
      // A multi-class booster predicts classes 0..num_class-1 (softmax: the label; softprob: the probabilities).
      const c = boosterClassifier(raw, eopts);
      const classes = Array.from({ length: c.outputs }, (_, i) => i);
      estimator = c.estimator;
      classifier = { classes, class_names: classes.map(String), link: "softmax", decision: "raw" };
    } else estimator = boosterEstimator(raw, eopts);
  } catch (e) {
    if (e instanceof BoosterError) throw new RidepredError(`${path}: ${e.message}`, 2);
    throw e;
  }
  const fail = (m: string): never => {
    throw new RidepredError(`${path}: ${m}`, 2);
  };
  return buildArtifact(
    {
      vectorizer,
      estimator,
      ...(classifier ? { classifier } : {}),
      sklearnVersions: typeof sklearnVersion === "string" ? { DictVectorizer: sklearnVersion } : {},
    },
    {
      file: basename(path),
      sha256: sha256Hex(bytes),
      format: `xgboost ${raw.format}`,
      preprocessor: {
        file: basename(prep),
        sha256: sha256Hex(prepBytes),
        format: pkl.compression ? `${pkl.format}+${pkl.compression}` : pkl.format,
        protocol: pkl.protocol,
        globals: pkl.globals,
      },
    },
    opts,
    fail,
    withBoosterVersion(raw, ctx.extra, fail),
  );
}

/** The DictVectorizer in a preprocessor pickle: the object itself, or the one inside a tuple or Pipeline. */
function findVectorizer(root: PyValue, fail: (m: string) => never): PyObject {
  const isDv = (o: PyValue | undefined): o is PyObject => isPyObject(o) && shortName(o) === "DictVectorizer";
  if (isDv(root)) return root;
  let items: PyValue[] = Array.isArray(root) ? root : [];
  if (isPyObject(root) && shortName(root) === "Pipeline") {
    const steps = stateOf(root, fail).get("steps");
    items = Array.isArray(steps) ? steps.map((s) => (Array.isArray(s) ? (s[1] ?? null) : null)) : [];
    const others = items.filter((o) => o !== null && o !== "passthrough" && !isDv(o));
    if (others.length) fail(`the preprocessor Pipeline has steps after the DictVectorizer (${others.map(describe).join(", ")}): not supported`);
  }
  const dvs = items.filter(isDv);
  if (dvs.length !== 1) return fail(`expected a pickled DictVectorizer (the booster's preprocessor), found ${describe(root)}`);
  return dvs[0]!;
}

/** The XGBoost version the booster file states, reconciled with what MLflow recorded beside it. */
function withBoosterVersion(raw: RawBooster, extra: BoosterContext["extra"], fail: (m: string) => never): BoosterContext["extra"] {
  const out = { ...extra, recorded: { ...extra?.recorded }, evidence: { ...extra?.evidence } };
  if (!raw.version) return out;
  const fromFile = raw.version.join(".");
  const how = `the booster file (${raw.format}) says ${fromFile}`;
  const stated = out.recorded.xgboost;
  if (stated === undefined) {
    out.recorded.xgboost = fromFile;
    out.evidence.xgboost = `version written in the booster file (${raw.format})`;
  } else if (stated === fromFile || stated.startsWith(`${fromFile}.`)) {
    out.evidence.xgboost = `${out.evidence.xgboost ?? "recorded beside the model"}; ${how}`;
  } else fail(`${out.evidence.xgboost ?? "the model's folder"} says xgboost ${stated}, but ${how}`);
  return out;
}
