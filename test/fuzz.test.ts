// Hostile files are refused with clear errors (never run, crash, hang or exhaust memory), and a seeded
// mutation fuzz of valid fixtures ends every case in a valid artifact or a RidepredError.
// The corpus is written by test/fixtures/make_sklearn_fixtures.py; multi-megabyte floods are made here.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { InputError, RidepredError } from "../src/errors.js";
import { makeResolver } from "../src/sklearn/allowlist.js";
import { modelParts } from "../src/sklearn/estimators.js";
// A plain ES module shared with bench/fuzz.mjs: test-only code stays out of src/ and dist/.
import { mutate, rng, runCase } from "../bench/fuzz-lib.mjs";
import { auditPickle, importPickleBytes } from "../src/sklearn/import.js";
import { importSource } from "../src/sklearn/source.js";
import { decompress } from "../src/sklearn/joblib.js";
import { PickleError, unpickle } from "../src/sklearn/pickle.js";
import { serializeArtifact } from "../src/artifact/io.js";
import { validateArtifact } from "../src/artifact/validate.js";
import { compile } from "../src/runtime/predictor.js";
import type { ModelArtifact, TreeSpec } from "../src/artifact/types.js";
import { importBoosterBytes } from "../src/xgboost/import.js";

const RIDEPRED = { validateArtifact, compile, RidepredError, InputError };

const DIR = join(__dirname, "fixtures", "sklearn");
const HOSTILE = join(DIR, "hostile");
const BIN = join(__dirname, "..", "bin", "ridepred");
const MARKER = "/tmp/ridepred-pwned";
const rides: Record<string, string | number>[] = JSON.parse(readFileSync(join(DIR, "rides.json"), "utf8"));

// Times are never held to a fixed number here (other work on the machine slows everything alike): they
// are compared with a reference timed in the same test, or with the same work at a quarter of the size.

/** Milliseconds of the fastest of `times` runs of f: the run least disturbed by other load. */
function fastest(f: () => unknown, times = 3): number {
  let best = Infinity;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/**
 * Work that must stay linear, against linear work of the same size by the same code (fastest of 3
 * each, interleaved): quadratic work is hundreds of times slower at these sizes, 10x leaves room for noise.
 * (Comparing one size with a larger one measured the memory hierarchy and the collector as much as the code.)
 */
function expectLikeReference(run: () => unknown, reference: () => unknown, what: string): void {
  let [a, b] = [Infinity, Infinity];
  for (let i = 0; i < 3; i++) {
    a = Math.min(a, fastest(reference, 1));
    b = Math.min(b, fastest(run, 1));
  }
  expect(b / a, `${what} took ${b.toFixed(1)} ms, the reference ${a.toFixed(1)} ms`).toBeLessThan(10);
}

/** Importing the bundled model (a real 400 KB pickle), fastest of 3: what a refusal is measured against. */
let importReference = Infinity;

// Every committed hostile file, with the refusal it must produce.
const CORPUS: Record<string, RegExp> = {
  "os_system.p2.pkl": /refused global posix\.system: not on ridepred's allow-list/,
  "os_system.p5.pkl": /refused global posix\.system/,
  "os_system.joblib": /refused global posix\.system/,
  "os_system.joblib.gz": /refused global posix\.system/,
  "os_system.mlflow": /model\.pkl: byte \d+: refused global posix\.system/,
  "subprocess_check_call.p2.pkl": /refused global subprocess\.check_call/,
  "subprocess_check_call.p5.pkl": /refused global subprocess\.check_call/,
  "builtins_eval.p2.pkl": /refused global builtins\.eval/,
  "builtins_eval.p5.pkl": /refused global builtins\.eval/,
  "builtins_exec.p2.pkl": /refused global builtins\.exec/,
  "builtins_exec.p5.pkl": /refused global builtins\.exec/,
  "getattr_import.p2.pkl": /refused global builtins\.getattr/,
  "getattr_import.p5.pkl": /refused global builtins\.getattr/,
  "inst.pkl": /opcode INST \(old-style instance creation\) is refused/,
  "obj.pkl": /refused global os\.system/,
  "ext1.pkl": /EXT1\/EXT2\/EXT4\) are refused/,
  "ext2.pkl": /EXT1\/EXT2\/EXT4\) are refused/,
  "ext4.pkl": /EXT1\/EXT2\/EXT4\) are refused/,
  "persid.pkl": /persistent ids \(PERSID\/BINPERSID\) are refused/,
  "binpersid.pkl": /persistent ids/,
  "billion_laughs.pkl": /expected a Pipeline\(DictVectorizer, estimator\)/,
  "self_list.pkl": /expected a Pipeline\(DictVectorizer, estimator\)/,
  "cyclic_key.pkl": /unsupported dict key: a tuple holding containers/,
  "binunicode8_huge.pkl": /length 4611686018427387904 is absurd/,
  "binbytes_truncated.pkl": /truncated: needs 2147483648 more bytes/,
  "long4_huge.pkl": /truncated: needs 1073741824 more bytes/,
  "frame_huge.pkl": /is absurd/,
  "shape_vs_bytes.pkl": /numpy array data is 32 bytes but shape \[268435456\] of <f8 needs 2147483648/,
  "shape_absurd.pkl": /numpy array shape \[2147483647,2147483647\] is absurdly large/,
  "shape_negative.pkl": /numpy array shape \[-4\] is invalid/,
  "object_array_count.pkl": /numpy object array has 2 items but its shape \[1000000000\]/,
  "joblib_shape_vs_file.joblib": /truncated: 2147483648 bytes of inline data declared/,
  "tree_cycle.pkl": /node 1 has children 0\/\d+ outside the tree/,
  "tree_feature_range.pkl": /node 0 splits on feature 1000000, but there are 741 features/,
  "tree_values_shape.pkl": /values has shape \[3,1,1\] for 129 nodes/,
};

describe("hostile corpus", () => {
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await importSource(join(__dirname, "..", "models", "ride-duration.bin"));
      importReference = Math.min(importReference, performance.now() - t0);
    }
  });

  it("covers every committed hostile file", () => {
    expect(readdirSync(HOSTILE).sort()).toEqual(Object.keys(CORPUS).sort());
  });

  for (const [file, why] of Object.entries(CORPUS)) {
    it(`${file}: refused (${why.source.slice(0, 60)})`, async () => {
      rmSync(MARKER, { force: true });
      const t0 = performance.now();
      const err = await importSource(join(HOSTILE, file)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RidepredError);
      expect((err as RidepredError).message).toMatch(why);
      expect((err as RidepredError).message).not.toMatch(/cannot read this (file|model) \(/); // not an internal error
      // Refused without expanding anything: about as quick as importing a real model (5x for noise).
      expect(performance.now() - t0).toBeLessThan(5 * importReference);
      expect(existsSync(MARKER)).toBe(false);
    });
  }

  it("audit names every dangerous global without running anything, through joblib compression too", () => {
    for (const [file, global] of [
      ["getattr_import.p2.pkl", "builtins.getattr"],
      ["os_system.joblib.gz", "posix.system"],
    ]) {
      const report = auditPickle(readFileSync(join(HOSTILE, file!)));
      expect(report.globals).toContainEqual({ name: global, allowed: false });
      expect(report.risks[global!]).toBe("can run code or touch the system");
      expect(report.offsets[global!]).toBeGreaterThan(0);
    }
    // The getattr chain also names builtins.__import__: audit keeps reading past the first refusal.
    const names = auditPickle(readFileSync(join(HOSTILE, "getattr_import.p2.pkl"))).globals.map((g) => g.name);
    expect(names).toEqual(expect.arrayContaining(["builtins.getattr", "builtins.__import__", "sklearn.pipeline.Pipeline"]));
    expect(existsSync(MARKER)).toBe(false);
  });

  it("CLI audit of a hostile MLflow folder exits 1 and lists the refused global", () => {
    const r = spawnSync(BIN, ["import", "--audit", join(HOSTILE, "os_system.mlflow")], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/REFUSED {2}posix\.system {2}\(can run code or touch the system; first named at byte \d+\)/);
    expect(r.stderr).toMatch(/1 refused/);
  });
});

describe("resource limits: floods and deep nesting end in a clear error, in time linear in their size", () => {
  const resolve = makeResolver();
  const refusal = (bytes: Uint8Array, limits = {}) => {
    try {
      unpickle(bytes, { resolve, limits });
    } catch (e) {
      expect(e).toBeInstanceOf(PickleError);
      return (e as Error).message;
    }
    return "no error";
  };
  const rep = (byte: number, n: number) => new Uint8Array(n).fill(byte);
  const cat = (...p: (Uint8Array | number[])[]) => {
    const out = new Uint8Array(p.reduce((a, x) => a + x.length, 0));
    let at = 0;
    for (const x of p) out.set(x, (at += x.length) - x.length);
    return out;
  };
  const memoFlood = (n: number) => cat([0x80, 4, 0x4e], rep(0x94, n), [0x2e]);
  const marks = (n: number) => cat([0x80, 2], rep(0x28, n), [0x4e], rep(0x74, n), [0x2e]);
  const tuples = (n: number) => cat([0x80, 2, 0x4e], rep(0x85, n), [0x2e]);
  const lists = (n: number) => cat([0x80, 2], rep(0x5d, n), rep(0x61, n - 1), [0x2e]);
  const pushes = (n: number) => cat([0x80, 2], rep(0x4e, n), [0x2e]);
  // The reference: a valid pickle of one list of N Nones, appended in one APPENDS.
  const list = (n: number) => cat([0x80, 2, 0x5d, 0x28], rep(0x4e, n), [0x65, 0x2e]);
  const N = 2_000_000;

  it("memo: 6 million MEMOIZE entries exceed the 5 million limit", () => {
    expect(refusal(memoFlood(6_000_000))).toMatch(/memo limit of 5000000 entries exceeded/);
    const flood = memoFlood(N + N / 5);
    const valid = list(N);
    expectLikeReference(
      () => refusal(flood, { maxMemo: N }),
      () => unpickle(valid, { resolve }),
      "memo flood",
    );
  });

  it("nesting: 100,000 MARKs exceed the depth limit", () => {
    expect(refusal(marks(100_000))).toMatch(/nesting deeper than 2000/); // at the 2,001st MARK: the rest is never read
  });

  it("a million nested 1-tuples and 200,000 nested lists are read without recursion, then refused as not a model", () => {
    for (const bytes of [tuples(1_000_000), lists(200_000)])
      expect(() => importPickleBytes("deep.pkl", bytes)).toThrow(/expected a Pipeline\(DictVectorizer, estimator\)/);
  });

  it("stack: millions of values pushed without a STOP hit the stack limit", () => {
    expect(refusal(pushes(5_100_000))).toMatch(/stack limit of 5000000 exceeded/);
    const flood = pushes(N + N / 50);
    const valid = list(N);
    expectLikeReference(
      () => refusal(flood, { maxStack: N }),
      () => unpickle(valid, { resolve }),
      "stack flood",
    );
  });

  it("allocation: the budget stops a file that decodes into more than it allows", () => {
    const arr = readFileSync(join(DIR, "Pipeline_Ridge.p4.pkl"));
    expect(refusal(arr, { maxAlloc: 4096 })).toMatch(/allocation limit of 4096 bytes exceeded/);
    // And at the default budget the same file reads.
    expect(() => unpickle(arr, { resolve })).not.toThrow();
  });

  it("a list appended with millions of items via APPENDS does not overflow the call stack", () => {
    const items = rep(0x4e, 3_000_000);
    const bytes = cat([0x80, 2, 0x5d, 0x28], items, [0x65, 0x2e]);
    const { value } = unpickle(bytes, { resolve });
    expect((value as unknown[]).length).toBe(3_000_000);
  });

  it("a zlib bomb is cut off at the output limit with a clear error", () => {
    const bomb = deflateSync(new Uint8Array(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(100_000);
    const fail = (m: string): never => {
      throw new RidepredError(m, 2);
    };
    expect(() => decompress(bomb, 1024 * 1024, fail)).toThrow(/zlib data expands past the 1048576-byte limit/);
  });

  it("file size: a file over the size limit is refused before it is read", () => {
    expect(refusal(new Uint8Array(2048), { maxBytes: 1024 })).toMatch(/file is 2048 bytes, over the 1024-byte limit/);
  });
});

describe("protocol 5 out-of-band buffers", () => {
  const file = readFileSync(join(DIR, "oob", "Pipeline_Ridge.p5.pkl"));
  const expected: number[] = JSON.parse(readFileSync(join(DIR, "Pipeline_Ridge.expected.json"), "utf8")).predictions;

  it("read with the buffers supplied, the model is the one scikit-learn pickled", async () => {
    const buffers = [readFileSync(join(DIR, "oob", "buffer0.bin"))];
    const { value } = unpickle(file, { resolve: makeResolver(), buffers });
    const fail = (m: string): never => {
      throw new Error(m);
    };
    const parts = modelParts(value, fail);
    const inband = await importSource(join(DIR, "Pipeline_Ridge.p5.pkl"));
    expect(parts.estimator).toEqual(inband.estimator);
    expect(expected.length).toBe(rides.length);
  });

  it("without them, a clear error", () => {
    expect(() => importPickleBytes("oob.pkl", file)).toThrow(/asks for an out-of-band buffer \(protocol 5\) but none was supplied/);
  });
});

describe("mutation fuzz of valid fixtures (seeded, bounded)", () => {
  const SEEDS = [1, 2, 3];
  const CASES_PER_SEED = 400;
  const sources = [
    "Pipeline_Ridge.p2.pkl",
    "DecisionTreeRegressor_tuple.p4.pkl",
    "GradientBoostingRegressor_dummy_median.p5.pkl",
    "RandomForestRegressor.joblib",
    "HistGradientBoostingRegressor.p4.pkl",
  ].map((f) => readFileSync(join(DIR, f)));
  const sample = rides.slice(0, 5);
  // The slowest un-mutated source, imported and run on the sample: what the slowest mutant is held to.
  const reference = () => Math.max(...sources.map((src) => fastest(() => runCase((b: Uint8Array) => importPickleBytes("fuzz.pkl", b), src, sample, RIDEPRED))));

  for (const seed of SEEDS) {
    it(`seed ${seed}: ${CASES_PER_SEED} mutants each import cleanly or are refused with a RidepredError`, () => {
      const rand = rng(seed);
      const tally = { imported: 0, refused: 0, defect: 0 };
      const defects: string[] = [];
      let slowest = 0;
      for (let i = 0; i < CASES_PER_SEED; i++) {
        const src = sources[i % sources.length]!;
        const donor = sources[(i + 1) % sources.length]!;
        let bytes = mutate(src, rand, donor);
        if (rand() < 0.3) bytes = mutate(bytes, rand, donor); // sometimes two mutations
        const r = runCase((b: Uint8Array) => importPickleBytes("fuzz.pkl", b), bytes, sample, RIDEPRED);
        tally[r.outcome as keyof typeof tally]++;
        slowest = Math.max(slowest, r.ms);
        if (r.outcome === "defect") defects.push(`case ${i}: ${r.message}`);
      }
      expect(defects).toEqual([]);
      expect(tally.refused).toBeGreaterThan(CASES_PER_SEED / 4); // the mutations really break files
      expect(tally.imported + tally.refused).toBe(CASES_PER_SEED);
      // No mutant makes the importer do far more work than a real file does (100x: the slowest of hundreds
      // of cases meets the odd collector pause; a fixed number of seconds would measure the machine's load).
      expect(slowest).toBeLessThan(100 * reference());
    });
  }
});

describe("mutation fuzz of XGBoost boosters in every format (seeded, bounded)", () => {
  const XGB = join(__dirname, "fixtures", "xgboost");
  const preprocessor = join(XGB, "dv.b");
  const files = ["reg-squarederror.xgb", "binary-logistic.json", "count-poisson.ubj", "handmade/v2.ubj", "handmade/v3.json"];
  const sources = files.map((f) => readFileSync(join(XGB, f)));
  const sample: Record<string, string | number>[] = JSON.parse(readFileSync(join(XGB, "rides.json"), "utf8")).slice(-6);
  const CASES = 300;
  const reference = () =>
    Math.max(
      ...sources.map((src, k) => fastest(() => runCase((b: Uint8Array) => importBoosterBytes(`fuzz-${files[k]}`, b, { preprocessor }), src, sample, RIDEPRED))),
    );
  for (const seed of [1, 2]) {
    it(`seed ${seed}: ${CASES} mutants each import cleanly or are refused with a RidepredError`, () => {
      const rand = rng(seed);
      const tally = { imported: 0, refused: 0, defect: 0 };
      const defects: string[] = [];
      let slowest = 0;
      for (let i = 0; i < CASES; i++) {
        const k = i % sources.length;
        let bytes = mutate(sources[k]!, rand, sources[(k + 1) % sources.length]!);
        if (rand() < 0.3) bytes = mutate(bytes, rand, sources[k]!);
        const r = runCase((b: Uint8Array) => importBoosterBytes(`fuzz-${files[k]}`, b, { preprocessor }), bytes, sample, RIDEPRED);
        tally[r.outcome as keyof typeof tally]++;
        slowest = Math.max(slowest, r.ms);
        if (r.outcome === "defect") defects.push(`case ${i} (${files[k]}): ${r.message}`);
      }
      expect(defects).toEqual([]);
      expect(tally.refused).toBeGreaterThan(CASES / 5);
      expect(tally.imported).toBeGreaterThan(0);
      expect(slowest).toBeLessThan(100 * reference());
    });
  }
});

describe("model.json tree arrays edited by hand (seeded): validation stands between them and the predictor", () => {
  it("every edit either fails validation or predicts finite numbers without hanging", async () => {
    const base = serializeArtifact(await importSource(join(DIR, "GradientBoostingRegressor.p4.pkl")));
    // 20 predictions of the un-edited model, warm: what an edited model's 20 are held to.
    const original = compile(JSON.parse(base) as ModelArtifact);
    const twenty = (p: typeof original) => () => {
      for (const ride of rides.slice(0, 20)) expect(Number.isFinite(p.predict(ride))).toBe(true);
    };
    const reference = fastest(twenty(original), 5);
    const rand = rng(11);
    const keys: (keyof TreeSpec)[] = ["feature", "threshold", "left", "right", "value", "missing_left"];
    const weird = [-1, 0, 1, 2, -2, 1e9, 0.5, NaN, Infinity, -Infinity, 740, 741, 742];
    let refused = 0;
    let ran = 0;
    for (let i = 0; i < 300; i++) {
      const doc = JSON.parse(base) as ModelArtifact;
      if (doc.estimator.kind !== "tree_ensemble") throw new Error("expected trees");
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
        const tree = doc.estimator.trees[Math.floor(rand() * doc.estimator.trees.length)]!;
        const key = keys[Math.floor(rand() * keys.length)]!;
        const arr = (tree[key] ??= tree.feature.map(() => 0)) as number[];
        arr[Math.floor(rand() * arr.length)] = weird[Math.floor(rand() * weird.length)]!;
      }
      // Through JSON as a file would be: NaN and Infinity become null.
      const parsed = JSON.parse(JSON.stringify(doc));
      if (validateArtifact(parsed).length) {
        refused++;
        continue;
      }
      // No edit makes a walk go round in circles or down a much longer path (50x for noise on a sub-millisecond time).
      const p = compile(parsed as ModelArtifact);
      expect(fastest(twenty(p), 2)).toBeLessThan(50 * reference);
      ran++;
    }
    expect(refused).toBeGreaterThan(50);
    expect(ran).toBeGreaterThan(20);
  });
});
