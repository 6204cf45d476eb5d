// POST /predict with a JSON body, served straight from node:http: the course's hot path, where fastify's
// routing, hooks and reply machinery cost more than the prediction itself. Same contract as the fastify
// route (same function, errors, limits, metrics, request ids); anything else goes to fastify.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { envelope, HttpError } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { ModelState } from "./model-state.js";
import { requestId } from "./request-id.js";
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

const ROUTE = "/predict";

/** Returns a handler that answers and returns true, or returns false to let fastify take the request. */
export function fastPredict(o: FastPredictOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { state, metrics, logger, bodyLimit } = o;
  const debug = logger.isLevelEnabled("debug");

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
    return head + JSON.stringify(y) + tail; // JSON.stringify(NaN/Infinity) is null, as for the fastify route
  }

  function send(req: IncomingMessage, res: ServerResponse, id: string, start: number, status: number, body: unknown): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const headers: Record<string, string | number> = { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "x-request-id": id };
    if (o.closing()) headers.connection = "close";
    res.writeHead(status, headers);
    res.end(text);
    const seconds = (performance.now() - start) / 1000;
    metrics.request(ROUTE, "POST", status, seconds);
    if (debug) logger.debug({ reqId: id, method: "POST", url: req.url, status, ms: seconds * 1000 }, "request");
  }

  function fail(req: IncomingMessage, res: ServerResponse, id: string, start: number, e: unknown): void {
    if (e instanceof HttpError) {
      const body = envelope(e.message, e.details);
      if (e.statusCode < 500) logger.info({ reqId: id, status: e.statusCode, error: body.error, details: body.details.slice(0, 3) }, "request rejected");
      send(req, res, id, start, e.statusCode, body);
    } else {
      logger.error({ reqId: id, err: e }, "unhandled error");
      send(req, res, id, start, 500, { error: "internal error", details: [] });
    }
  }

  return (req, res) => {
    if (req.method !== "POST") return false;
    const url = req.url!;
    if (url !== ROUTE && !url.startsWith(ROUTE + "?")) return false;
    const ct = req.headers["content-type"];
    if (ct === undefined) return false;
    const lower = ct.toLowerCase();
    if (lower !== "application/json" && !lower.startsWith("application/json;") && !lower.startsWith("application/json ")) return false;

    const start = performance.now();
    const id = requestId(req);
    const declared = Number(req.headers["content-length"]);
    const tooLarge = () => {
      res.shouldKeepAlive = false; // the rest of the body is not read
      fail(req, res, id, start, new HttpError(413, "request body too large", [{ field: "body", reason: `exceeds the limit of ${bodyLimit} bytes` }]));
      req.resume();
    };
    if (declared > bodyLimit) {
      tooLarge();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > bodyLimit) {
        done = true;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        if (text.length === 0) throw new HttpError(400, "malformed request", [{ field: "body", reason: "Body cannot be empty when content-type is set to 'application/json'" }]);
        try {
          body = JSON.parse(text);
        } catch {
          throw new HttpError(400, "malformed request", [{ field: "body", reason: "Body is not valid JSON but content-type is set to 'application/json'" }]);
        }
        const m = state.current;
        if (!m) throw new HttpError(503, "model not loaded yet", [{ field: "model", reason: `${state.path} is still loading or failed to load; see /health` }]);
        send(req, res, id, start, 200, Array.isArray(body) ? coursePredict(m, body, metrics) : one(m, predictOne(m, body, metrics)));
      } catch (e) {
        fail(req, res, id, start, e);
      }
    });
    req.on("error", () => {
      done = true; // client went away mid-body: nothing to answer
    });
    return true;
  };
}
