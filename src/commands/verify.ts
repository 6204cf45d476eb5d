import { Command } from "commander";
import { basename } from "node:path";
import type { ModelArtifact } from "../artifact/types.js";
import { colors, printJson } from "../term.js";
import { collect } from "./options.js";

/** pass; warn: worth knowing, not a failure unless --strict; fail. */
type Status = "pass" | "warn" | "fail";

interface Check {
  check: string;
  status: Status;
  /** false when the check fails the run (a warning does under --strict). */
  ok: boolean;
  detail: string;
}

interface VerifyOpts {
  lock: string[];
  source?: string;
  strict?: boolean;
  json?: boolean;
}

export function verifyCommand(): Command {
  return new Command("verify")
    .description("check a model for CI: schema, digest, format support, golden examples, lock-file pins, source")
    .argument("[model]", "model.json (default: the bundled model)")
    .option("--model <file>", "model.json (same as the argument)")
    .option("--lock <file>", "Pipfile.lock, requirements.txt, conda.yaml or python_env.yaml to check versions against (repeatable)", collect, [])
    .option("--source <file>", "the pickle it came from: re-import and compare")
    .option("--strict", "warnings (e.g. no golden examples) fail the check too")
    .option("--json", "print JSON to stdout")
    .action(async (model: string | undefined, opts: VerifyOpts & { model?: string }) => {
      process.exitCode = await run(model ?? opts.model, opts);
    });
}

async function run(path: string | undefined, opts: VerifyOpts): Promise<number> {
  const { readArtifactJson, defaultModelPath } = await import("../artifact/io.js");
  const { validateArtifact } = await import("../artifact/validate.js");
  const { parsePins } = await import("../artifact/lockfile.js");
  const file = path ?? defaultModelPath();
  const doc = readArtifactJson(file); // unreadable or not JSON: exit 2 from here
  const pinsByFile = opts.lock.map((l) => [l, parsePins(l)] as const); // unreadable lock: exit 2 too

  const checks: Omit<Check, "ok">[] = [];
  const add = (check: string, status: Status, detail: string) => checks.push({ check, status, detail });
  const problems = validateArtifact(doc);
  add(
    "schema",
    problems.length ? "fail" : "pass",
    problems.length ? problems.map((p) => `${p.path}: ${p.reason}`).join("; ") : "model.json v1 structure is valid",
  );
  if (problems.length === 0) {
    const a = doc as ModelArtifact;
    await artifactChecks(a, add);
    await lockChecks(a, pinsByFile, add);
    if (opts.source) await sourceChecks(a, opts.source, add);
  }
  return report(
    file,
    checks.map((c) => ({ ...c, ok: c.status === "pass" || (c.status === "warn" && !opts.strict) })),
    opts,
  );
}

type Add = (check: string, status: Status, detail: string) => void;
const passOr = (ok: boolean, otherwise: Status = "fail"): Status => (ok ? "pass" : otherwise);

/** Digest, format, and the golden examples (none is a warning: a fresh import without --examples is a usable model). */
async function artifactChecks(a: ModelArtifact, add: Add): Promise<void> {
  const { computeDigest } = await import("../artifact/digest.js");
  const { SUPPORTED_FORMATS } = await import("../artifact/types.js");
  const actual = computeDigest(a);
  add("digest", passOr(actual === a.digest), actual === a.digest ? a.digest : `file says ${a.digest}, content hashes to ${actual}: edited or corrupted`);
  const fmtOk = SUPPORTED_FORMATS.includes(a.format_version);
  add("format", passOr(fmtOk), `format v${a.format_version}; this runtime supports ${SUPPORTED_FORMATS.map((v) => "v" + v).join(", ")}`);
  if (!fmtOk) return;
  const { compile } = await import("../runtime/predictor.js");
  const { checkExamples } = await import("../runtime/examples.js");
  const r = checkExamples(compile(a));
  if (r.total === 0) return add("examples", "warn", "no golden examples: nothing proves the predictions (re-import with --examples)");
  add(
    "examples",
    passOr(r.failures.length === 0),
    r.failures.length
      ? `${r.failures.length} of ${r.total} fail; first: example ${r.failures[0]!.index}: ${r.failures[0]!.reason}`
      : `${r.total} of ${r.total} reproduce (max relative error ${r.maxRelError.toExponential(1)}, tolerance ${a.examples.tolerance.relative})`,
  );
}

/** Each recorded version against each lock file's pins. */
async function lockChecks(a: ModelArtifact, pinsByFile: readonly (readonly [string, Record<string, string>])[], add: Add): Promise<void> {
  const { checkPins } = await import("../artifact/lockfile.js");
  const recorded = a.environment.recorded;
  for (const [lock, pins] of pinsByFile) {
    const results = checkPins(recorded, pins);
    if (!results.length) add(`lock ${basename(lock)}`, "fail", `pins none of the recorded packages (${Object.keys(recorded).join(", ") || "none recorded"})`);
    for (const r of results) add(`${r.package}`, passOr(r.ok), `${r.package}: built with ${r.recorded}, ${basename(lock)} pins ${r.pinned.replace(/^==/, "")}`);
  }
}

/** Re-import the source as `import` would (file or MLflow folder); its recorded sha256 is that of the bytes it read. */
async function sourceChecks(a: ModelArtifact, source: string, add: Add): Promise<void> {
  const { importSource } = await import("../sklearn/source.js");
  const { canonicalJson } = await import("../artifact/digest.js");
  const src = await importSource(source, {
    derive: Object.fromEntries(a.features.fields.flatMap((f) => ("template" in f ? [[f.name, f.template]] : []))),
  });
  const sha = src.environment.source.sha256;
  const same = canonicalJson([src.features, src.estimator]) === canonicalJson([a.features, a.estimator]);
  add(
    "source sha256",
    passOr(sha === a.environment.source.sha256),
    sha === a.environment.source.sha256
      ? `${basename(source)} is the file it was imported from`
      : `${basename(source)} hashes to ${sha.slice(0, 16)}..., the model was imported from ${a.environment.source.sha256.slice(0, 16)}...`,
  );
  add(
    "source content",
    passOr(same),
    same ? "re-import gives identical features and estimator" : "re-importing the source gives different features or coefficients",
  );
}

/** One line per check (or JSON); 0 when no check fails (warnings fail only under --strict), else 1. */
function report(file: string, checks: Check[], opts: VerifyOpts): number {
  const ok = checks.every((c) => c.ok);
  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  if (opts.json) {
    printJson({ model: file, ok, strict: opts.strict === true, failed, warnings: warned, checks });
    return ok ? 0 : 1;
  }
  const c = colors();
  const label = { pass: c.green("PASS"), warn: c.yellow("WARN"), fail: c.red("FAIL") };
  for (const ch of checks) process.stdout.write(`${label[ch.status]}  ${ch.check.padEnd(14)} ${ch.detail}\n`);
  const warnings = warned ? `, ${warned} warning${warned > 1 ? "s" : ""}${opts.strict ? " (--strict: failing)" : " (--strict fails on warnings)"}` : "";
  if (ok && !warned) process.stdout.write(c.green(`${file}: all ${checks.length} checks passed\n`));
  else if (ok) process.stdout.write(c.yellow(`${file}: ${checks.length - warned} of ${checks.length} checks passed${warnings}\n`));
  else process.stdout.write(c.red(`${file}: ${failed} of ${checks.length} checks failed${warnings}\n`));
  return ok ? 0 : 1;
}
