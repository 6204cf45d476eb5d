// The course's stream events. In:  {"ride": {...inputs}, "ride_id": 256}
// Out: {"model": name, "version": version, "prediction": {"ride_duration": 21.3, "ride_id": 256}}
// (the key is the model's: runtime/outputs.ts; a classifier adds "<key>_probability").
// One transform shared by every source: per event (the Lambda handler) or per batch (the stream loop:
// one predictColumns call for the batch instead of a batch of one per event). Both parse and check an
// event the same way (parseEvent) and write the same JSON; the prediction is the runtime's.
import { InputError } from "../errors.js";
import { eventFields, eventPrediction, type Outputs, outputsOf } from "../runtime/outputs.js";
import type { Columns, Predictor } from "../runtime/predictor.js";

export interface RideEvent {
  ride: Record<string, unknown>;
  ride_id: unknown;
}

export interface PredictionEvent {
  model: string;
  version: string;
  /** "ride_<target>" (or the model's event_key): the prediction; classifiers add "<key>_probability". */
  prediction: { ride_id: unknown; [key: string]: unknown };
}

/** A transformed event: the prediction as JSON text, or why the event is poison. */
export type Outcome = { ok: true; json: string; event: PredictionEvent } | { ok: false; reason: string };

export type Transform = (data: string | Buffer | unknown) => Outcome;

/**
 * Compile the per-event transform for one predictor. Accepts the raw JSON text (or an already parsed
 * value, as the Lambda handler has). Never throws for bad input: a bad event is an outcome with a reason.
 */
export function eventTransform(predictor: Predictor): Transform {
  const head = eventHead(predictor);
  const { name: model, version } = predictor;
  const outputs = outputsOf(predictor.artifact);
  const classifier = predictor.classifier !== null;
  return (data) => {
    const ev = parseEvent(data);
    if (typeof ev === "string") return { ok: false, reason: ev };
    let y: number;
    let proba: Float64Array | undefined;
    try {
      if (classifier) ({ index: y, probabilities: proba } = predictor.classify(ev.ride as Record<string, unknown>));
      else y = predictor.predict(ev.ride as Record<string, unknown>);
    } catch (e) {
      if (e instanceof InputError) return { ok: false, reason: inputReason(e.field, e.reason) };
      throw e;
    }
    if (!Number.isFinite(y)) return { ok: false, reason: nonFinite(y) };
    const rideId = ev.ride_id;
    const json = predictionJson(head, outputs, y, proba, JSON.stringify(rideId));
    return { ok: true, json, event: { model, version, prediction: { ...eventPrediction(outputs, y, proba), ride_id: rideId } } };
  };
}

/** The constant head of every output event, built once per predictor. */
function eventHead(predictor: Predictor): string {
  return `{"model":${JSON.stringify(predictor.name)},"version":${JSON.stringify(predictor.version)},"prediction":{`;
}

/** Why a ride's input makes its event poison ("$": the ride as a whole). */
const inputReason = (field: string, reason: string) => (field === "$" ? `ride: ${reason}` : `ride.${field}: ${reason}`);

const nonFinite = (y: number) => `prediction is not a finite number (${y})`;

/** The output event's JSON for a finite prediction; idJson is the ride id as JSON. */
const predictionJson = (head: string, outputs: Outputs, y: number, proba: ArrayLike<number> | undefined, idJson: string) =>
  head + eventFields(outputs, y, proba) + ',"ride_id":' + idJson + "}}";

/** An event parsed and checked for its two keys, or why it is poison. Accepts text or a parsed value. */
function parseEvent(data: string | Buffer | unknown): RideEvent | string {
  let doc: unknown = data;
  if (typeof data === "string" || Buffer.isBuffer(data)) {
    try {
      doc = JSON.parse(data.toString());
    } catch (e) {
      return `not valid JSON: ${(e as Error).message}`;
    }
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return 'an event must be a JSON object {"ride": {...}, "ride_id": ...}';
  const ev = doc as Partial<RideEvent>;
  if (ev.ride === undefined) return 'missing "ride"';
  if (ev.ride_id === undefined) return 'missing "ride_id"';
  return ev as RideEvent;
}

/** A scored event of a batch: its prediction event's JSON and its ride id as text, or why it is poison. */
export type Scored = { ok: true; json: string; rideId: string } | { ok: false; reason: string };

export type BatchTransform = (data: readonly string[]) => Scored[];

/**
 * The transform of a whole batch: every event parsed, the valid rides' inputs gathered into columns and
 * predicted by one predictColumns call, each answer written as eventTransform writes it (same JSON, same
 * reasons). Never throws for bad input.
 */
export function eventBatchTransform(predictor: Predictor): BatchTransform {
  const head = eventHead(predictor);
  const outputs = outputsOf(predictor.artifact);
  const k = predictor.classifier ? outputs.classNames.length : 0;
  const names = predictor.inputs.map((i) => i.name);
  const cols: unknown[][] = names.map(() => []);
  const columns: Columns = Object.fromEntries(names.map((n, i) => [n, cols[i]!]));
  // The predictor's result arrays, reused by the next batch (predictColumns grows them when needed).
  let out: Float64Array = new Float64Array(0);
  let proba: Float64Array | undefined;
  return (data) => {
    const result = new Array<Scored>(data.length);
    const at: number[] = []; // the result index of each ride predicted
    const rideIds: unknown[] = [];
    for (let i = 0; i < data.length; i++) {
      const ev = parseEvent(data[i]);
      if (typeof ev === "string") result[i] = { ok: false, reason: ev };
      else if (typeof ev.ride !== "object" || ev.ride === null || Array.isArray(ev.ride))
        result[i] = { ok: false, reason: "ride: a ride must be a JSON object" };
      else {
        const r = at.length;
        at.push(i);
        rideIds.push(ev.ride_id);
        for (let c = 0; c < names.length; c++) cols[c]![r] = ev.ride[names[c]!];
      }
    }
    const n = at.length;
    if (n === 0) return result;
    for (const c of cols) c.length = n;
    const { predictions, probabilities, errors } = predictor.predictColumns(columns, n, out, proba);
    out = predictions;
    proba = probabilities;
    for (const c of cols) c.length = 0; // hold no reference to the events
    let e = 0; // errors come sorted by row, one per bad row (its first bad input)
    for (let r = 0; r < n; r++) {
      while (e < errors.length && errors[e]!.row < r) e++;
      const err = errors[e]?.row === r ? errors[e]! : undefined;
      const i = at[r]!;
      if (err) {
        result[i] = { ok: false, reason: inputReason(err.field, err.reason) };
        continue;
      }
      const y = predictions[r]!;
      if (!Number.isFinite(y)) {
        result[i] = { ok: false, reason: nonFinite(y) };
        continue;
      }
      const id = rideIds[r];
      const idJson = JSON.stringify(id);
      const json = predictionJson(head, outputs, y, probabilities?.subarray(r * k, r * k + k), idJson);
      result[i] = { ok: true, json, rideId: typeof id === "string" ? id : idJson };
    }
    return result;
  };
}
