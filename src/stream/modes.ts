// The three ways `ridepred stream` runs, each wiring a source and sink to the same transform.
// Each returns once stopped (end of input, or the abort signal from SIGTERM/SIGINT) with a summary.
import { hostname } from "node:os";
import { RidepredError } from "../errors.js";
import type { Predictor } from "../runtime/predictor.js";
import { eventTransform } from "./event.js";
import { fileDeadLetters, jsonlSink, jsonlSource, stderrDeadLetters } from "./jsonl.js";
import { kinesisHandler } from "./kinesis.js";
import { INVOKE_PATH, startLambdaServer } from "./lambda-server.js";
import { runPipeline, type StreamStats } from "./pipeline.js";
import { connectRedis, ensureGroup, parseStreamUrl, redisSink, redisSource, sameServer, withStream } from "./redis.js";

export interface Summary extends Partial<StreamStats> {
  mode: "jsonl" | "redis" | "lambda";
  model: string;
  version: string;
  [k: string]: unknown;
}

export async function runJsonl(predictor: Predictor, o: { batch: number; deadLetter?: string; signal: AbortSignal }): Promise<Summary> {
  const letters = o.deadLetter ? fileDeadLetters(o.deadLetter) : stderrDeadLetters();
  const source = jsonlSource(process.stdin);
  const sink = jsonlSink(process.stdout, letters);
  try {
    const stats = await runPipeline(source, sink, eventTransform(predictor), { batch: o.batch, signal: o.signal });
    return { mode: "jsonl", model: predictor.name, version: predictor.version, ...stats, dead_letter: o.deadLetter ?? "stderr" };
  } finally {
    await source.close();
    await sink.close();
  }
}

export interface RedisModeOptions {
  from: string;
  to: string;
  group: string;
  consumer?: string;
  deadLetter?: string;
  batch: number;
  blockMs: number;
  claimIdleMs: number;
  maxDeliveries: number;
  start: string;
  signal: AbortSignal;
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
    const stats = await runPipeline(source, sink, eventTransform(predictor), { batch: o.batch, signal: o.signal }).catch((e: Error) => {
      // Lost the broker mid-stream: nothing unacked is lost, so say so and exit 1 for the supervisor.
      throw new RidepredError(
        `Redis failed mid-stream: ${e.message}; events not yet acknowledged stay pending in group ${o.group} and are redelivered on restart`,
        1,
      );
    });
    return {
      mode: "redis",
      model: predictor.name,
      version: predictor.version,
      from: from.display,
      to: to.display,
      dead_letter: dead.display,
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
  const server = await startLambdaServer(kinesisHandler(predictor), o.port, o.host).catch((e: NodeJS.ErrnoException) => {
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
