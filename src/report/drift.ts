// This run against a reference run (a previous run's --json summary, or a data file scored for the
// purpose): the PSI of the prediction and of every model input both runs have, flagged above the
// threshold. The reference's side comes from its summary alone (its sketches, its top categories).
import { RidepredError } from "../errors.js";
import { Counter } from "./counter.js";
import { categoryBins, numericBins, psi, type Bin } from "./psi.js";
import { GAMMA, Sketch } from "./sketch.js";
import type { ColumnStats, DriftSummary } from "./stats.js";

export interface Comparison {
  psi: number;
  flagged: boolean;
  bins: Bin[];
}

export interface Reference {
  /** The file, as named on the command line. */
  source: string;
  model: { name: string; version: string } | null;
  rows: number;
  drift: DriftSummary;
}

/** The name "prediction" stands for the prediction column in flagged[]. */
export const PREDICTION = "prediction";

/** Compare summary with the reference, in place: each column's drift, the summary's reference and flagged. */
export function compare(summary: DriftSummary, ref: Reference, live: Map<string, Counter>): void {
  summary.reference = { source: ref.source, model: ref.model, rows: ref.rows };
  const flagged: string[] = [];
  const one = (name: string, cur: ColumnStats, old: ColumnStats | undefined) => {
    if (!old || old.kind !== cur.kind) return;
    const bins =
      cur.kind === "number" && old.kind === "number"
        ? numericBins(Sketch.fromJSON(old.sketch), Sketch.fromJSON(cur.sketch))
        : categoryBins(Counter.fromJSON(old as never), live.get(name) ?? Counter.fromJSON(cur as never));
    const value = psi(bins);
    const flag = value > summary.threshold;
    cur.drift = { psi: value, flagged: flag, bins };
    if (flag) flagged.push(name);
  };
  one(PREDICTION, summary.prediction, ref.drift.prediction);
  for (const [name, cur] of Object.entries(summary.inputs)) one(name, cur, ref.drift.inputs[name]);
  summary.flagged = flagged;
}

/** A previous run's --json summary as a reference: its drift statistics, or a clear error. */
export function referenceFromSummary(text: string, source: string): Reference {
  let j: { drift?: DriftSummary; model?: Reference["model"]; scored?: number; inputs?: unknown };
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new RidepredError(`--reference ${source}: not JSON (${(e as Error).message}); give a previous run's --json summary or a data file`);
  }
  const d = j?.drift;
  if (!d || typeof d !== "object" || !d.prediction || !d.inputs) {
    const why = Array.isArray(j?.inputs)
      ? "it is the summary of a run over several inputs: give one input's summary"
      : "it has no drift statistics (a summary from ridepred score --json with --stats, --report or --reference has them)";
    throw new RidepredError(`--reference ${source}: ${why}`);
  }
  // Sketches are compared bucket by bucket: both runs must have drawn them alike.
  for (const c of [d.prediction, ...Object.values(d.inputs)])
    if (c.kind === "number" && c.sketch?.gamma !== GAMMA)
      throw new RidepredError(
        `--reference ${source}: its histograms were made by another ridepred version (bucket width ${c.sketch?.gamma}, this one uses ${GAMMA}); score the reference data again`,
      );
  return { source, model: j.model ?? null, rows: j.scored ?? d.prediction.count, drift: d };
}
