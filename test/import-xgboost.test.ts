// XGBoost boosters read without Python: every objective in every file format (legacy binary, JSON, UBJSON),
// the course's MLflow layout with its preprocessor.b, the scikit-learn wrapper inside a pickled Pipeline,
// hand-made 2.x/3.x files, and broken files refused. Fixtures: test/fixtures/make_xgboost_fixtures.py
// (Debian's xgboost 1.7.4), each beside XGBoost's own predictions for 1,005 real rides.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import type { ModelArtifact } from "../src/artifact/types.js";
import { validateArtifact } from "../src/artifact/validate.js";
import { compile } from "../src/runtime/predictor.js";
import { importSource } from "../src/sklearn/source.js";
import { importBoosterFile } from "../src/xgboost/import.js";
import { FIXTURE_OBJECTIVES } from "./support/xgboost-fixtures.js";

const ROOT = join(__dirname, "..");
const DIR = join(__dirname, "fixtures", "xgboost");
const BIN = join(ROOT, "bin", "ridepred");
const DV = join(DIR, "dv.b");
const SHARED_RUN = join(ROOT, "../shared/models/xgboost-mlflow-run");
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));
const expectedOf = (path: string): number[] => JSON.parse(readFileSync(path, "utf8")).predictions;
const schema = JSON.parse(readFileSync(join(ROOT, "schema", "model.schema.json"), "utf8"));
const schemaValidate = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: true, strict: false }).compile(schema);

const f32 = new Float32Array(1);
const bits = new Int32Array(f32.buffer);
/** Distance in float32 units in the last place (both values are float32 numbers). */
function ulps(a: number, b: number): number {
  f32[0] = a;
  const x = bits[0]!;
  f32[0] = b;
  return Math.abs(x - bits[0]!);
}

/** Worst float32 ULP distance from XGBoost's predictions over every ride, and how many are bit-identical. */
function compare(artifact: ModelArtifact, expected: number[]): { worstUlps: number; identical: number } {
  const p = compile(artifact);
  let worstUlps = 0;
  let identical = 0;
  expect(expected.length).toBe(rides.length);
  rides.forEach((ride, i) => {
    const y = p.predict(ride);
    const e = expected[i]!;
    if (y === e) identical++;
    worstUlps = Math.max(worstUlps, ulps(y, e));
  });
  return { worstUlps, identical };
}

// Every single-output objective the artifact allows that has a fixture (the multi-class ones: their own cases).
const OBJECTIVES = FIXTURE_OBJECTIVES;
// Identity objectives are float32 sums in XGBoost's order: bit for bit by construction. exp and the
// sigmoid go through V8's Math.exp then a float32 rounding instead of glibc's expf: allowed one float32 ULP,
// measured 0 (bit-identical) on every ride of every fixture.
const IDENTITY = new Set(["reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror"]);

describe("every objective in every format equals XGBoost's predict on 1,005 real rides", () => {
  for (const objective of OBJECTIVES) {
    const name = objective.replace(":", "-");
    it(objective, () => {
      const expected = expectedOf(join(DIR, `${name}.expected.json`));
      for (const ext of ["xgb", "json", "ubj"]) {
        const artifact = importBoosterFile(join(DIR, `${name}.${ext}`), { preprocessor: DV, created: "2026-01-01T00:00:00Z" });
        expect(validateArtifact(artifact)).toEqual([]);
        expect(schemaValidate(JSON.parse(JSON.stringify(artifact))), JSON.stringify(schemaValidate.errors)).toBe(true);
        const est = artifact.estimator;
        expect(est.kind).toBe("xgboost");
        if (est.kind !== "xgboost") continue;
        // XGBoost 1.7 writes the deprecated reg:linear under its new name; older files keep reg:linear (the course run).
        expect(objective === "reg:linear" ? ["reg:linear", "reg:squarederror"] : [objective]).toContain(est.objective);
        expect(est.absent).toBe("missing");
        expect(est.trees).toHaveLength(12);
        expect(artifact.environment.source.format).toBe(`xgboost ${{ xgb: "legacy binary", json: "json", ubj: "ubjson" }[ext]}`);
        expect(artifact.environment.recorded.xgboost).toBe(ext === "xgb" ? "1.7" : "1.7.4");
        const { worstUlps, identical } = compare(artifact, expected);
        // The whole batch at once (tree by tree over the rows) gives each ride's bits.
        const columns = Object.fromEntries(["PULocationID", "DOLocationID", "trip_distance"].map((k) => [k, rides.map((r) => r[k])]));
        const single = compile(artifact);
        const batch = compile(artifact).predictColumns(columns, rides.length);
        expect(batch.errors).toEqual([]);
        expect(Array.from(batch.predictions)).toEqual(rides.map((r) => single.predict(r)));
        if (IDENTITY.has(objective)) expect(identical, `${name}.${ext}`).toBe(rides.length);
        else expect(worstUlps, `${name}.${ext}`).toBeLessThanOrEqual(1);
        expect(identical, `${name}.${ext}: bit-identical, as measured`).toBe(rides.length);
      }
    });
  }
});

describe("the course's feeding: a sparse DictVectorizer matrix", () => {
  it("an entry not stored is missing (default branch), a stored trip_distance 0 is a value", () => {
    const artifact = importBoosterFile(join(DIR, "reg-squarederror.xgb"), { preprocessor: DV });
    const p = compile(artifact);
    const expected = expectedOf(join(DIR, "reg-squarederror.expected.json"));
    // The last five rides: unseen categories, trip_distance 0, both.
    for (let i = rides.length - 5; i < rides.length; i++) expect(p.predict(rides[i]!)).toBe(expected[i]);
    // Were absent features fed as zeros, predictions would differ: the dense booster below is the other case.
    const dense = { ...artifact, estimator: { ...artifact.estimator, absent: "zero" as const } };
    const differ = rides.filter((r, i) => compile(dense).predict(r) !== expected[i]).length;
    expect(differ).toBeGreaterThan(rides.length / 2);
  });

  it("a booster fed DictVectorizer(sparse=False) reads unset features as 0", () => {
    const artifact = importBoosterFile(join(DIR, "dense.xgb"), { preprocessor: join(DIR, "dv_dense.b") });
    expect(artifact.estimator.kind === "xgboost" && artifact.estimator.absent).toBe("zero");
    expect(compare(artifact, expectedOf(join(DIR, "dense.expected.json"))).identical).toBe(rides.length);
  });
});

describe("hand-made XGBoost 2.x and 3.x files (documented schema)", () => {
  for (const [tag, written] of [
    ["v2", "2.1.3"],
    ["v3", "3.1.0"],
  ] as const) {
    it(`${tag}: XGBoost ${written} JSON and UBJSON, base_score ${tag === "v3" ? "as a list" : "estimated"}`, () => {
      const expected = expectedOf(join(DIR, "handmade", `${tag}.expected.json`));
      for (const ext of ["json", "ubj"]) {
        const artifact = importBoosterFile(join(DIR, "handmade", `${tag}.${ext}`), { preprocessor: DV });
        expect(artifact.environment.recorded.xgboost).toBe(written);
        const { worstUlps, identical } = compare(artifact, expected);
        if (tag === "v2") expect(identical).toBe(rides.length);
        else expect(worstUlps).toBeLessThanOrEqual(1);
      }
    });
  }
});

describe("the scikit-learn wrapper inside a pickled Pipeline", () => {
  for (const proto of [4, 5]) {
    it(`Pipeline(DictVectorizer, XGBRegressor) protocol ${proto}: the booster's raw bytes are read`, async () => {
      const artifact = await importSource(join(DIR, `pipeline_XGBRegressor.p${proto}.pkl`));
      expect(artifact.estimator.kind === "xgboost" && artifact.estimator.sklearn_class).toBe("XGBRegressor");
      expect(artifact.environment.source.globals).toContain("xgboost.core.Booster");
      expect(compare(artifact, expectedOf(join(DIR, "pipeline_XGBRegressor.expected.json"))).identical).toBe(rides.length);
    });
  }
});

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("ridepred import RUN/models_mlflow --preprocessor RUN/preprocessor/preprocessor.b", () => {
  it("records MLflow's versions and pins, the booster's own version and the preprocessor", () => {
    const tmp = mkdtempSync(join(tmpdir(), "xgb-"));
    const out = join(tmp, "m.json");
    const run = join(DIR, "run");
    // XGBoost's own predictions of the first 20 rides as golden examples: import refuses a model that misses one.
    const expected = expectedOf(join(DIR, "reg-squarederror.expected.json"));
    const examples = join(tmp, "examples.jsonl");
    writeFileSync(
      examples,
      rides
        .slice(0, 20)
        .map((input, i) => JSON.stringify({ input, output: expected[i] }))
        .join("\n"),
    );
    const r = cli([
      "import",
      join(run, "models_mlflow"),
      "--preprocessor",
      join(run, "preprocessor", "preprocessor.b"),
      "-o",
      out,
      "--json",
      "--examples",
      examples,
      "--tolerance",
      "1e-7",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ estimator: "Booster", trees: 12, objective: "reg:squarederror", features: 364, preprocessor: "preprocessor.b" });
    expect(summary.recorded).toMatchObject({ xgboost: "1.7.4", mlflow: "2.3.2", python: "3.9.3", "scikit-learn": "1.2.1" });
    expect(summary.pins["requirements.txt"]).toMatchObject({ xgboost: "==1.7.4", mlflow: "==2.3.2" });
    expect(summary.examples).toMatchObject({ total: 20, reproduced: 20, max_relative_error: 0 });
    expect(summary.mlflow.run_id).toBe("7a4f7e9a3c0000e8fe606e0b8e3c6a51");
    const artifact: ModelArtifact = JSON.parse(readFileSync(out, "utf8"));
    expect(artifact.environment.source).toMatchObject({ file: "models_mlflow/model.xgb", format: "mlflow (xgboost legacy binary)" });
    expect(artifact.environment.source.preprocessor?.file).toBe("preprocessor.b");
    expect(artifact.environment.evidence?.xgboost).toMatch(/MLmodel flavors.xgboost.xgb_version .*; the booster file \(legacy binary\) says 1.7/);
    expect(compare(artifact, expectedOf(join(DIR, "reg-squarederror.expected.json"))).identical).toBe(rides.length);
    // The model.json runs everywhere: verify checks it, score uses it.
    expect(cli(["verify", out]).code).toBe(0);
  });

  it("a booster without --preprocessor is refused with the way out", () => {
    const r = cli(["import", join(DIR, "reg-squarederror.ubj"), "-o", join(tmpdir(), "never.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pass --preprocessor FILE, the pickled DictVectorizer/);
  });

  it("--audit of a booster: data only, no globals", () => {
    const r = cli(["import", "--audit", join(DIR, "reg-squarederror.xgb"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: "xgboost legacy binary", globals: [] });
  });
});

describe("classification: multi-class boosters and XGBClassifier Pipelines", () => {
  /** Labels equal to XGBoost's; worst probability difference (XGBoost computes them in float32, ridepred in float64). */
  function classifierAgrees(artifact: ModelArtifact, labels: (number | boolean)[], probabilities?: number[][]): number {
    const p = compile(artifact);
    const classes = artifact.classifier!.classes;
    const k = classes.length;
    const columns = Object.fromEntries(["PULocationID", "DOLocationID", "trip_distance"].map((c) => [c, rides.map((r) => r[c])]));
    const batch = p.predictColumns(columns, rides.length);
    expect(batch.errors).toEqual([]);
    let worst = 0;
    rides.forEach((ride, i) => {
      const one = p.classify(ride);
      expect(one.index).toBe(batch.predictions[i]);
      expect(classes[one.index], `ride ${i}`).toBe(labels[i]);
      if (probabilities) for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(one.probabilities[j]! - probabilities[i]![j]!));
    });
    return worst;
  }

  for (const objective of ["multi:softprob", "multi:softmax"]) {
    const name = objective.replace(":", "-");
    it(`${objective} boosters in every format: classes 0..3, XGBoost's labels${objective === "multi:softprob" ? " and probabilities to float32 precision" : ""}`, () => {
      const expected = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), "utf8"));
      for (const ext of ["xgb", "json", "ubj"]) {
        const artifact = importBoosterFile(join(DIR, `${name}.${ext}`), { preprocessor: DV });
        expect(validateArtifact(artifact)).toEqual([]);
        expect(schemaValidate(JSON.parse(JSON.stringify(artifact))), JSON.stringify(schemaValidate.errors)).toBe(true);
        expect(artifact.classifier).toMatchObject({ classes: [0, 1, 2, 3], class_names: ["0", "1", "2", "3"], link: "softmax" });
        expect(artifact.target.name).toBe("class");
        const worst = classifierAgrees(artifact, expected.labels, expected.probabilities);
        expect(worst).toBeLessThan(1e-7);
      }
    });
  }

  for (const kind of ["binary", "multiclass"]) {
    it(`Pipeline(DictVectorizer, XGBClassifier) ${kind}: predict and predict_proba`, async () => {
      const expected = JSON.parse(readFileSync(join(DIR, `pipeline_XGBClassifier_${kind}.expected.json`), "utf8"));
      const artifact = await importSource(join(DIR, `pipeline_XGBClassifier_${kind}.p4.pkl`));
      expect(artifact.classifier?.classes).toEqual(expected.classes);
      expect(artifact.classifier?.link).toBe(kind === "binary" ? "logistic" : "softmax");
      expect(classifierAgrees(artifact, expected.labels, expected.probabilities)).toBeLessThan(1e-7);
    });
  }
});

describe("refused by name", () => {
  const cases: [string, RegExp][] = [
    ["unsupported/gblinear.json", /booster gblinear \(a linear booster\) is not supported/],
    ["unsupported/dart.xgb", /booster dart is not supported/],
    ["unsupported/categorical.json", /categorical split: not supported/],
  ];
  for (const [file, message] of cases) {
    it(file, () => {
      expect(() => importBoosterFile(join(DIR, file), { preprocessor: DV })).toThrow(message);
    });
  }
});

describe("hostile and broken booster files: a clear error, exit 2, no crash or hang", () => {
  const cases: [string, RegExp][] = [
    ["hostile/truncated.xgb", /tree \d+ declares \d+ nodes, more than the file holds/],
    ["hostile/huge_tree_count.xgb", /declares 2147483647 trees, more than the \d+ bytes can hold/],
    ["hostile/huge_node_count.xgb", /tree 0 declares 2147483647 nodes, more than the file holds/],
    ["hostile/cycle.json", /tree 0 reaches node \d+ twice: its child indices form a cycle/],
    ["hostile/feature_past_vocabulary.json", /tree 0 node 0 splits on feature 100000, but the preprocessor makes 364 features/],
    ["hostile/huge_array.ubj", /not valid UBJSON: truncated: 4398046511104 bytes needed/],
    ["hostile/deep.ubj", /not valid UBJSON: nested deeper than 64 levels/],
    ["hostile/garbage.bin", /not a pickle|cannot read|not an XGBoost model|refused|unknown opcode/i],
  ];
  for (const [file, message] of cases) {
    it(file, () => {
      const t0 = Date.now();
      const r = cli(["import", join(DIR, file), "--preprocessor", DV, "-o", join(tmpdir(), "never.json")]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(file.split("/")[1]);
      expect(Date.now() - t0).toBeLessThan(10_000);
    });
  }
});

describe.skipIf(!existsSync(SHARED_RUN))("the real course run (../shared/models/xgboost-mlflow-run)", () => {
  it("equals XGBoost's predictions bit for bit on 1,005 real rides and reference.json", () => {
    const artifact = importBoosterFile(join(SHARED_RUN, "models_mlflow", "model.xgb"), { preprocessor: join(SHARED_RUN, "preprocessor", "preprocessor.b") });
    expect(artifact.estimator.kind === "xgboost" && artifact.estimator.objective).toBe("reg:linear");
    expect(compare(artifact, expectedOf(join(DIR, "course-run.expected.json"))).identical).toBe(rides.length);
    const ref = JSON.parse(readFileSync(join(SHARED_RUN, "reference.json"), "utf8"));
    const p = compile(artifact);
    for (const c of ref.cases) {
      expect(p.predict(c.input)).toBe(c.xgboost_sparse);
      expect(p.predict(c.input)).not.toBe(c.xgboost_dense_zeros_as_values);
    }
  });
});
if (!existsSync(SHARED_RUN)) console.warn(`skipping the course-run test: ${SHARED_RUN} is absent`);
