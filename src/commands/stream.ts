import { Command, Option } from "commander";
import { RidepredError } from "../errors.js";
import { colors, log, printJson, thousands } from "../term.js";
import { positiveNumber } from "./options.js";

interface StreamOpts {
  model?: string;
  deadLetter?: string;
  from?: string;
  to?: string;
  group?: string;
  consumer?: string;
  start: string;
  batch: number;
  block: number;
  claimIdle: number;
  maxDeliveries: number;
  lambdaPort?: number;
  host: string;
  json?: boolean;
  sessionTimeout: number;
  kafkaIdempotent: "auto" | "on" | "off";
  kafkaTls?: boolean;
  kafkaCa?: string;
  kafkaSasl?: string;
  checkpoint?: string;
  shards?: string;
  lease: number;
}

export function streamCommand(): Command {
  return new Command("stream")
    .description(
      'predict ride events as they arrive: {"ride": {...}, "ride_id": ...} -> {"model", "version", "prediction": {"ride_<target>", "ride_id"}} (a classifier adds "ride_<target>_probability").\n' +
        "Default: JSONL on stdin -> JSONL on stdout. --from/--to: Redis Streams or Kafka (a consumer group) or Kinesis (every shard, from a checkpoint).\n" +
        "--lambda-port: the Lambda invoke endpoint for Kinesis events.",
    )
    .option("--model <file>", "model.json (default: the bundled model, or $RIDEPRED_MODEL)")
    .option(
      "--dead-letter <file|url>",
      "where bad events go: a file (JSONL mode; default stderr), redis://host:port/STREAM (default <from stream>:dead-letter), " +
        "kafka://BROKERS/TOPIC (default <from topic>.dead-letter) or kinesis://STREAM (default <from stream>.dead-letter if it exists, else stderr)",
    )
    .option(
      "--from <url>",
      'read events from redis://host:port/STREAM (field "data" holds the event JSON), kafka://HOST:PORT[,HOST:PORT...]/TOPIC or kinesis://STREAM',
    )
    .option("--to <url>", "write predictions to redis://host:port/STREAM, kafka://HOST:PORT[,...]/TOPIC or kinesis://STREAM")
    .option("--group <name>", "Redis or Kafka consumer group (one per model: every group sees every event)")
    .option("--consumer <name>", "Redis: consumer name within the group; restart under the same name to resume its pending entries (default: host name)")
    .option("--start <id>", "where a new group (Redis, Kafka) or a shard without checkpoint (Kinesis) starts: 0 = the oldest entry, $ = only new ones", "0")
    .addOption(
      new Option("--batch <n>", "most events in flight at once (read, predicted, written, acked together)").default(100).argParser(positiveInt("--batch")),
    )
    .addOption(new Option("--block <ms>", "longest blocking read, so a stop request is noticed within it").default(1000).argParser(positiveInt("--block")))
    .addOption(
      new Option("--claim-idle <ms>", "Redis: take over entries pending this long at a dead consumer (checked this often)")
        .default(30000)
        .argParser(positiveNumber("--claim-idle")),
    )
    .addOption(
      new Option("--max-deliveries <n>", "Redis: dead-letter an entry delivered more often than this").default(5).argParser(positiveInt("--max-deliveries")),
    )
    .addOption(
      new Option("--lambda-port <port>", "serve the Kinesis Lambda handler at POST /2015-03-31/functions/function/invocations (0: any free port)").argParser(
        positiveNumber("--lambda-port"),
      ),
    )
    .option("--host <addr>", "address for --lambda-port", "127.0.0.1")
    .addOption(
      new Option("--session-timeout <ms>", "Kafka: a member silent this long is dropped from the group and its partitions reassigned")
        .default(30000)
        .argParser(positiveInt("--session-timeout")),
    )
    .addOption(
      new Option("--kafka-idempotent <mode>", "Kafka: idempotent producer; auto = where the cluster allows it").choices(["auto", "on", "off"]).default("auto"),
    )
    .option("--kafka-tls", "Kafka: connect with TLS (Node's CA bundle)")
    .option("--kafka-ca <pem>", "Kafka: TLS with this CA certificate file")
    .option("--kafka-sasl <mechanism>", "Kafka: SASL plain, scram-sha-256 or scram-sha-512, with $KAFKA_SASL_USERNAME / $KAFKA_SASL_PASSWORD")
    .option("--checkpoint <file|url>", "Kinesis: where each shard's position is saved: a JSON file, or redis://host:port/HASH")
    .option("--shards <i/n>", "Kinesis: read only split i of n (0-based), for n processes on one stream")
    .addOption(
      new Option(
        "--lease <ms>",
        "Kinesis with a redis:// checkpoint: a shard's lease lasts this long unless renewed (every third of it); a dead process's shards are taken over after it",
      )
        .default(10000)
        .argParser(positiveInt("--lease")),
    )
    .option("--json", "summary as JSON (stdout; on stderr in JSONL mode, where stdout carries the predictions)")
    .action(async (opts: StreamOpts, cmd: Command) => {
      process.exitCode = await run(opts, (key) => cmd.getOptionValueSource(key) === "cli");
    });
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RidepredError(`${flag} ${v}: expected a positive integer`);
    return n;
  };
}

type Broker = "redis" | "kafka" | "kinesis";

/** The broker named by --from's scheme; --to must name the same kind. */
function brokerOf(opts: StreamOpts): Broker | undefined {
  if (opts.from === undefined && opts.to === undefined && opts.group === undefined) return undefined;
  if (!opts.from || !opts.to) throw new RidepredError("--from and --to go together (a broker to read events from and one to write predictions to)");
  const scheme = (url: string) => /^([a-z]+):\/\//.exec(url)?.[1];
  const kind = scheme(opts.from);
  if (kind !== "redis" && kind !== "kafka" && kind !== "kinesis")
    throw new RidepredError(`--from ${opts.from}: expected redis://host:port/STREAM, kafka://HOST:PORT/TOPIC or kinesis://STREAM`);
  if (scheme(opts.to) !== kind) throw new RidepredError(`--to ${opts.to}: must be a ${kind}:// URL like --from (one broker kind per process)`);
  if (kind !== "kinesis" && !opts.group) throw new RidepredError(`${kind === "redis" ? "Redis" : "Kafka"} mode needs --group`);
  if (kind === "kinesis" && opts.group) throw new RidepredError("--group does not apply to Kinesis (no consumer groups: see --shards)");
  if (kind === "kinesis" && !opts.checkpoint)
    throw new RidepredError("Kinesis mode needs --checkpoint FILE or redis://host:port/HASH (where each shard's position is saved)");
  if (opts.deadLetter && scheme(opts.deadLetter) !== kind) throw new RidepredError(`--dead-letter ${opts.deadLetter}: must be a ${kind}:// URL like --from`);
  return kind;
}

/** Redis consumer-group options, by their key in StreamOpts: the other modes have no such knobs. */
const REDIS_ONLY = { consumer: "--consumer", claimIdle: "--claim-idle", maxDeliveries: "--max-deliveries" } as const;

/**
 * Refuse Redis's --consumer/--claim-idle/--max-deliveries in another mode (they have defaults, so only what
 * the command line set counts): silently ignoring them would let an operator believe they apply.
 */
function refuseRedisOnly(broker: Broker | undefined, lambda: boolean, given: (key: string) => boolean): void {
  if (broker === "redis") return;
  const flags = Object.entries(REDIS_ONLY)
    .filter(([key]) => given(key))
    .map(([, flag]) => flag);
  if (!flags.length) return;
  const mode = lambda ? "--lambda-port mode" : broker === "kafka" ? "Kafka mode" : broker === "kinesis" ? "Kinesis mode" : "JSONL mode";
  const why = broker === "kafka" ? " (Kafka's group names its members and redelivers from committed offsets)" : "";
  throw new RidepredError(`${flags.join(", ")} ${flags.length > 1 ? "apply" : "applies"} to redis:// only, not to ${mode}${why}`);
}

async function run(opts: StreamOpts, given: (key: string) => boolean): Promise<number> {
  const broker = brokerOf(opts);
  refuseRedisOnly(broker, opts.lambdaPort !== undefined, given);
  if (broker && opts.lambdaPort !== undefined) throw new RidepredError("--lambda-port cannot be combined with --from/--to");
  if (opts.lambdaPort !== undefined && opts.deadLetter)
    throw new RidepredError("--dead-letter does not apply to --lambda-port (bad records are reported in the response)");
  if (!broker && opts.deadLetter && /^[a-z]+:\/\//.test(opts.deadLetter))
    throw new RidepredError(`--dead-letter ${opts.deadLetter} needs --from/--to (in JSONL mode it is a file)`);
  if (broker !== "kafka" && (opts.kafkaTls || opts.kafkaCa || opts.kafkaSasl))
    throw new RidepredError("--kafka-tls/--kafka-ca/--kafka-sasl apply to kafka:// only");
  if (broker !== "kinesis" && (opts.checkpoint || opts.shards)) throw new RidepredError("--checkpoint/--shards apply to kinesis:// only");
  if (given("lease") && !(broker === "kinesis" && opts.checkpoint?.startsWith("redis://")))
    throw new RidepredError("--lease applies to kinesis:// with a redis:// checkpoint only (a checkpoint file is one process's: it has no leases)");

  const { loadModel } = await import("../runtime/load.js");
  const modes = await import("../stream/modes.js");
  const { predictor } = loadModel(opts.model);

  // SIGTERM/SIGINT: finish the batch in flight (written and acked), then stop. A second signal forces exit.
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(sig === "SIGINT" ? 130 : 143);
    stop.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // A closed stdout (`| head`) ends the stream quietly instead of crashing on EPIPE.
  const onStdoutError = (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") stop.abort();
  };
  process.stdout.on("error", onStdoutError);
  const c = colors(process.stderr);
  const say = (m: string) => log(`ridepred stream: ${m}`);
  try {
    let summary: import("../stream/modes.js").Summary;
    if (opts.lambdaPort !== undefined) {
      summary = await modes.runLambda(predictor, {
        port: opts.lambdaPort,
        host: opts.host,
        signal: stop.signal,
        onReady: (url) => say(`${predictor.name} ${predictor.version}, Lambda endpoint POST ${url}`),
      });
    } else if (broker === "redis") {
      summary = await modes.runRedis(predictor, {
        from: opts.from!,
        to: opts.to!,
        group: opts.group!,
        ...(opts.consumer ? { consumer: opts.consumer } : {}),
        ...(opts.deadLetter ? { deadLetter: opts.deadLetter } : {}),
        batch: opts.batch,
        blockMs: opts.block,
        claimIdleMs: opts.claimIdle,
        maxDeliveries: opts.maxDeliveries,
        start: opts.start,
        signal: stop.signal,
        onReady: (i) =>
          say(`${predictor.name} ${predictor.version}, group ${i.group} consumer ${i.consumer}: ${i.from} -> ${i.to} (dead letters: ${i.dead_letter})`),
      });
    } else if (broker === "kafka") {
      summary = await modes.runKafka(predictor, {
        from: opts.from!,
        to: opts.to!,
        group: opts.group!,
        ...(opts.deadLetter ? { deadLetter: opts.deadLetter } : {}),
        batch: opts.batch,
        blockMs: opts.block,
        start: opts.start,
        sessionTimeoutMs: opts.sessionTimeout,
        idempotence: opts.kafkaIdempotent,
        security: { tls: opts.kafkaTls ?? false, ...(opts.kafkaCa ? { ca: opts.kafkaCa } : {}), ...(opts.kafkaSasl ? { sasl: opts.kafkaSasl } : {}) },
        signal: stop.signal,
        log: say,
      });
    } else if (broker === "kinesis") {
      summary = await modes.runKinesis(predictor, {
        from: opts.from!,
        to: opts.to!,
        ...(opts.deadLetter ? { deadLetter: opts.deadLetter } : {}),
        checkpoint: opts.checkpoint!,
        ...(opts.shards ? { shards: opts.shards } : {}),
        leaseMs: opts.lease,
        batch: opts.batch,
        blockMs: opts.block,
        start: opts.start,
        signal: stop.signal,
        log: say,
      });
    } else {
      summary = await modes.runJsonl(predictor, { batch: opts.batch, signal: stop.signal, ...(opts.deadLetter ? { deadLetter: opts.deadLetter } : {}) });
    }
    if (opts.json) {
      if (summary.mode === "jsonl") process.stderr.write(JSON.stringify(summary) + "\n");
      else printJson(summary);
    } else log(describe(summary, c));
    return 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPIPE") return 0;
    throw e;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    process.stdout.off("error", onStdoutError);
  }
}

function describe(s: import("../stream/modes.js").Summary, c: ReturnType<typeof colors>): string {
  const secs = `${(s.seconds ?? 0).toFixed(2)} s`;
  if (s.mode === "lambda") return `ridepred stream: ${plural(Number(s.invocations), "invocation")} in ${secs}`;
  const dead = s.dead_lettered ? c.yellow(`${s.dead_lettered} dead-lettered (${s.dead_letter})`) : "0 dead-lettered";
  const rate = thousands(s.events_per_second ?? 0);
  const reclaimed = s.reclaimed === undefined ? "" : `, ${s.reclaimed} redelivered`;
  return `ridepred stream: ${plural(s.events ?? 0, "event")}, ${c.green(plural(s.predictions ?? 0, "prediction"))}, ${dead}${reclaimed} in ${secs} (${rate} events/s)`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
