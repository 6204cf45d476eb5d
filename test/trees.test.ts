// Tree ensembles walk a batch tree by tree, on the calling thread or split with tree workers
// (src/runtime/trees.ts, tree-walk.ts, tree-worker.ts): every way gives scikit-learn's bits.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TreeSpec } from "../src/artifact/types.js";
import { compile } from "../src/runtime/predictor.js";
import { rangeWalker, type SparseBatch, sklearnParams, type WalkParams } from "../src/runtime/tree-walk.js";
import { flatten } from "../src/runtime/trees.js";
import { float32Below } from "../src/runtime/float32.js";
import { strictSplits } from "../src/runtime/xgboost.js";
import { importPickleFile } from "../src/sklearn/import.js";
import { importBoosterFile } from "../src/xgboost/import.js";

const DIR = join(__dirname, "fixtures", "sklearn");
const XGB = join(__dirname, "fixtures", "xgboost");
const BIN = join(__dirname, "..", "bin", "ridepred");
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));
const TREES = [
  "DecisionTreeRegressor",
  "RandomForestRegressor",
  "ExtraTreesRegressor",
  "GradientBoostingRegressor",
  "GradientBoostingRegressor_dummy_median",
  "HistGradientBoostingRegressor",
];

/** `ridepred import ARGS`, then `score` over 3,000 real rides (the sample three times) with --threads 1 and 2: both outputs. */
function scoreWithOneAndTwoThreads(...importArgs: string[]): [string, string] {
  const dir = mkdtempSync(join(tmpdir(), "ridepred-trees-"));
  try {
    const model = join(dir, "model.json");
    const imp = spawnSync(process.execPath, [BIN, "import", ...importArgs, "-o", model], { encoding: "utf8" });
    expect(imp.status, imp.stderr).toBe(0);
    const sample = readFileSync(join(__dirname, "..", "examples", "green_tripdata_2021-02_sample.csv"), "utf8").split("\n");
    const body = sample.slice(1).filter(Boolean);
    writeFileSync(join(dir, "rides.csv"), [sample[0], ...body, ...body, ...body].join("\n") + "\n");
    const score = (threads: string) => {
      const out = join(dir, `out${threads}.csv`);
      const r = spawnSync(process.execPath, [BIN, "score", join(dir, "rides.csv"), "--model", model, "-o", out, "--threads", threads], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out, "utf8");
    };
    return [score("1"), score("2")];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("tree ensembles over large batches", () => {
  // Three copies of the 1,003 real rides, so that the batch is past the size tree workers take on.
  const many = [...rides, ...rides, ...rides];
  for (const name of TREES) {
    it(`${name}: one thread and three threads give scikit-learn's predictions, bit for bit`, () => {
      const artifact = importPickleFile(join(DIR, `${name}.p4.pkl`));
      const expected: number[] = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), "utf8")).predictions;
      const one = compile(artifact);
      const three = compile(artifact, { threads: 3 });
      const columns = Object.fromEntries(one.inputs.map((inp) => [inp.name, many.map((r) => r[inp.name])]));
      const a = Float64Array.from(one.predictColumns(columns, many.length).predictions);
      const byThree = three.predictColumns(columns, many.length);
      expect(byThree.threads).toBe(3); // the workers did walk two thirds of the rows
      const b = Float64Array.from(byThree.predictions);
      // twice, so that the workers' second job (reused buffers) is checked too
      const c = three.predictColumns(columns, many.length).predictions;
      for (let i = 0; i < many.length; i++) {
        const want = name.startsWith("Gradient") || name.startsWith("Hist") ? a[i] : expected[i % rides.length];
        expect(Object.is(a[i], want) && Object.is(b[i], a[i]) && Object.is(c[i], a[i]), `row ${i}: ${a[i]} ${b[i]} ${c[i]} want ${want}`).toBe(true);
      }
      // The boosted sums match scikit-learn to 1e-12 relative (test/import-sklearn.test.ts); the threads add nothing.
      for (let i = 0; i < rides.length; i++) expect(Math.abs(a[i]! - expected[i]!)).toBeLessThanOrEqual(Math.abs(expected[i]!) * 1e-12);
    });
  }

  it("a rejected row in a threaded batch is NaN with its error, the rest are scored", () => {
    const artifact = importPickleFile(join(DIR, "RandomForestRegressor.p4.pkl"));
    const p = compile(artifact, { threads: 2 });
    const columns = Object.fromEntries(p.inputs.map((inp) => [inp.name, many.map((r) => r[inp.name])]));
    const distance = p.inputs.find((i) => i.type === "number")!.name;
    (columns[distance] as unknown[])[2500] = "abc";
    const { predictions, errors } = p.predictColumns(columns, many.length);
    expect(errors).toEqual([{ row: 2500, field: distance, reason: 'expected a number, got "abc"' }]);
    expect(Number.isNaN(predictions[2500])).toBe(true);
    expect(predictions.filter((x) => Number.isNaN(x)).length).toBe(1);
  });

  it("score --threads 2 with a forest: same output as --threads 1, and the workers never keep the process alive", () => {
    const [one, two] = scoreWithOneAndTwoThreads(join(DIR, "RandomForestRegressor.p4.pkl"));
    expect(two).toBe(one);
    expect(one.split("\n").length).toBeGreaterThan(3000);
  });

  it("score --threads: a bad value is a usage error (exit 2)", () => {
    const bad = spawnSync(process.execPath, [BIN, "score", "examples/green_tripdata_2021-02_sample.csv", "--threads", "0"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--threads 0: expected a whole number of threads from 1 to 64, or auto");
    const env = { ...process.env, RIDEPRED_THREADS: "x" };
    const badEnv = spawnSync(process.execPath, [BIN, "score", "examples/green_tripdata_2021-02_sample.csv"], { encoding: "utf8", env });
    expect(badEnv.status).toBe(2);
    expect(badEnv.stderr).toContain("RIDEPRED_THREADS=x: expected a whole number");
  });
});

describe("XGBoost boosters walk the same code, on tree workers too", () => {
  const xgbRides: Record<string, string | number>[] = JSON.parse(readFileSync(join(XGB, "rides.json"), "utf8"));
  const many = [...xgbRides, ...xgbRides, ...xgbRides]; // 3,015 rows: past the size tree workers take on
  // Identity, exp and sigmoid objectives, and a booster fed a dense matrix (unset features are 0, not missing).
  const BOOSTERS: [string, string][] = [
    ["reg-squarederror.xgb", "dv.b"],
    ["reg-gamma.json", "dv.b"],
    ["binary-logistic.ubj", "dv.b"],
    ["dense.xgb", "dv_dense.b"],
  ];
  for (const [file, dv] of BOOSTERS) {
    it(`${file}: one thread and two threads give XGBoost's predictions, bit for bit`, () => {
      const artifact = importBoosterFile(join(XGB, file), { preprocessor: join(XGB, dv) });
      const expected: number[] = JSON.parse(readFileSync(join(XGB, `${file.replace(/\.\w+$/, "")}.expected.json`), "utf8")).predictions;
      const columns = Object.fromEntries(["PULocationID", "DOLocationID", "trip_distance"].map((k) => [k, many.map((r) => r[k])]));
      const one = compile(artifact).predictColumns(columns, many.length);
      const two = compile(artifact, { threads: 2 });
      const byTwo = two.predictColumns(columns, many.length);
      expect(byTwo.threads).toBe(2);
      const again = two.predictColumns(columns, many.length).predictions;
      for (let i = 0; i < many.length; i++) {
        const want = expected[i % xgbRides.length]!;
        const ok = Object.is(one.predictions[i], want) && Object.is(byTwo.predictions[i], want) && Object.is(again[i], want);
        expect(ok, `row ${i}: ${one.predictions[i]} ${byTwo.predictions[i]} ${again[i]} want ${want}`).toBe(true);
      }
    });
  }

  it("score --threads 2 with a booster: same output as --threads 1", () => {
    const [one, two] = scoreWithOneAndTwoThreads(join(XGB, "reg-squarederror.xgb"), "--preprocessor", join(XGB, "dv.b"));
    expect(two).toBe(one);
    expect(one.split("\n").length).toBeGreaterThan(3000);
  });

  it("XGBoost's x < split is the walk's x <= float32Below(split) for every float32 x", () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const edges = [
      0,
      -0,
      1,
      -1,
      2 ** -149,
      -(2 ** -149),
      2 ** -126,
      3.4028234663852886e38,
      -3.4028234663852886e38,
      Infinity,
      -Infinity,
      Number.NaN,
      0.1,
      1e-40,
    ];
    let seed = 12345;
    const random32 = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      u[0] = seed;
      return f[0]!;
    };
    const values = [...edges, ...Array.from({ length: 2000 }, random32)].map(Math.fround);
    // Splits: float32 values, their neighbours, and doubles that are not float32 values.
    const splits = [...values, ...values.slice(0, 200).map((v) => v * (1 + 2 ** -40)), 0.1, 1 / 3];
    const wrong: string[] = [];
    for (const t of splits) {
      const below = float32Below(t);
      for (const x of values) if (x === x && x <= below !== x < t) wrong.push(`x ${x} split ${t} below ${below}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(float32Below(1)).toBe(Math.fround(1 - 2 ** -24));
  });
});

describe("the walk against a plain reference walk, on random forests and batches", () => {
  // Random trees (small ones and ones past a block of 4,096 nodes), 1 to 6 fields, features unset,
  // missing values with default directions, skipped rows, odd row ranges: scikit-learn's and XGBoost's rules.
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const int = (n: number) => Math.floor(rand() * n);
  function tree(nodes: number, nFeatures: number): TreeSpec {
    const t: TreeSpec = { feature: [], threshold: [], left: [], right: [], value: [], missing_left: [] };
    const grow = (budget: number): number => {
      const i = t.feature.length;
      t.feature.push(-2);
      t.threshold.push(0);
      t.left.push(-1);
      t.right.push(-1);
      t.value.push(Math.fround(rand() * 10 - 5));
      t.missing_left!.push(0);
      if (budget >= 3) {
        t.feature[i] = int(nFeatures);
        t.threshold[i] = [0.5, Math.fround(rand() * 4 - 1), 1, 0][int(4)]!;
        t.missing_left![i] = int(2);
        const l = 1 + int(budget - 2);
        t.left[i] = grow(l);
        t.right[i] = grow(budget - 1 - l);
      }
      return i;
    };
    grow(nodes);
    return t;
  }
  /** Row r's value of feature f, as the walk must read it: the first field setting f, else unset. */
  function reference(trees: TreeSpec[], p: WalkParams, batch: SparseBatch, r: number): number {
    let acc = p.mean ? 0 : p.init;
    for (const t of trees) {
      let node = 0;
      while (t.feature[node]! >= 0) {
        const f = t.feature[node]!;
        let x = p.unset;
        for (let k = 0; k < batch.nFields; k++)
          if (batch.col[k * batch.stride + r] === f) {
            x = batch.val[k * batch.stride + r]!;
            break;
          }
        if (p.f32) x = Math.fround(x);
        const left = x !== x ? t.missing_left![node] === 1 : p.f32sum ? x < t.threshold[node]! : x <= t.threshold[node]!;
        node = left ? t.left[node]! : t.right[node]!;
      }
      const y = acc + (p.mean ? t.value[node]! : p.scale * t.value[node]!);
      acc = p.f32sum ? Math.fround(y) : y;
    }
    return p.mean ? p.init + p.scale * (acc / trees.length) : acc;
  }
  for (const rules of ["scikit-learn forest", "scikit-learn boosting", "XGBoost sparse", "XGBoost dense"]) {
    for (const nFields of [1, 2, 3, 4, 6]) {
      it(`${rules}, ${nFields} field(s)`, () => {
        const nFeatures = 12;
        const trees = Array.from({ length: 9 }, (_, i) => tree(i % 3 === 0 ? 5001 : 1 + int(60), nFeatures));
        const xgb = rules.startsWith("XGBoost");
        const p: WalkParams = xgb
          ? { f32: true, init: Math.fround(0.5), scale: 1, mean: false, f32sum: true, unset: rules.endsWith("sparse") ? Number.NaN : 0, unsetOf: null }
          : sklearnParams({ f32: true, init: 1.5, scale: rules.endsWith("forest") ? 1 : 0.1, mean: rules.endsWith("forest") });
        const forest = flatten({ trees }, false);
        if (xgb) strictSplits(forest);
        const stride = 301;
        const batch: SparseBatch = {
          col: Int32Array.from({ length: nFields * stride }, () => (rand() < 0.2 ? -1 : int(nFeatures))),
          val: Float64Array.from({ length: nFields * stride }, () => [0, 1, 0.5, rand() * 4 - 1][int(4)]!),
          stride,
          nFields,
        };
        const skip = Uint8Array.from({ length: stride }, () => (rand() < 0.05 ? 1 : 0));
        const out = new Float64Array(stride).fill(-99);
        rangeWalker(forest, p)(batch, 3, 300, skip, out); // an odd number of rows, not from 0
        const wrong: string[] = [];
        for (let r = 3; r < 300; r++) {
          const want = skip[r] === 1 ? Number.NaN : reference(trees, p, batch, r);
          if (!Object.is(out[r], want)) wrong.push(`row ${r}: ${out[r]} want ${want}`);
        }
        expect(wrong.slice(0, 3)).toEqual([]);
        expect([out[2], out[300]]).toEqual([-99, -99]); // outside the range: untouched
      });
    }
  }
});
