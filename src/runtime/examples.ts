import type { ModelArtifact } from "../artifact/types.js";
import { InputError } from "../errors.js";
import type { Predictor } from "./predictor.js";

export interface ExampleFailure {
  index: number;
  expected: number;
  actual: number | null;
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
  cases.forEach((c, index) => {
    let actual: number;
    try {
      actual = predictor.predict(c.input);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      failures.push({ index, expected: c.output, actual: null, reason: e.message });
      return;
    }
    const diff = Math.abs(actual - c.output);
    const rel = diff / Math.max(Math.abs(c.output), Number.MIN_VALUE);
    if (diff > tolerance.absolute) maxRel = Math.max(maxRel, rel);
    if (!(diff <= tolerance.absolute || rel <= tolerance.relative)) {
      failures.push({ index, expected: c.output, actual, reason: `expected ${c.output}, got ${actual} (relative error ${rel.toExponential(2)})` });
    }
  });
  return { total: cases.length, failures, maxRelError: maxRel };
}
