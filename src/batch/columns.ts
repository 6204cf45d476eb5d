// The output columns of a scoring run, like the course's batch job: ride_id, pickup time, the
// location ids, actual_duration, predicted_duration, diff, model_version. --columns chooses others.
// The prediction's columns are named by runtime/outputs.ts: predicted_<target> (and proba_<class>).
import type { InputSpec } from "../artifact/types.js";
import { RidepredError } from "../errors.js";
import type { ColumnKind } from "../io/types.js";
import type { Outputs } from "../runtime/outputs.js";

export const DERIVED: Readonly<Record<string, ColumnKind>> = {
  ride_id: "string",
  pickup_datetime: "timestamp",
  dropoff_datetime: "timestamp",
  actual_duration: "double",
  diff: "double",
  model_version: "string",
};

export interface ColumnPlan {
  name: string;
  kind: ColumnKind;
  /** "derived": computed here; "input": a model input (coerced); "raw": passed through from the input column; "prediction": the model's output. */
  source: "derived" | "input" | "raw" | "prediction";
  /** A prediction column: -1 the prediction (or label), k the probability of class k. */
  proba?: number;
}

/**
 * Resolve the requested output columns. Without --columns: ride_id, pickup_datetime (if the input has one),
 * the model's category inputs, actual_duration and diff (if pickup and dropoff exist), predicted_duration, model_version.
 */
export function planColumns(
  requested: readonly string[] | undefined,
  inputs: readonly InputSpec[],
  has: { pickup: boolean; dropoff: boolean; raw: (name: string) => boolean },
  outputs: Outputs,
): ColumnPlan[] {
  const inputKind = new Map(inputs.map((i) => [i.name, (i.type === "category" ? "string" : "double") as ColumnKind]));
  const times = outputs.duration && has.pickup && has.dropoff; // actual_duration and diff compare with a predicted duration
  const names = requested ?? [
    "ride_id",
    ...(has.pickup ? ["pickup_datetime"] : []),
    ...inputs.filter((i) => i.type === "category").map((i) => i.name),
    ...(times ? ["actual_duration"] : []),
    outputs.predictedColumn,
    ...outputs.probaColumns,
    ...(times ? ["diff"] : []),
    "model_version",
  ];
  return names.map((name) => {
    const kind = inputKind.get(name);
    if (kind) return { name, kind, source: "input" };
    if (name === outputs.predictedColumn) return { name, kind: outputs.labelKind, source: "prediction", proba: -1 };
    const k = outputs.probaColumns.indexOf(name);
    if (k >= 0) return { name, kind: "double", source: "prediction", proba: k };
    if (name === "diff" && !outputs.duration) throw new RidepredError(`--columns diff: the model predicts ${outputs.target}, not a duration`);
    const d = DERIVED[name];
    if (d) {
      if ((name === "pickup_datetime" || name === "actual_duration" || name === "diff") && !has.pickup)
        throw new RidepredError(`--columns ${name}: the input has no pickup time column`);
      if ((name === "dropoff_datetime" || name === "actual_duration" || name === "diff") && !has.dropoff)
        throw new RidepredError(`--columns ${name}: the input has no dropoff time column`);
      return { name, kind: d, source: "derived" };
    }
    if (has.raw(name)) return { name, kind: "raw", source: "raw" };
    throw new RidepredError(
      `--columns ${name}: not an input column, a model input, or one of ${[...Object.keys(DERIVED), outputs.predictedColumn, ...outputs.probaColumns].join(", ")}`,
    );
  });
}
