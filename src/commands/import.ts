import { Command } from "commander";
import { readFileSync } from "node:fs";
import { fileError, RidepredError } from "../errors.js";
import { colors, log, printJson } from "../term.js";
import { collect, keyValue, positiveNumber } from "./options.js";
import type { Example } from "../artifact/types.js";

interface Opts {
  output?: string;
  name?: string;
  modelVersion?: string;
  description?: string;
  target?: string;
  eventKey?: string;
  derive: string[];
  default: Record<string, string>;
  env: Record<string, string>;
  envFile?: string;
  examples?: string;
  examplesSource?: string;
  tolerance?: number;
  audit?: boolean;
  preprocessor?: string;
  json?: boolean;
}

export function importCommand(): Command {
  return new Command("import")
    .description("read a scikit-learn pickle, joblib file, XGBoost booster or MLflow model folder safely (nothing in it runs) and write a verified model.json")
    .argument(
      "<source>",
      "pickle or joblib file (plain, zlib or gzip): a Pipeline(DictVectorizer, estimator) or (dv, estimator) tuple; an XGBoost booster (binary, JSON or UBJSON, with --preprocessor); or an MLflow model folder",
    )
    .option("-o, --output <file>", "where to write the model (default: SOURCE with .json)")
    .option("--name <name>", "model name (default: the file's base name)")
    .option("--model-version <v>", "model version (default: the first 12 hex of the source's sha256)")
    .option("--description <text>", "free text stored in the model")
    .option("--target <name>", "what the model predicts: names the outputs (default: duration for a regressor, class for a classifier)")
    .option("--event-key <name>", "stream events' name for the prediction (default: ride_<target>)")
    .option("--derive <spec>", "derived category feature NAME=A_B or NAME={A}_{B} (repeatable; PU_DO is recognised)", collect, [])
    .option("--default <spec>", "value for a missing input, NAME=VALUE (repeatable)", keyValue("--default"), {})
    .option("--env <spec>", "a training-environment version, NAME=VERSION (repeatable)", keyValue("--env"), {})
    .option("--env-file <file>", "NAME=VERSION lines, e.g. written by the training script")
    .option("--examples <file.jsonl>", 'golden examples, one {"input": {...}, "output": n} per line')
    .option("--examples-source <text>", "where the examples' outputs came from")
    .option("--tolerance <rel>", "relative tolerance for the examples (default 1e-9)", positiveNumber("--tolerance"))
    .option("--preprocessor <file>", "an XGBoost booster's pickled DictVectorizer (e.g. RUN/preprocessor/preprocessor.b)")
    .option("--audit", "only list the globals the file references and which are refused; load nothing")
    .option("--json", "print a JSON report to stdout")
    .action(async (source: string, opts: Opts) => {
      process.exitCode = await run(source, opts);
    });
}

async function run(source: string, opts: Opts): Promise<number> {
  const c = colors(process.stderr);
  const { importFrom, isDirectory } = await import("../sklearn/source.js");
  const isDir = isDirectory(source);
  if (opts.audit) return audit(source, isDir, opts.json ?? false);

  const { parseDerive } = await import("../sklearn/import.js");
  const { compile } = await import("../runtime/predictor.js");
  const { checkExamples } = await import("../runtime/examples.js");
  const { serializeArtifact, writeFileAtomic } = await import("../artifact/io.js");

  const env = { ...(opts.envFile ? readEnvFile(opts.envFile) : {}), ...opts.env };
  const examples = opts.examples ? readExamples(opts.examples) : undefined;
  const { artifact, mlflow } = importFrom(source, {
    name: opts.name,
    version: opts.modelVersion,
    description: opts.description,
    target: opts.target !== undefined ? { name: nonEmpty("--target", opts.target) } : undefined,
    eventKey: opts.eventKey !== undefined ? nonEmpty("--event-key", opts.eventKey) : undefined,
    derive: Object.fromEntries(opts.derive.map(parseDerive)),
    defaults: opts.default,
    env,
    examples,
    examplesSource: opts.examplesSource,
    tolerance: opts.tolerance !== undefined ? { relative: opts.tolerance, absolute: opts.tolerance } : undefined,
    preprocessor: opts.preprocessor,
  });
  const predictor = compile(artifact);
  const check = checkExamples(predictor);
  if (check.failures.length) {
    for (const f of check.failures.slice(0, 5)) log(`example ${f.index}: ${f.reason}`);
    throw new RidepredError(`${source}: ${check.failures.length} of ${check.total} golden examples do not reproduce; nothing written`, 1);
  }
  // MLflow's input example has no outputs, but every row of it must at least be accepted by the model.
  const exampleRows = mlflow?.inputExample ?? [];
  const rejected: string[] = [];
  exampleRows.forEach((row, i) => {
    try {
      predictor.predict(row);
    } catch (e) {
      rejected.push(`row ${i}: ${(e as Error).message}`);
    }
  });
  const output =
    opts.output ??
    (isDir ? source.replace(/[\\/]+$/, "").replace(/\.mlflow$/, "") : source.replace(/\.(bin|pkl|pickle|joblib|xgb|ubj|model)(\.(z|gz|zlib|gzip))?$/i, "")) +
      ".json";
  writeFileAtomic(output, serializeArtifact(artifact));

  const est = artifact.estimator;
  const src = artifact.environment.source;
  const summary = {
    source,
    output,
    name: artifact.name,
    version: artifact.version,
    format: src.format,
    protocol: src.protocol,
    estimator: est.sklearn_class,
    target: artifact.target.name,
    ...(artifact.classifier ? { classes: artifact.classifier.class_names } : {}),
    ...(est.kind !== "linear" ? { trees: est.trees.length, nodes: est.trees.reduce((n, t) => n + t.feature.length, 0) } : {}),
    ...(est.kind === "xgboost" ? { objective: est.objective, absent_features: est.absent } : {}),
    ...(src.preprocessor ? { preprocessor: src.preprocessor.file } : {}),
    features: artifact.features.vectorizer.feature_names.length,
    inputs: artifact.inputs.map((i) => `${i.name}:${i.type}`),
    recorded: artifact.environment.recorded,
    pins: artifact.environment.pins ?? {},
    ...(mlflow ? { mlflow: { run_id: mlflow.runId ?? null, signature: mlflow.signature ?? null, input_example: { rows: exampleRows.length, rejected } } } : {}),
    examples: { total: check.total, reproduced: check.total - check.failures.length, max_relative_error: check.maxRelError },
    digest: artifact.digest,
  };
  if (opts.json) printJson(summary);
  else {
    log(
      `${c.green("imported")} ${source} (${src.format}${summary.protocol !== undefined ? `, pickle protocol ${summary.protocol}` : ""}${src.preprocessor ? `, preprocessor ${src.preprocessor.file}` : ""}, ${
        Object.entries(summary.recorded)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "no versions recorded"
      })`,
    );
    const size = est.kind !== "linear" ? ` (${est.trees.length} tree${est.trees.length === 1 ? "" : "s"}, ${summary.nodes} nodes)` : "";
    const objective = est.kind === "xgboost" ? `, objective ${est.objective}, unset features ${est.absent}` : "";
    log(`  ${summary.estimator}${size}${objective} over ${summary.features} features; inputs ${summary.inputs.join(", ")}`);
    if (artifact.classifier) log(`  predicts ${artifact.target.name}: one of ${artifact.classifier.class_names.join(", ")}, with the probability of each`);
    for (const [file, pins] of Object.entries(summary.pins))
      log(
        `  pins from ${file}: ${Object.entries(pins)
          .map(([k, v]) => `${k}${v}`)
          .join(" ")}`,
      );
    if (mlflow?.runId) log(`  MLflow run ${mlflow.runId}`);
    if (exampleRows.length)
      log(
        `  ${rejected.length ? c.yellow(`MLflow input example: ${rejected.length} of ${exampleRows.length} rows rejected (${rejected[0]})`) : `MLflow input example: ${exampleRows.length} rows accepted`}`,
      );
    log(
      `  ${check.total ? `${check.total} golden examples reproduce (max relative error ${check.maxRelError.toExponential(1)})` : c.yellow("no golden examples: pass --examples so verify can prove predictions")}`,
    );
    log(`  wrote ${output} (${artifact.digest.slice(0, 19)}...)`);
  }
  return 0;
}

/** List the globals a file (or an MLflow folder's model file) names; load nothing. Exit 1 if any is refused. */
async function audit(source: string, isDir: boolean, json: boolean): Promise<number> {
  const { auditPickle, readBytes } = await import("../sklearn/import.js");
  let file = source;
  if (isDir) {
    const { readMlflowFolder } = await import("../sklearn/mlflow.js");
    file = readMlflowFolder(source).modelFile;
  }
  const bytes = readBytes(file); // the importer's reader: size limit and error message alike
  const { detectFormat } = await import("../xgboost/detect.js");
  const booster = detectFormat(bytes);
  // A saved booster is data only (trees and parameters): it names no Python globals.
  const report = booster !== null ? { format: `xgboost ${booster}`, compression: null, globals: [], risks: {}, offsets: {} } : auditPickle(bytes);
  const refused = report.globals.filter((g) => !g.allowed);
  if (json) printJson({ file, ...report, refused: refused.map((g) => g.name) });
  else {
    const out = colors();
    const fmt = `${report.format}${report.compression ? ` (${report.compression})` : ""}${report.protocol !== undefined ? `, pickle protocol ${report.protocol}` : ""}`;
    log(`${file}: ${fmt}`);
    for (const g of report.globals) {
      process.stdout.write(
        `${g.allowed ? out.green("allowed") : out.red("REFUSED")}  ${g.name}${report.risks[g.name] ? out.dim(`  (${report.risks[g.name]}; first named at byte ${report.offsets[g.name]})`) : ""}\n`,
      );
    }
    if (report.error) log(`${file}: ${report.error}`);
    log(
      `${report.globals.length} globals, ${refused.length} refused${refused.length ? ": importing this file would stop at the first refused global; nothing in it was run" : ""}`,
    );
  }
  return refused.length || report.error ? 1 : 0;
}

function nonEmpty(flag: string, v: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v)) throw new RidepredError(`${flag} ${JSON.stringify(v)}: expected a name (letters, digits, _ . -)`);
  return v;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw fileError(path, `cannot read ${what}`, e);
  }
}

function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  readText(path, "env file")
    .split(/\r?\n/)
    .forEach((line, i) => {
      const t = line.replace(/#.*$/, "").trim();
      if (!t) return;
      const eq = t.indexOf("=");
      if (eq <= 0) throw new RidepredError(`${path}:${i + 1}: expected NAME=VERSION, got ${JSON.stringify(t)}`);
      env[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
    });
  return env;
}

function readExamples(path: string): Example[] {
  const out: Example[] = [];
  readText(path, "examples")
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch (e) {
        throw new RidepredError(`${path}:${i + 1}: not valid JSON: ${(e as Error).message}`);
      }
      const d = doc as { input?: unknown; output?: unknown; probabilities?: unknown };
      const label = ["number", "string", "boolean"].includes(typeof d?.output);
      const probs = d?.probabilities;
      if (
        typeof d !== "object" ||
        d === null ||
        typeof d.input !== "object" ||
        d.input === null ||
        Array.isArray(d.input) ||
        !label ||
        (probs !== undefined && (typeof probs !== "object" || probs === null || !Object.values(probs).every((p) => typeof p === "number")))
      ) {
        throw new RidepredError(
          `${path}:${i + 1}: expected {"input": {...}, "output": number} (a classifier's: a label, and optionally "probabilities": {class: p})`,
        );
      }
      out.push({
        input: d.input as Example["input"],
        output: d.output as Example["output"],
        ...(probs ? { probabilities: probs as Record<string, number> } : {}),
      });
    });
  return out;
}
