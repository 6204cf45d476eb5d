// The prediction loop shared by every broker: read a bounded batch, predict, write, dead-letter, then ack.
// Acking only after the sink resolved is what makes delivery at-least-once: a crash before the ack leaves
// the messages pending at the broker, to be delivered again.
//
// Read-ahead: while one batch is written and acked (a wait on the broker), the next one is read and
// predicted, for sources that allow it (Source.readAhead) and only behind a full batch (a backlog: the
// read returns at once). On the wire the round trips are the same and in the same order: a batch is
// written only after the previous one was acked, and acks go in read order. The batch read ahead is not
// written before that ack, so a crash leaves it unacked (delivered again, as an unread message would be):
// what a crash can duplicate is still the one batch written but not yet acked.
import type { BatchTransform } from "./event.js";
import type { DeadLetter, Message, Output, Sink, Source } from "./types.js";

export interface StreamStats {
  /** Messages read from the source (redeliveries included). */
  events: number;
  predictions: number;
  dead_lettered: number;
  /** Messages delivered again (see Source.reclaimed); absent where the source cannot tell. */
  reclaimed?: number;
  seconds: number;
  events_per_second: number;
}

export interface RunOptions {
  /** Most messages read per batch; at most two batches are in flight (one written, one read ahead). */
  batch: number;
  signal: AbortSignal;
  /** Called after each batch is acked (progress, tests). */
  onBatch?: (stats: Readonly<StreamStats>) => void;
}

interface Prepared {
  batch: readonly Message[];
  size: number;
  outputs: Output[];
  letters: DeadLetter[];
  ids: string[];
}

/** Predict a batch (one transform call for its events): its outputs, its dead letters, every id to ack. */
function prepare(batch: readonly Message[], transform: BatchTransform): Prepared {
  const data: string[] = [];
  for (const m of batch) if (m.poison === undefined && m.data !== undefined) data.push(m.data);
  const scored = transform(data);
  const outputs: Output[] = [];
  const letters: DeadLetter[] = [];
  const ids: string[] = new Array(batch.length);
  let j = 0;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    ids[i] = m.id;
    if (m.poison !== undefined) letters.push({ id: m.id, data: m.data, reason: m.poison, key: m.key });
    else if (m.data === undefined) letters.push({ id: m.id, data: undefined, reason: "message has no data", key: m.key });
    else {
      const r = scored[j++]!;
      if (r.ok) outputs.push({ id: m.id, json: r.json, key: m.key, rideId: r.rideId });
      else letters.push({ id: m.id, data: m.data, reason: r.reason, key: m.key });
    }
  }
  return { batch, size: batch.length, outputs, letters, ids };
}

/** The part of a prepared batch the source still owns (see Source.owns). */
function owned(b: Prepared, owns: (m: Message) => boolean): Prepared {
  const lost = new Set<string>();
  for (const m of b.batch) if (!owns(m)) lost.add(m.id);
  if (lost.size === 0) return b;
  const ids = b.ids.filter((id) => !lost.has(id));
  return {
    batch: b.batch.filter((m) => !lost.has(m.id)),
    size: ids.length,
    outputs: b.outputs.filter((x) => !lost.has(x.id)),
    letters: b.letters.filter((l) => !lost.has(l.id)),
    ids,
  };
}

/** A promise whose rejection is handled later (when awaited), not reported as unhandled meanwhile. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export async function runPipeline(source: Source, sink: Sink, transform: BatchTransform, opts: RunOptions): Promise<StreamStats> {
  const t0 = performance.now();
  const stats: StreamStats = { events: 0, predictions: 0, dead_lettered: 0, seconds: 0, events_per_second: 0 };
  const flush = async (prepared: Prepared) => {
    // Asked only now, after the previous batch's ack: that ack may have lost the source these messages.
    const b = source.owns ? owned(prepared, source.owns) : prepared;
    if (b.size === 0) return;
    // Write first, ack last: the order that makes a crash cost duplicates, never losses.
    if (b.outputs.length) await sink.write(b.outputs);
    if (b.letters.length) await sink.deadLetter(b.letters);
    await source.ack(b.ids);
    stats.events += b.size;
    stats.predictions += b.outputs.length;
    stats.dead_lettered += b.letters.length;
    opts.onBatch?.(stats);
  };
  let flushing: Promise<void> | undefined; // the previous batch, being written and acked
  let ahead: Promise<Message[] | null> | undefined; // the next batch, being read meanwhile
  try {
    for (;;) {
      let batch: Message[] | null;
      if (ahead) {
        batch = await ahead;
        ahead = undefined;
      } else {
        // A read that may wait for new messages starts only once the previous batch is acked, so that its
        // ack never waits behind it (a blocking XREADGROUP holds its connection).
        await flushing;
        flushing = undefined;
        if (opts.signal.aborted) break;
        batch = await source.next(opts.batch, opts.signal);
      }
      if (batch === null) break;
      if (batch.length === 0) continue;
      const prepared = prepare(batch, transform); // overlaps the previous batch's write and ack
      await flushing;
      if (source.readAhead && batch.length >= opts.batch && !opts.signal.aborted) ahead = later(source.next(opts.batch, opts.signal));
      flushing = later(flush(prepared));
    }
    await flushing;
  } catch (e) {
    // Let a write or ack in flight settle before the caller closes the connections; a batch read ahead
    // stays unacked and is delivered again.
    await flushing?.catch(() => {});
    throw e;
  }
  if (source.reclaimed) stats.reclaimed = source.reclaimed();
  stats.seconds = (performance.now() - t0) / 1000;
  stats.events_per_second = stats.seconds > 0 ? stats.events / stats.seconds : 0;
  return stats;
}

/** The ride id as the course's function passes it to put_record (`str(ride_id)`): strings as they are. */
export function rideIdText(id: unknown): string {
  return typeof id === "string" ? id : JSON.stringify(id);
}
