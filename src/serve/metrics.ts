// Prometheus metrics: requests by route and status, latency, the predictions themselves, the model served.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LoadedModel } from "../runtime/load.js";

export interface Metrics {
  registry: Registry;
  request(route: string, method: string, status: number, seconds: number): void;
  predictions(values: ArrayLike<number>): void;
  model(m: LoadedModel | null): void;
  reload(ok: boolean): void;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "ridepred_" });
  const requests = new Counter({
    name: "ridepred_http_requests_total",
    help: "HTTP requests answered, by route template, method and status code",
    labelNames: ["route", "method", "status"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "ridepred_http_request_duration_seconds",
    help: "Time from request received to response sent, by route template",
    labelNames: ["route"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const predicted = new Histogram({
    name: "ridepred_prediction_value",
    help: "Predicted values (the model's target, e.g. ride duration in minutes)",
    buckets: [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120],
    registers: [registry],
  });
  const info = new Gauge({
    name: "ridepred_model_info",
    help: "The model being served (value 1); 0 series means no model loaded yet",
    labelNames: ["name", "version", "digest"] as const,
    registers: [registry],
    aggregator: "max",
  });
  const ready = new Gauge({ name: "ridepred_model_ready", help: "1 once a model is loaded and its golden examples reproduce", registers: [registry], aggregator: "min" });
  const reloads = new Counter({
    name: "ridepred_model_reloads_total",
    help: "Hot reload attempts, by result (ok: swapped in; refused: invalid file, old model kept)",
    labelNames: ["result"] as const,
    registers: [registry],
  });

  // Label lookups hash their values: cache the children, the hot path then only increments.
  const reqChildren = new Map<string, ReturnType<typeof requests.labels>>();
  const latChildren = new Map<string, ReturnType<typeof latency.labels>>();
  return {
    registry,
    request(route, method, status, seconds) {
      const key = route + " " + method + " " + status;
      let c = reqChildren.get(key);
      if (!c) reqChildren.set(key, (c = requests.labels(route, method, String(status))));
      c.inc();
      let h = latChildren.get(route);
      if (!h) latChildren.set(route, (h = latency.labels(route)));
      h.observe(seconds);
    },
    predictions(values) {
      for (let i = 0; i < values.length; i++) predicted.observe(values[i]!);
    },
    model(m) {
      info.reset();
      if (m) info.labels(m.artifact.name, m.artifact.version, m.artifact.digest).set(1);
      ready.set(m ? 1 : 0);
    },
    reload(ok) {
      reloads.labels(ok ? "ok" : "refused").inc();
    },
  };
}
