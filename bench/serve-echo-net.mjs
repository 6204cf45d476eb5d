// The byte-level stack's limit for bench/serve.mjs: what ridepred's /predict path (src/serve/http1.ts)
// is built on, without the model and without its checks. node:net, the head found and Content-Length read
// off the bytes, the JSON body parsed and written back with the same response headers. Keep-alive and
// pipelining only; not an HTTP server (no validation at all), only a yardstick.
import { createServer } from "node:net";

const HEAD_END = Buffer.from("\r\n\r\n");
const server = createServer((socket) => {
  socket.setNoDelay(true);
  let pending = null;
  socket.on("data", (chunk) => {
    const data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let off = 0;
    let out = "";
    for (;;) {
      const end = data.indexOf(HEAD_END, off);
      if (end < 0) break;
      const m = /\r\ncontent-length: *(\d+)/i.exec(data.toString("latin1", off, end));
      const next = end + 4 + (m ? Number(m[1]) : 0);
      if (next > data.length) break;
      const body = JSON.stringify(JSON.parse(data.toString("utf8", end + 4, next)));
      out += `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nDate: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n${body}`;
      off = next;
    }
    if (out) socket.write(out);
    if (off < data.length) pending = Buffer.from(data.subarray(off));
  });
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
