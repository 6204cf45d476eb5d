// The course's Kinesis -> Lambda contract: Records[].kinesis.data is base64 of the ride event JSON; the
// function answers {"predictions": [prediction events]} (lambda_function.py in mlops-zoomcamp).
import type { Predictor } from "../runtime/predictor.js";
import { eventTransform, type PredictionEvent } from "./event.js";

export interface KinesisRecord {
  kinesis: { data: string; partitionKey?: string; sequenceNumber?: string; [k: string]: unknown };
  eventID?: string;
  [k: string]: unknown;
}

export interface KinesisEvent {
  Records: KinesisRecord[];
}

/** A record the function could not score: left out of `predictions`, listed here with why. */
export interface RecordError {
  index: number;
  sequenceNumber?: string;
  reason: string;
}

export interface KinesisResult {
  predictions: PredictionEvent[];
  /** Present only when some record was rejected, so well-formed batches get exactly the course's shape. */
  errors?: RecordError[];
}

export type KinesisHandler = (event: unknown) => KinesisResult;

/**
 * The handler body for one predictor. A malformed invocation (no Records array) throws, which Lambda
 * reports as a function error; a bad record does not fail the batch (that would block the shard forever
 * on one poison record): it is logged to stderr (CloudWatch) and reported under "errors".
 */
export function kinesisHandler(predictor: Predictor): KinesisHandler {
  const transform = eventTransform(predictor);
  return (event) => {
    const records = (event as Partial<KinesisEvent> | null)?.Records;
    if (!Array.isArray(records)) throw new TypeError('expected a Kinesis event: {"Records": [{"kinesis": {"data": base64}}]}');
    const predictions: PredictionEvent[] = [];
    const errors: RecordError[] = [];
    records.forEach((rec, index) => {
      const data = rec?.kinesis?.data;
      const seq = rec?.kinesis?.sequenceNumber;
      const r =
        typeof data === "string"
          ? transform(Buffer.from(data, "base64").toString("utf8"))
          : ({ ok: false, reason: "record has no kinesis.data string" } as const);
      if (r.ok) predictions.push(r.event);
      else {
        const err: RecordError = seq === undefined ? { index, reason: r.reason } : { index, sequenceNumber: seq, reason: r.reason };
        errors.push(err);
        console.error(JSON.stringify({ level: "error", msg: "record rejected", ...err }));
      }
    });
    return errors.length ? { predictions, errors } : { predictions };
  };
}
