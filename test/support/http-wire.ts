// HTTP/1.1 on the wire for the serve tests: requests as bytes, a raw TCP client, a response parser, and
// the fast path's own counters (ridepred_fast_path_total). Raw sockets put the exact bytes
// under test; fetch would normalise them away.
import { connect, type Socket } from "node:net";

export interface Reply {
  status: number;
  headers: Record<string, string>;
  names: string[];
  body: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST `target` as bytes with a JSON body, Host, Content-Type and Content-Length, then `extra` header lines. */
export function post(body: string, extra: string[] = [], target = "/predict"): string {
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
export function parseReplies(buf: Buffer): { replies: Reply[]; rest: Buffer } {
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
export function client(port: number) {
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

/**
 * Sends each request's pieces with short pauses, then waits for its answer (or `wait` ms, or the close)
 * before the next: node:http reading a pipeline in one packet may refuse a later request before it
 * answers an earlier one, which the fast path does answer. Then half-closes; resolves with every byte
 * received until the close ("<timeout>" appended if the server never closed).
 */
export function exchange(port: number, requests: Buffer[][], wait = 300): Promise<string> {
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
          if (pieces.length > 1) await sleep(2);
        }
        const deadline = Date.now() + wait;
        while (!closed && parseReplies(got).replies.length === answered && Date.now() < deadline) await sleep(2);
      }
      if (!closed) socket.end();
    });
  });
}

/** Bytes received, with what legitimately differs between two servers (Date, generated request ids) blanked. */
export const normalize = (text: string) =>
  text
    .replace(/\r\nDate: [^\r]*/gi, "\r\nDate: -")
    .replace(/\r\nx-request-id: [0-9a-z]+-[0-9a-z]+/gi, "\r\nx-request-id: -")
    .replace(/"reqId":"[0-9a-z]+-[0-9a-z]+"/g, '"reqId":"-"');

/** The fast path's counters (ridepred_fast_path_total): requests it answered, connections it handed to node:http. */
export async function fastPathCounts(s: { metrics: { registry: { metrics(): Promise<string> } } }): Promise<{ answered: number; handedOff: number }> {
  const text = await s.metrics.registry.metrics();
  const value = (outcome: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`ridepred_fast_path_total{outcome="${outcome}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  };
  return { answered: value("answered"), handedOff: value("handed_off") };
}
