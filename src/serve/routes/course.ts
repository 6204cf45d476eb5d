// The course's endpoint: POST /predict with one ride -> {"duration": ..., "model_version": ...};
// an array of rides -> an array of those. fast-predict.ts serves the same function without fastify.
import { InputError } from "../../errors.js";
import type { LoadedModel } from "../../runtime/load.js";
import { courseAnswer, outputsOf } from "../../runtime/outputs.js";
import { fromRecords, scoreBatch, scoreRows } from "../batch.js";
import { badRequest } from "../errors.js";
import type { Metrics } from "../metrics.js";
import { ready, type App, type ServeContext } from "./context.js";

/** One ride or an array of rides -> result(s). Throws HttpError (400) naming the field (and row). */
export function coursePredict(m: LoadedModel, body: unknown, metrics: Metrics): unknown {
  const p = m.predictor;
  const target = m.artifact.target.name;
  const version = m.artifact.version;
  if (p.classifier) return classifierPredict(m, body, metrics);
  if (Array.isArray(body)) {
    const y = scoreBatch(p, fromRecords(p, body, "body"));
    metrics.predictions(y);
    const out = new Array(y.length);
    for (let i = 0; i < y.length; i++) out[i] = { [target]: y[i], model_version: version };
    return out;
  }
  const y = predictOne(m, body, metrics);
  return { [target]: y, model_version: version };
}

/** A classifier: {"<target>": label, "probabilities": {class: p}, "model_version"} per ride (names: runtime/outputs.ts). */
function classifierPredict(m: LoadedModel, body: unknown, metrics: Metrics): unknown {
  const o = outputsOf(m.artifact);
  const version = m.artifact.version;
  if (Array.isArray(body)) {
    const { predictions, probabilities } = scoreRows(m.predictor, fromRecords(m.predictor, body, "body"));
    metrics.predictions(predictions, o.classNames);
    return Array.from(predictions, (y, r) => courseAnswer(o, version, y, probabilities, r));
  }
  checkRide(body);
  try {
    const { index, probabilities } = m.predictor.classify(body as Record<string, unknown>);
    metrics.predictions([index], o.classNames);
    return courseAnswer(o, version, index, probabilities, 0);
  } catch (e) {
    if (e instanceof InputError) throw badRequest("invalid ride", [{ field: e.field, reason: e.reason }]);
    throw e;
  }
}

function checkRide(body: unknown): void {
  if (typeof body !== "object" || body === null)
    throw badRequest("the body must be a ride (a JSON object) or an array of rides", [
      { field: "body", reason: `got ${body === null ? "null" : typeof body}` },
    ]);
}

/** One ride (not an array) -> its prediction, recorded in the metrics. Throws HttpError (400) naming the field. */
export function predictOne(m: LoadedModel, body: unknown, metrics: Metrics): number {
  checkRide(body);
  let y: number;
  try {
    y = m.predictor.predict(body as Record<string, unknown>);
  } catch (e) {
    if (e instanceof InputError) throw badRequest("invalid ride", [{ field: e.field, reason: e.reason }]);
    throw e;
  }
  metrics.prediction(y);
  return y;
}

export function courseRoutes(app: App, ctx: ServeContext): void {
  // No body schema at run time: the predictor is the validator (it names the field); the schema is documentation.
  app.post("/predict", async (req) => coursePredict(ready(ctx.state), req.body, ctx.metrics));
}
