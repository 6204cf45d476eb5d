// The floor for bench/serve.mjs: bare node:http that drains the body and answers a constant JSON string
// (no parse, no stringify, no model). No JSON service on node:http can do less per request.
import { createServer } from "node:http";

const body = '{"duration":25.82088226272956,"model_version":"constant"}';
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
