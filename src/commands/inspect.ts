import { Command } from "commander";
import { colors, printJson } from "../term.js";

export function inspectCommand(): Command {
  return new Command("inspect")
    .description("show a model's metadata, inputs, features, pinned library versions, examples and digest status")
    .argument("[model]", "model.json (default: the bundled model)")
    .option("--model <file>", "model.json (same as the argument)")
    .option("--json", "print JSON to stdout")
    .action(async (model: string | undefined, opts: { model?: string; json?: boolean }) => {
      process.exitCode = await run(model ?? opts.model, opts.json ?? false);
    });
}

async function run(path: string | undefined, json: boolean): Promise<number> {
  const { readArtifactJson, defaultModelPath } = await import("../artifact/io.js");
  const { validateArtifact } = await import("../artifact/validate.js");
  const { computeDigest } = await import("../artifact/digest.js");
  const { RidepredError } = await import("../errors.js");
  const file = path ?? defaultModelPath();
  const doc = readArtifactJson(file);
  const problems = validateArtifact(doc);
  if (problems.length) {
    throw new RidepredError(
      `${file}: not a valid ridepred model: ${problems
        .slice(0, 5)
        .map((p) => `${p.path}: ${p.reason}`)
        .join("; ")}`,
    );
  }
  const a = doc as import("../artifact/types.js").ModelArtifact;
  const digestOk = computeDigest(a) === a.digest;
  const est = a.estimator;
  const report = {
    path: file,
    name: a.name,
    version: a.version,
    created: a.created,
    description: a.description ?? null,
    format_version: a.format_version,
    target: a.target,
    ...(a.classifier ? { classifier: a.classifier } : {}),
    inputs: a.inputs,
    features: {
      fields: a.features.fields,
      separator: a.features.vectorizer.separator,
      count: a.features.vectorizer.feature_names.length,
    },
    estimator:
      est.kind === "linear"
        ? { kind: est.kind, class: est.sklearn_class, coefficients: est.coef.length, intercept: est.intercept }
        : { kind: est.kind, class: est.sklearn_class, trees: est.trees.length, nodes: est.trees.reduce((s, t) => s + t.feature.length, 0) },
    environment: a.environment,
    examples: { count: a.examples.cases.length, source: a.examples.source, tolerance: a.examples.tolerance },
    digest: { value: a.digest, ok: digestOk },
  };
  if (json) {
    printJson(report);
    return digestOk ? 0 : 1;
  }
  const c = colors();
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`  ${c.dim(k.padEnd(16))} ${v}`);
  out.push(c.bold(`${a.name} ${c.cyan(a.version)}`) + (a.description ? `  ${a.description}` : ""));
  row("file", file);
  row("created", a.created);
  row("format", `v${a.format_version} (runtime must support ${a.environment.requires_format})`);
  row("target", `${a.target.name} (${a.target.unit})`);
  if (a.classifier) row("classes", `${a.classifier.class_names.join(", ")} (probabilities by ${a.classifier.link})`);
  out.push(c.bold("inputs"));
  for (const i of a.inputs)
    row(i.name, `${i.type}${i.required ? ", required" : ", optional"}${i.default !== undefined ? `, default ${JSON.stringify(i.default)}` : ""}`);
  out.push(c.bold("features"));
  for (const f of a.features.fields) row(f.name, `${f.kind}${"template" in f ? ` from ${f.template}` : ""}`);
  row("vectorizer", `DictVectorizer, ${report.features.count} columns, separator ${JSON.stringify(report.features.separator)}`);
  out.push(c.bold("estimator"));
  if (est.kind === "linear") row(est.sklearn_class, `${est.coef.length} coefficients, intercept ${JSON.stringify(est.intercept)}`);
  else row(est.sklearn_class, `${est.trees.length} trees, ${report.estimator.nodes} nodes`);
  out.push(c.bold("built with"));
  const env = a.environment;
  for (const [k, v] of Object.entries(env.recorded)) row(k, `${v}${env.evidence?.[k] ? c.dim(`  (${env.evidence[k]})`) : ""}`);
  if (!Object.keys(env.recorded).length) row("(none)", c.yellow("the source recorded no versions"));
  for (const [file2, pins] of Object.entries(env.pins ?? {}))
    row(
      file2,
      Object.entries(pins)
        .map(([k, v]) => `${k}${v}`)
        .join(" "),
    );
  row(
    "source",
    `${env.source.file} (${env.source.format}${env.source.protocol !== undefined ? ` protocol ${env.source.protocol}` : ""}) sha256 ${env.source.sha256.slice(0, 16)}...`,
  );
  row("written by", `ridepred ${env.written_by.ridepred}, node ${env.written_by.node}`);
  out.push(c.bold("examples"));
  row("cases", `${a.examples.cases.length} (${a.examples.source}), tolerance rel ${a.examples.tolerance.relative} abs ${a.examples.tolerance.absolute}`);
  out.push(c.bold("digest"));
  row(digestOk ? c.green("ok") : c.red("MISMATCH"), a.digest);
  process.stdout.write(out.join("\n") + "\n");
  return digestOk ? 0 : 1;
}
