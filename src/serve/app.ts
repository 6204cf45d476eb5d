// The HTTP application: fastify with TypeBox, every route, one error envelope, metrics and request ids.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import Fastify, { LogController, type FastifyBaseLogger } from "fastify";
import type { Logger } from "pino";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { errorHandler, HttpError } from "./errors.js";
import { createMetrics, type Metrics } from "./metrics.js";
import type { ModelState } from "./model-state.js";
import { docsRoutes } from "./docs.js";
import { openapi } from "./openapi.js";
import { fastPredict, predictCore } from "./fast-predict.js";
import type { FastConnections } from "./http1.js";
import { requestId } from "./request-id.js";
import type { App, ServeContext } from "./routes/context.js";
import { courseRoutes } from "./routes/course.js";
import { DEFAULT_MAX_RECORD } from "../io/types.js";
import { mlflowRoutes } from "./routes/mlflow.js";
import { v2Routes } from "./routes/v2.js";

export interface AppOptions {
  state: ModelState;
  logger: Logger;
  /** Largest accepted request body in bytes (413 beyond). */
  bodyLimit?: number;
  /** Longest record of a text/csv body on /invocations (default 1 MiB, as `score --max-record-bytes`). */
  maxRecordBytes?: number;
  metrics?: Metrics;
  /** Override for GET /metrics (cluster workers ask the primary for the sum over workers). */
  metricsText?: () => Promise<string>;
  /**
   * Answer the course's plain POST /predict off the connection's bytes (http1.ts) instead of through
   * node:http's parser. Off by default: node:http (llhttp) then reads every request. Opt-in
   * (`serve --fast-path`), for deployments behind a trusted proxy.
   */
  fastPath?: boolean;
  /** Serve the interactive page at /docs (default true; `serve --no-docs` turns it off). */
  docs?: boolean;
}

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/** A request arriving on a kept-alive connection while draining: 503 in the usual envelope, then close. */
function unavailable(req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify({ error: "server is shutting down", details: [{ field: "server", reason: "retry on another instance" }] });
  res.writeHead(503, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-request-id": requestId(req),
    connection: "close",
  });
  res.end(body);
  req.resume();
}

export async function buildApp(opts: AppOptions): Promise<App> {
  const metrics = opts.metrics ?? createMetrics();
  const { state } = opts;
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  let closing = false;
  const core = predictCore({ state, metrics, logger: opts.logger, bodyLimit, closing: () => closing });
  const fast = fastPredict(core);
  let fastConnections: FastConnections | null = null;
  const acceptFast = opts.fastPath ? (await import("./http1.js")).acceptFast : null; // not even loaded without --fast-path
  const app: App = Fastify({
    // The hot path (POST /predict, JSON) is answered on node:http before fastify routes it (fast-predict.ts);
    // with opts.fastPath, the course's plain call is answered off the connection's bytes (http1.ts).
    serverFactory: (handler) => {
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        if (closing) unavailable(req, res);
        else if (!fast(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = 72_000; // fastify's own default
      if (acceptFast) fastConnections = acceptFast(server, core, metrics);
      return server;
    },
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // per-request lines at debug level below
    genReqId: requestId,
    bodyLimit,
    return503OnClosing: true, // (answered by unavailable() before fastify sees the request)
    forceCloseConnections: "idle",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const ctx: ServeContext = {
    state,
    metrics,
    metricsText: opts.metricsText ?? (() => metrics.registry.metrics()),
    maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD,
  };
  app.addHook("preClose", (done) => {
    closing = true;
    fastConnections?.closeIdle(); // node:http's idle connections are fastify's to close ("idle" below)
    done();
  });
  envelopeIdsAndMetrics(app, metrics, opts.logger.isLevelEnabled("debug"));
  const methods = methodsByPath(app);
  await app.register(async (scope) => courseRoutes(scope as App, ctx));
  await app.register(async (scope) => mlflowRoutes(scope as App, ctx)); // its own scope: text/csv only here
  await app.register(async (scope) => v2Routes(scope as App, ctx));
  app.get("/metrics", async (_req, reply) => reply.type(metrics.registry.contentType).send(await ctx.metricsText()));
  app.get("/openapi.json", async () => openapi(state.current));
  if (opts.docs !== false) docsRoutes(app);
  methodNotAllowed(app, methods);
  return app;
}

/** One error envelope (404 included), the request id echoed, every request counted (and logged at debug). */
function envelopeIdsAndMetrics(app: App, metrics: Metrics, debug: boolean): void {
  app.setErrorHandler(errorHandler);
  app.removeContentTypeParser("text/plain"); // JSON everywhere (and CSV on /invocations): anything else is a 415
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: "not found", details: [{ field: "url", reason: `no route for ${req.method} ${req.url.split("?")[0]}` }] });
  });
  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });
  app.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.url ?? "(unmatched)";
    metrics.request(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
    if (debug) req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime }, "request");
    done();
  });
}

/** Each path's methods, filled in as routes are added after this call. */
function methodsByPath(app: App): Map<string, Set<string>> {
  const methods = new Map<string, Set<string>>();
  app.addHook("onRoute", (r) => {
    if ((r.config as { notAllowed?: boolean } | undefined)?.notAllowed) return;
    const set = methods.get(r.url) ?? new Set<string>();
    for (const m of [r.method].flat()) set.add(m);
    methods.set(r.url, set);
  });
  return methods;
}

/** Other methods on a known path answer 405 with Allow, not 404. */
function methodNotAllowed(app: App, methods: Map<string, Set<string>>): void {
  for (const [url, have] of methods) {
    if (have.has("GET")) have.add("HEAD");
    const allow = [...have].sort().join(", ");
    const others = METHODS.filter((m) => !have.has(m));
    if (!others.length) continue;
    app.route({
      method: others,
      url,
      config: { notAllowed: true },
      // Answer before the body is parsed: the method is the problem, not the content type.
      onRequest: (req, reply, done) => {
        reply.header("allow", allow);
        done(new HttpError(405, "method not allowed", [{ field: "method", reason: `${req.method} ${url} is not supported; use ${allow}` }]));
      },
      handler: async () => undefined,
    });
  }
}
