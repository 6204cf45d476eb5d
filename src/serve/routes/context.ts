import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { LoadedModel } from "../../runtime/load.js";
import { HttpError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import type { ModelState } from "../model-state.js";

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ServeContext {
  state: ModelState;
  metrics: Metrics;
  /** Text for GET /metrics; in a cluster it asks the primary for every worker's sum. */
  metricsText: () => Promise<string>;
  /** Longest record of a text/csv body (400 beyond). */
  maxRecordBytes: number;
}

/** The model to answer with, or 503 while none has loaded and proved its golden examples. */
export function ready(state: ModelState): LoadedModel {
  const m = state.current;
  if (!m) throw new HttpError(503, "model not loaded yet", [{ field: "model", reason: `${state.path} is still loading or failed to load; see /health` }]);
  return m;
}
