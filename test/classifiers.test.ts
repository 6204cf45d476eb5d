// Classifiers: every scikit-learn classifier ridepred imports, binary and multiclass, against scikit-learn's
// own predict / predict_proba on 1,204 real rides (test/fixtures/classifiers/make_fixtures.py, Debian's
// scikit-learn 1.2.1). Labels must be equal, probabilities within 1e-9.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { serializeArtifact } from "../src/artifact/io.js";
import type { ClassLabel, ModelArtifact } from "../src/artifact/types.js";
import { validateArtifact } from "../src/artifact/validate.js";
import { checkExamples } from "../src/runtime/examples.js";
import { compile } from "../src/runtime/predictor.js";
import { importPickleFile } from "../src/sklearn/import.js";
import type { Json } from "./support/json.js";

const DIR = join(__dirname, "fixtures", "classifiers");
const schema = JSON.parse(readFileSync(join(__dirname, "..", "schema", "model.schema.json"), "utf8"));
const schemaValidate = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: false }).compile(schema);
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));

interface Expected {
  sklearn: string;
  target: string;
  classes: ClassLabel[];
  class_names: string[];
  labels: ClassLabel[];
}

/** name -> [estimator class, link, number of trees (0: linear)] */
const MODELS: Record<string, [string, string, number]> = {
  LogisticRegression_binary: ["LogisticRegression", "logistic", 0],
  LogisticRegression_multinomial: ["LogisticRegression", "softmax", 0],
  LogisticRegression_ovr: ["LogisticRegression", "logistic_ovr", 0],
  LogisticRegression_multinomial_binary: ["LogisticRegression", "softmax", 0],
  DecisionTreeClassifier_binary: ["DecisionTreeClassifier", "identity", 1],
  DecisionTreeClassifier_multiclass: ["DecisionTreeClassifier", "identity", 1],
  RandomForestClassifier_binary: ["RandomForestClassifier", "identity", 6],
  RandomForestClassifier_multiclass: ["RandomForestClassifier", "identity", 5],
  RandomForestClassifier_unicode_labels: ["RandomForestClassifier", "identity", 3],
  ExtraTreesClassifier_binary: ["ExtraTreesClassifier", "identity", 5],
  ExtraTreesClassifier_multiclass: ["ExtraTreesClassifier", "identity", 5],
  GradientBoostingClassifier_binary: ["GradientBoostingClassifier", "logistic", 20],
  GradientBoostingClassifier_multiclass: ["GradientBoostingClassifier", "logsumexp", 36],
  GradientBoostingClassifier_zero: ["GradientBoostingClassifier", "logistic", 10],
  HistGradientBoostingClassifier_binary: ["HistGradientBoostingClassifier", "logistic", 15],
  HistGradientBoostingClassifier_multiclass: ["HistGradientBoostingClassifier", "softmax", 30],
};

function fixture(name: string): { artifact: ModelArtifact; expected: Expected; proba: Float64Array } {
  const expected: Expected = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), "utf8"));
  const bytes = readFileSync(join(DIR, `${name}.proba.f64`));
  const proba = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { artifact: importPickleFile(join(DIR, `${name}.pkl`)), expected, proba };
}

/** Columns of the rides, as a batch (the path score and serve take). */
function columnsOf(rs: Record<string, string | number>[]): Record<string, unknown[]> {
  return { PULocationID: rs.map((r) => r.PULocationID), DOLocationID: rs.map((r) => r.DOLocationID), trip_distance: rs.map((r) => r.trip_distance) };
}

describe("classifiers match scikit-learn's predict and predict_proba on 1,204 real rides", () => {
  expect(rides.length).toBeGreaterThanOrEqual(1200);
  for (const [name, [cls, link, trees]] of Object.entries(MODELS)) {
    it(name, () => {
      const { artifact, expected, proba } = fixture(name);
      expect(expected.sklearn).toBe("1.2.1");
      expect(artifact.estimator.sklearn_class).toBe(cls);
      expect(artifact.classifier).toMatchObject({ classes: expected.classes, class_names: expected.class_names, link });
      expect(artifact.target).toEqual({ name: "class", unit: "class" });
      if (trees) expect(artifact.estimator.kind === "tree_ensemble" && artifact.estimator.trees.length).toBe(trees);
      expect(validateArtifact(JSON.parse(serializeArtifact(artifact)))).toEqual([]);
      expect(schemaValidate(JSON.parse(serializeArtifact(artifact))), JSON.stringify(schemaValidate.errors)).toBe(true);

      const p = compile(artifact);
      const k = expected.classes.length;
      expect(proba.length).toBe(rides.length * k);
      const { predictions, probabilities, errors } = p.predictColumns(columnsOf(rides), rides.length);
      expect(errors).toEqual([]);
      let worst = 0;
      let identical = 0;
      const labels = Array.from(predictions, (i) => p.classifier!.classes[i]);
      for (let j = 0; j < rides.length * k; j++) {
        const d = Math.abs(probabilities![j]! - proba[j]!);
        worst = Math.max(worst, d);
        if (d === 0) identical++;
      }
      expect(labels).toEqual(expected.labels);
      expect(worst).toBeLessThanOrEqual(1e-9);
      // One ride at a time (the path serve and stream take) gives the same as the batch.
      for (const i of [0, 1, 2, rides.length - 4, rides.length - 3, rides.length - 1]) {
        const one = p.classify(rides[i]!);
        expect(p.classifier!.classes[one.index]).toEqual(expected.labels[i]);
        expect(Array.from(one.probabilities)).toEqual(Array.from(probabilities!.subarray(i * k, i * k + k)));
      }
      console.log(
        `${name}: ${rides.length} labels equal, probabilities worst |diff| ${worst.toExponential(1)}, ${identical}/${rides.length * k} bit-identical`,
      );
    });
  }
});

describe("classifier golden examples", () => {
  it("import --examples with labels and probabilities reproduces them; a wrong label or probability is caught", () => {
    const lines = readFileSync(join(DIR, "GradientBoostingClassifier_multiclass.examples.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const artifact = importPickleFile(join(DIR, "GradientBoostingClassifier_multiclass.pkl"), { examples: lines });
    const p = compile(artifact);
    expect(checkExamples(p).failures).toEqual([]);
    expect(checkExamples(p).total).toBe(12);
    const wrongLabel = structuredClone(artifact);
    wrongLabel.examples.cases[0]!.output = wrongLabel.examples.cases[0]!.output === "short" ? "long" : "short";
    expect(checkExamples(p, wrongLabel).failures[0]!.reason).toMatch(/^expected class "(short|long)", got "/);
    const wrongP = structuredClone(artifact);
    wrongP.examples.cases[1]!.probabilities!.medium! += 1e-6;
    expect(checkExamples(p, wrongP).failures[0]!.reason).toMatch(/^probability of medium: expected /);
  });
});

describe("the classifier part of model.json is validated", () => {
  const { artifact } = fixture("LogisticRegression_multinomial");
  const broken = (f: (a: Json) => void) => {
    const a = JSON.parse(serializeArtifact(artifact));
    f(a);
    return validateArtifact(a).map((p) => `${p.path}: ${p.reason}`);
  };
  it("names what is wrong", () => {
    expect(broken((a) => a.classifier.classes.pop())).toContain("classifier.class_names: must be 2 strings, one per class");
    expect(broken((a) => (a.classifier.link = "probit"))).toContain("classifier.link: must be one of logistic, logistic_ovr, softmax, logsumexp, identity");
    expect(broken((a) => (a.classifier.link = "logistic"))).toContain("classifier.link: logistic does not fit 3 raw outputs for 3 classes");
    expect(broken((a) => a.estimator.intercept.pop())).toContain("estimator.intercept: must be an array of 3 finite numbers, one per output");
    expect(broken((a) => a.estimator.coef.pop())).toContainEqual(
      expect.stringMatching(/^estimator.coef: has \d+ entries but there are \d+ features and 3 outputs$/),
    );
    expect(broken((a) => delete a.classifier)).toContain("estimator.outputs: a regressor has one output, not 3");
    expect(broken((a) => (a.examples.cases = [{ input: {}, output: [1] }]))).toContain("examples.cases[0].output: must be a class label");
  });
});
