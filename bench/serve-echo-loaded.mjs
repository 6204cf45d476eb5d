// A yardstick for bench/serve-cpu.mjs: the bare node:http JSON echo (bench/serve-echo.mjs's handler) in a
// process that has first loaded some or all of ridepred's server. Against the bare echo it shows what the
// process around the handler costs; against ridepred, what ridepred's own /predict handler costs.
// `--load PARTS` (comma-separated) picks what is loaded first, to bisect that cost:
//   server   ridepred's whole server started on another port (model, fastify app, metrics, logger): the default
//   modules  dist/serve/server.js and logger.js imported (fastify, prom-client, pino, the runtime), nothing called
//   model    the model read, verified and compiled (runtime/load.js), kept alive
//   metrics  ridepred's metrics registry (prom-client's default metrics: GC observer, event-loop monitor)
//   logger   ridepred's pino logger at warn
//   app      ridepred's fastify app built and ready (routes, schemas compiled) with the model loaded, not listening
//   listen   ridepred's whole server listening on another port, no model loaded
//   none     nothing: the bare echo, from this script
// Uses this tree's dist/ (build first).
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jsonEcho } from "./lib/json-echo.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({ options: { load: { type: "string", default: "server" } } });
const parts = new Set(args.load.split(","));
const kept = []; // what was loaded stays reachable, as it does in ridepred
let ridepred = null;
if (parts.has("modules")) kept.push(await import(join(root, "dist/serve/server.js")), await import(join(root, "dist/serve/logger.js")));
if (parts.has("model")) kept.push((await import(join(root, "dist/runtime/load.js"))).loadModel(join(root, "models/ride-duration.json")));
if (parts.has("metrics")) kept.push((await import(join(root, "dist/serve/metrics.js"))).createMetrics());
if (parts.has("logger")) kept.push((await import(join(root, "dist/serve/logger.js"))).createLogger("warn"));
if (parts.has("app")) {
  const { buildApp } = await import(join(root, "dist/serve/app.js"));
  const { modelState } = await import(join(root, "dist/serve/model-state.js"));
  const { createLogger } = await import(join(root, "dist/serve/logger.js"));
  const state = modelState(join(root, "models/ride-duration.json"));
  state.current = (await import(join(root, "dist/runtime/load.js"))).loadModel(state.path);
  const app = await buildApp({ state, logger: createLogger("warn") });
  await app.ready();
  kept.push(app);
}
if (parts.has("server") || parts.has("listen")) {
  const { startServer } = await import(join(root, "dist/serve/server.js"));
  const { createLogger } = await import(join(root, "dist/serve/logger.js"));
  const autoload = parts.has("server");
  ridepred = await startServer({ model: join(root, "models/ride-duration.json"), port: 0, logger: createLogger("warn"), autoload });
}

const server = createServer(jsonEcho);
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port, ridepred: ridepred?.port, kept: kept.length }) + "\n"));
process.on("SIGTERM", () => server.close(() => (ridepred ? ridepred.close() : Promise.resolve()).then(() => process.exit(0))));
