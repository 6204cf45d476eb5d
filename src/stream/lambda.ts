// Entry point for the AWS Lambda Node.js runtime (package export "ridepred/lambda"): set the function's
// handler to `handler`. The model is loaded once per container, from RIDEPRED_MODEL or the bundled model,
// and proven on its golden examples before the first event is scored.
import { loadModel } from "../runtime/load.js";
import { kinesisHandler, type KinesisHandler, type KinesisResult } from "./kinesis.js";

let cached: KinesisHandler | undefined;

export async function handler(event: unknown, _context?: unknown): Promise<KinesisResult> {
  cached ??= kinesisHandler(loadModel().predictor);
  return cached(event);
}

export { kinesisHandler } from "./kinesis.js";
export type { KinesisEvent, KinesisRecord, KinesisResult, RecordError } from "./kinesis.js";
