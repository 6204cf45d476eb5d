// The one predictor and the artifact format: golden numbers from scikit-learn, input handling, digest.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_MODEL, readArtifact, serializeArtifact } from "../src/artifact/io.js";
import { canonicalJson, computeDigest } from "../src/artifact/digest.js";
import { validateArtifact } from "../src/artifact/validate.js";
import type { ModelArtifact } from "../src/artifact/types.js";
import { compile } from "../src/runtime/predictor.js";
import { loadModel } from "../src/runtime/load.js";
import { checkExamples } from "../src/runtime/examples.js";
import { InputError } from "../src/errors.js";

const artifact = readArtifact(BUNDLED_MODEL);
const p = compile(artifact);
const examples = readFileSync(join(__dirname, "../models/ride-duration.examples.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as { input: Record<string, unknown>; output: number });

describe("bundled model", () => {
  it("is the course recipe: PU_DO + trip_distance, 13k features, LinearRegression", () => {
    expect(artifact.inputs.map((i) => i.name)).toEqual(["PULocationID", "DOLocationID", "trip_distance"]);
    expect(artifact.features.vectorizer.feature_names.length).toBe(13221);
    expect(artifact.estimator.sklearn_class).toBe("LinearRegression");
    expect(artifact.environment.recorded["scikit-learn"]).toBe("1.2.1");
  });

  it("reproduces scikit-learn's predictions bit for bit (single rides)", () => {
    expect(examples.length).toBeGreaterThanOrEqual(40);
    for (const ex of examples) expect(p.predict(ex.input)).toBe(ex.output);
  });

  it("scores a columnar batch with the same numbers as single rides", () => {
    const cols = {
      PULocationID: examples.map((e) => e.input.PULocationID),
      DOLocationID: examples.map((e) => e.input.DOLocationID),
      trip_distance: Float64Array.from(examples.map((e) => e.input.trip_distance as number)),
    };
    const { predictions, errors } = p.predictColumns(cols, examples.length);
    expect(errors).toEqual([]);
    expect(Array.from(predictions)).toEqual(examples.map((e) => e.output));
  });

  it("loadModel proves the golden examples", () => {
    const m = loadModel();
    expect(checkExamples(m.predictor).failures).toEqual([]);
    expect(m.artifact.digest).toBe(artifact.digest);
  });
});

describe("inputs", () => {
  const ride = { PULocationID: 43, DOLocationID: 151, trip_distance: 1.01 };
  const base = p.predict(ride);

  it("ids as strings, integers, integral doubles and bigints are the same category", () => {
    expect(p.predict({ ...ride, PULocationID: "43" })).toBe(base);
    expect(p.predict({ ...ride, PULocationID: 43.0, DOLocationID: 151n })).toBe(base);
  });

  it("an unseen category contributes 0, as DictVectorizer ignores it", () => {
    const est = artifact.estimator;
    if (est.kind !== "linear") throw new Error("linear expected");
    const names = artifact.features.vectorizer.feature_names;
    const cDist = est.coef[names.indexOf("trip_distance")]!;
    expect(p.predict({ PULocationID: 9999, DOLocationID: 1, trip_distance: 2 })).toBe(0 + 2 * cDist + est.intercept);
  });

  it("a missing or mistyped required input is an error naming the field", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ DOLocationID: 1, trip_distance: 1 }, "PULocationID", /required but missing/],
      [{ ...ride, trip_distance: null }, "trip_distance", /required but missing/],
      [{ ...ride, trip_distance: "far" }, "trip_distance", /expected a number, got "far"/],
      [{ ...ride, trip_distance: Infinity }, "trip_distance", /finite/],
      [{ ...ride, PULocationID: { id: 1 } }, "PULocationID", /expected a category .* got an object/],
      [{ ...ride, DOLocationID: true }, "DOLocationID", /expected a category/],
    ];
    for (const [r, field, reason] of cases) {
      try {
        p.predict(r);
        throw new Error(`no error for ${JSON.stringify(r)}`);
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        expect((e as InputError).field).toBe(field);
        expect((e as InputError).reason).toMatch(reason);
      }
    }
  });

  it("numeric strings (CSV cells) are numbers", () => {
    expect(p.predict({ ...ride, trip_distance: "1.01" })).toBe(base);
  });

  it("a batch reports bad rows by index and never zeroes them", () => {
    const { predictions, errors } = p.predictColumns({ PULocationID: ["43", null, "43"], DOLocationID: [151, 151, 151], trip_distance: [1.01, 1.01, "x"] }, 3);
    expect(predictions[0]).toBe(base);
    expect(Number.isNaN(predictions[1])).toBe(true);
    expect(Number.isNaN(predictions[2])).toBe(true);
    expect(errors).toEqual([
      { row: 1, field: "PULocationID", reason: "is required but missing" },
      { row: 2, field: "trip_distance", reason: 'expected a number, got "x"' },
    ]);
  });

  it("template lookups agree whether or not the vocabulary splits unambiguously", () => {
    const est = artifact.estimator;
    if (est.kind !== "linear") throw new Error("linear expected");
    // One ambiguous column ("7_8_9" splits two ways) forces the joined-string path for the whole field.
    const names = [...artifact.features.vectorizer.feature_names, "PU_DO=7_8_9"];
    const a: ModelArtifact = {
      ...artifact,
      features: { ...artifact.features, vectorizer: { ...artifact.features.vectorizer, feature_names: names } },
      estimator: { ...est, coef: [...est.coef, 100] },
    };
    const q = compile(a);
    for (const ex of examples) expect(q.predict(ex.input)).toBe(ex.output);
    const d = { trip_distance: 1 };
    expect(q.predict({ ...d, PULocationID: "7_8", DOLocationID: 9 }) - q.predict({ ...d, PULocationID: 0, DOLocationID: 0 })).toBeCloseTo(100, 9);
    expect(q.predict({ ...d, PULocationID: 7, DOLocationID: "8_9" })).toBe(q.predict({ ...d, PULocationID: "7_8", DOLocationID: 9 }));
    // The fast path never matches a value that contains the separator.
    expect(p.predict({ ...d, PULocationID: "43_151", DOLocationID: "" + 1 })).toBe(p.predict({ ...d, PULocationID: 0, DOLocationID: 0 }));
  });

  it("the dense id table answers exactly what the joined-string lookup does, for every kind of id", () => {
    // The bundled PU_DO vocabulary is all small integer ids, so the dense table is in use; an extra
    // non-integer column ("x_1") switches the same field to the Map path: both must agree everywhere.
    const est = artifact.estimator;
    if (est.kind !== "linear") throw new Error("linear expected");
    const names = [...artifact.features.vectorizer.feature_names, "PU_DO=x_1"];
    const q = compile({
      ...artifact,
      features: { ...artifact.features, vectorizer: { ...artifact.features.vectorizer, feature_names: names } },
      estimator: { ...est, coef: [...est.coef, 0] },
    });
    const ids = ["0", "1", "43", "151", "264", "265", "266", "999", "4095", "4096", "99999", "043", "+43", " 43", "43 ", "4.3", "", "x", "1_1"];
    const pu: unknown[] = [],
      dolist: unknown[] = [];
    for (const a of ids) for (const b of ids) if (a !== "" && b !== "") pu.push(a), dolist.push(b);
    const n = pu.length;
    const cols = { PULocationID: pu, DOLocationID: dolist, trip_distance: new Float64Array(n).fill(2.5) };
    const dense = p.predictColumns(cols, n);
    const viaMap = q.predictColumns(cols, n);
    expect(dense.errors).toEqual([]);
    expect(Array.from(dense.predictions)).toEqual(Array.from(viaMap.predictions));
    // and single rides take the same path as batches
    for (let r = 0; r < n; r += 7) expect(p.predict({ PULocationID: pu[r], DOLocationID: dolist[r], trip_distance: 2.5 })).toBe(dense.predictions[r]);
  });

  it("dictionary columns (Parquet categories) predict and fail exactly like plain columns", () => {
    const dictionary = ["43", null, "151", {}, 7, "", "999", "0043", "abc", "5000", "151"];
    const indices = Int32Array.from([0, 2, -1, 1, 3, 4, 5, 6, 0, 2, 7, 8, 9, 10, 0, 10, 2, 6]);
    const plain = Array.from(indices, (j) => (j < 0 ? null : dictionary[j]));
    const dist = new Float64Array(indices.length).fill(3.25);
    const viaDict = p.predictColumns(
      { PULocationID: { dictionary, indices }, DOLocationID: { dictionary, indices: indices.slice().reverse() }, trip_distance: dist },
      indices.length,
    );
    const viaPlain = p.predictColumns({ PULocationID: plain, DOLocationID: plain.slice().reverse(), trip_distance: dist }, indices.length);
    expect(viaDict.errors).toEqual(viaPlain.errors);
    expect(viaDict.errors.length).toBeGreaterThan(0);
    expect(Array.from(viaDict.predictions)).toEqual(Array.from(viaPlain.predictions));
    // and with a default for missing values
    const q = compile({ ...artifact, inputs: artifact.inputs.map((i) => (i.name === "PULocationID" ? { ...i, default: "43" } : i)) });
    const a = q.predictColumns({ PULocationID: { dictionary, indices }, DOLocationID: plain, trip_distance: dist }, indices.length);
    const b = q.predictColumns({ PULocationID: plain, DOLocationID: plain, trip_distance: dist }, indices.length);
    expect(a.errors).toEqual(b.errors);
    expect(Array.from(a.predictions)).toEqual(Array.from(b.predictions));
  });

  it("a row's error is its first bad input, and errors come in row order", () => {
    const { errors } = p.predictColumns(
      { PULocationID: ["43", null, {}, "43"], DOLocationID: [null, [], 151, 151], trip_distance: new Float64Array([NaN, 1, Infinity, 1]) },
      4,
    );
    expect(errors).toEqual([
      { row: 0, field: "DOLocationID", reason: "is required but missing" },
      { row: 1, field: "PULocationID", reason: "is required but missing" },
      { row: 2, field: "PULocationID", reason: "expected a category (string or integer), got an object" },
    ]);
    expect(() => p.predict({ PULocationID: 1, DOLocationID: 2, trip_distance: Infinity })).toThrow(/trip_distance/);
  });

  it("optional inputs with a default fill the gap", () => {
    const a: ModelArtifact = { ...artifact, inputs: artifact.inputs.map((i) => (i.name === "PULocationID" ? { ...i, default: "43" } : i)) };
    expect(compile(a).predict({ DOLocationID: 151, trip_distance: 1.01 })).toBe(base);
  });
});

describe("artifact format", () => {
  it("canonical JSON sorts keys, so the digest ignores formatting and key order", () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    const reordered = Object.fromEntries(Object.entries(artifact).reverse());
    expect(Object.keys(reordered)[0]).toBe("digest");
    expect(computeDigest(reordered)).toBe(artifact.digest);
  });

  it("serializes and reads back identically", () => {
    const text = serializeArtifact(artifact);
    const back = JSON.parse(text);
    expect(back.digest).toBe(artifact.digest);
    expect(back).toEqual(artifact);
  });

  it("any change to a coefficient changes the digest", () => {
    const est = artifact.estimator;
    if (est.kind !== "linear") throw new Error("linear expected");
    const edited = { ...artifact, estimator: { ...est, coef: est.coef.map((c, i) => (i === 7 ? c + 1e-12 : c)) } };
    expect(computeDigest(edited)).not.toBe(artifact.digest);
  });

  it("validation names the field that is wrong", () => {
    const est = artifact.estimator;
    if (est.kind !== "linear") throw new Error("linear expected");
    const problems = validateArtifact({ ...artifact, estimator: { ...est, coef: est.coef.slice(1) }, inputs: [] });
    expect(problems).toContainEqual({ path: "inputs", reason: "must be a non-empty array" });
    expect(problems).toContainEqual({ path: "estimator.coef", reason: "has 13220 entries but there are 13221 features" });
    expect(validateArtifact([])).toEqual([{ path: "$", reason: "not a JSON object" }]);
    // A field's kind must be its input's type: DictVectorizer one-hot encodes strings, passes numbers.
    const fields = artifact.features.fields.map((f) => (f.kind === "number" ? { ...f, kind: "category" as const } : f));
    expect(validateArtifact({ ...artifact, features: { ...artifact.features, fields } })).toContainEqual({
      path: "features.fields[1].input",
      reason: 'a category field needs a category input; "trip_distance" is number',
    });
  });
});
