// Prometheus metrics: requests by route and status, latency, the predictions themselves, the model served.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { fastCounter, fastHistogram, type CounterSeries, type HistogramSeries } from "./fast-metric.js";
import type { LoadedModel } from "../runtime/load.js";

/** One route's request metrics, resolved once: counting a request only adds numbers. */
export interface RouteMetrics {
  request(status: number, seconds: number): void;
}

export interface Metrics {
  registry: Registry;
  request(route: string, method: string, status: number, seconds: number): void;
  /** The same counters for one route and method, for a caller that knows them in advance (the hot path). */
  route(route: string, method: string): RouteMetrics;
  /** A batch's predictions: a regressor's values, or (classNames given) a classifier's class indices. */
  predictions(values: ArrayLike<number>, classNames?: readonly string[] | null): void;
  prediction(value: number): void;
  model(m: LoadedModel | null): void;
  reload(ok: boolean): void;
  /** With --fast-path: a request answered off the connection's bytes, or a connection handed to node:http. */
  fastPath(outcome: "answered" | "handed_off"): void;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "ridepred_" });
  const requests = fastCounter(registry, "ridepred_http_requests_total", "HTTP requests answered, by route template, method and status code", [
    "route",
    "method",
    "status",
  ]);
  const latency = fastHistogram(
    registry,
    "ridepred_http_request_duration_seconds",
    "Time from request received to response sent, by route template",
    ["route"],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  );
  const predicted = fastHistogram(
    registry,
    "ridepred_prediction_value",
    "Predicted values (the model's target, e.g. ride duration in minutes)",
    [],
    [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120],
  )();
  // A classifier's predictions are labels, not values on a scale: counted by class (named as Python prints it).
  const predictedClass = fastCounter(registry, "ridepred_predicted_class_total", "Predictions of a classifier, by predicted class", ["class"]);
  const info = new Gauge({
    name: "ridepred_model_info",
    help: "The model being served (value 1); 0 series means no model loaded yet",
    labelNames: ["name", "version", "digest"] as const,
    registers: [registry],
    aggregator: "max",
  });
  const ready = new Gauge({
    name: "ridepred_model_ready",
    help: "1 once a model is loaded and its golden examples reproduce",
    registers: [registry],
    aggregator: "min",
  });
  const reloads = new Counter({
    name: "ridepred_model_reloads_total",
    help: "Hot reload attempts, by result (ok: swapped in; refused: invalid file, old model kept)",
    labelNames: ["result"] as const,
    registers: [registry],
  });

  const fastPath = fastCounter(
    registry,
    "ridepred_fast_path_total",
    "With --fast-path: requests answered off the connection's bytes (answered), connections handed to node:http (handed_off)",
    ["outcome"],
  );

  // Series resolved once per label set; the hot path only adds numbers.
  const latSeries = new Map<string, HistogramSeries>();
  function route(route: string, method: string): RouteMetrics {
    let h = latSeries.get(route);
    if (!h) latSeries.set(route, (h = latency(route)));
    const latencySeries = h;
    const byStatus: (CounterSeries | undefined)[] = [];
    return {
      request(status, seconds) {
        let c = byStatus[status];
        if (c === undefined) c = byStatus[status] = requests(route, method, String(status));
        c.inc();
        latencySeries.observe(seconds);
      },
    };
  }
  const routes = new Map<string, RouteMetrics>();
  return {
    registry,
    request(path, method, status, seconds) {
      const key = path + " " + method;
      let r = routes.get(key);
      if (!r) routes.set(key, (r = route(path, method)));
      r.request(status, seconds);
    },
    route,
    prediction(value) {
      predicted.observe(value);
    },
    predictions(values, classNames) {
      if (!classNames) {
        for (let i = 0; i < values.length; i++) predicted.observe(values[i]!);
        return;
      }
      for (let i = 0; i < values.length; i++) {
        const name = classNames[values[i]!]; // undefined: a rejected row (NaN)
        if (name !== undefined) predictedClass(name).inc();
      }
    },
    model(m) {
      info.reset();
      if (m) info.labels(m.artifact.name, m.artifact.version, m.artifact.digest).set(1);
      ready.set(m ? 1 : 0);
    },
    reload(ok) {
      reloads.labels(ok ? "ok" : "refused").inc();
    },
    fastPath(outcome) {
      fastPath(outcome).inc(); // series made on first use: none without --fast-path
    },
  };
}
