// ridepred as a library (`import { loadModel } from "ridepred"`): load, verify and compile a model.json,
// predict one ride or a batch, with the same predictor every command uses. Nothing here starts a server
// or reads a pickle: `ridepred import` makes the model.json, this runs it.
import { readArtifactJson } from "./artifact/io.js";
import { computeDigest } from "./artifact/digest.js";
import { type ClassLabel, SUPPORTED_FORMATS, type ModelArtifact } from "./artifact/types.js";
import { type Problem, validateArtifact } from "./artifact/validate.js";
import { checkExamples, type ExampleFailure } from "./runtime/examples.js";
import { outputsOf, predictionValue } from "./runtime/outputs.js";
import { type BatchResult, compile, type Predictor } from "./runtime/predictor.js";

export { BUNDLED_MODEL, readArtifact } from "./artifact/io.js";
export type {
  ClassLabel,
  ClassifierSpec,
  Estimator,
  Example,
  FeatureField,
  InputSpec,
  InputType,
  ModelArtifact,
} from "./artifact/types.js";
export type { Problem } from "./artifact/validate.js";
export type { Column, DictColumn } from "./columns.js";
export { InputError, RidepredError } from "./errors.js";
export { coerceCategory, coerceNumber, isMissing } from "./runtime/coerce.js";
export { checkExamples, type ExampleFailure } from "./runtime/examples.js";
export { type LoadedModel, loadModel } from "./runtime/load.js";
export { type BatchResult, type Columns, compile, type Predictor, type RowError } from "./runtime/predictor.js";
export { VERSION } from "./version.js";

export interface Verification {
  /** True when the model is valid, untampered, of a supported format, and reproduces its golden examples. */
  ok: boolean;
  /** Structural problems (empty when the schema is satisfied). */
  problems: Problem[];
  /** The digest recorded in the file, and whether the content still hashes to it. */
  digest: { recorded: string | undefined; ok: boolean };
  format: { version: number | undefined; supported: boolean };
  /** Golden examples run through the compiled predictor (total 0: the model has none, which is not a failure). */
  examples: { total: number; failures: ExampleFailure[] };
}

/**
 * What `ridepred verify` checks, as data and without throwing: schema, digest, format, golden examples.
 * Takes a path to a model.json or its parsed content. (A file that cannot be read or parsed throws a
 * RidepredError.)
 */
export function verifyModel(model: string | unknown): Verification {
  const doc = typeof model === "string" ? readArtifactJson(model) : model;
  const problems = validateArtifact(doc);
  const a = doc as Partial<ModelArtifact>;
  const result: Verification = {
    ok: false,
    problems,
    digest: { recorded: typeof a?.digest === "string" ? a.digest : undefined, ok: false },
    format: { version: typeof a?.format_version === "number" ? a.format_version : undefined, supported: false },
    examples: { total: 0, failures: [] },
  };
  if (problems.length) return result;
  const artifact = doc as ModelArtifact;
  result.digest.ok = computeDigest(artifact) === artifact.digest;
  result.format.supported = SUPPORTED_FORMATS.includes(artifact.format_version);
  if (result.format.supported) {
    const { total, failures } = checkExamples(compile(artifact));
    result.examples = { total, failures };
  }
  result.ok = result.digest.ok && result.format.supported && result.examples.failures.length === 0;
  return result;
}

/**
 * predictRides' answer. A regressor: one number per ride (NaN where rejected), classes null. A classifier:
 * one label per ride, as predict() gives it and score/serve write it (null where rejected), its classes,
 * and k probabilities per ride (ride r's at [r * k, r * k + k), in the order of classes).
 */
export type RidesResult =
  | (BatchResult & { classes: null })
  | (Omit<BatchResult, "predictions" | "probabilities"> & {
      classes: readonly ClassLabel[];
      predictions: (ClassLabel | null)[];
      probabilities: Float64Array;
    });

/**
 * Score rides given as objects keyed by input name, as one batch: a prediction per ride and the rejected
 * rides' index, field and reason. Values follow the same coercion rule as every transport (a zone id 130,
 * 130.0, "130" or "130.0" is the category "130").
 */
export function predictRides(predictor: Predictor, rides: readonly Readonly<Record<string, unknown>>[]): RidesResult {
  const columns: Record<string, unknown[]> = {};
  for (const inp of predictor.inputs) columns[inp.name] = rides.map((r) => r?.[inp.name]);
  const result = predictor.predictColumns(columns, rides.length);
  const classes = predictor.classifier?.classes;
  if (!classes) return { ...result, classes: null };
  // The predictor gives class indices (NaN: rejected); the labels are named in one place, runtime/outputs.ts.
  const o = outputsOf(predictor.artifact);
  const predictions = Array.from(result.predictions.subarray(0, rides.length), (y) => predictionValue(o, y));
  return { errors: result.errors, threads: result.threads, classes, predictions, probabilities: result.probabilities! };
}
