// The stack's limit for bench/serve.mjs: bare node:http that parses the JSON body and writes JSON back.
import { createServer } from "node:http";
import { jsonEcho } from "./lib/json-echo.mjs";

const server = createServer(jsonEcho);
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
