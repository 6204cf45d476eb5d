// POST /predict with a JSON body, answered in node:http's request handler before fastify routes it: the
// course's hot path, where fastify's routing, hooks and reply machinery cost more than the prediction
// itself. node:http's parser has read the request as for every other route. Same contract as the fastify
// route (same function, errors, limits, metrics, request ids, logs; test/serve.test.ts compares them).
// predictCore() is the answer, shared by the two transports: fastPredict() on node:http (here, the
// default) and the byte-level path of `serve --fast-path` (http1.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { envelope, HttpError } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { ModelState } from "./model-state.js";
import { requestIdFrom } from "./request-id.js";
import type { LoadedModel } from "../runtime/load.js";
import { coursePredict, predictOne } from "./routes/course.js";

export interface FastPredictOptions {
  state: ModelState;
  metrics: Metrics;
  logger: Logger;
  bodyLimit: number;
  /** True once the server is draining: responses then close their connection. */
  closing: () => boolean;
}

export const PREDICT_ROUTE = "/predict";

export interface PredictCore {
  readonly bodyLimit: number;
  readonly closing: () => boolean;
  /** The JSON body's text -> the response's status (in `status`) and JSON text (returned). Logs 4xx and 500s. */
  answer(text: string, id: string): string;
  status: number;
  /** The error text for a status without a body to parse (413). */
  refuse(e: HttpError, id: string): string;
  /** Counts a finished request in the metrics (and the debug log). */
  done(id: string, url: string, status: number, start: number): void;
}

/** application/json, with or without parameters: the only type the hot path takes (fastify answers the rest). */
export function isJsonType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  if (ct === "application/json") return true; // what clients send: no lower-cased copy per request
  const lower = ct.toLowerCase();
  return lower === "application/json" || lower.startsWith("application/json;") || lower.startsWith("application/json ");
}

export function predictCore(o: FastPredictOptions): PredictCore {
  const { state, metrics, logger } = o;
  const debug = logger.isLevelEnabled("debug");
  const counted = metrics.route(PREDICT_ROUTE, "POST");

  // The single-ride answer as text around the number, rebuilt only when another model is swapped in.
  let shaped: LoadedModel | null = null;
  let head = "";
  let tail = "";
  function one(m: LoadedModel, y: number): string {
    if (shaped !== m) {
      shaped = m;
      head = `{${JSON.stringify(m.artifact.target.name)}:`;
      tail = `,"model_version":${JSON.stringify(m.artifact.version)}}`;
    }
    return head + (Number.isFinite(y) ? String(y) : "null") + tail; // as JSON.stringify writes it (NaN/Infinity: null), for less work
  }

  const core: PredictCore = {
    bodyLimit: o.bodyLimit,
    closing: o.closing,
    status: 200,
    answer(text, id) {
      try {
        if (text.length === 0)
          throw new HttpError(400, "malformed request", [{ field: "body", reason: "Body cannot be empty when content-type is set to 'application/json'" }]);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new HttpError(400, "malformed request", [{ field: "body", reason: "Body is not valid JSON but content-type is set to 'application/json'" }]);
        }
        const m = state.current;
        if (!m) throw new HttpError(503, "model not loaded yet", [{ field: "model", reason: `${state.path} is still loading or failed to load; see /health` }]);
        // A classifier's answer has its probabilities too: coursePredict shapes it (runtime/outputs.ts).
        const out = Array.isArray(body) || m.predictor.classifier ? JSON.stringify(coursePredict(m, body, metrics)) : one(m, predictOne(m, body, metrics));
        core.status = 200;
        return out;
      } catch (e) {
        if (e instanceof HttpError) return core.refuse(e, id);
        logger.error({ reqId: id, err: e }, "unhandled error");
        core.status = 500;
        return JSON.stringify({ error: "internal error", details: [] });
      }
    },
    refuse(e, id) {
      const body = envelope(e.message, e.details);
      if (e.statusCode < 500) logger.info({ reqId: id, status: e.statusCode, error: body.error, details: body.details.slice(0, 3) }, "request rejected");
      core.status = e.statusCode;
      return JSON.stringify(body);
    },
    done(id, url, status, start) {
      const seconds = (performance.now() - start) / 1000;
      counted.request(status, seconds);
      if (debug) logger.debug({ reqId: id, method: "POST", url, status, ms: seconds * 1000 }, "request");
    },
  };
  return core;
}

/**
 * Collects a request's body (node:http's parser frames it) and calls `done` once with its text at its end,
 * or with null once it is over `limit` bytes. Nothing is called for a client that goes away mid-body: node
 * then ends the request without 'end' (and emits no 'error' on a request without an 'error' listener).
 */
function collectBody(req: IncomingMessage, limit: number, done: (text: string | null) => void): void {
  let first: Buffer | null = null; // the usual body: one chunk, no array
  let more: Buffer[] | null = null;
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    if (size > limit) return;
    size += chunk.length;
    if (size > limit) return done(null);
    if (first === null) first = chunk;
    else (more ??= [first]).push(chunk);
  });
  req.on("end", () => {
    if (size > limit) return;
    done(more !== null ? Buffer.concat(more).toString("utf8") : first === null ? "" : first.toString("utf8"));
  });
}

/** The node:http transport: returns a handler that answers and returns true, or false to let fastify take the request. */
export function fastPredict(core: PredictCore): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { bodyLimit } = core;

  function send(req: IncomingMessage, res: ServerResponse, id: string, start: number, text: string): void {
    const status = core.status;
    // A flat [name, value, ...] list: node:http writes the same header lines as from an object, with less work.
    const headers: (string | number)[] = ["content-type", "application/json; charset=utf-8", "content-length", Buffer.byteLength(text), "x-request-id", id];
    if (core.closing()) headers.push("connection", "close");
    res.writeHead(status, headers);
    res.end(text);
    core.done(id, req.url!, status, start);
  }

  function tooLarge(req: IncomingMessage, res: ServerResponse, id: string, start: number): void {
    res.shouldKeepAlive = false; // the rest of the body is not read
    const e = new HttpError(413, "request body too large", [{ field: "body", reason: `exceeds the limit of ${bodyLimit} bytes` }]);
    send(req, res, id, start, core.refuse(e, id));
    req.resume();
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const url = req.url!;
    if (url !== PREDICT_ROUTE && !url.startsWith(PREDICT_ROUTE + "?")) return false;
    const headers = req.headers;
    if (!isJsonType(headers["content-type"])) return false;

    const start = performance.now();
    const id = requestIdFrom(headers["x-request-id"]);
    if (Number(headers["content-length"]) > bodyLimit) tooLarge(req, res, id, start);
    else collectBody(req, bodyLimit, (text) => (text === null ? tooLarge(req, res, id, start) : send(req, res, id, start, core.answer(text, id))));
    return true;
  };
}
