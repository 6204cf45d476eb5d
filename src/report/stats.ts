// The statistics of a scoring run, gathered batch by batch as the rows go by (a BatchObserver of the
// batch loop): per model input the distribution of the values the model saw and how many it never saw
// in training, the predictions', and, when the input has pickup and dropoff times, the actual durations'
// and the errors'. Memory is bounded whatever the row count (sketch.ts, counter.ts); the summary is a few
// kilobytes per column and is what --json carries under `drift` and a later run's --reference reads.
import type { BatchObserver, BatchView } from "../batch/score.js";
import { isDict, materialize, type Column } from "../columns.js";
import { coerceCategory, isMissing } from "../runtime/coerce.js";
import { Combinations, MISSING, type RowIds, UNINDEXED, ValueIds } from "./combinations.js";
import { Counter, type CounterJSON } from "./counter.js";
import { compare, type Comparison, type Reference } from "./drift.js";
import { quantile, Sketch, type SketchJSON } from "./sketch.js";
import type { Vocabulary } from "./vocabulary.js";

export interface NumberStats {
  kind: "number";
  count: number;
  missing: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  /** p1, p5, p25, p50, p75, p95, p99, each within 1% of its value. */
  quantiles: Record<string, number | null>;
  sketch: SketchJSON;
  drift?: Comparison;
}

export interface CategoryStats extends CounterJSON {
  kind: "category";
  /** Rows whose value no feature of the model names (null: the model has no vocabulary for it). */
  unseen: number | null;
  drift?: Comparison;
}

export type ColumnStats = NumberStats | CategoryStats;

export interface DriftSummary {
  /** PSI above this is flagged. */
  threshold: number;
  /** What this run was compared with; null without --reference. */
  reference: { source: string; model: { name: string; version: string } | null; rows: number } | null;
  /** Columns (and "prediction") whose PSI is above the threshold. */
  flagged: string[];
  /** The prediction column: its name and statistics. */
  prediction: { column: string } & ColumnStats;
  /** Model inputs by name. */
  inputs: Record<string, ColumnStats>;
  /** Present when the input has pickup and dropoff times and the model predicts a duration. */
  actual_duration?: NumberStats;
  /** actual - predicted (the diff column). */
  error?: NumberStats;
  /** Template fields (PU_DO): rows scored, and rows whose combination the model never saw. */
  combinations: Record<string, { count: number; unseen: number }>;
  /** The most frequent reasons rows were rejected. */
  reject_reasons: { field: string; reason: string; rows: number }[];
}

export interface RunStatsOptions {
  inputs: readonly { name: string; type: "category" | "number" }[];
  vocabulary: Vocabulary;
  /** The prediction's column name (predicted_duration). */
  predictionColumn: string;
  /** Classifiers: the class names, by index (predictions are then counted by class). */
  classNames?: readonly string[];
  /** The model predicts a duration: actual durations and errors are gathered when times exist. */
  duration: boolean;
  threshold: number;
  reference?: Reference;
}

interface InputState {
  name: string;
  sketch?: Sketch;
  counter?: Counter;
  known?: Set<string>;
  unseen: number;
}

/** A category input: its values' ids and counts by id (settled into the counter at the end). */
interface CategoryState extends InputState {
  counter: Counter;
  ids: ValueIds;
  counts: Float64Array;
  /** Dictionary entry -> id, per dictionary (by identity). */
  entries: WeakMap<ArrayLike<unknown>, Int32Array>;
  /** This batch's row ids (reused). */
  rowIds: Int32Array;
}

const QUANTILES: [string, number][] = [
  ["p1", 0.01],
  ["p5", 0.05],
  ["p25", 0.25],
  ["p50", 0.5],
  ["p75", 0.75],
  ["p95", 0.95],
  ["p99", 0.99],
];

export class RunStats implements BatchObserver {
  private readonly inputs: InputState[];
  private readonly prediction: Sketch | Counter;
  private readonly actual = new Sketch();
  private readonly error = new Sketch();
  private timed = false;
  private readonly combos: Combinations[];
  private readonly reasons = new Counter(1000);

  constructor(private readonly o: RunStatsOptions) {
    this.inputs = o.inputs.map((i) =>
      i.type === "number"
        ? { name: i.name, sketch: new Sketch(), unseen: 0 }
        : ({
            name: i.name,
            counter: new Counter(),
            known: o.vocabulary.inputs.get(i.name),
            unseen: 0,
            ids: new ValueIds(),
            counts: new Float64Array(0),
            entries: new WeakMap(),
            rowIds: new Int32Array(0),
          } satisfies CategoryState),
    );
    this.prediction = o.classNames ? new Counter() : new Sketch();
    this.combos = o.vocabulary.templates.map((t) => new Combinations(t));
  }

  observe(b: BatchView): void {
    const { keep, k } = b;
    const rows = new Map<string, RowIds>();
    for (const s of this.inputs) {
      const col = b.inputs[s.name];
      if (s.sketch) this.addNumbers(s.sketch, col, keep, k);
      else rows.set(s.name, this.addCategories(s as CategoryState, col, keep, k));
    }
    this.addPredictions(b);
    this.o.vocabulary.templates.forEach((t, i) => {
      const cols = t.inputs.map((n) => rows.get(n));
      if (cols.every((c) => c !== undefined)) this.combos[i]!.add(cols as RowIds[], k);
    });
    for (const [field, reason] of b.rejected) this.reasons.add(`${field}\u0000${reason}`);
  }

  private addNumbers(sk: Sketch, col: Column | undefined, keep: Int32Array, k: number): void {
    if (col === undefined) {
      sk.missing += k;
      return;
    }
    if (col instanceof Float64Array) {
      for (let i = 0; i < k; i++) sk.add(col[keep[i]!]!);
      return;
    }
    const cells = materialize(col);
    for (let i = 0; i < k; i++) {
      const v = cells[keep[i]!];
      sk.add(isMissing(v) ? NaN : typeof v === "string" ? Number(v.trim()) : Number(v));
    }
  }

  /** Counts the kept rows' values by id (one Map lookup a row, or none for a dictionary column); returns their ids. */
  private addCategories(s: CategoryState, col: Column | undefined, keep: Int32Array, k: number): RowIds {
    const out: RowIds = { ids: (s.rowIds = s.rowIds.length >= k ? s.rowIds : new Int32Array(k)), names: s.ids.names, text: new Map() };
    const ids = out.ids;
    if (col === undefined) {
      ids.fill(MISSING, 0, k);
      s.counter.missing += k;
      return out;
    }
    if (isDict(col)) {
      const entries = this.entryIds(s, col.dictionary);
      for (let i = 0; i < k; i++) {
        const j = col.indices[keep[i]!]!;
        ids[i] = j >= 0 ? entries[j]! : MISSING;
      }
    } else {
      const cells = materialize(col);
      for (let i = 0; i < k; i++) {
        const v = coerced(s.name, cells[keep[i]!]);
        const id = v === undefined ? MISSING : s.ids.idOf(v);
        ids[i] = id;
        if (id === UNINDEXED) out.text.set(i, v!);
      }
    }
    this.count(s, out, k);
    return out;
  }

  /** A dictionary's entries as ids, once per dictionary (a row group's batches share one). */
  private entryIds(s: CategoryState, dictionary: ArrayLike<unknown>): Int32Array {
    let e = s.entries.get(dictionary);
    if (!e) {
      e = Int32Array.from(Array.from(dictionary), (v) => {
        const c = coerced(s.name, v);
        return c === undefined ? MISSING : s.ids.idOf(c);
      });
      s.entries.set(dictionary, e);
    }
    return e;
  }

  private count(s: CategoryState, rows: RowIds, k: number): void {
    if (s.counts.length < s.ids.names.length) {
      const grown = new Float64Array(Math.max(64, 2 * s.ids.names.length));
      grown.set(s.counts);
      s.counts = grown;
    }
    for (let i = 0; i < k; i++) {
      const id = rows.ids[i]!;
      if (id >= 0) s.counts[id]!++;
      else if (id === MISSING) s.counter.missing++;
    }
    // values past the id table: counted one by one (their text is at hand)
    for (const v of rows.text.values()) {
      s.counter.add(v);
      if (s.known && !s.known.has(v)) s.unseen++;
    }
  }

  /** The counts by id into the counter, once, when the run is summarized. */
  private settle(s: CategoryState): Counter {
    s.ids.names.forEach((v, id) => {
      const n = s.counts[id] ?? 0;
      if (!n) return;
      s.counter.add(v, n);
      if (s.known && !s.known.has(v)) s.unseen += n;
      s.counts[id] = 0;
    });
    return s.counter;
  }

  private addPredictions(b: BatchView): void {
    const { keep, k, predictions: pred } = b;
    const p = this.prediction;
    if (p instanceof Counter) {
      for (let i = 0; i < k; i++) p.add(this.o.classNames![pred[keep[i]!]!]!);
      return;
    }
    for (let i = 0; i < k; i++) p.add(pred[keep[i]!]!);
    if (!this.o.duration || !b.pickupMs || !b.dropoffMs) return;
    this.timed = true;
    for (let i = 0; i < k; i++) {
      const r = keep[i]!;
      const actual = (b.dropoffMs[r]! - b.pickupMs[r]!) / 60000;
      this.actual.add(actual);
      this.error.add(actual - pred[r]!);
    }
  }

  summary(): DriftSummary {
    const inputs: Record<string, ColumnStats> = {};
    for (const s of this.inputs) {
      if (s.sketch) inputs[s.name] = numberStats(s.sketch);
      else inputs[s.name] = { kind: "category", ...this.settle(s as CategoryState).toJSON(), unseen: s.known ? s.unseen : null };
    }
    const prediction = this.prediction instanceof Sketch ? numberStats(this.prediction) : categoryStats(this.prediction);
    const combinations: DriftSummary["combinations"] = {};
    this.o.vocabulary.templates.forEach((t, i) => {
      const c = this.combos[i]!;
      if (c.count) combinations[t.name] = { count: c.count, unseen: c.unseen };
    });
    const summary: DriftSummary = {
      threshold: this.o.threshold,
      reference: null,
      flagged: [],
      prediction: { column: this.o.predictionColumn, ...prediction },
      inputs,
      ...(this.timed ? { actual_duration: numberStats(this.actual), error: numberStats(this.error) } : {}),
      combinations,
      reject_reasons: this.reasons.top(10).map(([key, rows]) => {
        const [field, reason] = key.split("\u0000") as [string, string];
        return { field, reason, rows };
      }),
    };
    if (this.o.reference) compare(summary, this.o.reference, this.liveCounters());
    return summary;
  }

  /** The counters as gathered (every value, not just the summary's top 100): the current side of a comparison. */
  private liveCounters(): Map<string, Counter> {
    const m = new Map<string, Counter>();
    for (const s of this.inputs) if (s.counter) m.set(s.name, s.counter);
    if (this.prediction instanceof Counter) m.set("prediction", this.prediction);
    return m;
  }
}

/** A category cell as the model sees it; undefined when missing (or not a category at all). */
function coerced(field: string, v: unknown): string | undefined {
  if (isMissing(v)) return undefined;
  try {
    return coerceCategory(field, v);
  } catch {
    return undefined;
  }
}

export function numberStats(s: Sketch): NumberStats {
  const quantiles: Record<string, number | null> = {};
  for (const [name, q] of QUANTILES) quantiles[name] = quantile(s, q);
  return {
    kind: "number",
    count: s.count,
    missing: s.missing,
    mean: s.count ? s.sum / s.count : null,
    min: s.count ? s.min : null,
    max: s.count ? s.max : null,
    quantiles,
    sketch: s.toJSON(),
  };
}

function categoryStats(c: Counter): CategoryStats {
  return { kind: "category", ...c.toJSON(), unseen: null };
}
