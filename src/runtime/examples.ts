import type { Example, ModelArtifact } from "../artifact/types.js";
import { InputError } from "../errors.js";
import type { Predictor } from "./predictor.js";

export interface ExampleFailure {
  index: number;
  expected: Example["output"];
  actual: Example["output"] | null;
  reason: string;
}

/** Run the artifact's golden examples through the predictor; any miss beyond tolerance is a failure. */
export function checkExamples(
  predictor: Predictor,
  artifact: ModelArtifact = predictor.artifact,
): { total: number; failures: ExampleFailure[]; maxRelError: number } {
  const { tolerance, cases } = artifact.examples;
  const failures: ExampleFailure[] = [];
  let maxRel = 0;
  /** A number against its expected value; the reason it is off, or null. */
  const compare = (what: string, expected: number, actual: number): string | null => {
    const diff = Math.abs(actual - expected);
    const rel = diff / Math.max(Math.abs(expected), Number.MIN_VALUE);
    if (diff > tolerance.absolute) maxRel = Math.max(maxRel, rel);
    if (diff <= tolerance.absolute || rel <= tolerance.relative) return null;
    return `${what}expected ${expected}, got ${actual} (relative error ${rel.toExponential(2)})`;
  };
  cases.forEach((c, index) => {
    try {
      if (predictor.classifier) {
        const failure = classifierMiss(predictor, c, compare);
        if (failure) failures.push({ index, ...failure });
        return;
      }
      const actual = predictor.predict(c.input);
      const reason = typeof c.output === "number" ? compare("", c.output, actual) : `expected ${JSON.stringify(c.output)}, but this model is a regressor`;
      if (reason) failures.push({ index, expected: c.output, actual, reason });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      failures.push({ index, expected: c.output, actual: null, reason: e.message });
    }
  });
  return { total: cases.length, failures, maxRelError: maxRel };
}

/** A classifier's example: the same label, and each stated probability within tolerance. */
function classifierMiss(
  predictor: Predictor,
  c: Example,
  compare: (what: string, expected: number, actual: number) => string | null,
): Omit<ExampleFailure, "index"> | null {
  const spec = predictor.classifier!;
  const { index, probabilities } = predictor.classify(c.input);
  const label = spec.classes[index]!;
  if (label !== c.output) return { expected: c.output, actual: label, reason: `expected class ${JSON.stringify(c.output)}, got ${JSON.stringify(label)}` };
  for (const [name, p] of Object.entries(c.probabilities ?? {})) {
    const k = spec.class_names.indexOf(name);
    const reason = k < 0 ? `probability of unknown class ${JSON.stringify(name)}` : compare(`probability of ${name}: `, p, probabilities[k]!);
    if (reason) return { expected: c.output, actual: label, reason };
  }
  return null;
}
