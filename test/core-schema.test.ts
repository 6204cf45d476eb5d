// The JSON Schema shipped in schema/ describes what ridepred writes, and rejects what it refuses.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import Ajv2020 from "ajv/dist/2020.js";
import { importPickleFile } from "../src/sklearn/import.js";

const schema = JSON.parse(readFileSync(join(__dirname, "../schema/model.schema.json"), "utf8"));
const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
const bundled = JSON.parse(readFileSync(join(__dirname, "../models/ride-duration.json"), "utf8"));

describe("schema/model.schema.json", () => {
  it("accepts the bundled model and every imported fixture", () => {
    expect(validate(bundled), JSON.stringify(validate.errors)).toBe(true);
    for (const est of ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor"]) {
      const a = importPickleFile(join(__dirname, `fixtures/linear/${est}.p4.pkl`));
      expect(validate(JSON.parse(JSON.stringify(a))), est).toBe(true);
    }
  });

  it("rejects a model without inputs, with a bad digest, or with an unknown estimator kind", () => {
    const { inputs: _i, ...noInputs } = bundled;
    expect(validate(noInputs)).toBe(false);
    expect(validate({ ...bundled, digest: "md5:abc" })).toBe(false);
    expect(validate({ ...bundled, estimator: { kind: "neural", sklearn_class: "MLPRegressor" } })).toBe(false);
  });
});
