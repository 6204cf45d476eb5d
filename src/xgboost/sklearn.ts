// XGBoost's scikit-learn wrappers inside a pickle (XGBRegressor in a Pipeline): the wrapper's _Booster is
// an xgboost.core.Booster whose pickled state holds "handle", the raw bytes of the booster's memory
// snapshot (UBJSON since XGBoost 1.6, "CONFIG-offset:" + binary before). Those bytes are read, never loaded.

import type { XGBoostEstimator } from "../artifact/types.js";
import type { PyObject } from "../sklearn/pickle.js";
import { describe, isPyObject } from "../sklearn/pickle.js";
import { attr, shortName, stateOf } from "../sklearn/state.js";
import { readBooster } from "./detect.js";
import { boosterEstimator } from "./estimator.js";
import { BoosterError } from "./model.js";

type Fail = (message: string) => never;

export const XGBOOST_WRAPPERS = new Set(["XGBRegressor", "XGBClassifier"]);

export function wrapperEstimator(est: PyObject, nFeatures: number, absent: "missing" | "zero", fail: Fail): XGBoostEstimator {
  const cls = shortName(est);
  if (cls === "XGBClassifier") fail("XGBClassifier is not supported yet: ridepred predicts one number per ride");
  const missing = stateOf(est, fail).get("missing");
  if (typeof missing === "number" && !Number.isNaN(missing)) {
    fail(`${cls}(missing=${missing}) is not supported: only the default missing=NaN (an entry that is not stored is missing)`);
  }
  const booster = attr(est, "_Booster", fail);
  if (!isPyObject(booster) || shortName(booster) !== "Booster") return fail(`${cls}._Booster is a ${describe(booster)}, not an xgboost Booster`);
  const handle = stateOf(booster, fail).get("handle");
  if (!(handle instanceof Uint8Array)) return fail(`${cls}._Booster.handle is a ${describe(handle ?? null)}, not the booster's bytes`);
  try {
    const raw = readBooster(handle);
    // The wrappers predict with the best iteration when there is one (XGBModel._get_iteration_range).
    const best = stateOf(booster, fail).get("best_iteration") ?? raw.attributes.best_iteration;
    const rounds = best === undefined || best === null ? undefined : Number(best) + 1;
    if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) fail(`${cls} best_iteration ${String(best)} is not a round number`);
    return boosterEstimator(raw, { nFeatures, absent, sklearnClass: cls, rounds });
  } catch (e) {
    if (e instanceof BoosterError) return fail(`${cls}._Booster: ${e.message}`);
    throw e;
  }
}
