// The course's stream events. In:  {"ride": {...inputs}, "ride_id": 256}
// Out: {"model": name, "version": version, "prediction": {"ride_duration": 21.3, "ride_id": 256}}
// (the key is the model's: runtime/outputs.ts; a classifier adds "<key>_probability").
// One transform shared by every source (JSONL, Lambda/Kinesis, Redis Streams).
import { InputError } from "../errors.js";
import { eventFields, eventPrediction, outputsOf } from "../runtime/outputs.js";
import type { Predictor } from "../runtime/predictor.js";

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
  // The constant head of every output line, built once.
  const head = `{"model":${JSON.stringify(predictor.name)},"version":${JSON.stringify(predictor.version)},"prediction":{`;
  const { name: model, version } = predictor;
  const outputs = outputsOf(predictor.artifact);
  const classifier = predictor.classifier !== null;
  return (data) => {
    let doc: unknown = data;
    if (typeof data === "string" || Buffer.isBuffer(data)) {
      try {
        doc = JSON.parse(data.toString());
      } catch (e) {
        return { ok: false, reason: `not valid JSON: ${(e as Error).message}` };
      }
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc))
      return { ok: false, reason: 'an event must be a JSON object {"ride": {...}, "ride_id": ...}' };
    const ev = doc as Partial<RideEvent>;
    if (ev.ride === undefined) return { ok: false, reason: 'missing "ride"' };
    if (ev.ride_id === undefined) return { ok: false, reason: 'missing "ride_id"' };
    let y: number;
    let proba: Float64Array | undefined;
    try {
      if (classifier) ({ index: y, probabilities: proba } = predictor.classify(ev.ride as Record<string, unknown>));
      else y = predictor.predict(ev.ride as Record<string, unknown>);
    } catch (e) {
      if (e instanceof InputError) return { ok: false, reason: e.field === "$" ? `ride: ${e.reason}` : `ride.${e.field}: ${e.reason}` };
      throw e;
    }
    if (!Number.isFinite(y)) return { ok: false, reason: `prediction is not a finite number (${y})` };
    const rideId = ev.ride_id;
    const fields = eventFields(outputs, y, proba);
    const json = head + fields + ',"ride_id":' + JSON.stringify(rideId) + "}}";
    return { ok: true, json, event: { model, version, prediction: { ...eventPrediction(outputs, y, proba), ride_id: rideId } } };
  };
}
