// What a prediction is called and how it reads, for every transport, in one place: score's columns,
// /predict's answer, MLflow's and V2's outputs, the stream event's keys. Transports only encode these.
//   regressor:  predicted_<target> | {"<target>": y} | [y, ...] | V2 "<target>" | "ride_<target>": y
//   classifier: predicted_<target>, proba_<class>... | {"<target>": label, "probabilities": {class: p}}
//               | predict()'s labels | V2 "predict" and "predict_proba" (MLServer's scikit-learn names)
//               | "ride_<target>": label, "ride_<target>_probability": p of that label
import type { ClassLabel, ModelArtifact } from "../artifact/types.js";

export interface Outputs {
  target: string;
  /** Class labels (classifiers), by index; null for a regressor. */
  classes: readonly ClassLabel[] | null;
  /** Class names as Python prints them (classifiers). */
  classNames: readonly string[];
  /** score: the prediction's column. */
  predictedColumn: string;
  /** score: one probability column per class, proba_<class name> (classifiers). */
  probaColumns: string[];
  /** score: actual_duration and diff exist only when the model predicts a duration. */
  duration: boolean;
  /** score: the label column's type: numbers for numeric classes (and every regressor), names otherwise. */
  labelKind: "double" | "string";
  /** stream: the event's key for the prediction, and for the label's probability (classifiers). */
  eventKey: string;
  eventProbabilityKey: string;
  /** V2 outputs: names and datatypes. */
  v2: { name: string; datatype: string; shape: number[] }[];
}

const cache = new WeakMap<ModelArtifact, Outputs>();

export function outputsOf(a: ModelArtifact): Outputs {
  let o = cache.get(a);
  if (o) return o;
  const target = a.target.name;
  const c = a.classifier ?? null;
  const numeric = c === null || c.classes.every((x) => typeof x === "number");
  const eventKey = a.target.event_key ?? `ride_${target}`;
  o = {
    target,
    classes: c ? c.classes : null,
    classNames: c ? c.class_names : [],
    predictedColumn: `predicted_${target}`,
    probaColumns: c ? c.class_names.map((n) => `proba_${n}`) : [],
    duration: c === null && target === "duration",
    labelKind: numeric ? "double" : "string",
    eventKey,
    eventProbabilityKey: `${eventKey}_probability`,
    v2: c
      ? [
          { name: "predict", datatype: v2Datatype(c.classes), shape: [-1] },
          { name: "predict_proba", datatype: "FP64", shape: [-1, c.classes.length] },
        ]
      : [{ name: target, datatype: "FP64", shape: [-1] }],
  };
  cache.set(a, o);
  return o;
}

/** The datatype MLServer gives a numpy array of these labels. */
function v2Datatype(classes: readonly ClassLabel[]): string {
  if (classes.every((x) => typeof x === "boolean")) return "BOOL";
  if (classes.every((x) => typeof x === "number")) return classes.every(Number.isInteger) ? "INT64" : "FP64";
  return "BYTES";
}

/** A prediction as JSON value: a regressor's number (NaN/Infinity: null, as JSON.stringify writes them), a classifier's label. */
export function predictionValue(o: Outputs, y: number): ClassLabel | null {
  if (o.classes) return o.classes[y] ?? null;
  return Number.isFinite(y) ? y : null;
}

/** {class name: probability} of row r. */
export function probabilityMap(o: Outputs, proba: ArrayLike<number>, r: number): Record<string, number> {
  const k = o.classNames.length;
  const out: Record<string, number> = {};
  for (let i = 0; i < k; i++) out[o.classNames[i]!] = proba[r * k + i]!;
  return out;
}

/** The course's /predict answer for row r. */
export function courseAnswer(o: Outputs, version: string, y: number, proba: ArrayLike<number> | undefined, r: number): Record<string, unknown> {
  if (!o.classes) return { [o.target]: predictionValue(o, y), model_version: version };
  return { [o.target]: predictionValue(o, y), probabilities: probabilityMap(o, proba!, r), model_version: version };
}

/** MLflow /invocations: predict()'s values, one per row. */
export function mlflowPredictions(o: Outputs, y: Float64Array): (ClassLabel | null)[] {
  return Array.from(y, (v) => predictionValue(o, v));
}

/** V2 infer outputs for n rows. */
export function v2Outputs(
  o: Outputs,
  y: Float64Array,
  proba: Float64Array | undefined,
  n: number,
): { name: string; shape: number[]; datatype: string; data: unknown[] }[] {
  const [first, second] = o.v2;
  if (!o.classes) return [{ name: first!.name, shape: [n], datatype: first!.datatype, data: Array.from(y.subarray(0, n)) }];
  const k = o.classes.length;
  return [
    { name: first!.name, shape: [n], datatype: first!.datatype, data: mlflowPredictions(o, y.subarray(0, n)) },
    { name: second!.name, shape: [n, k], datatype: second!.datatype, data: Array.from(proba!.subarray(0, n * k)) },
  ];
}

/**
 * The stream event's prediction fields (JSON text, without braces) for one ride:
 * "ride_<target>": value[, "ride_<target>_probability": p of the label].
 */
export function eventFields(o: Outputs, y: number, proba: ArrayLike<number> | undefined): string {
  const head = `${JSON.stringify(o.eventKey)}:${JSON.stringify(predictionValue(o, y))}`;
  if (!o.classes) return head;
  return `${head},${JSON.stringify(o.eventProbabilityKey)}:${JSON.stringify(proba![y]!)}`;
}

/** The same fields as an object. */
export function eventPrediction(o: Outputs, y: number, proba: ArrayLike<number> | undefined): Record<string, unknown> {
  if (!o.classes) return { [o.eventKey]: predictionValue(o, y) };
  return { [o.eventKey]: predictionValue(o, y), [o.eventProbabilityKey]: proba![y]! };
}
