// XGBoost's scikit-learn wrappers inside a pickle (XGBRegressor in a Pipeline): the wrapper's _Booster is
// an xgboost.core.Booster whose pickled state holds "handle", the raw bytes of the booster's memory
// snapshot (UBJSON since XGBoost 1.6, "CONFIG-offset:" + binary before). Those bytes are read, never loaded.

import type { XGBoostEstimator } from "../artifact/types.js";
import type { PyObject } from "../sklearn/pickle.js";
import { describe, isPyObject } from "../sklearn/pickle.js";
import { attr, shortName, stateOf } from "../sklearn/state.js";
import { readBooster } from "./detect.js";
import { classesOf, type ClassifierParts } from "../sklearn/classifiers.js";
import { boosterClassifier, boosterEstimator } from "./estimator.js";
import { BoosterError, type RawBooster } from "./model.js";

type Fail = (message: string) => never;

export const XGBOOST_WRAPPERS = new Set(["XGBRegressor", "XGBClassifier"]);

/** The wrapper's booster, read from the raw bytes its pickled Booster.handle holds, and the rounds predict() uses. */
function wrappedBooster(est: PyObject, fail: Fail): { raw: RawBooster; rounds?: number } {
  const cls = shortName(est);
  const missing = stateOf(est, fail).get("missing");
  if (typeof missing === "number" && !Number.isNaN(missing)) {
    fail(`${cls}(missing=${missing}) is not supported: only the default missing=NaN (an entry that is not stored is missing)`);
  }
  const booster = attr(est, "_Booster", fail);
  if (!isPyObject(booster) || shortName(booster) !== "Booster") return fail(`${cls}._Booster is a ${describe(booster)}, not an xgboost Booster`);
  const handle = stateOf(booster, fail).get("handle");
  if (!(handle instanceof Uint8Array)) return fail(`${cls}._Booster.handle is a ${describe(handle ?? null)}, not the booster's bytes`);
  const raw = guarded(cls, () => readBooster(handle), fail);
  // The wrappers predict with the best iteration when there is one (XGBModel._get_iteration_range).
  const best = stateOf(booster, fail).get("best_iteration") ?? raw.attributes.best_iteration;
  const rounds = best === undefined || best === null ? undefined : Number(best) + 1;
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) fail(`${cls} best_iteration ${String(best)} is not a round number`);
  return { raw, rounds };
}

function guarded<T>(cls: string, f: () => T, fail: Fail): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BoosterError) return fail(`${cls}._Booster: ${e.message}`);
    throw e;
  }
}

export function wrapperEstimator(est: PyObject, nFeatures: number, absent: "missing" | "zero", fail: Fail): XGBoostEstimator {
  const cls = shortName(est);
  if (cls === "XGBClassifier") fail("XGBClassifier is read by wrapperClassifier");
  const { raw, rounds } = wrappedBooster(est, fail);
  return guarded(cls, () => boosterEstimator(raw, { nFeatures, absent, sklearnClass: cls, rounds }), fail);
}

/** XGBClassifier: its classes_, and the booster's margins as the classifier's raw outputs. */
export function wrapperClassifier(est: PyObject, nFeatures: number, absent: "missing" | "zero", fail: Fail): ClassifierParts {
  const cls = shortName(est);
  const { classes, names } = classesOf(est, fail);
  const { raw, rounds } = wrappedBooster(est, fail);
  const c = guarded(cls, () => boosterClassifier(raw, { nFeatures, absent, sklearnClass: cls, rounds }), fail);
  const k = c.outputs === 1 ? 2 : c.outputs;
  if (classes.length !== k) fail(`${cls}.classes_ lists ${classes.length} classes but its booster has ${k}`);
  // predict(): binary, class 1 when the probability > 0.5 (the margin > 0); multi-class, the first largest margin.
  return { estimator: c.estimator, classifier: { classes, class_names: names, link: c.link, decision: "raw" } };
}
