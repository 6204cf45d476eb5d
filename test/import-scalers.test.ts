// Pipelines import used to refuse: StandardScaler / MaxAbsScaler / MinMaxScaler between the DictVectorizer
// and the estimator (sparse and dense, linear, forest and XGBoost estimators), and HistGradientBoosting
// with an exp-link loss. Fixtures: test/fixtures/make_scaler_fixtures.py (scikit-learn 1.2.1, xgboost 1.7),
// each beside its predict() for 1,002 real rides.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import type { ModelArtifact } from "../src/artifact/types.js";
import { validateArtifact } from "../src/artifact/validate.js";
import { compile } from "../src/runtime/predictor.js";
import { importPickleFile } from "../src/sklearn/import.js";

const DIR = join(__dirname, "fixtures", "scalers");
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));
const expectedOf = (name: string): number[] => JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), "utf8")).predictions;
const schema = JSON.parse(readFileSync(join(__dirname, "..", "schema", "model.schema.json"), "utf8"));
const schemaValidate = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: false }).compile(schema);

/** Worst relative error over every ride (one at a time and as one batch), and how many are bit-identical. */
function compare(artifact: ModelArtifact, expected: number[]): { worst: number; identical: number } {
  const p = compile(artifact);
  const columns = Object.fromEntries(["PULocationID", "DOLocationID", "trip_distance"].map((k) => [k, rides.map((r) => r[k])]));
  const batch = p.predictColumns(columns, rides.length).predictions;
  let worst = 0;
  let identical = 0;
  rides.forEach((ride, i) => {
    const y = p.predict(ride);
    expect(batch[i]).toBe(y);
    if (y === expected[i]) identical++;
    worst = Math.max(worst, Math.abs(y - expected[i]!) / Math.max(Math.abs(expected[i]!), 1e-12));
  });
  return { worst, identical };
}

// exact: scikit-learn's own float operations in its order (sparse products, trees). Dense products go through
// BLAS in an order ridepred cannot see: within 1e-12 relative. XGBoost: float32 sums, bit for bit.
const CASES: Record<string, { scalers: string[]; estimator: string; exact: boolean }> = {
  StandardScaler_sparse_Ridge: { scalers: ["StandardScaler"], estimator: "linear", exact: true },
  MaxAbsScaler_LinearRegression: { scalers: ["MaxAbsScaler"], estimator: "linear", exact: true },
  StandardScaler_dense_Ridge: { scalers: ["StandardScaler"], estimator: "linear", exact: false },
  MinMaxScaler_clip_LinearRegression: { scalers: ["MinMaxScaler"], estimator: "linear", exact: false },
  StandardScaler_MaxAbsScaler_dense_Ridge: { scalers: ["StandardScaler", "MaxAbsScaler"], estimator: "linear", exact: false },
  StandardScaler_sparse_RandomForest: { scalers: ["StandardScaler"], estimator: "tree_ensemble", exact: true },
  StandardScaler_dense_XGBRegressor: { scalers: ["StandardScaler"], estimator: "xgboost", exact: true },
  MaxAbsScaler_sparse_XGBRegressor: { scalers: ["MaxAbsScaler"], estimator: "xgboost", exact: true },
};

describe("scalers between the DictVectorizer and the estimator reproduce scikit-learn's predict", () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: ${c.exact ? "bit for bit" : "within 1e-12"} on ${rides.length} real rides`, () => {
      const artifact = importPickleFile(join(DIR, `${name}.p4.pkl`));
      expect(validateArtifact(artifact)).toEqual([]);
      expect(schemaValidate(JSON.parse(JSON.stringify(artifact))), JSON.stringify(schemaValidate.errors)).toBe(true);
      expect(artifact.features.scalers?.map((s) => s.kind)).toEqual(c.scalers);
      expect(artifact.estimator.kind).toBe(c.estimator);
      const { worst, identical } = compare(artifact, expectedOf(name));
      if (c.exact) expect(identical).toBe(rides.length);
      else expect(worst).toBeLessThan(1e-12);
    });
  }

  it("a scaler that shifts a dense matrix before scikit-learn's trees is refused by name", () => {
    expect(() => importPickleFile(join(DIR, "refused", "StandardScaler_dense_DecisionTree.p4.pkl"))).toThrow(
      /StandardScaler shifting features before DecisionTreeRegressor is not supported/,
    );
  });

  it("a model.json whose scaler arrays do not fit the vocabulary fails validation", () => {
    const artifact = importPickleFile(join(DIR, "StandardScaler_dense_Ridge.p4.pkl"));
    const doc = JSON.parse(JSON.stringify(artifact));
    doc.features.scalers[0].scale.pop();
    expect(validateArtifact(doc).map((p) => p.path)).toContain("features.scalers[0].scale");
    doc.features.vectorizer.sparse = true;
    expect(validateArtifact(doc).map((p) => p.reason)).toContain("centring needs a dense vectorizer (sparse: false)");
  });
});

describe("HistGradientBoosting with the poisson and gamma losses: exp of the raw sum", () => {
  for (const file of ["HistGradientBoosting_poisson", "HistGradientBoosting_gamma_relabelled"]) {
    it(file, () => {
      const artifact = importPickleFile(join(DIR, `${file}.p4.pkl`));
      expect(artifact.estimator.kind === "tree_ensemble" && artifact.estimator.link).toBe("exp");
      // V8's Math.exp against numpy's exp: within a few ULPs.
      expect(compare(artifact, expectedOf("HistGradientBoosting_poisson")).worst).toBeLessThan(1e-14);
    });
  }
});
