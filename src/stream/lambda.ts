// Entry point for the AWS Lambda Node.js runtime (package export "ridepred/lambda"): set the function's
// handler to `handler`. The model is loaded once per container, from RIDEPRED_MODEL or the bundled model,
// and proven on its golden examples before the first event is scored. PREDICTIONS_STREAM_NAME (unless
// TEST_RUN=True) makes it put every prediction to that Kinesis stream, as the course's function does.
import { loadModel } from "../runtime/load.js";
import { type KinesisHandler, type KinesisResult, lambdaHandler } from "./kinesis.js";

let cached: Promise<KinesisHandler> | undefined;

export async function handler(event: unknown, _context?: unknown): Promise<KinesisResult> {
  cached ??= lambdaHandler(loadModel().predictor);
  return (await cached)(event);
}

export { kinesisHandler, lambdaHandler } from "./kinesis.js";
export type { KinesisEvent, KinesisRecord, KinesisResult, RecordError } from "./kinesis.js";
