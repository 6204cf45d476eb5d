// Model import beyond (dv, linear) tuples: Pipelines, trees and ensembles, joblib (plain, zlib, gzip),
// MLflow folders, and the hand-made layouts Debian's versions cannot write. Every fixture was written by
// test/fixtures/make_sklearn_fixtures.py with Debian's scikit-learn 1.2.1, beside scikit-learn's own
// predictions for 1,003 real rides; ridepred's one predictor must reproduce them.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readArtifact, serializeArtifact, writeFileAtomic } from "../src/artifact/io.js";
import type { ModelArtifact } from "../src/artifact/types.js";
import { validateArtifact } from "../src/artifact/validate.js";
import { RidepredError } from "../src/errors.js";
import { compile } from "../src/runtime/predictor.js";
import { auditPickle, importPickleFile } from "../src/sklearn/import.js";
import { importSource } from "../src/sklearn/source.js";
import { importMlflow } from "../src/sklearn/mlflow.js";
import Ajv2020 from "ajv/dist/2020.js";

const schema = JSON.parse(readFileSync(join(__dirname, "..", "schema", "model.schema.json"), "utf8"));
const schemaValidate = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: false }).compile(schema);

const DIR = join(__dirname, "fixtures", "sklearn");
const HM = join(DIR, "handmade");
const BIN = join(__dirname, "..", "bin", "ridepred");
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));
const expectedOf = (dir: string, name: string): { sklearn: string; predictions: number[] } =>
  JSON.parse(readFileSync(join(dir, `${name}.expected.json`), "utf8"));

// Trees and forests: bit-exact. Linear and boosted sums: within 1e-9 relative (they happen to be exact too).
const MODELS: Record<string, { cls: string; exact: boolean; trees?: number }> = {
  make_pipeline_LinearRegression: { cls: "LinearRegression", exact: false },
  Pipeline_Ridge: { cls: "Ridge", exact: false },
  DecisionTreeRegressor: { cls: "DecisionTreeRegressor", exact: true, trees: 1 },
  DecisionTreeRegressor_tuple: { cls: "DecisionTreeRegressor", exact: true, trees: 1 },
  RandomForestRegressor: { cls: "RandomForestRegressor", exact: true, trees: 5 },
  ExtraTreesRegressor: { cls: "ExtraTreesRegressor", exact: true, trees: 5 },
  GradientBoostingRegressor: { cls: "GradientBoostingRegressor", exact: false, trees: 25 },
  GradientBoostingRegressor_zero: { cls: "GradientBoostingRegressor", exact: false, trees: 10 },
  GradientBoostingRegressor_dummy_median: { cls: "GradientBoostingRegressor", exact: false, trees: 8 },
  HistGradientBoostingRegressor: { cls: "HistGradientBoostingRegressor", exact: false, trees: 15 },
};
const LAYOUTS = ["p2.pkl", "p4.pkl", "p5.pkl", "joblib", "joblib.z", "joblib.gz", "mlflow"];

/** Worst relative error and count of bit-identical predictions over every ride. */
function compare(artifact: ModelArtifact, expected: number[]): { worst: number; identical: number } {
  const p = compile(artifact);
  let worst = 0;
  let identical = 0;
  // The whole set as one batch too (trees walk a batch tree by tree): the same bits as one ride at a time.
  const columns = Object.fromEntries(p.inputs.map((inp) => [inp.name, rides.map((r) => r[inp.name])]));
  const batch = p.predictColumns(columns, rides.length).predictions;
  rides.forEach((ride, i) => {
    const y = p.predict(ride);
    const e = expected[i]!;
    if (y === e) identical++;
    if (!Object.is(batch[i], y)) throw new Error(`ride ${i}: batch ${batch[i]} != one ride ${y}`);
    worst = Math.max(worst, Math.abs(y - e) / Math.max(Math.abs(e), 1e-12));
  });
  return { worst, identical };
}

describe("scikit-learn estimators in every layout match scikit-learn's predictions", () => {
  for (const [name, m] of Object.entries(MODELS)) {
    const expected = expectedOf(DIR, name);
    for (const layout of LAYOUTS) {
      it(`${name} (${layout})`, async () => {
        const artifact = await importSource(join(DIR, `${name}.${layout}`));
        expect(artifact.estimator.sklearn_class).toBe(m.cls);
        expect(artifact.environment.recorded["scikit-learn"]).toBe(expected.sklearn);
        if (m.trees !== undefined) {
          expect(artifact.estimator.kind).toBe("tree_ensemble");
          if (artifact.estimator.kind === "tree_ensemble") expect(artifact.estimator.trees).toHaveLength(m.trees);
        }
        const format = artifact.environment.source.format;
        expect(format).toBe(
          layout === "mlflow"
            ? "mlflow (pickle)"
            : layout === "joblib"
              ? "joblib"
              : layout === "joblib.z"
                ? "joblib+zlib"
                : layout === "joblib.gz"
                  ? "joblib+gzip"
                  : "pickle",
        );
        const { worst, identical } = compare(artifact, expected.predictions);
        expect(rides.length).toBe(1003);
        if (m.exact) expect(identical).toBe(rides.length);
        else expect(worst).toBeLessThan(1e-9);
        const doc = JSON.parse(serializeArtifact(artifact));
        expect(validateArtifact(doc)).toEqual([]);
        expect(schemaValidate(doc), JSON.stringify(schemaValidate.errors)).toBe(true); // the shipped JSON Schema agrees
      });
    }
  }

  it("a tree ensemble survives model.json: written, read back (validated, digest checked), same predictions", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-trees-"));
    for (const name of ["GradientBoostingRegressor", "HistGradientBoostingRegressor", "RandomForestRegressor"]) {
      const artifact = importPickleFile(join(DIR, `${name}.joblib.z`));
      const path = join(dir, `${name}.json`);
      writeFileAtomic(path, serializeArtifact(artifact));
      const back = readArtifact(path);
      expect(back.estimator).toEqual(artifact.estimator);
      const { identical, worst } = compare(back, expectedOf(DIR, name).predictions);
      expect(worst).toBeLessThan(1e-9);
      expect(identical).toBeGreaterThan(0);
    }
  });

  it("trees compare the feature as float32, as scikit-learn does: rides just above a threshold in float64 go left", () => {
    const edges = JSON.parse(readFileSync(join(DIR, "float32_edges.json"), "utf8")) as Record<string, unknown> & { rides: Record<string, string | number>[] };
    expect(edges.rides.length).toBeGreaterThan(10);
    for (const name of ["DecisionTreeRegressor", "RandomForestRegressor", "GradientBoostingRegressor", "HistGradientBoostingRegressor"]) {
      const artifact = importPickleFile(join(DIR, `${name}.p4.pkl`));
      const want = edges[name] as number[];
      const p = compile(artifact);
      for (const [i, ride] of edges.rides.entries()) expect(Math.abs(p.predict(ride) - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 1e-12);
      if (artifact.estimator.kind === "tree_ensemble" && artifact.estimator.compare === "float32") {
        // The same trees compared in float64 get some of these rides wrong: the fixture bites.
        const f64 = compile({ ...artifact, estimator: { ...artifact.estimator, compare: "float64" } });
        expect(edges.rides.some((ride, i) => f64.predict(ride) !== want[i])).toBe(true);
      }
    }
  });

  it("HistGradientBoosting compares float64 and starts from _baseline_prediction", () => {
    const artifact = importPickleFile(join(DIR, "HistGradientBoostingRegressor.p4.pkl"));
    const est = artifact.estimator;
    if (est.kind !== "tree_ensemble") throw new Error("expected trees");
    expect(est.compare).toBe("float64");
    expect(est.aggregate).toBe("sum");
    expect(est.scale).toBe(1);
    expect(est.trees.every((t) => t.missing_left?.length === t.feature.length)).toBe(true);
    // The baseline is the mean training duration of the sample.
    const durations = readFileSync(join(__dirname, "..", "examples", "green_tripdata_2021-02_sample.csv"), "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => Number(l.split(",").at(-1)));
    const mean = durations.reduce((a, b) => a + b, 0) / durations.length;
    expect(Math.abs(est.init - mean) / mean).toBeLessThan(1e-9);
  });
});

describe("model.json validation of trees", () => {
  const good = importPickleFile(join(DIR, "RandomForestRegressor.p4.pkl"));
  const broken = (edit: (t: ModelArtifact["estimator"] & { kind: "tree_ensemble" }) => void) => {
    const doc = JSON.parse(serializeArtifact(good)) as ModelArtifact;
    edit(doc.estimator as ModelArtifact["estimator"] & { kind: "tree_ensemble" });
    return validateArtifact(doc).map((p) => `${p.path}: ${p.reason}`);
  };
  it("accepts the imported forest", () => expect(validateArtifact(JSON.parse(serializeArtifact(good)))).toEqual([]));
  it("refuses a cycle, a feature out of range, bad missing_left and an unknown comparison", () => {
    expect(broken((e) => (e.trees[0]!.left[0] = 0))).toEqual([expect.stringMatching(/trees\[0\]\.left\/right\[0\]: child index out of range/)]);
    expect(broken((e) => (e.trees[1]!.feature[0] = 99999))).toEqual([expect.stringMatching(/trees\[1\]\.feature\[0\]: feature index 99999 out of range/)]);
    expect(broken((e) => (e.trees[0]!.missing_left = [1]))).toEqual([expect.stringMatching(/missing_left: must be an array of 0\/1, one per node/)]);
    expect(broken((e) => ((e as { compare: string }).compare = "float16"))).toEqual([
      expect.stringMatching(/estimator\.compare: must be "float32" or "float64"/),
    ]);
  });
});

describe("hand-made layouts (numpy 2 paths, 8-field tree nodes, big-endian arrays, protocols 0/1, scikit-learn < 0.22 paths, unaligned joblib)", () => {
  const cases: [string, string, boolean][] = [
    ["GradientBoostingRegressor.numpy2.p2.pkl", "GradientBoostingRegressor", false],
    ["Pipeline_Ridge.numpy2.p2.pkl", "Pipeline_Ridge", false],
    ["HistGradientBoostingRegressor.numpy2.p2.pkl", "HistGradientBoostingRegressor", false],
    ["DecisionTreeRegressor.nodes8.p4.pkl", "DecisionTreeRegressor", true],
    ["DecisionTreeRegressor.nodes8.p5.pkl", "DecisionTreeRegressor", true],
    ["RandomForestRegressor.nodes8.p4.pkl", "RandomForestRegressor", true],
    ["RandomForestRegressor.nodes8.p5.pkl", "RandomForestRegressor", true],
    ["GradientBoostingRegressor.nodes8.p4.pkl", "GradientBoostingRegressor", false],
    ["GradientBoostingRegressor.nodes8.p5.pkl", "GradientBoostingRegressor", false],
    ["Pipeline_Ridge.bigendian.p2.pkl", "Pipeline_Ridge", false],
    ["RandomForestRegressor.bigendian.p2.pkl", "RandomForestRegressor", true],
    ["DecisionTreeRegressor.p0.pkl", "DecisionTreeRegressor", true],
    ["GradientBoostingRegressor.p1.pkl", "GradientBoostingRegressor", false],
    ["HistGradientBoostingRegressor.p0.pkl", "HistGradientBoostingRegressor", false],
    ["RandomForestRegressor.sklearn021.p2.pkl", "RandomForestRegressor", true],
    ["GradientBoostingRegressor.sklearn021.p2.pkl", "GradientBoostingRegressor", false],
    ["Pipeline_Ridge.sklearn021.p2.pkl", "Pipeline_Ridge", false],
    ["GradientBoostingRegressor.numpy2.p4.pkl", "GradientBoostingRegressor", false],
    ["GradientBoostingRegressor.numpy2.p5.pkl", "GradientBoostingRegressor", false],
    ["HistGradientBoostingRegressor.numpy2.p4.pkl", "HistGradientBoostingRegressor", false],
    ["HistGradientBoostingRegressor.numpy2.p5.pkl", "HistGradientBoostingRegressor", false],
    ["RandomForestRegressor.numpy2.p4.pkl", "RandomForestRegressor", true],
    ["RandomForestRegressor.numpy2.p5.pkl", "RandomForestRegressor", true],
    ["GradientBoostingRegressor.noalign.joblib", "GradientBoostingRegressor", false],
    ["Pipeline_Ridge.noalign.joblib", "Pipeline_Ridge", false],
  ];
  for (const [file, name, exact] of cases) {
    it(`${file} predicts what ${name} did`, () => {
      const artifact = importPickleFile(join(HM, file));
      const { worst, identical } = compare(artifact, expectedOf(HM, name).predictions);
      if (exact) expect(identical).toBe(rides.length);
      else expect(worst).toBeLessThan(1e-9);
      if (file.includes("sklearn021"))
        expect(artifact.environment.source.globals!.some((g) => /^sklearn\.(ensemble\.(forest|gradient_boosting)|linear_model\.ridge)\./.test(g))).toBe(true);
      if (file.includes("numpy2")) {
        expect(artifact.environment.recorded.numpy).toBe("2.x");
        expect(artifact.environment.source.globals!.some((g) => g.startsWith("numpy._core."))).toBe(true);
      }
      if (file.includes("nodes8") && artifact.estimator.kind === "tree_ensemble") {
        // missing_go_to_left is carried into the artifact (alternating 0/1 on split nodes, as written).
        const t = artifact.estimator.trees[0]!;
        expect(t.missing_left).toBeDefined();
        expect(t.missing_left!.some((m, i) => m === 1 && t.feature[i]! >= 0)).toBe(true);
      }
    });
  }
});

describe("refusals name the problem", () => {
  it("joblib files compressed with lz4 or xz are refused naming the compressor", () => {
    expect(() => importPickleFile(join(DIR, "lz4.joblib"))).toThrow(
      /compressed with lz4: ridepred reads joblib files that are uncompressed or compressed with zlib or gzip/,
    );
    expect(() => importPickleFile(join(DIR, "xz.joblib"))).toThrow(/compressed with xz/);
  });

  it("unsupported scikit-learn classes are refused by name, as scikit-learn classes", () => {
    // A scaler step is imported now (test/import-scalers.test.ts).
    expect(importPickleFile(join(DIR, "unsupported", "Pipeline_StandardScaler.p4.pkl")).features.scalers?.[0]?.kind).toBe("StandardScaler");
  });

  it("a classifier, once refused, now imports with its classes (test/classifiers.test.ts covers them)", () => {
    expect(importPickleFile(join(DIR, "unsupported", "DecisionTreeClassifier.p4.pkl")).classifier).toMatchObject({
      classes: [false, true],
      class_names: ["False", "True"],
    });
  });

  it("a corrupt zlib stream is a clear error", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-z-"));
    const good = readFileSync(join(DIR, "Pipeline_Ridge.joblib.z"));
    const bad = join(dir, "cut.joblib.z");
    writeFileSync(bad, good.subarray(0, good.length >> 1));
    expect(() => importPickleFile(bad)).toThrow(RidepredError);
    expect(() => importPickleFile(bad)).toThrow(/zlib data is corrupt|truncated/);
  });

  it("an MLflow folder without MLmodel, or without the sklearn flavor, is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-mlf-"));
    await expect(importSource(dir)).rejects.toThrow(/not an MLflow model \(no MLmodel file\)/);
    writeFileSync(join(dir, "MLmodel"), "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n");
    await expect(importSource(dir)).rejects.toThrow(/no sklearn or xgboost flavor \(flavors: python_function\)/);
    writeFileSync(join(dir, "MLmodel"), "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n");
    await expect(importSource(dir)).rejects.toThrow(/serialization_format skops is not supported/);
    writeFileSync(join(dir, "MLmodel"), "flavors:\n  sklearn:\n    pickled_model: ../../etc/passwd\n");
    await expect(importSource(dir)).rejects.toThrow(/points outside the folder/);
  });

  it("audit lists joblib's globals (allowed) and reads through compression", () => {
    const report = auditPickle(readFileSync(join(DIR, "GradientBoostingRegressor.joblib.gz")));
    expect(report.compression).toBe("gzip");
    expect(report.format).toBe("joblib");
    expect(report.error).toBeUndefined();
    const names = report.globals.map((g) => g.name);
    expect(names).toContain("joblib.numpy_pickle.NumpyArrayWrapper");
    expect(names).toContain("sklearn.tree._tree.Tree");
    expect(report.globals.every((g) => g.allowed)).toBe(true);
  });
});

describe("MLflow model folders", () => {
  it("records MLmodel's versions and run id, and every pin of requirements.txt, conda.yaml, python_env.yaml", () => {
    const { artifact, info } = importMlflow(join(DIR, "RandomForestRegressor.mlflow"));
    const env = artifact.environment;
    expect(env.recorded).toMatchObject({ "scikit-learn": "1.2.1", python: "3.11.2", mlflow: "2.9.2", numpy: "1.x" });
    expect(env.evidence!.mlflow).toMatch(/MLmodel mlflow_version \(run 0b8e3c6a51f14d2f9d7e2a4c\d{8}\)/);
    expect(Object.keys(env.pins!).sort()).toEqual(["conda.yaml", "python_env.yaml", "requirements.txt"]);
    expect(env.pins!["requirements.txt"]).toMatchObject({ "scikit-learn": "==1.2.1", numpy: "==1.24.2", mlflow: "==2.9.2" });
    expect(env.pins!["conda.yaml"]).toMatchObject({ python: "==3.11.2", "scikit-learn": "==1.2.1" });
    expect(env.pins!["python_env.yaml"]).toMatchObject({ python: "==3.11.2" });
    expect(info.signature!.map((c) => c.name)).toEqual(["PULocationID", "DOLocationID", "trip_distance"]);
    expect(info.inputExample).toHaveLength(5);
    expect(artifact.inputs.find((i) => i.name === "trip_distance")!.description).toBe("MLflow signature: double");
    expect(artifact.name).toBe("RandomForestRegressor");
  });

  it("CLI: import the folder with golden examples, inspect shows the pins, verify --lock passes (and fails on a wrong pin)", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-mlcli-"));
    const name = "GradientBoostingRegressor";
    const preds = expectedOf(DIR, name).predictions;
    writeFileSync(
      join(dir, "ex.jsonl"),
      rides
        .slice(0, 50)
        .map((r, i) => JSON.stringify({ input: r, output: preds[i] }))
        .join("\n"),
    );
    const out = join(dir, "gb.json");
    const folder = join(DIR, `${name}.mlflow`);
    const summary = JSON.parse(
      execFileSync(BIN, ["import", folder, "-o", out, "--examples", join(dir, "ex.jsonl"), "--examples-source", "scikit-learn 1.2.1 predict", "--json"], {
        encoding: "utf8",
      }),
    );
    expect(summary.format).toBe("mlflow (pickle)");
    expect(summary.trees).toBe(25);
    expect(summary.examples).toMatchObject({ total: 50, reproduced: 50 });
    expect(summary.mlflow.input_example).toEqual({ rows: 5, rejected: [] });
    const inspect = JSON.parse(execFileSync(BIN, ["inspect", out, "--json"], { encoding: "utf8" }));
    expect(JSON.stringify(inspect)).toContain("conda.yaml");
    const ok = spawnSync(BIN, ["verify", out, "--lock", join(folder, "requirements.txt"), "--lock", join(folder, "conda.yaml")], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    writeFileSync(join(dir, "requirements.txt"), "scikit-learn==1.3.2\n");
    const bad = spawnSync(BIN, ["verify", out, "--lock", join(dir, "requirements.txt")], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/scikit-learn: built with 1\.2\.1, requirements\.txt pins 1\.3\.2/);
  });

  it("CLI: without -o, model/ (trailing slash) becomes model.json and rf.joblib.gz becomes rf.json", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-out-"));
    cpSync(join(DIR, "Pipeline_Ridge.mlflow"), join(dir, "model"), { recursive: true });
    copyFileSync(join(DIR, "RandomForestRegressor.joblib.gz"), join(dir, "rf.joblib.gz"));
    expect(spawnSync(BIN, ["import", join(dir, "model") + "/"], { encoding: "utf8" }).status).toBe(0);
    expect(spawnSync(BIN, ["import", join(dir, "rf.joblib.gz")], { encoding: "utf8" }).status).toBe(0);
    expect(readArtifact(join(dir, "model.json")).estimator.sklearn_class).toBe("Ridge");
    expect(readArtifact(join(dir, "rf.json")).environment.source.format).toBe("joblib+gzip");
  });

  it("CLI: import a gzip joblib file, audit an MLflow folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "ridepred-jl-"));
    const out = join(dir, "h.json");
    const s = JSON.parse(execFileSync(BIN, ["import", join(DIR, "HistGradientBoostingRegressor.joblib.gz"), "-o", out, "--json"], { encoding: "utf8" }));
    expect(s.format).toBe("joblib+gzip");
    expect(s.estimator).toBe("HistGradientBoostingRegressor");
    const a = spawnSync(BIN, ["import", "--audit", join(DIR, "Pipeline_Ridge.mlflow"), "--json"], { encoding: "utf8" });
    expect(a.status).toBe(0);
    const report = JSON.parse(a.stdout);
    expect(report.refused).toEqual([]);
    expect(report.globals.map((g: { name: string }) => g.name)).toContain("sklearn.pipeline.Pipeline");
    const lz4 = spawnSync(BIN, ["import", join(DIR, "lz4.joblib"), "-o", join(dir, "x.json")], { encoding: "utf8" });
    expect(lz4.status).toBe(2);
    expect(lz4.stderr).toMatch(/compressed with lz4/);
  });
});
