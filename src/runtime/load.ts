import { defaultModelPath, readArtifact } from "../artifact/io.js";
import type { ModelArtifact } from "../artifact/types.js";
import { SUPPORTED_FORMATS } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import { checkExamples } from "./examples.js";
import { type CompileOptions, compile, type Predictor } from "./predictor.js";

export interface LoadedModel {
  path: string;
  artifact: ModelArtifact;
  predictor: Predictor;
}

/**
 * Read, validate, digest-check and compile a model, then prove it on its golden examples: a model that
 * loads is a model that predicts what scikit-learn predicted. Defaults to the bundled model.
 */
export function loadModel(path: string = defaultModelPath(), options: CompileOptions = {}): LoadedModel {
  const artifact = readArtifact(path);
  if (!SUPPORTED_FORMATS.includes(artifact.format_version)) {
    throw new RidepredError(`${path}: model format ${artifact.format_version} is not supported by this ridepred (supports ${SUPPORTED_FORMATS.join(", ")})`);
  }
  const predictor = compile(artifact, options);
  const check = checkExamples(predictor);
  if (check.failures.length) {
    const f = check.failures[0]!;
    throw new RidepredError(`${path}: golden example ${f.index} does not reproduce: ${f.reason} (${check.failures.length} of ${check.total} fail)`, 1);
  }
  return { path, artifact, predictor };
}
