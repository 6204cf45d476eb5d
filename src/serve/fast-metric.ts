// Counters and histograms for the per-request path. prom-client hashes the label set on every
// observation; these resolve labels once per series and only add numbers per request.
// They register in a prom-client Registry as custom metrics (same text format, same cluster aggregation).
import type { Registry } from "prom-client";

type Labels = Record<string, string>;
interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

export interface CounterSeries {
  inc(n?: number): void;
}
export interface HistogramSeries {
  observe(v: number): void;
}

function keyOf(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : values.join("\u0000");
}

function register(registry: Registry, name: string, help: string, type: string, values: () => Value[]): void {
  const metric = { name, help, type, aggregator: "sum", get: async () => ({ name, help, type, aggregator: "sum", values: values() }) };
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

export function fastCounter(registry: Registry, name: string, help: string, labelNames: readonly string[]): (...labelValues: string[]) => CounterSeries {
  const series = new Map<string, { labels: Labels; value: number; inc(n?: number): void }>();
  register(registry, name, help, "counter", () => [...series.values()].map((s) => ({ labels: s.labels, value: s.value })));
  return (...lv) => {
    const key = keyOf(lv);
    let s = series.get(key);
    if (!s) {
      const labels = Object.fromEntries(labelNames.map((n, i) => [n, lv[i]!]));
      const entry = {
        labels,
        value: 0,
        inc(n = 1) {
          entry.value += n;
        },
      };
      series.set(key, (s = entry));
    }
    return s;
  };
}

export function fastHistogram(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  buckets: readonly number[],
): (...labelValues: string[]) => HistogramSeries {
  const upper = Float64Array.from(buckets);
  const nb = upper.length;
  const series = new Map<string, { labels: Labels; counts: Float64Array; sum: number; count: number; observe(v: number): void }>();
  register(registry, name, help, "histogram", () => {
    const out: Value[] = [];
    for (const s of series.values()) {
      let cum = 0;
      for (let i = 0; i < nb; i++) {
        cum += s.counts[i]!;
        out.push({ labels: { le: upper[i]!, ...s.labels }, value: cum, metricName: `${name}_bucket` });
      }
      out.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: s.labels, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: s.labels, value: s.count, metricName: `${name}_count` });
    }
    return out;
  });
  return (...lv) => {
    const key = keyOf(lv);
    let s = series.get(key);
    if (!s) {
      const entry = {
        labels: Object.fromEntries(labelNames.map((n, i) => [n, lv[i]!])),
        counts: new Float64Array(nb),
        sum: 0,
        count: 0,
        observe(v: number) {
          let i = 0;
          while (i < nb && v > upper[i]!) i++;
          if (i < nb) entry.counts[i]!++;
          entry.sum += v;
          entry.count++;
        },
      };
      series.set(key, (s = entry));
    }
    return s;
  };
}
