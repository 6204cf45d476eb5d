// What `ridepred score` needs for --report, --reference, --drift-threshold and --json's drift: the
// statistics observer for a run, the reference (a summary, or a data file scored for the purpose), the
// HTML file, and the lines printed to stderr.
import { closeSync, readFileSync, writeSync } from "node:fs";
import type { ScoreSummary } from "../batch/score.js";
import { RidepredError } from "../errors.js";
import { tempTarget } from "../io/sink.js";
import { outputsOf } from "../runtime/outputs.js";
import type { Predictor } from "../runtime/predictor.js";
import { PREDICTION, referenceFromSummary, type Reference } from "./drift.js";
import { psiText, renderReport } from "./html.js";
import { RunStats, type DriftSummary } from "./stats.js";
import { vocabularyOf } from "./vocabulary.js";

export type { DriftSummary } from "./stats.js";
export type { Reference } from "./drift.js";

export function observerFor(predictor: Predictor, threshold: number, reference?: Reference): RunStats {
  const outputs = outputsOf(predictor.artifact);
  return new RunStats({
    inputs: predictor.inputs,
    vocabulary: vocabularyOf(predictor.artifact),
    predictionColumn: outputs.predictedColumn,
    ...(outputs.classes ? { classNames: outputs.classNames } : {}),
    duration: outputs.duration,
    threshold,
    ...(reference ? { reference } : {}),
  });
}

/** A --reference that is a previous run's --json summary (.json), not a data file to score. */
export const isSummaryPath = (path: string): boolean => /\.json$/i.test(path);

/** A --json summary given as --reference, read and checked. */
export function readSummaryReference(path: string): Reference {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new RidepredError(`--reference ${path}: cannot read: ${(e as Error).message}`);
  }
  return referenceFromSummary(text, path);
}

/**
 * --reference FILE: a .json file is a previous run's --json summary; anything else is data, scored now
 * (with this run's model and options) for its statistics.
 */
export async function loadReference(path: string, scoreData: (input: string) => Promise<ScoreSummary>): Promise<Reference> {
  if (isSummaryPath(path)) return readSummaryReference(path);
  const s = await scoreData(path);
  return { source: path, model: s.model, rows: s.scored, drift: s.drift as DriftSummary };
}

/** The HTML report, written under a temporary name and renamed: never half a file under the final name. */
export function writeReport(path: string, summary: ScoreSummary, reference?: Reference): void {
  const html = renderReport({ summary, drift: summary.drift as DriftSummary, reference, generated: new Date().toISOString().replace(/\.\d+Z$/, "Z") });
  const t = tempTarget(path);
  try {
    writeSync(t.fd, html);
    closeSync(t.fd);
    t.commit();
  } catch (e) {
    t.discard();
    throw new RidepredError(`${path}: cannot write the report: ${(e as Error).message}`);
  }
}

/** The drift lines of the text summary (stderr). */
export function driftLines(d: DriftSummary): string[] {
  if (!d.reference) return [];
  const all: [string, number | undefined][] = [
    [d.prediction.column, d.prediction.drift?.psi],
    ...Object.entries(d.inputs).map(([k, c]): [string, number | undefined] => [k, c.drift?.psi]),
  ];
  const figures = all.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${psiText(v!)}`);
  const flagged = d.flagged.map((c) => (c === PREDICTION ? d.prediction.column : c));
  return [
    `drift against ${d.reference.source} (PSI): ${figures.join(", ")}; ${flagged.length ? `above ${d.threshold}: ${flagged.join(", ")}` : `none above ${d.threshold}`}`,
  ];
}
