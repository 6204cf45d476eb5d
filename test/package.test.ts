// The package as a user gets it: `npm pack`, unpacked into a scratch project's node_modules (its
// dependencies linked to this checkout's: no network), then `import("ridepred")` by name from that
// project, in JavaScript and type-checked TypeScript. A ride's prediction must be the golden number.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
// A golden example of the bundled model: scikit-learn's own prediction at training time.
const golden = JSON.parse(readFileSync(join(ROOT, "models/ride-duration.examples.jsonl"), "utf8").split("\n")[0]!) as {
  input: { PULocationID: number; DOLocationID: number; trip_distance: number };
  output: number;
};

let scratch: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/index.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  scratch = mkdtempSync(join(tmpdir(), "ridepred-pkg-"));
  // dist/ is built already: pack it as it is (no prepare script)
  const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], { cwd: ROOT, encoding: "utf8" }));
  const tarball = join(scratch, packed[0].filename);
  const modules = join(scratch, "node_modules");
  mkdirSync(modules);
  execFileSync("tar", ["-xzf", tarball, "-C", modules]);
  renameSync(join(modules, "package"), join(modules, "ridepred"));
  symlinkSync(join(ROOT, "node_modules"), join(modules, "ridepred", "node_modules"), "dir");
  writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function node(file: string) {
  const r = spawnSync(process.execPath, [file], { cwd: scratch, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('import("ridepred") from a scratch project', () => {
  it("loads and verifies the bundled model, predicts one ride and a batch: the golden numbers", () => {
    writeFileSync(
      join(scratch, "main.mjs"),
      `const r = await import("ridepred");
const { predictor } = r.loadModel();
const ride = ${JSON.stringify(golden.input)};
const one = predictor.predict(ride);
const batch = r.predictRides(predictor, [ride, { ...ride, PULocationID: "${golden.input.PULocationID}.0" }, { DOLocationID: 1 }]);
const v = r.verifyModel(r.BUNDLED_MODEL);
const own = r.compile(r.readArtifact(r.BUNDLED_MODEL)).predict(ride);
process.stdout.write(JSON.stringify({ one, own, batch: Array.from(batch.predictions, String), errors: batch.errors, verified: v.ok, examples: v.examples.total, version: r.VERSION, exports: Object.keys(r).sort() }));
`,
    );
    const out = node("main.mjs");
    expect(out.one).toBe(golden.output);
    expect(out.own).toBe(golden.output);
    expect(out.batch).toStrictEqual([String(golden.output), String(golden.output), "NaN"]);
    expect(out.errors).toStrictEqual([{ row: 2, field: "PULocationID", reason: "is required but missing" }]);
    expect([out.verified, out.examples > 0]).toStrictEqual([true, true]);
    expect(out.version).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    expect(out.exports).toEqual(
      expect.arrayContaining(["loadModel", "compile", "verifyModel", "predictRides", "checkExamples", "InputError", "RidepredError"]),
    );
  });

  it("predictRides with a classifier (the bundled tip model): predict()'s labels and the probabilities by class", () => {
    const examples = readFileSync(join(ROOT, "models/tip.examples.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { input: Record<string, number>; output: boolean; probabilities: Record<string, number> });
    const picked = [examples.find((e) => e.output === true)!, examples.find((e) => e.output === false)!];
    writeFileSync(
      join(scratch, "tip.mjs"),
      `import { join } from "node:path";
import { loadModel, predictRides } from "ridepred";
const { predictor } = loadModel(join("node_modules", "ridepred", "models", "tip.json"));
const b = predictRides(predictor, ${JSON.stringify([...picked.map((e) => e.input), { PULocationID: 1 }])});
process.stdout.write(JSON.stringify({ predictions: b.predictions, classes: b.classes, probabilities: Array.from(b.probabilities, String), errors: b.errors }));
`,
    );
    const out = node("tip.mjs");
    expect(out.predictions).toStrictEqual([true, false, null]); // labels, not class indices; null: rejected
    expect(out.classes).toStrictEqual([false, true]);
    const proba = picked.flatMap((e) => [e.probabilities.False, e.probabilities.True].map(String));
    expect(out.probabilities).toStrictEqual([...proba, "NaN", "NaN"]);
    expect(out.errors).toStrictEqual([{ row: 2, field: "DOLocationID", reason: "is required but missing" }]);
  });

  it("an input error names the field; a tampered model fails verifyModel and loadModel", () => {
    const model = JSON.parse(readFileSync(join(ROOT, "models/ride-duration.json"), "utf8"));
    model.estimator.intercept += 1;
    writeFileSync(join(scratch, "tampered.json"), JSON.stringify(model));
    writeFileSync(
      join(scratch, "errors.mjs"),
      `import { loadModel, verifyModel, InputError } from "ridepred";
const { predictor } = loadModel();
let input;
try { predictor.predict({ PULocationID: 1, DOLocationID: 2, trip_distance: "far" }); } catch (e) { input = [e instanceof InputError, e.field, e.reason]; }
let load;
try { loadModel("tampered.json"); } catch (e) { load = e.message; }
const v = verifyModel("tampered.json");
process.stdout.write(JSON.stringify({ input, load, ok: v.ok, digest: v.digest.ok }));
`,
    );
    const out = node("errors.mjs");
    expect(out.input).toStrictEqual([true, "trip_distance", 'expected a number, got "far"']);
    expect(out.load).toMatch(/tampered\.json: digest mismatch/);
    expect([out.ok, out.digest]).toStrictEqual([false, false]);
  });

  it("its types check in a TypeScript project (moduleResolution NodeNext)", () => {
    writeFileSync(
      join(scratch, "check.ts"),
      `import { loadModel, predictRides, type Predictor, type RidesResult, type ClassLabel, type ModelArtifact } from "ridepred";
const p: Predictor = loadModel().predictor;
const y: number = p.predict({ PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 });
const b: RidesResult = predictRides(p, [{ PULocationID: 130 }]);
// classes tells a regressor's numbers from a classifier's labels
const first: number | ClassLabel | null = b.classes === null ? (b.predictions satisfies Float64Array)[0]! : b.predictions[0]!;
const a: ModelArtifact = p.artifact;
// @ts-expect-error: predict takes one ride object
p.predict(1, 2);
export const used = [y, b.errors.length, a.name, first];
`,
    );
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--types",
        "node",
        "--typeRoots",
        join(ROOT, "node_modules/@types"),
        "check.ts",
      ],
      { cwd: scratch, encoding: "utf8" },
    );
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 240_000); // the compiler alone takes ~15 s on a loaded machine
});
