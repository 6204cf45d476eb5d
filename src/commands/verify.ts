import { Command } from "commander";
import { basename } from "node:path";
import { colors, printJson } from "../term.js";
import { collect } from "./options.js";

interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

export function verifyCommand(): Command {
  return new Command("verify")
    .description("check a model for CI: schema, digest, format support, golden examples, lock-file pins, source")
    .argument("[model]", "model.json (default: the bundled model)")
    .option("--model <file>", "model.json (same as the argument)")
    .option("--lock <file>", "Pipfile.lock, requirements.txt, conda.yaml or python_env.yaml to check versions against (repeatable)", collect, [])
    .option("--source <file>", "the pickle it came from: re-import and compare")
    .option("--json", "print JSON to stdout")
    .action(async (model: string | undefined, opts: { model?: string; lock: string[]; source?: string; json?: boolean }) => {
      process.exitCode = await run(model ?? opts.model, opts);
    });
}

async function run(path: string | undefined, opts: { lock: string[]; source?: string; json?: boolean }): Promise<number> {
  const { readArtifactJson, defaultModelPath } = await import("../artifact/io.js");
  const { validateArtifact } = await import("../artifact/validate.js");
  const { computeDigest, canonicalJson } = await import("../artifact/digest.js");
  const { SUPPORTED_FORMATS } = await import("../artifact/types.js");
  const { parsePins, checkPins } = await import("../artifact/lockfile.js");
  const file = path ?? defaultModelPath();
  const doc = readArtifactJson(file); // unreadable or not JSON: exit 2 from here
  const pinsByFile = opts.lock.map((l) => [l, parsePins(l)] as const); // unreadable lock: exit 2 too

  const checks: Check[] = [];
  const add = (check: string, ok: boolean, detail: string) => checks.push({ check, ok, detail });
  const problems = validateArtifact(doc);
  add("schema", problems.length === 0, problems.length ? problems.map((p) => `${p.path}: ${p.reason}`).join("; ") : "model.json v1 structure is valid");
  if (problems.length === 0) {
    const a = doc as import("../artifact/types.js").ModelArtifact;
    const actual = computeDigest(a);
    add("digest", actual === a.digest, actual === a.digest ? a.digest : `file says ${a.digest}, content hashes to ${actual}: edited or corrupted`);
    const fmtOk = SUPPORTED_FORMATS.includes(a.format_version);
    add("format", fmtOk, `format v${a.format_version}; this runtime supports ${SUPPORTED_FORMATS.map((v) => "v" + v).join(", ")}`);
    if (fmtOk) {
      const { compile } = await import("../runtime/predictor.js");
      const { checkExamples } = await import("../runtime/examples.js");
      const r = checkExamples(compile(a));
      if (r.total === 0) add("examples", false, "no golden examples: nothing proves the predictions (re-import with --examples)");
      else
        add(
          "examples",
          r.failures.length === 0,
          r.failures.length
            ? `${r.failures.length} of ${r.total} fail; first: example ${r.failures[0]!.index}: ${r.failures[0]!.reason}`
            : `${r.total} of ${r.total} reproduce (max relative error ${r.maxRelError.toExponential(1)}, tolerance ${a.examples.tolerance.relative})`,
        );
    }
    const recorded = a.environment.recorded;
    for (const [lock, pins] of pinsByFile) {
      const results = checkPins(recorded, pins);
      if (!results.length) add(`lock ${basename(lock)}`, false, `pins none of the recorded packages (${Object.keys(recorded).join(", ") || "none recorded"})`);
      for (const r of results) {
        add(`${r.package}`, r.ok, `${r.package}: built with ${r.recorded}, ${basename(lock)} pins ${r.pinned.replace(/^==/, "")}`);
      }
    }
    if (opts.source) {
      const { importSource } = await import("../sklearn/source.js");
      // Re-import as `import` would (file or MLflow folder); its recorded sha256 is that of the bytes it read.
      const src = await importSource(opts.source, {
        derive: Object.fromEntries(a.features.fields.flatMap((f) => ("template" in f ? [[f.name, f.template]] : []))),
      });
      const sha = src.environment.source.sha256;
      const same = canonicalJson([src.features, src.estimator]) === canonicalJson([a.features, a.estimator]);
      add(
        "source sha256",
        sha === a.environment.source.sha256,
        sha === a.environment.source.sha256
          ? `${basename(opts.source)} is the file it was imported from`
          : `${basename(opts.source)} hashes to ${sha.slice(0, 16)}..., the model was imported from ${a.environment.source.sha256.slice(0, 16)}...`,
      );
      add(
        "source content",
        same,
        same ? "re-import gives identical features and estimator" : "re-importing the source gives different features or coefficients",
      );
    }
  }
  const ok = checks.every((c) => c.ok);
  if (opts.json) printJson({ model: file, ok, checks });
  else {
    const c = colors();
    for (const ch of checks) process.stdout.write(`${ch.ok ? c.green("PASS") : c.red("FAIL")}  ${ch.check.padEnd(14)} ${ch.detail}\n`);
    process.stdout.write(
      ok
        ? c.green(`${file}: all ${checks.length} checks passed\n`)
        : c.red(`${file}: ${checks.filter((x) => !x.ok).length} of ${checks.length} checks failed\n`),
    );
  }
  return ok ? 0 : 1;
}
