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
}

export function streamCommand(): Command {
  return new Command("stream")
    .description(
      'predict ride events as they arrive: {"ride": {...}, "ride_id": ...} -> {"model", "version", "prediction": {"ride_duration", "ride_id"}}.\n' +
        "Default: JSONL on stdin -> JSONL on stdout. --from/--to: a Redis Streams consumer group. --lambda-port: the Lambda invoke endpoint for Kinesis events.",
    )
    .option("--model <file>", "model.json (default: the bundled model, or $RIDEPRED_MODEL)")
    .option(
      "--dead-letter <file|url>",
      "where bad events go: a file (JSONL mode; default stderr) or redis://host:port/STREAM (default <from stream>:dead-letter)",
    )
    .option("--from <url>", 'read events from redis://host:port/STREAM (field "data" holds the event JSON)')
    .option("--to <url>", "XADD predictions to redis://host:port/STREAM")
    .option("--group <name>", "consumer group (one per model: every group sees every event)")
    .option("--consumer <name>", "consumer name within the group; restart under the same name to resume its pending entries (default: host name)")
    .option("--start <id>", "where a new group starts reading: 0 = all entries on the stream, $ = only new ones", "0")
    .addOption(
      new Option("--batch <n>", "most events in flight at once (read, predicted, written, acked together)").default(100).argParser(positiveInt("--batch")),
    )
    .addOption(new Option("--block <ms>", "longest blocking read, so a stop request is noticed within it").default(1000).argParser(positiveInt("--block")))
    .addOption(
      new Option("--claim-idle <ms>", "take over entries pending this long at a dead consumer (checked this often)")
        .default(30000)
        .argParser(positiveNumber("--claim-idle")),
    )
    .addOption(new Option("--max-deliveries <n>", "dead-letter an entry delivered more often than this").default(5).argParser(positiveInt("--max-deliveries")))
    .addOption(
      new Option("--lambda-port <port>", "serve the Kinesis Lambda handler at POST /2015-03-31/functions/function/invocations (0: any free port)").argParser(
        positiveNumber("--lambda-port"),
      ),
    )
    .option("--host <addr>", "address for --lambda-port", "127.0.0.1")
    .option("--json", "summary as JSON (stdout; on stderr in JSONL mode, where stdout carries the predictions)")
    .action(async (opts: StreamOpts) => {
      process.exitCode = await run(opts);
    });
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RidepredError(`${flag} ${v}: expected a positive integer`);
    return n;
  };
}

async function run(opts: StreamOpts): Promise<number> {
  const redisMode = opts.from !== undefined || opts.to !== undefined || opts.group !== undefined;
  if (redisMode && (!opts.from || !opts.to || !opts.group)) throw new RidepredError("Redis mode needs all of --from, --to and --group");
  if (redisMode && opts.lambdaPort !== undefined) throw new RidepredError("--lambda-port cannot be combined with --from/--to");
  if (opts.lambdaPort !== undefined && opts.deadLetter)
    throw new RidepredError("--dead-letter does not apply to --lambda-port (bad records are reported in the response)");
  if (!redisMode && opts.deadLetter?.startsWith("redis://"))
    throw new RidepredError("--dead-letter redis://... needs --from/--to (in JSONL mode it is a file)");

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
  try {
    let summary: import("../stream/modes.js").Summary;
    if (opts.lambdaPort !== undefined) {
      summary = await modes.runLambda(predictor, {
        port: opts.lambdaPort,
        host: opts.host,
        signal: stop.signal,
        onReady: (url) => log(`ridepred stream: ${predictor.name} ${predictor.version}, Lambda endpoint POST ${url}`),
      });
    } else if (redisMode) {
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
          log(
            `ridepred stream: ${predictor.name} ${predictor.version}, group ${i.group} consumer ${i.consumer}: ${i.from} -> ${i.to} (dead letters: ${i.dead_letter})`,
          ),
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
  const reclaimed = s.mode === "redis" ? `, ${s.reclaimed} redelivered` : "";
  return `ridepred stream: ${plural(s.events ?? 0, "event")}, ${c.green(plural(s.predictions ?? 0, "prediction"))}, ${dead}${reclaimed} in ${secs} (${rate} events/s)`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
