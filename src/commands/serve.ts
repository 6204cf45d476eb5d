import { Command, Option } from "commander";
import { RidepredError } from "../errors.js";
import { holdTickObjectMaps } from "../serve/tick-maps.js";
import { positiveNumber } from "./options.js";

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new RidepredError(`--port ${v}: expected an integer from 0 to 65535 (0: any free port)`);
  return n;
}

function workers(v: string): number | "auto" {
  if (v === "auto") return "auto";
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RidepredError(`--workers ${v}: expected a positive integer or "auto" (one per core)`);
  return n;
}

/** RIDEPRED_FAST_PATH: "on" turns the byte-level /predict path on, "off" or unset leaves it off. */
function fastPathFromEnv(v: string | undefined): boolean {
  if (v === undefined || v === "" || v === "off") return false;
  if (v === "on") return true;
  throw new RidepredError(`RIDEPRED_FAST_PATH=${v}: expected "on" or "off"`);
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("HTTP service: the course's POST /predict, MLflow /invocations, KServe V2 /v2/..., /metrics, /openapi.json")
    .option("-m, --model <file>", "model.json to serve (default: the bundled model, or RIDEPRED_MODEL)")
    .option("-p, --port <n>", "port (0: any free port)", port, 9696)
    .option("--host <addr>", "address to listen on (0.0.0.0 for every interface, as in a container)", "127.0.0.1")
    .option("-w, --workers <n>", 'processes sharing the port (node:cluster); "auto" = one per core', workers, 1)
    .option("--watch", "reload the model when its file changes (as SIGHUP does)", false)
    .option("--max-body <bytes>", "largest request body accepted (413 beyond)", positiveNumber("--max-body"), 4 * 1024 * 1024)
    .option(
      "--fast-path",
      "answer the plain POST /predict off the connection's bytes, not through node:http's parser (behind a trusted proxy; also RIDEPRED_FAST_PATH=on)",
      false,
    )
    .option("--no-docs", "do not serve the interactive API page at /docs")
    .option(
      "--max-record-bytes <n>",
      "longest record of a text/csv body on /invocations (400 beyond), as for `score`",
      positiveNumber("--max-record-bytes"),
      1 << 20,
    )
    .option("--shutdown-timeout <seconds>", "longest wait for in-flight requests on SIGTERM", positiveNumber("--shutdown-timeout"), 30)
    .addOption(
      new Option("--log-level <level>", "JSON log level on stderr (debug adds one line per request)")
        .choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info"),
    )
    .action(
      async (o: {
        model?: string;
        port: number;
        host: string;
        workers: number | "auto";
        watch: boolean;
        maxBody: number;
        maxRecordBytes: number;
        shutdownTimeout: number;
        fastPath: boolean;
        docs: boolean;
        logLevel: string;
      }) => {
        const fastPath = o.fastPath || fastPathFromEnv(process.env.RIDEPRED_FAST_PATH);
        // Before the modules and the model load: a full GC then must not find node's tick objects' maps unheld.
        holdTickObjectMaps();
        const [{ runServe }, { defaultModelPath }, { availableParallelism }] = await Promise.all([
          import("../serve/run.js"),
          import("../artifact/io.js"),
          import("node:os"),
        ]);
        process.exitCode = await runServe({
          model: o.model ?? defaultModelPath(),
          host: o.host,
          port: o.port,
          workers: o.workers === "auto" ? availableParallelism() : o.workers,
          watch: o.watch,
          bodyLimit: Math.floor(o.maxBody),
          maxRecordBytes: Math.floor(o.maxRecordBytes),
          logLevel: o.logLevel,
          shutdownTimeoutMs: o.shutdownTimeout * 1000,
          fastPath,
          docs: o.docs,
        });
      },
    );
}
