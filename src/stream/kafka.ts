// Kafka adapter (kafkajs): a consumer group as the Source, a producer as the Sink.
// At-least-once: offsets are committed by hand (autoCommit off) in ack(), which the pipeline calls only after
// the batch's predictions and dead letters were acknowledged by all in-sync replicas (acks=-1). A crash
// before the commit re-delivers the batch to whoever owns the partition next: duplicates, never losses.
// kafkajs pushes batches (eachBatch); this adapter queues them for the pipeline's pull and holds each
// eachBatch call open until its messages are acked, so kafkajs neither fetches past nor rebalances away
// a partition whose messages are still in flight.
import { readFileSync } from "node:fs";
import type { Consumer, ConsumerRunConfig, Kafka, KafkaConfig, Producer, SASLOptions } from "kafkajs";
import { RidepredError } from "../errors.js";
import type { DeadLetter, Message, Output, Sink, Source } from "./types.js";

export interface KafkaAddress {
  brokers: string[];
  topic: string;
  display: string;
}

const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/,[\]]+):(\d{1,5})$/;

/** kafka://HOST:PORT[,HOST:PORT...]/TOPIC: every broker listed is a bootstrap server. */
export function parseKafkaUrl(flag: string, value: string): KafkaAddress {
  const m = /^kafka:\/\/([^/]+)\/(.+)$/.exec(value);
  if (!m) throw new RidepredError(`${flag} ${value}: expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC`);
  const brokers = m[1]!.split(",");
  for (const b of brokers) {
    const hp = HOST_PORT.exec(b);
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) throw new RidepredError(`${flag} ${value}: broker "${b}" is not HOST:PORT`);
  }
  const topic = decodeURIComponent(m[2]!);
  if (!TOPIC.test(topic) || topic === "." || topic === "..")
    throw new RidepredError(`${flag} ${value}: topic "${topic}" is not a legal Kafka topic name (letters, digits, . _ -; at most 249)`);
  return { brokers, topic, display: `kafka://${brokers.join(",")}/${topic}` };
}

export interface SecurityOptions {
  /** TLS to the brokers; implied by `ca`. */
  tls?: boolean;
  /** PEM file of the CA that signed the brokers' certificates (default: Node's bundled CAs). */
  ca?: string;
  /** SASL mechanism: plain, scram-sha-256 or scram-sha-512; credentials from the environment. */
  sasl?: string;
}

const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

/**
 * The TLS and SASL part of the client config. Credentials come only from KAFKA_SASL_USERNAME and
 * KAFKA_SASL_PASSWORD (never the command line, where `ps` shows them) and are never printed.
 */
export function kafkaSecurity(o: SecurityOptions, env: NodeJS.ProcessEnv = process.env): Pick<KafkaConfig, "ssl" | "sasl"> {
  const out: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (o.ca !== undefined) {
    let ca: string;
    try {
      ca = readFileSync(o.ca, "utf8");
    } catch (e) {
      throw new RidepredError(`--kafka-ca ${o.ca}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new RidepredError(`--kafka-ca ${o.ca}: not a PEM certificate`);
    out.ssl = { ca: [ca] };
  } else if (o.tls) out.ssl = true;
  if (o.sasl !== undefined) {
    const mechanism = o.sasl.toLowerCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism))
      throw new RidepredError(`--kafka-sasl ${o.sasl}: expected one of ${SASL_MECHANISMS.join(", ")}`);
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    if (!username || password === undefined) throw new RidepredError(`--kafka-sasl ${mechanism}: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`);
    out.sasl = { mechanism, username, password } as SASLOptions;
  }
  return out;
}

/** Messages are identified to ack() as "partition:offset" (one topic per source). */
const msgId = (partition: number, offset: string) => `${partition}:${offset}`;

function splitId(id: string): [partition: number, offset: bigint] {
  const i = id.indexOf(":");
  return [Number(id.slice(0, i)), BigInt(id.slice(i + 1))];
}

/** One eachBatch call held open until all of its messages are acked. */
interface Held {
  remaining: number;
  release: () => void;
  /** The group generation it was fetched in (counted by this process's joins). */
  generation: number;
}

export interface ConsumerOptions {
  topic: string;
  /** "0": a new group starts at the earliest offset; "$": only new messages. */
  start: string;
  /** Longest a next() call waits for messages, so a stop request is noticed within it. */
  blockMs: number;
  /** Partitions whose batches may wait in the queue at once (kafkajs partitionsConsumedConcurrently). */
  concurrency: number;
  /**
   * A commit refused because the partition moved to another member (rebalance): `messages` were predicted
   * here and are delivered again to the partition's next owner.
   */
  onLostCommit?: (partitions: number[], reason: string, messages: number) => void;
  log?: (m: string) => void;
}

export interface KafkaSource extends Source {
  /** Messages fetched but dropped unwritten because the group refused a commit of their generation. */
  discarded(): number;
}

const MAX_RESTARTS = 5;
/** Refusals that mean this member's generation is over: kafkajs rejoins and resumes from committed offsets. */
const LOST_GENERATION = /REBALANCE_IN_PROGRESS|ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID/;

/** The consumer must be connected; subscribes and starts it. */
export async function kafkaSource(consumer: Consumer, o: ConsumerOptions): Promise<KafkaSource> {
  const queue: Message[] = [];
  let head = 0;
  const held = new Map<string, Held>();
  const fetchedIn = new WeakMap<Message, number>();
  // Generations are counted by joins. A refused commit ends its generation: whatever was fetched in it and
  // not yet written is dropped (the partition may belong to another member now, which reads it from the
  // committed offset), and so is anything kafkajs fetches before it has rejoined.
  let generation = 0;
  let staleThrough = -1;
  let discarded = 0;
  // Per partition, the highest offset this process has written: one at or below it written again is a
  // redelivery (kafkajs resumes from the last committed offset after a rejoin).
  const written = new Map<number, bigint>();
  let reclaimed = 0;
  let failure: Error | undefined;
  let closing = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const runConfig: ConsumerRunConfig = {
    autoCommit: false,
    partitionsConsumedConcurrently: o.concurrency,
    eachBatch: async ({ batch, heartbeat }) => {
      if (closing || batch.messages.length === 0) return;
      if (generation <= staleThrough) {
        discarded += batch.messages.length;
        return;
      }
      let release!: () => void;
      const done = new Promise<void>((r) => (release = r));
      const h: Held = { remaining: batch.messages.length, release, generation };
      for (const m of batch.messages) {
        const id = msgId(batch.partition, m.offset);
        held.set(id, h);
        const msg: Message =
          m.value === null
            ? { id, data: undefined, key: m.key, poison: "message has no value (tombstone)" }
            : { id, data: m.value.toString("utf8"), key: m.key };
        fetchedIn.set(msg, generation);
        queue.push(msg);
      }
      notify();
      // Keep the membership alive while the pipeline works through a long queue.
      const beat = setInterval(() => heartbeat().catch(() => {}), 3000);
      try {
        await done;
      } finally {
        clearInterval(beat);
      }
    },
  };

  // kafkajs restarts itself after retriable errors. A non-retriable crash is restarted here a few times
  // in a row (a join can lose a race, e.g. a follower's SyncGroup reaching kcat's mock cluster before the
  // leader's gets INVALID_REQUEST); the budget is renewed by every successful join. Then the stream ends.
  let restarts = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    restarts = 0;
    generation++;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || closing) return;
    if (++restarts > MAX_RESTARTS) {
      failure = payload.error;
      notify();
      return;
    }
    o.log?.(`consumer stopped (${payload.error.message}); rejoining the group (${restarts} of ${MAX_RESTARTS})`);
    setTimeout(() => {
      if (closing) return;
      consumer
        .connect()
        .then(() => consumer.run(runConfig))
        .catch((e: Error) => {
          failure = e;
          notify();
        });
    }, 1000);
  });

  await consumer.subscribe({ topic: o.topic, fromBeginning: o.start === "0" });
  await consumer.run(runConfig);

  const releaseAll = () => {
    for (const h of new Set(held.values())) h.release();
    held.clear();
  };

  // Drop every unwritten message of generations up to `g`, queued or handed out (the pipeline asks
  // owns() before writing), and release their eachBatch calls so that kafkajs can rejoin. kafkajs does
  // not rejoin while a batch is held, so nothing held is of a later generation than the refused one.
  const endGeneration = (g: number) => {
    staleThrough = Math.max(staleThrough, g);
    const release = new Set<Held>();
    for (const [id, h] of held)
      if (h.generation <= staleThrough) {
        held.delete(id);
        release.add(h);
        discarded++;
      }
    const keep = queue.slice(head).filter((m) => (fetchedIn.get(m) ?? generation) > staleThrough);
    queue.length = 0;
    queue.push(...keep);
    head = 0;
    for (const h of release) h.release();
  };

  return {
    async next(max, signal) {
      if (head === queue.length && !failure && !signal.aborted) {
        const onAbort = () => notify();
        signal.addEventListener("abort", onAbort, { once: true });
        const timer = setTimeout(notify, o.blockMs);
        await new Promise<void>((resolve) => (wake = resolve));
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      }
      if (failure) throw failure;
      if (signal.aborted) return null;
      const out = queue.slice(head, head + max);
      head += out.length;
      if (head === queue.length) {
        queue.length = 0;
        head = 0;
      }
      return out;
    },
    owns: (m) => (fetchedIn.get(m) ?? generation) > staleThrough,
    async ack(ids) {
      // The highest acked offset per partition, committed as the next offset to read.
      const next = new Map<number, bigint>();
      const finished: Held[] = [];
      let fetched = generation;
      for (const id of ids) {
        const [p, off] = splitId(id);
        if (off <= (written.get(p) ?? -1n)) reclaimed++;
        else written.set(p, off);
        if ((next.get(p) ?? -1n) < off + 1n) next.set(p, off + 1n);
        const h = held.get(id);
        held.delete(id);
        if (h) fetched = Math.min(fetched, h.generation);
        if (h && --h.remaining === 0) finished.push(h);
      }
      const offsets = [...next].map(([partition, offset]) => ({ topic: o.topic, partition, offset: String(offset) }));
      try {
        if (offsets.length) await consumer.commitOffsets(offsets);
      } catch (e) {
        // The partition was reassigned while these were in flight: the new owner reads them again from the
        // last committed offset (duplicates downstream, carrying the same source headers). Not a failure.
        // kafkajs's retrier wraps the broker's error (KafkaJSNonRetriableError, cause: the protocol error).
        const type = (rootCause(e) as { type?: string }).type ?? (e as { type?: string }).type ?? "";
        if (!LOST_GENERATION.test(type) && !/NOT_COORDINATOR/.test(type)) throw e;
        o.onLostCommit?.(
          offsets.map((x) => x.partition),
          type,
          ids.length,
        );
        // A coordinator that moved is no lost partition: the next commit covers these offsets too.
        if (LOST_GENERATION.test(type)) endGeneration(fetched);
      }
      for (const h of finished) h.release();
    },
    reclaimed: () => reclaimed,
    discarded: () => discarded,
    // next() only takes from the queue kafkajs fills; it may run while the previous batch is committed.
    readAhead: true,
    async close() {
      // Unacked batches are released uncommitted (they are redelivered); then leave the group at once so
      // the partitions move to the remaining members without waiting for the session timeout.
      closing = true;
      releaseAll();
      await consumer.disconnect();
    },
  };
}

export interface ProducerSinkOptions {
  to: string;
  deadLetter: string;
  /** Recorded in headers of every output and dead letter. */
  origin: { topic: string; group: string; model: string };
}

const header = (topic: string, id: string): Record<string, string> => {
  const i = id.indexOf(":");
  return { "source-topic": topic, "source-partition": id.slice(0, i), "source-offset": id.slice(i + 1) };
};

/**
 * Predictions keyed like their input (so they land in the partition with the same number, for consumers
 * that join on key), with source-topic/-partition/-offset headers by which downstream drops duplicates.
 * Dead letters keep the original value; `reason` says why.
 */
export function kafkaSink(producer: Producer, o: ProducerSinkOptions): Sink {
  return {
    async write(outputs: readonly Output[]) {
      await producer.send({
        topic: o.to,
        acks: -1,
        messages: outputs.map((x) => ({ key: x.key ?? null, value: x.json, headers: { ...header(o.origin.topic, x.id), model: o.origin.model } })),
      });
    },
    async deadLetter(letters: readonly DeadLetter[]) {
      await producer.send({
        topic: o.deadLetter,
        acks: -1,
        messages: letters.map((l) => ({
          key: l.key ?? null,
          value: l.data ?? null,
          headers: { ...header(o.origin.topic, l.id), reason: l.reason, group: o.origin.group, model: o.origin.model },
        })),
      });
    },
    async close() {},
  };
}

export type Idempotence = "auto" | "on" | "off";

/** The error under kafkajs's retry wrappers (KafkaJSNumberOfRetriesExceeded keeps the last one as cause). */
function rootCause(e: unknown): Error {
  let err = e as Error & { cause?: unknown; originalError?: unknown };
  for (let i = 0; i < 5 && (err.cause ?? err.originalError); i++) err = (err.cause ?? err.originalError) as typeof err;
  return err;
}

/**
 * A connected producer. The idempotent producer (exactly one copy per send even when kafkajs retries)
 * needs InitProducerId from the cluster; `auto` falls back to a plain producer when the broker refuses it
 * (kcat's mock cluster does), saying so, and keeps one request in flight so retries cannot reorder.
 */
export async function connectProducer(kafka: Kafka, mode: Idempotence, warn: (msg: string) => void): Promise<{ producer: Producer; idempotent: boolean }> {
  const { Partitioners } = await import("kafkajs");
  const base = { createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true, maxInFlightRequests: 1 };
  const connect = async (idempotent: boolean) => {
    const producer = kafka.producer({ ...base, idempotent });
    try {
      await producer.connect();
      return producer;
    } catch (e) {
      await producer.disconnect().catch(() => {}); // or its reconnect timers keep the process alive
      throw e;
    }
  };
  if (mode === "off") return { producer: await connect(false), idempotent: false };
  try {
    return { producer: await connect(true), idempotent: true };
  } catch (e) {
    // An unreachable cluster is not a question of idempotence: report it as it is.
    if (mode === "on" || /Connection/.test(rootCause(e).name)) throw e;
    const producer = await connect(false); // its own error if the cluster refuses this too
    warn(`the cluster refused the idempotent producer (${(e as Error).message}); producing without it: a retried send may write a prediction twice`);
    return { producer, idempotent: false };
  }
}
