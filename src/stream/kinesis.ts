// The course's Kinesis -> Lambda contract: Records[].kinesis.data is base64 of the ride event JSON; the
// function answers {"predictions": [prediction events]} and, when PREDICTIONS_STREAM_NAME is set (and
// TEST_RUN is not "True"), also puts each prediction to that stream keyed by ride id (lambda_function.py in
// mlops-zoomcamp).
import type { Predictor } from "../runtime/predictor.js";
import { eventTransform, type PredictionEvent, type Transform } from "./event.js";
import { rideIdText } from "./pipeline.js";

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
  /**
   * Lambda's partial batch response (ReportBatchItemFailures): records whose prediction could not be put
   * to the predictions stream, by sequence number. Lambda retries from the lowest one. Present only then.
   */
  batchItemFailures?: { itemIdentifier: string }[];
}

export type KinesisHandler = (event: unknown) => KinesisResult | Promise<KinesisResult>;

interface Scored {
  result: KinesisResult & { predictions: PredictionEvent[] };
  /** Per prediction: its JSON text and the sequence number of the record it answers. */
  sent: { json: string; rideId: string; sequenceNumber: string | undefined }[];
}

/**
 * The handler body for one predictor. A malformed invocation (no Records array) throws, which Lambda
 * reports as a function error; a bad record does not fail the batch (that would block the shard forever
 * on one poison record): it is logged to stderr (CloudWatch) and reported under "errors".
 */
export function kinesisHandler(predictor: Predictor): (event: unknown) => KinesisResult {
  const transform = eventTransform(predictor);
  return (event) => score(transform, event).result;
}

/** Score every record of a Kinesis event; bad records are logged and listed, never thrown. */
function score(transform: Transform, event: unknown): Scored {
  const records = (event as Partial<KinesisEvent> | null)?.Records;
  if (!Array.isArray(records)) throw new TypeError('expected a Kinesis event: {"Records": [{"kinesis": {"data": base64}}]}');
  const predictions: PredictionEvent[] = [];
  const sent: Scored["sent"] = [];
  const errors: RecordError[] = [];
  records.forEach((rec, index) => {
    const data = rec?.kinesis?.data;
    const seq = rec?.kinesis?.sequenceNumber;
    const r =
      typeof data === "string"
        ? transform(Buffer.from(data, "base64").toString("utf8"))
        : ({ ok: false, reason: "record has no kinesis.data string" } as const);
    if (r.ok) {
      predictions.push(r.event);
      sent.push({ json: r.json, rideId: rideIdText(r.event.prediction.ride_id), sequenceNumber: seq });
    } else {
      const err: RecordError = seq === undefined ? { index, reason: r.reason } : { index, sequenceNumber: seq, reason: r.reason };
      errors.push(err);
      console.error(JSON.stringify({ level: "error", msg: "record rejected", ...err }));
    }
  });
  return { result: errors.length ? { predictions, errors } : { predictions }, sent };
}

/**
 * The handler the function runs, chosen from the environment as the course's function does: with
 * PREDICTIONS_STREAM_NAME set and TEST_RUN not "True", each prediction is also put to that stream, with
 * the ride id as partition key. Puts are batched (PutRecords) and failed entries retried a few times;
 * what still fails is returned in batchItemFailures, so that Lambda retries those records (and, Kinesis
 * being ordered, the ones after them) while unscorable records, listed under errors, are not retried.
 */
export async function lambdaHandler(predictor: Predictor, env: NodeJS.ProcessEnv = process.env): Promise<KinesisHandler> {
  const stream = env.PREDICTIONS_STREAM_NAME;
  if (!stream || env.TEST_RUN === "True") return kinesisHandler(predictor);
  const ks = await import("./kinesis-stream.js");
  const client = ks.kinesisClient();
  const transform = eventTransform(predictor);
  const enc = new TextEncoder();
  return async (event) => {
    const { result, sent } = score(transform, event);
    if (!sent.length) return result;
    const outcome = await ks.putRecords(
      client,
      stream,
      sent.map((s) => ({ Data: enc.encode(s.json), PartitionKey: ks.partitionKey(s.rideId, s.sequenceNumber) })),
      { attempts: 4, backoffMs: 50 },
    );
    const failures: { itemIdentifier: string }[] = [];
    outcome.forEach((err, i) => {
      if (err === undefined) return;
      const seq = sent[i]!.sequenceNumber;
      console.error(JSON.stringify({ level: "error", msg: "prediction not put", stream, sequenceNumber: seq, reason: err }));
      // A record Lambda cannot name cannot be retried alone: fail the whole invocation instead.
      if (seq === undefined) throw new Error(`could not put a prediction to ${stream} (${err}) and its record has no sequenceNumber`);
      failures.push({ itemIdentifier: seq });
    });
    return failures.length ? { ...result, batchItemFailures: failures } : result;
  };
}
