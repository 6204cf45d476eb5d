// POST /predict read off the connection's bytes (src/serve/http1.ts), against a real server on 127.0.0.1,
// with a raw TCP client so that the exact bytes on the wire are under test: pipelining, requests split at
// every byte, hand-off to node:http mid-connection, every kind of request the fast path must decline,
// backpressure, shutdown. Answers are compared with the predictor and with node:http's own answers.
import { connect, type Socket } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL } from "../src/artifact/io.js";
import { loadModel } from "../src/runtime/load.js";
import { fastConnectionsOf } from "../src/serve/http1.js";
import { startServer, type RunningServer } from "../src/serve/server.js";

const { predictor } = loadModel(BUNDLED_MODEL);
const RIDE = { PULocationID: 10, DOLocationID: 50, trip_distance: 40 };
const BODY = JSON.stringify(RIDE);
const DURATION = predictor.predict(RIDE);

interface Reply {
  status: number;
  headers: Record<string, string>;
  names: string[];
  body: string;
}

/** POST /predict as bytes; `head` lines replace the defaults when given. */
function post(body = BODY, extra: string[] = [], target = "/predict"): string {
  return [
    `POST ${target} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...extra,
    "",
    body,
  ].join("\r\n");
}

/** Parses complete HTTP/1.1 responses (Content-Length or chunked bodies) off the front of `buf`. */
function parseReplies(buf: Buffer): { replies: Reply[]; rest: Buffer } {
  const replies: Reply[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", off);
    if (end < 0) break;
    const lines = buf.toString("latin1", off, end).split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers: Record<string, string> = {};
    const names: string[] = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      names.push(l.slice(0, i));
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let bodyEnd: number;
    let body: string;
    if (headers["transfer-encoding"] === "chunked") {
      let p = end + 4;
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf("\r\n", p);
        if (le < 0) return { replies, rest: buf.subarray(off) };
        const size = parseInt(buf.toString("latin1", p, le), 16);
        if (le + 2 + size + 2 > buf.length) return { replies, rest: buf.subarray(off) };
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
        if (size === 0) break;
      }
      bodyEnd = p;
      body = Buffer.concat(parts).toString("utf8");
    } else {
      const n = Number(headers["content-length"] ?? 0);
      if (end + 4 + n > buf.length) break;
      bodyEnd = end + 4 + n;
      body = buf.toString("utf8", end + 4, bodyEnd);
    }
    replies.push({ status, headers, names, body });
    off = bodyEnd;
  }
  return { replies, rest: buf.subarray(off) };
}

/** A raw connection: send bytes, wait for n responses (or the close). */
function client(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  let buf = Buffer.alloc(0);
  const got: Reply[] = [];
  let closed = false;
  let wake: (() => void) | null = null;
  socket.on("data", (d) => {
    const r = parseReplies(Buffer.concat([buf, d]));
    got.push(...r.replies);
    buf = Buffer.from(r.rest);
    wake?.();
  });
  socket.on("close", () => {
    closed = true;
    wake?.();
  });
  socket.on("error", () => undefined);
  return {
    socket,
    get closed() {
      return closed;
    },
    send: (bytes: string | Buffer) => new Promise<void>((res) => socket.write(bytes, () => res())),
    async replies(n: number, ms = 5000): Promise<Reply[]> {
      const deadline = Date.now() + ms;
      while (got.length < n && !closed && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
      return got.splice(0, n);
    },
    async waitClosed(ms = 3000): Promise<boolean> {
      const deadline = Date.now() + ms;
      while (!closed && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 50)));
      return closed;
    },
    end: () => socket.destroy(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("serve: POST /predict off the connection's bytes", () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }), bodyLimit: 512 * 1024 });
  });
  afterAll(() => s?.close());

  /** Requests answered off the bytes so far: proves which path answered. */
  const fastAnswered = () => fastConnectionsOf(s.app.server)!.answered;

  const requestsFor = async (route: string, status: number) => {
    const text = await (await fetch(s.url + "/metrics")).text();
    const line = text.split("\n").find((l) => l.startsWith(`ridepred_http_requests_total{route="${route}",method="POST",status="${status}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  };

  it("answers pipelined requests in order, with node:http's headers, and counts them", async () => {
    const before = await requestsFor("/predict", 200);
    const fast0 = fastAnswered();
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
    expect(fastAnswered()).toBe(fast0 + 3);
  });

  it("gives the same status line, header names and body as node:http's path for the same request", async () => {
    // Transfer-Encoding: chunked is declined by the fast path, so node:http answers the second.
    const bodies = [BODY, "[" + BODY + "," + BODY + "]", "{oops", "", "42", JSON.stringify({ PULocationID: 10, trip_distance: 4 })];
    for (const body of bodies) {
      const fast0 = fastAnswered();
      const a = client(s.port);
      await a.send(post(body, ["X-Request-Id: same"]));
      const [fast] = await a.replies(1);
      a.end();
      expect(fastAnswered(), body).toBe(fast0 + 1);
      const b = client(s.port);
      const chunked = body.length ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : "0\r\n\r\n";
      await b.send(
        ["POST /predict HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Transfer-Encoding: chunked", "X-Request-Id: same", "", chunked].join(
          "\r\n",
        ),
      );
      const [slow] = await b.replies(1);
      b.end();
      expect(fastAnswered(), body).toBe(fast0 + 1);
      expect(fast!.status, body).toBe(slow!.status);
      expect(fast!.body, body).toBe(slow!.body);
      expect(fast!.names.map((n) => n.toLowerCase()).sort(), body).toEqual(slow!.names.map((n) => n.toLowerCase()).sort());
      for (const k of ["content-type", "content-length", "x-request-id", "connection", "keep-alive"])
        expect(fast!.headers[k], `${body} ${k}`).toBe(slow!.headers[k]);
    }
  });

  it("answers a request that arrives one byte at a time", async () => {
    const fast0 = fastAnswered();
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
    expect(fastAnswered()).toBe(fast0 + 2);
    c.end();
  });

  it("hands a connection to node:http at its first other request, mid-pipeline, losing no bytes", async () => {
    const fast0 = fastAnswered();
    const c = client(s.port);
    await c.send(post() + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post(JSON.stringify([RIDE, RIDE])) + post());
    const got = await c.replies(4);
    expect(got.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(JSON.parse(got[0]!.body).duration).toBe(DURATION);
    expect(JSON.parse(got[1]!.body)).toMatchObject({ status: "ok" });
    expect(JSON.parse(got[2]!.body)).toHaveLength(2);
    expect(JSON.parse(got[3]!.body).duration).toBe(DURATION);
    expect(fastAnswered()).toBe(fast0 + 1); // only the first: the rest went to node:http
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
    const fast0 = fastAnswered();
    for (const [name, bytes, check] of cases) {
      const c = client(s.port);
      await c.send(bytes);
      const [r] = await c.replies(1);
      expect(r, name).toBeDefined();
      check(r!);
      c.end();
    }
    expect(fastAnswered()).toBe(fast0);
  });

  it("a head that node:http refuses before it is complete is refused as soon, not waited on", async () => {
    const heads = ["POST /predict HTTP/1.1\nHost: x\n", "POST /predict HTTP/1.1\r\nHost: x\rY", "POST /predict HTTP/1.1\r\nX-A: \x00"];
    heads.push(
      "POST /predict HTTP/1.1\r\nHo st: a\r\n",
      "POST /predict HTTP/1.1\r\nHost a\r\n",
      "POST /predict\xff HTTP/1.1\r\n",
      "POST /predict HTTP/9.9\r\n",
    );
    for (const bytes of heads) {
      const c = client(s.port);
      await c.send(bytes); // no blank line, no half-close: node:http answers at once
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
    expect(fastConnectionsOf(s.app.server)!.size).toBeGreaterThan(0);
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
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }) });
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
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }) });
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
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }) });
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
    expect(fastConnectionsOf(s.app.server)!.answered).toBe(3); // idle, busy, and the one caught half-sent
  });
});

// Differential: the same bytes sent to a server with the fast path and to one without it (node:http reads
// every request) must get the same answers, byte for byte once the Date and generated request ids are
// set aside. Requests are generated from a seeded grammar of what clients send and get wrong, pipelined
// one to three per connection, split at random points, then the client half-closes.
describe("serve: the fast path answers exactly as node:http would (differential, seeded)", () => {
  let fast: RunningServer;
  let plain: RunningServer;
  beforeAll(async () => {
    const logger = pino({ level: "silent" });
    [fast, plain] = await Promise.all([
      startServer({ model: BUNDLED_MODEL, port: 0, logger, fastPath: true }),
      startServer({ model: BUNDLED_MODEL, port: 0, logger, fastPath: false }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), plain?.close()]);
  });

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

  /**
   * Sends each request's pieces with pauses, then waits for its answer (or 300 ms, or the close) before
   * the next: node:http reading a pipeline in one packet may refuse a later request before it answers an
   * earlier one, which the fast path does answer. Then half-closes; returns all bytes until the close.
   */
  function exchange(port: number, requests: Buffer[][]): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.setNoDelay(true);
      let got = Buffer.alloc(0);
      let closed = false;
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(got.toString("latin1") + "<timeout>");
      }, 5000);
      socket.on("data", (d) => (got = Buffer.concat([got, d])));
      socket.on("error", () => undefined);
      socket.on("close", () => {
        closed = true;
        clearTimeout(timer);
        resolve(got.toString("latin1"));
      });
      socket.on("connect", async () => {
        for (const pieces of requests) {
          const answered = parseReplies(got).replies.length;
          for (const p of pieces) {
            if (closed) return;
            socket.write(p);
            await sleep(2);
          }
          const deadline = Date.now() + 300; // room for a loaded machine (some requests get no answer until more bytes come)
          while (!closed && parseReplies(got).replies.length === answered && Date.now() < deadline) await sleep(2);
        }
        if (!closed) socket.end();
      });
    });
  }

  const normalize = (text: string) =>
    text
      .replace(/\r\nDate: [^\r]*/gi, "\r\nDate: -")
      .replace(/\r\nx-request-id: [0-9a-z]+-[0-9a-z]+/gi, "\r\nx-request-id: -")
      .replace(/"reqId":"[0-9a-z]+-[0-9a-z]+"/g, '"reqId":"-"');

  it("300 generated connections: same bytes back from both", async () => {
    let fastAnswered = 0;
    const before = fastConnectionsOf(fast.app.server)!.answered;
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
    fastAnswered = fastConnectionsOf(fast.app.server)!.answered - before;
    expect(fastAnswered).toBeGreaterThan(200); // the ordinary calls before a connection's first odd request
    expect(fastConnectionsOf(plain.app.server)).toBeUndefined();
  }, 120_000);
});
