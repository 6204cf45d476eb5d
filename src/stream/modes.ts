// The ways `ridepred stream` runs, each wiring a source and sink to the same transform. Broker clients
// (kafkajs, the AWS SDK) load only in the mode that needs them.
// Each returns once stopped (end of input, or the abort signal from SIGTERM/SIGINT) with a summary.
import { hostname } from "node:os";
import { RidepredError } from "../errors.js";
import type { Predictor } from "../runtime/predictor.js";
import { eventBatchTransform } from "./event.js";
import { fileDeadLetters, jsonlSink, jsonlSource, stderrDeadLetters } from "./jsonl.js";
import { lambdaHandler } from "./kinesis.js";
import { INVOKE_PATH, startLambdaServer } from "./lambda-server.js";
import type { Idempotence, SecurityOptions } from "./kafka.js";
import { runPipeline, type StreamStats } from "./pipeline.js";
import type { Sink, Source } from "./types.js";
import { connectRedis, ensureGroup, parseStreamUrl, redisSink, redisSource, sameServer, withStream } from "./redis.js";

export interface Summary extends Partial<StreamStats> {
  mode: "jsonl" | "redis" | "lambda" | "kafka" | "kinesis";
  model: string;
  version: string;
  [k: string]: unknown;
}

export async function runJsonl(predictor: Predictor, o: { batch: number; deadLetter?: string; signal: AbortSignal }): Promise<Summary> {
  const letters = o.deadLetter ? fileDeadLetters(o.deadLetter) : stderrDeadLetters();
  const source = jsonlSource(process.stdin);
  const sink = jsonlSink(process.stdout, letters);
  try {
    const stats = await runPipeline(source, sink, eventBatchTransform(predictor), { batch: o.batch, signal: o.signal });
    return { mode: "jsonl", model: predictor.name, version: predictor.version, ...stats, dead_letter: o.deadLetter ?? "stderr" };
  } finally {
    await source.close();
    await sink.close();
  }
}

/**
 * The loop for a broker. A broker lost mid-stream ends the run with exit 1 for the supervisor, saying what
 * is delivered again on restart (`again`): nothing unacked is lost.
 */
function runBroker(source: Source, sink: Sink, predictor: Predictor, o: BrokerModeOptions, broker: string, again: string): Promise<StreamStats> {
  return runPipeline(source, sink, eventBatchTransform(predictor), { batch: o.batch, signal: o.signal }).catch((e: Error) => {
    throw new RidepredError(`${broker} failed mid-stream: ${e.message}; ${again}`, 1);
  });
}

/** The head of every broker mode's summary. */
function brokerSummary(mode: Summary["mode"], predictor: Predictor, from: string, to: string, deadLetter: string): Summary {
  return { mode, model: predictor.name, version: predictor.version, from, to, dead_letter: deadLetter };
}

/** What every broker mode takes: where to read and write, the batch loop's bounds, and the stop signal. */
interface BrokerModeOptions {
  from: string;
  to: string;
  deadLetter?: string;
  batch: number;
  /** Longest a read waits for messages, so that a stop request is noticed within it. */
  blockMs: number;
  /** Where a new group (Redis, Kafka) or a shard without checkpoint (Kinesis) starts: "0" or "$". */
  start: string;
  signal: AbortSignal;
}

export interface RedisModeOptions extends BrokerModeOptions {
  group: string;
  consumer?: string;
  claimIdleMs: number;
  maxDeliveries: number;
  onReady?: (info: Record<string, unknown>) => void;
}

export async function runRedis(predictor: Predictor, o: RedisModeOptions): Promise<Summary> {
  const from = parseStreamUrl("--from", o.from);
  const to = parseStreamUrl("--to", o.to);
  // Dead letters are written with the predictions' connection: by default beside them, named after the input.
  const dead = o.deadLetter ? parseStreamUrl("--dead-letter", o.deadLetter) : withStream(to, `${from.stream}:dead-letter`);
  if (sameServer(from, to) && from.stream === to.stream)
    throw new RidepredError("--to must be another stream than --from (predictions would be read back as events)");
  if (!sameServer(to, dead)) throw new RidepredError("--dead-letter must be on the same Redis server as --to");
  const consumer = o.consumer ?? `${hostname()}`;
  const input = await connectRedis(from);
  // Blocking reads hold their connection: writes get their own, even to the same server.
  const output = await connectRedis(to).catch((e) => {
    input.disconnect();
    throw e;
  });
  try {
    const created = await ensureGroup(input, from.stream, o.group, o.start);
    o.onReady?.({ from: from.display, to: to.display, dead_letter: dead.display, group: o.group, consumer, group_created: created });
    const source = redisSource(input, from.stream, {
      group: o.group,
      consumer,
      start: o.start,
      blockMs: o.blockMs,
      claimIdleMs: o.claimIdleMs,
      maxDeliveries: o.maxDeliveries,
    });
    const sink = redisSink(output, {
      to: to.stream,
      deadLetter: dead.stream,
      origin: { stream: from.stream, group: o.group, consumer, model: `${predictor.name}@${predictor.version}` },
    });
    const again = `events not yet acknowledged stay pending in group ${o.group} and are redelivered on restart`;
    const stats = await runBroker(source, sink, predictor, o, "Redis", again);
    return {
      ...brokerSummary("redis", predictor, from.display, to.display, dead.display),
      group: o.group,
      consumer,
      ...stats,
    };
  } finally {
    input.disconnect();
    await output.quit().catch(() => output.disconnect());
  }
}

export async function runLambda(
  predictor: Predictor,
  o: { port: number; host: string; signal: AbortSignal; onReady?: (url: string) => void },
): Promise<Summary> {
  const t0 = performance.now();
  const server = await startLambdaServer(await lambdaHandler(predictor), o.port, o.host).catch((e: NodeJS.ErrnoException) => {
    throw new RidepredError(e.code === "EADDRINUSE" ? `--lambda-port ${o.port}: already in use` : `--lambda-port ${o.port}: ${e.message}`);
  });
  o.onReady?.(`http://${o.host.includes(":") ? `[${o.host}]` : o.host}:${server.port}${INVOKE_PATH}`);
  if (!o.signal.aborted) await new Promise<void>((resolve) => o.signal.addEventListener("abort", () => resolve(), { once: true }));
  await server.close();
  return {
    mode: "lambda",
    model: predictor.name,
    version: predictor.version,
    port: server.port,
    invocations: server.invocations(),
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface KafkaModeOptions extends BrokerModeOptions {
  group: string;
  sessionTimeoutMs: number;
  idempotence: Idempotence;
  security: SecurityOptions;
  log: (msg: string) => void;
}

export async function runKafka(predictor: Predictor, o: KafkaModeOptions): Promise<Summary> {
  const k = await import("./kafka.js");
  const { Kafka, logLevel } = await import("kafkajs");
  const from = k.parseKafkaUrl("--from", o.from);
  const to = k.parseKafkaUrl("--to", o.to);
  const dead = k.parseKafkaUrl("--dead-letter", o.deadLetter ?? `kafka://${to.brokers.join(",")}/${from.topic}.dead-letter`);
  const cluster = (a: { brokers: string[] }) => [...a.brokers].sort().join(",");
  if (cluster(from) === cluster(to) && from.topic === to.topic)
    throw new RidepredError("--to must be another topic than --from (predictions would be read back as events)");
  if (cluster(to) !== cluster(dead)) throw new RidepredError("--dead-letter must be on the same Kafka cluster as --to");
  const security = k.kafkaSecurity(o.security);
  // kafkajs's own log lines (connection errors, rebalances), warnings and up, prefixed like ours. Its
  // warning that bounded retries weaken the idempotent producer is ours to accept: a send that keeps
  // failing exits 1 (the supervisor restarts; uncommitted offsets are re-read) instead of retrying forever.
  // A line repeated by kafkajs's retries is shown once a minute.
  const shown = new Map<string, number>();
  const logCreator = () => (e: { level: number; namespace: string; log: { message: string } }) => {
    const line = `kafka ${e.namespace}: ${e.log.message}`;
    // "Response Heartbeat(...)" and the like: kafkajs's request-level echo of an error its caller handles.
    if (e.level > logLevel.WARN || e.log.message.startsWith("Limiting retries") || (e.namespace === "Connection" && e.log.message.startsWith("Response ")))
      return;
    if (performance.now() - (shown.get(line) ?? -1e9) < 60_000) return;
    shown.set(line, performance.now());
    o.log(line);
  };
  const client = (brokers: string[]) =>
    new Kafka({ clientId: "ridepred", brokers, ...security, logLevel: logLevel.WARN, logCreator, connectionTimeout: 3000, retry: { retries: 5 } });
  const kin = client(from.brokers);
  const kout = cluster(from) === cluster(to) ? kin : client(to.brokers);
  const model = `${predictor.name}@${predictor.version}`;
  // The usual causes of a refused handshake, named when the options make them likely.
  const hint = o.security.sasl
    ? ` (with --kafka-sasl ${o.security.sasl}: does this listener accept SASL, and these credentials?)`
    : security.ssl
      ? " (with TLS: does this listener speak TLS?)"
      : "";
  const connectError = (where: string) => (e: Error) => {
    throw new RidepredError(`cannot connect to ${where}: ${e.message}${hint}`);
  };
  const { producer, idempotent } = await k.connectProducer(kout, o.idempotence, o.log).catch(connectError(to.display));
  const consumer = kin.consumer({
    groupId: o.group,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(o.sessionTimeoutMs / 3)),
    maxBytes: 4 << 20,
  });
  let partitions: number[] = [];
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    partitions = [...(payload.memberAssignment[from.topic] ?? [])].sort((a, b) => a - b);
    o.log(`joined group ${o.group}: ${from.topic} partitions ${partitions.join(",") || "none"}`);
  });
  let lostCommits = 0;
  let uncommitted = 0;
  try {
    await consumer.connect().catch(connectError(from.display));
    o.log(
      `${predictor.name} ${predictor.version}, group ${o.group}: ${from.display} -> ${to.display} (dead letters: ${dead.display}${idempotent ? "" : "; producer not idempotent"})`,
    );
    const source = await k.kafkaSource(consumer, {
      topic: from.topic,
      start: o.start,
      blockMs: o.blockMs,
      concurrency: 8,
      log: o.log,
      onLostCommit: (ps, why, messages) => {
        lostCommits++;
        uncommitted += messages;
        o.log(
          /NOT_COORDINATOR/.test(why)
            ? `partitions ${ps.join(",")}: offsets not committed (${why}); the next commit covers them`
            : `partitions ${ps.join(",")} moved to another member before their offsets were committed (${why}): they are delivered again there; what this member had fetched and not yet written is dropped, and it resumes from the group's committed offsets`,
        );
      },
    });
    const sink = k.kafkaSink(producer, { to: to.topic, deadLetter: dead.topic, origin: { topic: from.topic, group: o.group, model } });
    let stats: StreamStats;
    try {
      stats = await runBroker(source, sink, predictor, o, "Kafka", `offsets not yet committed for group ${o.group} are delivered again on restart`);
    } finally {
      await source.close().catch(() => {});
    }
    return {
      ...brokerSummary("kafka", predictor, from.display, to.display, dead.display),
      group: o.group,
      partitions,
      idempotent,
      lost_commits: lostCommits,
      uncommitted,
      discarded: source.discarded(),
      ...stats,
    };
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
  }
}

export interface KinesisModeOptions extends BrokerModeOptions {
  checkpoint: string;
  shards?: string;
  /** A redis:// checkpoint's lease length. */
  leaseMs: number;
  log: (msg: string) => void;
}

export async function runKinesis(predictor: Predictor, o: KinesisModeOptions): Promise<Summary> {
  const ks = await import("./kinesis-stream.js");
  const { fileCheckpoint } = await import("./checkpoint.js");
  const from = ks.parseKinesisUrl("--from", o.from);
  const to = ks.parseKinesisUrl("--to", o.to);
  if (from.stream === to.stream) throw new RidepredError("--to must be another stream than --from (predictions would be read back as events)");
  const split = o.shards === undefined ? undefined : ks.parseSplit(o.shards);
  const client = ks.kinesisClient();
  try {
    // Both streams must exist (Kinesis creates none on write); an unreachable endpoint or missing region
    // or credentials is reported here, before any checkpoint is taken.
    const exists = async (stream: string) => {
      try {
        const { DescribeStreamSummaryCommand } = await import("@aws-sdk/client-kinesis");
        await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
        return true;
      } catch (e) {
        if ((e as Error).name === "ResourceNotFoundException") return false;
        throw new RidepredError(`Kinesis (${process.env.AWS_ENDPOINT_URL_KINESIS ?? process.env.AWS_ENDPOINT_URL ?? "AWS"}): ${(e as Error).message}`);
      }
    };
    for (const s of [from, to]) if (!(await exists(s.stream))) throw new RidepredError(`${s.display}: no such Kinesis stream`);
    let dead: string | undefined;
    if (o.deadLetter) {
      dead = ks.parseKinesisUrl("--dead-letter", o.deadLetter).stream;
      if (!(await exists(dead))) throw new RidepredError(`--dead-letter ${o.deadLetter}: no such Kinesis stream`);
    } else if (await exists(`${from.stream}.dead-letter`)) dead = `${from.stream}.dead-letter`;
    const store = o.checkpoint.startsWith("redis://")
      ? await (await import("./redis-checkpoint.js")).redisCheckpoint(o.checkpoint, from.stream, { leaseMs: o.leaseMs, log: o.log })
      : fileCheckpoint(o.checkpoint, from.stream, o.log);
    try {
      const source = await ks.kinesisSource(client, {
        stream: from.stream,
        store,
        ...(split ? { split } : {}),
        start: o.start,
        blockMs: o.blockMs,
        leaseEveryMs: Math.max(100, Math.floor(o.leaseMs / 3)),
        log: o.log,
      });
      const sink = ks.kinesisSink(client, {
        to: to.stream,
        deadLetter: dead,
        origin: { stream: from.stream, model: `${predictor.name}@${predictor.version}` },
      });
      const deadDisplay = dead ? `kinesis://${dead}` : "stderr";
      o.log(
        `${predictor.name} ${predictor.version}: ${from.display} -> ${to.display} (dead letters: ${deadDisplay}; checkpoint ${store.display}${split ? `; shards split ${split.index}/${split.count}` : ""})`,
      );
      const stats = await runBroker(source, sink, predictor, o, "Kinesis", `records after the checkpoint in ${store.display} are read again on restart`);
      return {
        ...brokerSummary("kinesis", predictor, from.display, to.display, deadDisplay),
        checkpoint: store.display,
        shards_read: source.shardsRead(),
        ...stats,
      };
    } finally {
      await store.close();
    }
  } finally {
    client.destroy();
  }
}
