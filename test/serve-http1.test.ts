// `serve --fast-path`: POST /predict read off the connection's bytes (src/serve/http1.ts), against a real
// server on 127.0.0.1,
// with a raw TCP client so that the exact bytes on the wire are under test: pipelining, requests split at
// every byte, hand-off to node:http mid-connection, every kind of request the fast path must decline,
// backpressure, shutdown. Answers are compared with the predictor and with node:http's own answers. Last,
// the default server (no --fast-path) is shown to be node:http itself. test/serve-llhttp.test.ts holds the
// adversarial differential.
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL } from "../src/artifact/io.js";
import { loadModel } from "../src/runtime/load.js";
import type { RunningServer } from "../src/serve/server.js";
import { client, exchange, fastPathCounts, normalize, type Reply, sleep, post as wirePost } from "./support/http-wire.js";
import { defaultAndBare, fastAndPlain, serveBundled } from "./support/serve-pair.js";

const { predictor } = loadModel(BUNDLED_MODEL);
const RIDE = { PULocationID: 10, DOLocationID: 50, trip_distance: 40 };
const BODY = JSON.stringify(RIDE);
const DURATION = predictor.predict(RIDE);

/** POST /predict as bytes, the ride above by default. */
const post = (body = BODY, extra: string[] = [], target = "/predict") => wirePost(body, extra, target);

describe("serve: POST /predict off the connection's bytes", () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await serveBundled({ bodyLimit: 512 * 1024, fastPath: true });
  });
  afterAll(() => s?.close());

  /** Requests answered off the bytes so far: proves which path answered. */
  const fastAnswered = async () => (await fastPathCounts(s)).answered;

  const requestsFor = async (route: string, status: number) => {
    const text = await (await fetch(s.url + "/metrics")).text();
    const line = text.split("\n").find((l) => l.startsWith(`ridepred_http_requests_total{route="${route}",method="POST",status="${status}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  };

  it("answers pipelined requests in order, with node:http's headers, and counts them", async () => {
    const before = await requestsFor("/predict", 200);
    const fast0 = await fastAnswered();
    const c = client(s.port);
    const rides = [RIDE, { PULocationID: 1, DOLocationID: 2, trip_distance: 0.5 }, { PULocationID: "130", DOLocationID: 205, trip_distance: 3.3 }];
    await c.send(rides.map((r, i) => post(JSON.stringify(r), [`X-Request-Id: pipe-${i}`])).join(""));
    const got = await c.replies(3);
    expect(got.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(got.map((r) => JSON.parse(r.body).duration)).toEqual(rides.map((r) => predictor.predict(r)));
    expect(got.map((r) => r.headers["x-request-id"])).toEqual(["pipe-0", "pipe-1", "pipe-2"]);
    const h = got[0]!.headers;
    expect(h["content-type"]).toBe("application/json; charset=utf-8");
    expect(Number(h["content-length"])).toBe(Buffer.byteLength(got[0]!.body));
    expect(h.connection).toBe("keep-alive");
    expect(h["keep-alive"]).toBe("timeout=72");
    expect(new Date(h.date!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.parse(got[0]!.body)).toEqual({ duration: DURATION, model_version: "2021-01.1" });
    c.end();
    expect(await requestsFor("/predict", 200)).toBe(before + 3);
    expect(await fastAnswered()).toBe(fast0 + 3);
  });

  it("gives the same status line, header names and body as node:http's path for the same request", async () => {
    // Transfer-Encoding: chunked is declined by the fast path, so node:http answers the second.
    const bodies = [BODY, "[" + BODY + "," + BODY + "]", "{oops", "", "42", JSON.stringify({ PULocationID: 10, trip_distance: 4 })];
    for (const body of bodies) {
      const fast0 = await fastAnswered();
      const a = client(s.port);
      await a.send(post(body, ["X-Request-Id: same"]));
      const [fast] = await a.replies(1);
      a.end();
      expect(await fastAnswered(), body).toBe(fast0 + 1);
      const b = client(s.port);
      const chunked = body.length ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : "0\r\n\r\n";
      await b.send(
        ["POST /predict HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Transfer-Encoding: chunked", "X-Request-Id: same", "", chunked].join(
          "\r\n",
        ),
      );
      const [slow] = await b.replies(1);
      b.end();
      expect(await fastAnswered(), body).toBe(fast0 + 1);
      expect(fast!.status, body).toBe(slow!.status);
      expect(fast!.body, body).toBe(slow!.body);
      expect(fast!.names.map((n) => n.toLowerCase()).sort(), body).toEqual(slow!.names.map((n) => n.toLowerCase()).sort());
      for (const k of ["content-type", "content-length", "x-request-id", "connection", "keep-alive"])
        expect(fast!.headers[k], `${body} ${k}`).toBe(slow!.headers[k]);
    }
  });

  it("answers a request that arrives one byte at a time", async () => {
    const fast0 = await fastAnswered();
    const c = client(s.port);
    c.socket.setNoDelay(true);
    const bytes = Buffer.from(post() + post(JSON.stringify([RIDE])));
    for (let i = 0; i < bytes.length; i++) {
      await c.send(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await sleep(1);
    }
    const got = await c.replies(2);
    expect(got.map((r) => r.body)).toEqual([
      JSON.stringify({ duration: DURATION, model_version: "2021-01.1" }),
      JSON.stringify([{ duration: DURATION, model_version: "2021-01.1" }]),
    ]);
    expect(await fastAnswered()).toBe(fast0 + 2);
    c.end();
  });

  it("hands a connection to node:http at its first other request, mid-pipeline, losing no bytes", async () => {
    const fast0 = await fastAnswered();
    const c = client(s.port);
    await c.send(post() + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post(JSON.stringify([RIDE, RIDE])) + post());
    const got = await c.replies(4);
    expect(got.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(JSON.parse(got[0]!.body).duration).toBe(DURATION);
    expect(JSON.parse(got[1]!.body)).toMatchObject({ status: "ok" });
    expect(JSON.parse(got[2]!.body)).toHaveLength(2);
    expect(JSON.parse(got[3]!.body).duration).toBe(DURATION);
    expect(await fastAnswered()).toBe(fast0 + 1); // only the first: the rest went to node:http
    // and the connection stays usable (kept alive by node:http now)
    await c.send(post());
    expect(JSON.parse((await c.replies(1))[0]!.body).duration).toBe(DURATION);
    c.end();
  });

  it("declines what it is not sure of; node:http then answers as it always does", async () => {
    const cases: [string, string, (r: Reply) => void][] = [
      [
        "HTTP/1.0",
        `POST /predict HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
        (r) => expect(JSON.parse(r.body).duration).toBe(DURATION),
      ],
      ["Connection: close", post(BODY, ["Connection: close"]), (r) => expect(r.headers.connection).toBe("close")],
      ["Expect: 100-continue", post(BODY, ["Expect: 100-continue"]), (r) => expect([100, 200]).toContain(r.status)],
      ["two Content-Length", post(BODY, [`Content-Length: ${BODY.length}`]), (r) => expect(r.status).toBe(400)],
      ["Content-Length and Transfer-Encoding", post(BODY, ["Transfer-Encoding: chunked"]), (r) => expect(r.status).toBe(400)],
      [
        "no Host",
        `POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
        (r) => expect(r.status).toBe(400),
      ],
      ["space before the colon", post(BODY, ["X-Thing : 1"]), (r) => expect(r.status).toBe(400)],
      ["obs-fold", post(BODY, ["X-Thing: a", " folded"]), (r) => expect(r.status).toBe(400)],
      ["text/plain", post(BODY).replace("application/json", "text/plain"), (r) => expect(r.status).toBe(415)],
      ["a head over 16 KiB", post(BODY, [`X-Big: ${"a".repeat(17 * 1024)}`]), (r) => expect(r.status).toBe(431)],
      ["/predictions", post(BODY, [], "/predictions"), (r) => expect(r.status).toBe(404)],
      ["lower-case method", post(BODY).replace("POST", "post"), (r) => expect(r.status).toBe(400)],
      ["PUT", post(BODY).replace("POST", "PUT"), (r) => expect(r.status).toBe(405)],
      ["a bare LF inside a header", post(BODY, ["X-A: a\nb"]), (r) => expect(r.status).toBe(400)],
      ["a control byte in a value", post(BODY, ["X-A: a\x01b"]), (r) => expect(r.status).toBe(400)],
      ["application/jsonp", post(BODY).replace("application/json", "application/jsonp"), (r) => expect(r.status).toBe(415)],
      ["a signed Content-Length", post(BODY).replace(`Content-Length: ${BODY.length}`, `Content-Length: +${BODY.length}`), (r) => expect(r.status).toBe(400)],
      ["a space in the target", post(BODY, [], "/predict?a b"), (r) => expect(r.status).toBe(400)],
      ["HTTP/1.2", post(BODY).replace("HTTP/1.1", "HTTP/1.2"), (r) => expect(r.status).toBe(400)], // node:http refuses it too
      // node:http reads 2,000 headers (maxHeadersCount) and drops the rest: here Content-Type and Content-Length
      [
        "2,001 headers",
        `POST /predict HTTP/1.1\r\nHost: a\r\n${"a:\r\n".repeat(2000)}Content-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
        (r) => expect(r.status).toBe(400),
      ],
    ];
    const fast0 = await fastAnswered();
    for (const [name, bytes, check] of cases) {
      const c = client(s.port);
      await c.send(bytes);
      const [r] = await c.replies(1);
      expect(r, name).toBeDefined();
      check(r!);
      c.end();
    }
    expect(await fastAnswered()).toBe(fast0);
  });

  it("a head that node:http refuses before it is complete is refused as soon, not waited on", async () => {
    const heads = ["POST /predict HTTP/1.1\nHost: x\n", "POST /predict HTTP/1.1\r\nHost: x\rY", "POST /predict HTTP/1.1\r\nX-A: \x00"];
    heads.push(
      "POST /predict HTTP/1.1\r\nHo st: a\r\n",
      "POST /predict HTTP/1.1\r\nHost a\r\n",
      "POST /predict\xff HTTP/1.1\r\n",
      "POST /predict HTTP/9.9\r\n",
      "POST /predict HTTP/1.1\r\nHost : a\r\n",
      "POST /predict HTTP/1.1\r\nHost: a\r\n folded\r\n",
      "POST /predict HTTP/1.1\r\nContent-Length: 1x\r\n",
      "POST /pre\tdict HTTP/1.1\r\n",
      "POST /predict?a\tb HTTP/1.1\r\n",
    );
    for (const bytes of heads) {
      const c = client(s.port);
      await c.send(Buffer.from(bytes, "latin1")); // no blank line, no half-close: node:http answers at once
      const [r] = await c.replies(1, 1500);
      expect(r?.status, JSON.stringify(bytes)).toBe(400);
      c.end();
    }
  });

  it("bodies over 256 KiB go through node:http; over the limit is a 413 envelope", async () => {
    const many = JSON.stringify(Array.from({ length: 6000 }, () => RIDE)); // ~330 KB
    const c = client(s.port);
    await c.send(post(many));
    const [r] = await c.replies(1, 10_000);
    expect(r!.status).toBe(200);
    expect(JSON.parse(r!.body)).toHaveLength(6000);
    c.end();
    const big = JSON.stringify(Array.from({ length: 12_000 }, () => RIDE)); // ~670 KB > 512 KiB
    const d = client(s.port);
    await d.send(post(big));
    const [t] = await d.replies(1, 10_000);
    expect(t!.status).toBe(413);
    expect(JSON.parse(t!.body).details[0].field).toBe("body");
    d.end();
  });

  it("a client that sends faster than it reads gets every answer (backpressure, no loss)", async () => {
    const n = 20_000;
    const c = client(s.port);
    c.socket.pause(); // read nothing while sending ~2.5 MB of requests
    const one = post();
    const all = one.repeat(n);
    const sent = c.send(all);
    await sleep(300);
    c.socket.resume();
    await sent;
    const got = await c.replies(n, 20_000);
    expect(got).toHaveLength(n);
    expect(got.every((r) => r.status === 200 && JSON.parse(r.body).duration === DURATION)).toBe(true);
    c.end();
  });

  it("a client that half-closes after its request still gets the answer, then the close", async () => {
    const c = client(s.port);
    c.socket.end(post());
    const [r] = await c.replies(1);
    expect(JSON.parse(r!.body).duration).toBe(DURATION);
    expect(await c.waitClosed()).toBe(true);
  });
});

describe("serve: timeouts on the fast path", () => {
  it("an idle connection closes after keepAliveTimeout; one stuck mid-request gets fastify's 408 first", async () => {
    const s = await serveBundled({ fastPath: true });
    try {
      s.app.server.keepAliveTimeout = 300;
      const idle = client(s.port);
      await idle.send(post());
      expect((await idle.replies(1))[0]!.headers["keep-alive"]).toBe("timeout=0");
      const stuck = client(s.port);
      await stuck.send(post().slice(0, 40));
      const t0 = Date.now();
      expect(await idle.waitClosed(3000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThan(150);
      const [r] = await stuck.replies(1, 3000);
      expect(r!.status).toBe(408);
      expect(await stuck.waitClosed()).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe("serve: a request sent slowly (every byte resets the idle timeout)", () => {
  it("is cut by node:http's headersTimeout for the head and requestTimeout for the body, with fastify's 408", async () => {
    const s = await serveBundled({ fastPath: true });
    try {
      s.app.server.headersTimeout = 400;
      s.app.server.requestTimeout = 800;
      const bytes = post();
      const headEnd = bytes.indexOf("\r\n\r\n") + 4;
      for (const [from, label] of [
        [0, "head"],
        [headEnd, "body"],
      ] as const) {
        const c = client(s.port);
        await c.send(bytes.slice(0, from));
        const t0 = Date.now();
        for (let i = from; i < bytes.length - 1 && !c.closed; i++) {
          await c.send(bytes[i]!);
          await sleep(label === "head" ? 40 : 150);
        }
        const [r] = await c.replies(1, 2000);
        expect(r?.status, label).toBe(408);
        expect(Date.now() - t0, label).toBeGreaterThanOrEqual(label === "head" ? 400 : 800);
        expect(await c.waitClosed(), label).toBe(true);
      }
      const ok = client(s.port); // a request sent at once is unaffected
      await ok.send(post());
      expect((await ok.replies(1))[0]!.status).toBe(200);
      ok.end();
    } finally {
      await s.close();
    }
  });
});

describe("serve: shutdown with connections on the fast path", () => {
  it("closes idle connections, answers a request caught half-sent with Connection: close, and resolves", async () => {
    const s = await serveBundled({ fastPath: true });
    const idle = client(s.port);
    await idle.send(post());
    await idle.replies(1);
    const busy = client(s.port);
    await busy.send(post());
    await busy.replies(1);
    const bytes = post();
    await busy.send(bytes.slice(0, bytes.length - 5)); // mid-body
    await sleep(50);
    const closed = s.close();
    expect(await idle.waitClosed()).toBe(true);
    await sleep(50);
    await busy.send(bytes.slice(bytes.length - 5));
    const [r] = await busy.replies(1);
    expect(r!.status).toBe(200);
    expect(r!.headers.connection).toBe("close");
    expect(JSON.parse(r!.body).duration).toBe(DURATION);
    expect(await busy.waitClosed()).toBe(true);
    await closed;
    const answeredAtClose = (await fastPathCounts(s)).answered;
    // idle, busy, and the one caught half-sent: all three answered off the bytes
    expect(answeredAtClose).toBe(3);
  });
});

// Differential: the same bytes sent to a server with the fast path and to one without it (node:http reads
// every request) must get the same answers, byte for byte once the Date and generated request ids are
// set aside. Requests are generated from a seeded grammar of what clients send and get wrong, pipelined
// one to three per connection, split at random points, then the client half-closes.
describe("serve: the fast path answers exactly as node:http would (differential, seeded)", () => {
  const servers = fastAndPlain();

  let seed = 20261125;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;

  function request(): string {
    // Half are a client's ordinary call, varied only in ways the fast path takes; half anything goes.
    const ordinary = chance(0.5);
    const body = pick([
      BODY,
      JSON.stringify({ PULocationID: 130, DOLocationID: "205", trip_distance: 3.25 }),
      JSON.stringify([RIDE, { PULocationID: 1, DOLocationID: 2, trip_distance: 9 }]),
      JSON.stringify({ PULocationID: "é", DOLocationID: 2, trip_distance: 1 }),
      JSON.stringify({ PULocationID: 10, trip_distance: "far" }),
      "{oops",
      "",
      "null",
      "[]",
    ]);
    if (ordinary) {
      const len = Buffer.byteLength(body);
      const head = [
        pick(["Host: 127.0.0.1:9696", "host: x"]),
        pick(["Content-Type: application/json", "content-type: application/json; charset=UTF-8"]),
        pick([`Content-Length: ${len}`, `content-length:  ${len} `]),
      ];
      if (chance(0.5))
        head.push(pick(["X-Request-Id: req-42", "Accept: application/json", "Connection: keep-alive", "User-Agent: backend/2.1", "X-Forwarded-For: 10.0.0.1"]));
      return `POST ${pick(["/predict", "/predict?v=2"])} HTTP/1.1\r\n${head.join("\r\n")}\r\n\r\n${body}`;
    }
    const method = chance(0.9) ? "POST" : pick(["post", "PUT", "GET", "POST "]);
    const target = chance(0.8)
      ? "/predict"
      : pick(["/predict?x=1", "/predict?a=b&c=%20", "/predict?q={}|^`\\", "/predictions", "/Predict", "/predict#f", "//predict"]);
    const version = chance(0.92) ? "HTTP/1.1" : pick(["HTTP/1.0", "HTTP/1.2", "http/1.1", "HTTP/2.0"]);
    const headers: string[] = [];
    if (chance(0.95)) headers.push(pick(["Host: 127.0.0.1", "host: x", "HOST:y", "Host: a\tb "]));
    if (chance(0.03)) headers.push("Host: again");
    if (chance(0.95))
      headers.push(
        pick([
          "Content-Type: application/json",
          "content-type: APPLICATION/JSON; charset=utf-8",
          "Content-Type:application/json ",
          "Content-Type: application/jsonx",
          "Content-Type: text/plain",
          "Content-Type:",
        ]),
      );
    const len = Buffer.byteLength(body);
    if (chance(0.93)) headers.push(pick([`Content-Length: ${len}`, `content-length:${len}`, `Content-Length: ${len}  `, `Content-Length: 0${len}`]));
    else
      headers.push(
        pick([
          `Content-Length: +${len}`,
          `Content-Length: ${len}, ${len}`,
          `Content-Length: ${len}\r\nContent-Length: ${len}`,
          "Transfer-Encoding: chunked",
          `Content-Length: ${len} x`,
        ]),
      );
    for (let i = 0; i < 3; i++) {
      if (chance(0.25))
        headers.push(
          pick([
            "X-Request-Id: abc-123",
            "X-Request-Id: not sane",
            "Accept: */*",
            "User-Agent: fuzz/1.0 (é)",
            "Connection: keep-alive",
            "Connection: close",
            "Expect: 100-continue",
            "X-Empty:",
            "X-Tab:\tv\t",
            "X Bad: 1",
            "X-Ctl: a\x01b",
            "X-Obs: a\r\n b",
            "X-Bare: a\nb",
            "X-Del: \x7f",
          ]),
        );
    }
    for (let i = headers.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [headers[i], headers[j]] = [headers[j]!, headers[i]!];
    }
    const eol = chance(0.97) ? "\r\n" : "\n";
    const chunked = headers.includes("Transfer-Encoding: chunked") ? (len ? `${len.toString(16)}\r\n${body}\r\n0\r\n\r\n` : "0\r\n\r\n") : body;
    return `${method} ${target} ${version}${eol}${headers.join(eol)}${eol}${eol}${chunked}`;
  }

  it("300 generated connections: same bytes back from both", async () => {
    const { fast, plain } = servers;
    const before = (await fastPathCounts(fast)).answered;
    for (let n = 0; n < 300; n++) {
      const requests = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => {
        const bytes = Buffer.from(request(), "utf8"); // Content-Length counts UTF-8 bytes
        // split points: none, or a few random ones
        const cuts = chance(0.5) ? [] : Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * bytes.length)).sort((a, b) => a - b);
        const pieces: Buffer[] = [];
        let at = 0;
        for (const c of [...cuts, bytes.length]) {
          if (c > at) pieces.push(bytes.subarray(at, c));
          at = Math.max(at, c);
        }
        return pieces;
      });
      if (chance(0.1)) {
        // the client gives up mid-request: the last one loses its tail before the half-close
        const last = Buffer.concat(requests.pop()!);
        requests.push([last.subarray(0, Math.floor(rand() * last.length))]);
      }
      const [a, b] = await Promise.all([exchange(fast.port, requests), exchange(plain.port, requests)]);
      const sent = requests.map((r) => Buffer.concat(r).toString("latin1")).join("");
      expect(normalize(a), `case ${n}: ${JSON.stringify(sent)}`).toBe(normalize(b));
    }
    expect((await fastPathCounts(fast)).answered - before).toBeGreaterThan(200); // the ordinary calls before a connection's first odd request
    expect(await fastPathCounts(plain)).toEqual({ answered: 0, handedOff: 0 });
  }, 120_000);
});

// Without --fast-path the server is node:http: its connection listener is node's own, so llhttp reads every
// byte, and what a bare node:http server refuses it refuses too (same status, connection closed the same
// way), including the requests on which the byte-level path once disagreed with node:http.
describe("serve: the default server is node:http", () => {
  const servers = defaultAndBare();

  it("has node:http's own connection listener (no byte-level reader in front)", () => {
    const nodes = createServer().listeners("connection");
    expect(servers.s.app.server.listeners("connection")).toEqual(nodes);
  });

  it("answers and closes like a bare node:http server on what node:http refuses or treats specially", async () => {
    const cases: [string, string, boolean][] = [
      // [name, bytes, complete (else a partial head, refused without waiting for more)]
      ["Content-Length with a trailing tab", post(BODY).replace(`Content-Length: ${BODY.length}`, `Content-Length: ${BODY.length}\t`), true],
      ["Content-Length with a space then a tab", post(BODY).replace(`Content-Length: ${BODY.length}`, `Content-Length: ${BODY.length} \t`), true],
      ["Proxy-Connection: close", post(BODY, ["Proxy-Connection: close"]), true],
      ["proxy-connection in a list", post(BODY, ["proxy-connection: foo, CLOSE"]), true],
      ["space before a colon", "POST /predict HTTP/1.1\r\nHost : x\r\n", false],
      ["space in a header name", "POST /predict HTTP/1.1\r\nHo st: x\r\n", false],
      ["obs-fold", "POST /predict HTTP/1.1\r\nHost: x\r\n folded\r\n", false],
      ["HTTP/9.9", "POST /predict HTTP/9.9\r\n", false],
      ["Content-Length: 1x", "POST /predict HTTP/1.1\r\nContent-Length: 1x\r\n", false],
      ["a tab in the target", "POST /pre\tdict HTTP/1.1\r\n", false],
      ["0xFF in the target", "POST /predict\xff HTTP/1.1\r\n", false],
    ];
    for (const [name, bytes, complete] of cases) {
      const answers = await Promise.all(
        [servers.s.port, servers.barePort].map(async (port) => {
          const c = client(port);
          await c.send(Buffer.from(bytes, "latin1"));
          const [r] = await c.replies(1, complete ? 5000 : 1500); // a partial head is refused at once, or not at all
          const closed = await c.waitClosed(complete ? 300 : 1000);
          c.end();
          return { status: r?.status, closed };
        }),
      );
      expect(answers[0], name).toEqual(answers[1]);
      expect(answers[0]!.status, name).toBeDefined();
    }
  });
});
