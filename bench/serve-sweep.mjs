#!/usr/bin/env node
// bench/serve-sweep: every single-byte change of a valid POST /predict (each of the 256 byte values put in
// place of every byte, and inserted before it; every byte deleted), each sent on its own connection to
// `ridepred serve --fast-path` and to `ridepred serve` (node:http reads every request); the bytes that come
// back must be the same (Date and generated request ids aside). The CI test (test/serve-llhttp.test.ts)
// does the same over byte classes; this is the whole sweep (~90,000 requests per server, a few minutes).
// Usage: node bench/serve-sweep.mjs [--parallel 16] [--limit N] [--match REGEX (case names, e.g. "at 150$")]
// (exit 1 if any answer differs)
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: { parallel: { type: "string", default: "16" }, limit: { type: "string", default: "0" }, match: { type: "string", default: "" } },
});
const BODY = '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}';
const VALID = Buffer.from(
  `POST /predict?v=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\nX-Request-Id: sweep-1\r\nConnection: keep-alive\r\n\r\n${BODY}`,
  "latin1",
);
const children = [];

/** `ridepred serve` on a free port; resolves with the port from its "listening" log line. */
function serve(extra) {
  const child = spawn(process.execPath, [join(root, "bin/ridepred"), "serve", "--port", "0", ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RIDEPRED_FAST_PATH: "" },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      for (const line of err.split("\n")) {
        if (line.includes('"event":"model_loaded"')) {
          const listening = err.split("\n").find((l) => l.includes('"event":"listening"'));
          if (listening) resolve(JSON.parse(listening).port);
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`ridepred serve ${extra.join(" ")} exited ${code}:\n${err}`)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const responses = (text) => (text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length;

/** Sends the pieces (the second after the first's answer, or 1.5 s), half-closes, returns everything until the close (or 15 s). */
function exchange(port, pieces) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let got = "";
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got + "<timeout>");
    }, 15_000);
    socket.on("data", (d) => (got += d.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve(got);
    });
    socket.on("connect", async () => {
      for (const p of pieces) {
        if (closed) return;
        const before = responses(got);
        socket.write(p);
        const deadline = Date.now() + 1500;
        while (!closed && responses(got) === before && Date.now() < deadline) await sleep(2);
      }
      if (!closed) socket.end();
    });
  });
}

const normalize = (t) =>
  t
    .replace(/\r\nDate: [^\r]*/gi, "\r\nDate: -")
    .replace(/\r\nx-request-id: [0-9a-z]+-[0-9a-z]+/gi, "\r\nx-request-id: -")
    .replace(/"reqId":"[0-9a-z]+-[0-9a-z]+"/g, '"reqId":"-"');

/** Where a request framed by its first declared Content-Length would end: the two writes are split there. */
function framedEnd(b) {
  const headEnd = b.indexOf("\r\n\r\n");
  if (headEnd < 0) return b.length;
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(b.toString("latin1", 0, headEnd));
  return Math.min(b.length, headEnd + 4 + (m ? Number(m[1]) : 0));
}

function* cases() {
  for (let i = 0; i <= VALID.length; i++) {
    for (let c = 0; c < 256; c++) {
      if (i < VALID.length && VALID[i] !== c)
        yield [`byte ${i} -> 0x${c.toString(16)}`, Buffer.concat([VALID.subarray(0, i), Buffer.from([c]), VALID.subarray(i + 1)])];
      yield [`0x${c.toString(16)} inserted at ${i}`, Buffer.concat([VALID.subarray(0, i), Buffer.from([c]), VALID.subarray(i)])];
    }
    if (i < VALID.length) yield [`byte ${i} deleted`, Buffer.concat([VALID.subarray(0, i), VALID.subarray(i + 1)])];
  }
}

async function main() {
  const [fastPort, plainPort] = await Promise.all([serve(["--fast-path"]), serve([])]);
  const match = args.match ? new RegExp(args.match) : null;
  const all = [...cases()].filter(([name]) => !match || match.test(name));
  const limit = Number(args.limit);
  const todo = limit > 0 ? all.slice(0, limit) : all;
  process.stderr.write(`${todo.length} requests to each server (${VALID.length}-byte request; ${args.parallel} connections at a time)\n`);
  const t0 = Date.now();
  const differ = [];
  const retried = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < todo.length) {
      const [name, bytes] = todo[next++];
      const cut = framedEnd(bytes);
      const pieces = cut < bytes.length ? [bytes.subarray(0, cut), bytes.subarray(cut)] : [bytes];
      let [a, b] = await Promise.all([exchange(fastPort, pieces), exchange(plainPort, pieces)]);
      if (normalize(a) !== normalize(b)) {
        // once more, before counting it: on a loaded machine a server may miss the 15 s the exchange waits
        retried.push(name);
        [a, b] = await Promise.all([exchange(fastPort, pieces), exchange(plainPort, pieces)]);
      }
      if (normalize(a) !== normalize(b)) {
        differ.push(name);
        process.stderr.write(`DIFFERENT ${name}: ${JSON.stringify(bytes.toString("latin1"))}\n  fast:  ${JSON.stringify(a)}\n  plain: ${JSON.stringify(b)}\n`);
      }
      if (++done % 5000 === 0) process.stderr.write(`  ${done} / ${todo.length} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  };
  await Promise.all(Array.from({ length: Number(args.parallel) }, worker));
  console.log(JSON.stringify({ requests: todo.length, different: differ.length, seconds: (Date.now() - t0) / 1000, first: differ.slice(0, 20) }));
  return differ.length === 0 ? 0 : 1;
}

const stop = () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
};
process.on("exit", stop);
main().then(
  (code) => {
    stop();
    process.exit(code);
  },
  (e) => {
    process.stderr.write(`bench/serve-sweep: ${e.message}\n`);
    stop();
    process.exit(1);
  },
);
