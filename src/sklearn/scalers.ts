// scikit-learn's scalers between the DictVectorizer and the estimator, read from their fitted state into the
// artifact's ScalerSpec. transform() is reproduced by src/runtime/scalers.ts with scikit-learn's arithmetic.

import type { ScalerSpec } from "../artifact/types.js";
import { numbersOf } from "./numpy.js";
import type { PyObject } from "./pickle.js";
import { attr, shortName, stateOf } from "./state.js";

type Fail = (message: string) => never;

export const SCALERS = new Set(["StandardScaler", "MaxAbsScaler", "MinMaxScaler"]);

function perFeature(obj: PyObject, name: string, n: number, fail: Fail): number[] {
  const cls = shortName(obj);
  const xs = numbersOf(attr(obj, name, fail), `${cls}.${name}`, fail);
  if (xs.length !== n) fail(`${cls}.${name} has ${xs.length} entries but the DictVectorizer makes ${n} features`);
  const bad = xs.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) fail(`${cls}.${name}[${bad}] is ${xs[bad]}`);
  return xs;
}

/** A fitted scaler over n features, fed a sparse (DictVectorizer's default) or dense matrix. */
export function scalerSpec(obj: PyObject, n: number, sparse: boolean, fail: Fail): ScalerSpec {
  const cls = shortName(obj);
  const st = stateOf(obj, fail);
  switch (cls) {
    case "StandardScaler": {
      // transform(): sparse X refuses with_mean; dense X -= mean_ (with_mean), then X /= scale_ (with_std).
      const withMean = st.get("with_mean") !== false;
      const withStd = st.get("with_std") !== false;
      if (sparse && withMean) fail("StandardScaler(with_mean=True) cannot follow a sparse DictVectorizer (scikit-learn refuses it too)");
      const scale = withStd && st.get("scale_") !== null ? perFeature(obj, "scale_", n, fail) : null;
      return { kind: "StandardScaler", mean: withMean ? perFeature(obj, "mean_", n, fail) : null, scale };
    }
    case "MaxAbsScaler":
      return { kind: "MaxAbsScaler", scale: perFeature(obj, "scale_", n, fail) };
    case "MinMaxScaler": {
      if (sparse) fail("MinMaxScaler cannot follow a sparse DictVectorizer (scikit-learn refuses sparse input)");
      const range = numbersOf(attr(obj, "feature_range", fail), "MinMaxScaler.feature_range", fail);
      if (range.length !== 2) fail(`MinMaxScaler.feature_range has ${range.length} values`);
      return {
        kind: "MinMaxScaler",
        scale: perFeature(obj, "scale_", n, fail),
        min: perFeature(obj, "min_", n, fail),
        clip: st.get("clip") === true ? [range[0]!, range[1]!] : null,
      };
    }
  }
  return fail(`${cls} is not a supported scaler`);
}
