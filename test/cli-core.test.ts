// import / inspect / verify through the real binary: outputs, messages, exit codes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const FIX = join(ROOT, "test/fixtures");
let tmp: string;

function ridepred(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-cli-"));
});

describe("ridepred import", () => {
  it("writes a model.json that verifies, with golden examples and stated versions", () => {
    const out = join(tmp, "lr.json");
    const ex = join(tmp, "ex.jsonl");
    const expected = JSON.parse(readFileSync(join(FIX, "linear/LinearRegression.expected.json"), "utf8"));
    writeFileSync(
      ex,
      expected.rides
        .slice(0, 20)
        .map((input: unknown, i: number) => JSON.stringify({ input, output: expected.predictions[i] }))
        .join("\n") + "\n",
    );
    const r = ridepred("import", join(FIX, "linear/LinearRegression.p5.pkl"), "-o", out, "--examples", ex, "--env", "python=3.11.2", "--json");
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.examples).toMatchObject({ total: 20, reproduced: 20 });
    expect(summary.protocol).toBe(5);
    expect(summary.recorded).toMatchObject({ "scikit-learn": "1.2.1", python: "3.11.2", numpy: "1.x" });
    const v = ridepred("verify", out);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/PASS\s+examples\s+20 of 20 reproduce/);
  });

  it("refuses to write a model whose examples do not reproduce", () => {
    const out = join(tmp, "bad.json");
    const ex = join(tmp, "bad.jsonl");
    writeFileSync(ex, JSON.stringify({ input: { PULocationID: 1, DOLocationID: 2, trip_distance: 3 }, output: 123.456 }) + "\n");
    const r = ridepred("import", join(FIX, "linear/Ridge.p4.pkl"), "-o", out, "--examples", ex);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 of 1 golden examples do not reproduce; nothing written/);
    expect(existsSync(out)).toBe(false);
  });

  it("a hostile pickle: exit 2, the refused global named, no file written", () => {
    const out = join(tmp, "evil.json");
    const r = ridepred("import", join(FIX, "hostile/os_system.p4.pkl"), "-o", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused global posix\.system/);
    expect(existsSync(out)).toBe(false);
  });

  it("--audit lists globals without loading; exit 1 when any is refused", () => {
    const ok = ridepred("import", "--audit", join(FIX, "linear/Lasso.p2.pkl"), "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).globals.map((g: { name: string }) => g.name)).toContain("sklearn.linear_model._coordinate_descent.Lasso");
    const bad = ridepred("import", "--audit", join(FIX, "hostile/builtins_eval.p4.pkl"));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/REFUSED\s+builtins\.eval/);
  });

  it("unreadable input and bad usage exit 2", () => {
    expect(ridepred("import", join(tmp, "nope.bin")).code).toBe(2);
    expect(ridepred("import", join(tmp, "nope.bin")).stderr).toMatch(/nope\.bin: cannot read: ENOENT/);
    const trunc = join(tmp, "trunc.pkl");
    writeFileSync(trunc, readFileSync(join(FIX, "linear/Ridge.p4.pkl")).subarray(0, 5000));
    const t = ridepred("import", trunc);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/trunc\.pkl: byte \d+: truncated/);
    expect(ridepred("import").code).toBe(2);
    expect(ridepred("frobnicate").code).toBe(2);
  });

  it("--derive declares a derived feature; an unknown one is a usage error", () => {
    const r = ridepred("import", join(FIX, "linear/Ridge.p4.pkl"), "-o", join(tmp, "d.json"), "--derive", "PU_DO={PULocationID}-{DOLocationID}", "--json");
    expect(r.code).toBe(0);
    const a = JSON.parse(readFileSync(join(tmp, "d.json"), "utf8"));
    expect(a.features.fields[0].template).toBe("{PULocationID}-{DOLocationID}");
    const bad = ridepred("import", join(FIX, "linear/Ridge.p4.pkl"), "-o", join(tmp, "e.json"), "--derive", "XY=A_B");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--derive XY: the model has no categorical feature XY/);
  });
});

describe("ridepred inspect", () => {
  it("shows the pinned versions, inputs and digest status (text and --json)", () => {
    const r = ridepred("inspect");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scikit-learn\s+1\.2\.1/);
    expect(r.stdout).toMatch(/PULocationID\s+category, required/);
    expect(r.stdout).toMatch(/13221 columns/);
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR
    const j = JSON.parse(ridepred("inspect", "--json").stdout);
    expect(j.digest.ok).toBe(true);
    expect(j.estimator).toMatchObject({ kind: "linear", class: "LinearRegression", coefficients: 13221 });
    expect(j.examples.count).toBeGreaterThanOrEqual(40);
  });
});

describe("ridepred verify", () => {
  it("passes the bundled model", () => {
    const r = ridepred("verify", "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.checks.map((c: { check: string }) => c.check)).toEqual(["schema", "digest", "format", "examples"]);
  });

  it("a model without golden examples is a warning (exit 0); --strict makes warnings fail (exit 1)", () => {
    // The first CI run of `ridepred import model.bin -o model.json && ridepred verify model.json` must pass.
    const out = join(tmp, "no-examples.json");
    expect(ridepred("import", join(FIX, "linear/Ridge.p4.pkl"), "-o", out).code).toBe(0);
    const r = ridepred("verify", out);
    expect([r.code, r.stderr]).toStrictEqual([0, ""]);
    expect(r.stdout).toMatch(/^WARN\s+examples\s+no golden examples: nothing proves the predictions \(re-import with --examples\)$/m);
    expect(r.stdout).toMatch(/: 3 of 4 checks passed, 1 warning \(--strict fails on warnings\)\n$/);
    const strict = ridepred("verify", out, "--strict");
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/^WARN\s+examples\s+no golden examples/m);
    expect(strict.stdout).toMatch(/: 0 of 4 checks failed, 1 warning \(--strict: failing\)\n$/);
    const j = JSON.parse(ridepred("verify", out, "--strict", "--json").stdout);
    expect(j).toMatchObject({ ok: false, strict: true, failed: 0, warnings: 1 });
    expect(j.checks.find((c: { check: string }) => c.check === "examples")).toMatchObject({ status: "warn", ok: false });
    expect(JSON.parse(ridepred("verify", out, "--json").stdout)).toMatchObject({ ok: true, strict: false, warnings: 1 });
    // A model with examples has no warning: --strict passes it.
    expect(ridepred("verify", "--strict").code).toBe(0);
  });

  it("fails on the digest when one coefficient is changed", () => {
    const doc = JSON.parse(readFileSync(join(ROOT, "models/ride-duration.json"), "utf8"));
    doc.estimator.coef[100] += 0.001;
    const f = join(tmp, "tampered.json");
    writeFileSync(f, JSON.stringify(doc));
    const r = ridepred("verify", f);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+digest\s+file says sha256:[0-9a-f]{64}, content hashes to sha256:[0-9a-f]{64}: edited or corrupted/);
    // Loading it anywhere else is refused too.
    const s = ridepred("inspect", f);
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(/MISMATCH/);
  });

  it("checks recorded versions against Pipfile.lock, requirements.txt, conda.yaml, python_env.yaml", () => {
    const files: Record<string, string> = {
      "Pipfile.lock": JSON.stringify({
        _meta: { requires: { python_version: "3.9" } },
        default: { "scikit-learn": { version: "==1.2.2" }, numpy: { version: "==1.24.2" } },
      }),
      "requirements.txt": "mlflow==2.9.2\nscikit-learn==1.2.1\nnumpy==1.24.2\n",
      "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip<=23.0\n- pip:\n  - mlflow==2.9.2\n  - scikit-learn==1.0.2\n",
      "python_env.yaml": "python: 3.11.2\nbuild_dependencies:\n- pip==23.0\ndependencies:\n- -r requirements.txt\n- scikit-learn==1.2.1\n",
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(tmp, name), text);
    const pip = ridepred("verify", "--lock", join(tmp, "Pipfile.lock"));
    expect(pip.code).toBe(1);
    expect(pip.stdout).toContain("scikit-learn: built with 1.2.1, Pipfile.lock pins 1.2.2");
    expect(pip.stdout).toMatch(/FAIL\s+python\s+python: built with 3\.11\.2, Pipfile\.lock pins 3\.9/);
    expect(pip.stdout).toMatch(/PASS\s+numpy/);
    expect(ridepred("verify", "--lock", join(tmp, "requirements.txt")).code).toBe(0);
    const conda = ridepred("verify", "--lock", join(tmp, "conda.yaml"));
    expect(conda.code).toBe(1);
    expect(conda.stdout).toContain("scikit-learn: built with 1.2.1, conda.yaml pins 1.0.2");
    expect(conda.stdout).toMatch(/PASS\s+python/);
    expect(ridepred("verify", "--lock", join(tmp, "python_env.yaml")).code).toBe(0);
    expect(ridepred("verify", "--lock", join(tmp, "missing.lock")).code).toBe(2);
  });

  it("--source re-imports the pickle and compares", () => {
    expect(ridepred("verify", "--source", join(ROOT, "models/ride-duration.bin")).code).toBe(0);
    const other = ridepred("verify", "--source", join(FIX, "linear/Ridge.p4.pkl"));
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/FAIL\s+source sha256/);
    expect(other.stdout).toMatch(/FAIL\s+source content/);
  });

  it("--source also takes the MLflow folder a model was imported from", () => {
    const mlflow = join(FIX, "sklearn/RandomForestRegressor.mlflow");
    const out = join(tmp, "rf.json");
    expect(ridepred("import", mlflow, "-o", out, "--examples", join(FIX, "sklearn/RandomForestRegressor.examples.jsonl")).code).toBe(0);
    const r = ridepred("verify", out, "--source", mlflow);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASS\s+source sha256\s+RandomForestRegressor\.mlflow is the file it was imported from/);
  });

  it("exit 2 for a file that is not a model at all", () => {
    const f = join(tmp, "not.json");
    writeFileSync(f, "{not json");
    expect(ridepred("verify", f).code).toBe(2);
    expect(ridepred("verify", f).stderr).toMatch(/not valid JSON/);
    expect(ridepred("verify", join(tmp, "absent.json")).code).toBe(2);
  });

  it("a structurally broken model fails the schema check with the field named", () => {
    const doc = JSON.parse(readFileSync(join(ROOT, "models/ride-duration.json"), "utf8"));
    delete doc.inputs;
    const f = join(tmp, "noinputs.json");
    writeFileSync(f, JSON.stringify(doc));
    const r = ridepred("verify", f);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+schema\s+inputs: must be a non-empty array/);
  });
});

describe("the committed examples", () => {
  it("the bundled pickle re-imports to the bundled model's features and coefficients", () => {
    const out = join(tmp, "re.json");
    expect(ridepred("import", join(ROOT, "models/ride-duration.bin"), "-o", out).code).toBe(0);
    const a = JSON.parse(readFileSync(out, "utf8"));
    const b = JSON.parse(readFileSync(join(ROOT, "models/ride-duration.json"), "utf8"));
    expect(a.estimator).toEqual(b.estimator);
    expect(a.features).toEqual(b.features);
    expect(readdirSync(tmp).some((n) => n.endsWith(".tmp"))).toBe(false);
    copyFileSync(out, join(tmp, "copy.json"));
  });
});
