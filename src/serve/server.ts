// One serving process: listen, then load and verify the model (ready only after), reload on demand,
// close gracefully. No signal handling here: run.ts wires signals; tests drive this directly.
import type { Logger } from "pino";
import { RidepredError } from "../errors.js";
import { loadModel, type LoadedModel } from "../runtime/load.js";
import { buildApp } from "./app.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { modelState, type ModelState, type ReloadResult } from "./model-state.js";
import type { App } from "./routes/context.js";

export interface ServerOptions {
  model: string;
  host?: string;
  port?: number;
  bodyLimit?: number;
  maxRecordBytes?: number;
  logger: Logger;
  /** Load the model right after listening (default). false: the caller loads it (tests of readiness). */
  autoload?: boolean;
  metricsText?: (metrics: Metrics) => () => Promise<string>;
  load?: (path: string) => LoadedModel;
  /** See AppOptions.fastPath. */
  fastPath?: boolean;
  /** See AppOptions.docs. */
  docs?: boolean;
}

export interface RunningServer {
  app: App;
  state: ModelState;
  metrics: Metrics;
  url: string;
  port: number;
  /** Load and verify the model at startup; throws RidepredError (with its exit code) if it cannot serve. */
  loadInitial(): LoadedModel;
  reload(path?: string): ReloadResult;
  /** Stop accepting, let in-flight requests finish, then resolve. */
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { logger } = opts;
  const metrics = createMetrics();
  const state = modelState(opts.model, opts.load);
  state.onReload = (r) => {
    metrics.reload(r.ok);
    metrics.model(state.current);
    if (r.ok) logger.info({ event: "model_reloaded", path: r.path, version: r.version, digest: r.digest }, "model reloaded");
    else
      logger.error(
        { event: "model_reload_refused", path: r.path, error: r.error, serving: r.version, digest: r.digest },
        "new model refused; the previous one keeps serving",
      );
  };
  metrics.model(null);
  const app = await buildApp({
    state,
    logger,
    bodyLimit: opts.bodyLimit,
    maxRecordBytes: opts.maxRecordBytes,
    metrics,
    metricsText: opts.metricsText?.(metrics),
    fastPath: opts.fastPath,
    docs: opts.docs,
  });
  const host = opts.host ?? "127.0.0.1";
  const wanted = opts.port ?? 9696;
  let address: string;
  try {
    address = await app.listen({ host, port: wanted });
  } catch (e) {
    await app.close();
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE"
        ? "the address is already in use"
        : code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : code === "EADDRNOTAVAIL"
            ? "no such local address"
            : (e as Error).message;
    throw new RidepredError(`cannot listen on ${host}:${wanted}: ${why}`);
  }
  const port = (app.server.address() as { port: number }).port;
  const url = `http://${address.replace(/^https?:\/\//, "").replace(/:\d+$/, "")}:${port}`;

  const server: RunningServer = {
    app,
    state,
    metrics,
    url,
    port,
    loadInitial() {
      try {
        const m = (opts.load ?? loadModel)(opts.model);
        state.current = m;
        metrics.model(m);
        logger.info(
          {
            event: "model_loaded",
            path: opts.model,
            name: m.artifact.name,
            version: m.artifact.version,
            digest: m.artifact.digest,
            examples: m.artifact.examples.cases.length,
          },
          "model loaded; golden examples reproduce; ready",
        );
        return m;
      } catch (e) {
        const err = e instanceof RidepredError ? e : new RidepredError(`${opts.model}: ${(e as Error).message}`, 1);
        logger.error({ event: "model_load_failed", path: opts.model, error: err.message }, "cannot serve");
        throw err;
      }
    },
    reload: (path) => state.reload(path),
    close: () => app.close(),
  };
  if (opts.autoload !== false) {
    try {
      server.loadInitial();
    } catch (e) {
      await app.close();
      throw e;
    }
  }
  return server;
}
