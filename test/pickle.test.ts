// The safe pickle reader against real scikit-learn pickles (test/fixtures/make_fixtures.py, Debian's
// scikit-learn 1.2.1), the real third-party pickle in ../shared, and hostile files.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/runtime/predictor.js";
import { importPickleFile, auditPickle, readPickle } from "../src/sklearn/import.js";
import { unpickle, PickleError } from "../src/sklearn/pickle.js";
import { makeResolver } from "../src/sklearn/allowlist.js";
import { RidepredError } from "../src/errors.js";

const FIX = join(__dirname, "fixtures");
const ESTIMATORS = ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor"];

interface Expected {
  sklearn: string;
  rides: Record<string, string | number>[];
  predictions: number[];
}

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe("scikit-learn linear fixtures", () => {
  for (const est of ESTIMATORS) {
    const expected: Expected = JSON.parse(readFileSync(join(FIX, "linear", `${est}.expected.json`), "utf8"));
    for (const proto of [2, 4, 5]) {
      it(`${est} pickled with protocol ${proto} predicts what scikit-learn predicted`, () => {
        const artifact = importPickleFile(join(FIX, "linear", `${est}.p${proto}.pkl`));
        expect(artifact.environment.source.protocol).toBe(proto);
        expect(artifact.environment.recorded["scikit-learn"]).toBe(expected.sklearn);
        expect(artifact.estimator.kind).toBe("linear");
        expect(artifact.estimator.sklearn_class).toBe(est);
        const p = compile(artifact);
        let worst = 0;
        expected.rides.forEach((ride, i) => {
          worst = Math.max(worst, relErr(p.predict(ride), expected.predictions[i]!));
        });
        expect(expected.rides.length).toBeGreaterThan(1000);
        expect(worst).toBeLessThan(1e-9);
      });
    }
  }

  it("reads the same model identically from every protocol", () => {
    const [a, b, c] = [2, 4, 5].map((p) => importPickleFile(join(FIX, "linear", `Ridge.p${p}.pkl`), { created: "x" }));
    expect(a!.estimator).toEqual(b!.estimator);
    expect(b!.estimator).toEqual(c!.estimator);
    expect(a!.features).toEqual(c!.features);
  });

  it("infers the course's inputs from the vocabulary", () => {
    const a = importPickleFile(join(FIX, "linear", "LinearRegression.p4.pkl"));
    expect(a.inputs).toEqual([
      { name: "PULocationID", type: "category", required: true },
      { name: "DOLocationID", type: "category", required: true },
      { name: "trip_distance", type: "number", required: true },
    ]);
    expect(a.features.fields[0]).toEqual({ name: "PU_DO", kind: "category", template: "{PULocationID}_{DOLocationID}" });
    expect(a.environment.recorded.numpy).toBe("1.x");
  });
});

const THIRD_PARTY = join(__dirname, "../../shared/models/yellow-2022-linreg-sklearn-1.2.2.bin");

describe.skipIf(!existsSync(THIRD_PARTY))("the third-party pickle in ../shared (skipped when ../shared is absent)", () => {
  it("imports: scikit-learn 1.2.2, one-hot PULocationID/DOLocationID, no trip_distance", () => {
    const a = importPickleFile(THIRD_PARTY, { defaults: { PULocationID: "-1", DOLocationID: "-1" } });
    expect(a.environment.recorded["scikit-learn"]).toBe("1.2.2");
    expect(a.inputs.map((i) => [i.name, i.type]).sort()).toEqual([
      ["DOLocationID", "category"],
      ["PULocationID", "category"],
    ]);
    expect(a.features.vectorizer.feature_names.some((n) => n.startsWith("trip_distance"))).toBe(false);
    const est = a.estimator;
    if (est.kind !== "linear") throw new Error("expected linear");
    const names = a.features.vectorizer.feature_names;
    const coef = (name: string) => (names.includes(name) ? est.coef[names.indexOf(name)]! : 0);
    const p = compile(a);
    // One-hot linear model: prediction = intercept + coef[PU] + coef[DO], ids as strings or numbers alike.
    expect(p.predict({ PULocationID: 161, DOLocationID: 236 })).toBeCloseTo(est.intercept + coef("PULocationID=161") + coef("DOLocationID=236"), 12);
    expect(p.predict({ PULocationID: "161", DOLocationID: "236" })).toBe(p.predict({ PULocationID: 161, DOLocationID: 236 }));
    // A missing id is filled with "-1", as the model's authors did.
    expect(p.predict({ DOLocationID: 236 })).toBe(p.predict({ PULocationID: "-1", DOLocationID: 236 }));
  });
});

describe("hostile pickles are refused and nothing runs", () => {
  const MARKER = "/tmp/ridepred-pwned";
  const cases: [string, string][] = [
    ["os_system", "posix.system"],
    ["builtins_eval", "builtins.eval"],
    ["subprocess_popen", "subprocess.Popen"],
    ["builtins_exec", "builtins.exec"],
  ];
  for (const [name, global] of cases) {
    for (const [proto, form] of [
      [2, "GLOBAL"],
      [4, "STACK_GLOBAL"],
    ] as const) {
      it(`${name} (${form}): refused naming ${global}, no side effect`, () => {
        rmSync(MARKER, { force: true });
        const file = join(FIX, "hostile", `${name}.p${proto}.pkl`);
        const bytes = readFileSync(file);
        expect(readFileSync(file).includes(Buffer.from(MARKER))).toBe(true); // the payload is really there
        expect(() => importPickleFile(file)).toThrow(new RegExp(`refused global ${global.replace(".", "\\.")}`));
        expect(() => readPickle(file, bytes)).toThrow(RidepredError);
        expect(existsSync(MARKER)).toBe(false);
        const audit = auditPickle(bytes);
        expect(audit.globals).toContainEqual({ name: global, allowed: false });
      });
    }
  }

  it("refuses INST, OBJ, EXT and persistent ids by opcode", () => {
    const resolve = makeResolver();
    const cases: [string, Uint8Array, RegExp][] = [
      ["INST", Buffer.from("(ios\nsystem\n(S'echo'\ntR."), /INST/],
      ["OBJ", Buffer.from("(cos\nsystem\nS'echo'\no."), /refused global os\.system/],
      ["EXT1", Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]), /EXT1\/EXT2\/EXT4/],
      ["BINPERSID", Uint8Array.from([0x80, 2, 0x4b, 1, 0x51, 0x2e]), /persistent ids/],
    ];
    for (const [, bytes, re] of cases) expect(() => unpickle(bytes, { resolve })).toThrow(re);
  });
});

describe("malformed input gives clear errors", () => {
  const resolve = makeResolver();
  const good = readFileSync(join(FIX, "linear", "LinearRegression.p4.pkl"));

  it("a truncated pickle says truncated, with an offset", () => {
    for (const cut of [1, 10, 100, good.length / 2, good.length - 1]) {
      const e = catchError(() => unpickle(good.subarray(0, Math.floor(cut)), { resolve }));
      expect(e).toBeInstanceOf(PickleError);
      expect(e.message).toMatch(/^byte \d+: (truncated|.*ends without STOP)/);
    }
  });

  it("a CSV file is not a pickle", () => {
    const csv = readFileSync(join(__dirname, "../examples/green_tripdata_2021-02_sample.csv"));
    expect(() => unpickle(csv, { resolve })).toThrow(/unknown opcode|not a pickle|malformed/);
  });

  it("an empty file is not a pickle", () => {
    expect(() => unpickle(new Uint8Array(), { resolve })).toThrow(/empty file: not a pickle/);
  });

  it("importing a non-model pickle names what it found", () => {
    // A pickle of a plain dict: valid, but not (dv, model).
    const dict = Uint8Array.from([0x80, 4, 0x7d, 0x94, 0x2e]);
    expect(() => unpickle(dict, { resolve })).not.toThrow();
    const e = catchError(() => importPickleFile(join(FIX, "hostile", "..", "linear", "LinearRegression.expected.json")));
    expect(e.message).toMatch(/LinearRegression\.expected\.json: byte 0: unknown opcode 0x7b/);
  });

  it("limits: memo and nesting bombs stop early", () => {
    const deep = new Uint8Array(10_000).fill(0x28); // 10,000 MARKs
    expect(() => unpickle(deep, { resolve })).toThrow(/nesting deeper than/);
    const memo: number[] = [0x80, 4, 0x4e];
    for (let i = 0; i < 2000; i++) memo.push(0x94);
    memo.push(0x2e);
    expect(() => unpickle(Uint8Array.from(memo), { resolve, limits: { maxMemo: 1000 } })).toThrow(/memo limit of 1000/);
  });
});

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}
