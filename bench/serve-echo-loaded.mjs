// A yardstick for bench/serve-cpu.mjs: the bare node:http JSON echo (bench/serve-echo.mjs's handler) in a
// process that has first started ridepred's whole server (model loaded, fastify app built, prom-client's
// default metrics) on another port. Against the bare echo it shows what the process around the handler
// costs; against ridepred, what ridepred's own /predict handler costs. Uses this tree's dist/ (build first).
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { jsonEcho } from "./lib/json-echo.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { startServer } = await import(join(root, "dist/serve/server.js"));
const { createLogger } = await import(join(root, "dist/serve/logger.js"));
const ridepred = await startServer({ model: join(root, "models/ride-duration.json"), port: 0, logger: createLogger("warn") });

const server = createServer(jsonEcho);
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port, ridepred: ridepred.port }) + "\n"));
process.on("SIGTERM", () => server.close(() => ridepred.close().then(() => process.exit(0))));
