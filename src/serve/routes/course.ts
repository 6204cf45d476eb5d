// The course's endpoint: POST /predict with one ride -> {"duration": ..., "model_version": ...};
// an array of rides -> an array of those.
import { InputError } from "../../errors.js";
import { fromRecords, scoreBatch } from "../batch.js";
import { badRequest } from "../errors.js";
import { ready, type App, type ServeContext } from "./context.js";

export function courseRoutes(app: App, ctx: ServeContext): void {
  const { state, metrics } = ctx;
  // No body schema at run time: the predictor is the validator (it names the field); the schema is documentation.
  app.post("/predict", async (req) => {
    const m = ready(state);
    const p = m.predictor;
    const target = m.artifact.target.name;
    const version = m.artifact.version;
    const body = req.body as unknown;
    if (Array.isArray(body)) {
      const y = scoreBatch(p, fromRecords(p, body, "body"));
      metrics.predictions(y);
      const out = new Array(y.length);
      for (let i = 0; i < y.length; i++) out[i] = { [target]: y[i], model_version: version };
      return out;
    }
    if (typeof body !== "object" || body === null) throw badRequest("the body must be a ride (a JSON object) or an array of rides", [{ field: "body", reason: `got ${body === null ? "null" : typeof body}` }]);
    let y: number;
    try {
      y = p.predict(body as Record<string, unknown>);
    } catch (e) {
      if (e instanceof InputError) throw badRequest("invalid ride", [{ field: e.field, reason: e.reason }]);
      throw e;
    }
    metrics.predictions([y]);
    return { [target]: y, model_version: version };
  });
}
