// `ridepred serve` as a process: signals (SIGTERM/SIGINT drain and exit 0, SIGHUP reloads), --watch,
// and --workers N through node:cluster (the primary forwards signals and restarts crashed workers).
import cluster, { type Worker } from "node:cluster";
import { unwatchFile, watchFile, type Stats } from "node:fs";
import { AggregatorRegistry } from "prom-client";
import type { Logger } from "pino";
import { RidepredError } from "../errors.js";
import { loadModel } from "../runtime/load.js";
import { createLogger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { startServer, type RunningServer } from "./server.js";

export interface ServeOptions {
  model: string;
  host: string;
  port: number;
  workers: number;
  watch: boolean;
  bodyLimit?: number;
  /** Longest record of a text/csv body (AppOptions.maxRecordBytes). */
  maxRecordBytes?: number;
  logLevel: string;
  /** Longest wait for in-flight requests at shutdown before giving up (exit 1). */
  shutdownTimeoutMs: number;
  /** See AppOptions.fastPath. */
  fastPath?: boolean;
  /** See AppOptions.docs. */
  docs?: boolean;
}

const METRICS_REQ = "ridepred:metrics-req";
const METRICS_RES = "ridepred:metrics-res";

/** Runs until SIGTERM/SIGINT; resolves with the exit code once everything has shut down. */
export async function runServe(opts: ServeOptions): Promise<number> {
  const logger = createLogger(opts.logLevel);
  if (opts.workers > 1 && cluster.isPrimary) return runPrimary(opts, logger);
  try {
    return await runWorker(opts, logger);
  } finally {
    // The IPC channel would keep the worker alive; worker.disconnect() (unlike process.disconnect()) lets
    // it end with its own exit code instead of cluster's forced exit(0).
    if (cluster.isWorker && process.connected) cluster.worker!.disconnect();
  }
}

async function runWorker(opts: ServeOptions, logger: Logger): Promise<number> {
  const inCluster = cluster.isWorker;
  // Signals are caught from the first moment: one arriving during start-up must not kill the process
  // with the default action (SIGHUP would, SIGTERM would exit non-zero).
  let server: RunningServer | null = null;
  const onHup = () => {
    logger.info({ event: "reload_requested", signal: "SIGHUP", path: opts.model }, "reloading model");
    if (server?.state.current) server.reload(); // before the first load there is nothing to swap: it reads the file anyway
  };
  process.on("SIGHUP", onHup);
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
    // A cluster primary that goes away takes its workers with it.
    if (inCluster) process.once("disconnect", () => resolve("SIGTERM"));
  });

  let metricsText: ((m: Metrics) => () => Promise<string>) | undefined;
  if (inCluster) {
    metricsText = (metrics) => {
      new AggregatorRegistry(); // answers the primary's requests for this worker's metrics
      AggregatorRegistry.setRegistries([metrics.registry]);
      return () => askPrimaryForMetrics();
    };
  }
  server = await startServer({
    model: opts.model,
    host: opts.host,
    port: opts.port,
    bodyLimit: opts.bodyLimit,
    maxRecordBytes: opts.maxRecordBytes,
    logger,
    metricsText,
    autoload: false,
    fastPath: opts.fastPath,
    docs: opts.docs,
  });
  logger.info(
    { event: "listening", url: server.url, port: server.port, model: opts.model, fastPath: opts.fastPath === true },
    `listening on ${server.url}${opts.fastPath ? " (--fast-path: POST /predict read off the connection's bytes)" : ""}`,
  );
  try {
    server.loadInitial();
  } catch (e) {
    await server.close();
    process.off("SIGHUP", onHup);
    throw e;
  }

  const onChange = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
    if (cur.nlink === 0) return logger.warn({ event: "model_file_missing", path: opts.model }, "model file is gone; keeping the loaded model");
    server!.reload();
  };
  if (opts.watch) watchFile(opts.model, { interval: 300 }, onChange);

  const signal = await stopped;
  process.off("SIGHUP", onHup);
  if (opts.watch) unwatchFile(opts.model, onChange);
  logger.info({ event: "shutdown", signal }, "draining in-flight requests");
  const timer = setTimeout(() => {
    logger.error({ event: "shutdown_timeout", ms: opts.shutdownTimeoutMs }, "in-flight requests did not finish in time");
    process.exit(1);
  }, opts.shutdownTimeoutMs);
  timer.unref();
  await server.close();
  clearTimeout(timer);
  logger.info({ event: "stopped" }, "stopped");
  return 0;
}

let metricsSeq = 0;
function askPrimaryForMetrics(): Promise<string> {
  const id = ++metricsSeq;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off("message", onMessage);
      reject(new Error("the cluster primary did not answer with metrics"));
    }, 5000);
    const onMessage = (msg: { type?: string; id?: number; text?: string; error?: string }) => {
      if (msg?.type !== METRICS_RES || msg.id !== id) return;
      clearTimeout(timer);
      process.off("message", onMessage);
      if (msg.error) reject(new Error(msg.error));
      else resolve(msg.text ?? "");
    };
    process.on("message", onMessage);
    process.send!({ type: METRICS_REQ, id });
  });
}

async function runPrimary(opts: ServeOptions, logger: Logger): Promise<number> {
  // Fail fast with the model's own error (and exit code) before forking anything.
  const m = loadModel(opts.model);
  logger.info({ event: "primary", workers: opts.workers, model: opts.model, version: m.artifact.version }, `starting ${opts.workers} workers`);
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let failure: RidepredError | null = null;
  const everReady = new WeakSet<Worker>();

  const fork = (): Worker => {
    const w = cluster.fork();
    w.on("listening", () => everReady.add(w));
    w.on("message", (msg: { type?: string; id?: number }) => {
      if (msg?.type !== METRICS_REQ) return;
      aggregator.clusterMetrics().then(
        (text) => w.isConnected() && w.send({ type: METRICS_RES, id: msg.id, text }),
        (e: Error) => w.isConnected() && w.send({ type: METRICS_RES, id: msg.id, error: e.message }),
      );
    });
    return w;
  };
  for (let i = 0; i < opts.workers; i++) fork();

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: "shutdown", signal }, "stopping workers");
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    };
    const onHup = () => {
      logger.info({ event: "reload_requested", signal: "SIGHUP" }, "forwarding SIGHUP to workers");
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
    };
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    process.on("SIGHUP", onHup);
    let worstCode = 0;
    cluster.on("exit", (w, code, signal) => {
      if (!stopping) {
        if (!everReady.has(w)) {
          // A worker that never listened will not do better on a retry: stop everything.
          failure = new RidepredError(`worker ${w.process.pid} failed to start (exit ${code ?? signal})`, code === 2 ? 2 : 1);
          stop("worker-failed");
        } else {
          logger.error({ event: "worker_died", pid: w.process.pid, code, signal }, "worker died; starting another");
          fork();
          return;
        }
      }
      if (code) worstCode = Math.max(worstCode, code);
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
        process.off("SIGHUP", onHup);
        if (failure) logger.error({ event: "stopped", error: failure.message }, "stopped");
        else logger.info({ event: "stopped" }, "all workers stopped");
        resolve(failure ? failure.exitCode : worstCode);
      }
    });
  });
}
