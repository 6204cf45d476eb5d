// POST /predict read straight off the TCP connection. node:http builds an IncomingMessage, a
// ServerResponse, a header object and several stream callbacks per request: on this path that costs more
// than parsing the ride, predicting and answering together. Here a connection is read as bytes; each
// request that is exactly the course's call (HTTP/1.1 POST /predict, JSON, a Content-Length body, nothing
// unusual in its head) is answered from those bytes through the same predictCore() as the node:http path.
// The first request that is anything else hands the connection, with its unread bytes, to node:http for
// the rest of its life: node's own parser then decides (fastify's routes, 4xx for malformed requests,
// chunked bodies, Expect, Upgrade, HTTP/1.0, Connection: close, oversized heads). The fast path never
// answers anything it is not sure of; it only declines.
import { STATUS_CODES, type Server } from "node:http";
import type { Socket } from "node:net";
import { isJsonType, PREDICT_ROUTE, type PredictCore } from "./fast-predict.js";
import { requestIdFrom } from "./request-id.js";

/** node's default --max-http-header-size: a longer head is node:http's to refuse (431). */
const MAX_HEAD = 16 * 1024;
/** Bodies up to this size are read here; larger ones (up to bodyLimit) go through node:http, which streams. */
const MAX_FAST_BODY = 256 * 1024;
const PREFIX = Buffer.from(`POST ${PREDICT_ROUTE}`, "latin1");
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^\/predict(\?[\x21-\x7e]*)?$/;
const NEED_MORE = -1;
const DECLINE = -2;

export interface FastConnections {
  /** At shutdown: close idle connections now; a connection mid-request closes once it is answered. */
  closeIdle(): void;
  /** Connections currently on the fast path, and requests it has answered (tests, diagnosis). */
  readonly size: number;
  readonly answered: number;
}

const installed = new WeakMap<Server, FastConnections>();
/** The fast path installed on `server`, if any. */
export const fastConnectionsOf = (server: Server): FastConnections | undefined => installed.get(server);

interface Parsed {
  contentType: string | undefined;
  requestId: string | undefined;
  length: number;
}

/**
 * Takes over `server`'s connections: each starts on the fast path and moves to node:http (the listener
 * node installed) at its first request the fast path does not take.
 */
export function acceptFast(server: Server, core: PredictCore): FastConnections {
  const [toHttp] = server.listeners("connection") as ((socket: Socket) => void)[];
  if (!toHttp) throw new Error("node:http's connection listener is missing");
  server.removeListener("connection", toHttp);
  const maxBody = Math.min(MAX_FAST_BODY, core.bodyLimit);
  const live = new Set<Socket>();
  const partial = new WeakSet<Socket>(); // holds unanswered bytes: not idle
  let answered = 0;

  let dateSecond = -1;
  let date = "";
  const dateHeader = (): string => {
    const s = Math.floor(Date.now() / 1000);
    if (s !== dateSecond) {
      dateSecond = s;
      date = new Date(s * 1000).toUTCString();
    }
    return date;
  };
  const keepAlive = () => `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}\r\n`;

  /** Reads the head at `off` (which ends at `end`, the blank line) into `p`; false when the fast path declines it. */
  const p: Parsed = { contentType: undefined, requestId: undefined, length: -1 };
  function parseHead(head: string): boolean {
    p.contentType = undefined;
    p.requestId = undefined;
    p.length = -1;
    let line = head.indexOf("\r\n");
    const first = line < 0 ? head : head.slice(0, line);
    if (!first.endsWith(" HTTP/1.1")) return false;
    if (!TARGET.test(first.slice(5, first.length - 9))) return false;
    let host = 0;
    while (line >= 0) {
      const from = line + 2;
      line = head.indexOf("\r\n", from);
      const text = line < 0 ? head.slice(from) : head.slice(from, line);
      const colon = text.indexOf(":");
      if (colon <= 0) return false;
      const name = text.slice(0, colon);
      if (!TOKEN.test(name)) return false; // also refuses obs-fold and space before the colon
      const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      if (!FIELD_VALUE.test(value)) return false;
      switch (name.toLowerCase()) {
        case "host":
          host++;
          break;
        case "content-length":
          if (p.length >= 0 || !/^\d{1,9}$/.test(value)) return false;
          p.length = Number(value);
          break;
        case "content-type":
          if (p.contentType !== undefined) return false;
          p.contentType = value;
          break;
        case "x-request-id":
          if (p.requestId !== undefined) return false;
          p.requestId = value;
          break;
        case "connection":
          if (value.toLowerCase() !== "keep-alive") return false;
          break;
        case "transfer-encoding":
        case "expect":
        case "upgrade":
        case "http2-settings":
          return false;
      }
    }
    return host === 1 && p.length >= 0 && p.length <= maxBody && isJsonType(p.contentType);
  }

  /** Answers the request at `off` into `out`: the offset after it, NEED_MORE, or DECLINE. */
  let out = "";
  function one(data: Buffer, off: number): number {
    const avail = data.length - off;
    const n = Math.min(avail, PREFIX.length);
    if (data.compare(PREFIX, 0, n, off, off + n) !== 0) return DECLINE;
    if (avail <= PREFIX.length) return NEED_MORE;
    const end = data.indexOf(HEAD_END, off);
    if (end < 0) return avail > MAX_HEAD ? DECLINE : NEED_MORE;
    if (end - off > MAX_HEAD || !parseHead(data.toString("latin1", off, end))) return DECLINE;
    const bodyStart = end + 4;
    const next = bodyStart + p.length;
    if (next > data.length) return NEED_MORE;
    const start = performance.now();
    const id = requestIdFrom(p.requestId);
    const text = core.answer(data.toString("utf8", bodyStart, next), id);
    const status = core.status;
    const closing = core.closing();
    out +=
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
      `x-request-id: ${id}\r\nDate: ${dateHeader()}\r\n${closing ? "Connection: close\r\n" : keepAlive()}\r\n${text}`;
    const url = data.toString("latin1", off + 5, data.indexOf(" ", off + 5));
    core.done(id, url, status, start);
    answered++;
    return next;
  }

  server.on("connection", (socket: Socket) => {
    if (core.closing()) return toHttp.call(server, socket); // node:http answers 503 while draining
    live.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(server.keepAliveTimeout);
    let pending: Buffer | null = null;

    const onData = (chunk: Buffer): void => {
      const data: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let off = 0;
      let r = 0;
      out = "";
      while (off < data.length) {
        r = one(data, off);
        if (r < 0) break;
        off = r;
        if (core.closing()) break; // answered with Connection: close; nothing after it is read
      }
      if (out) {
        const text = out;
        out = "";
        if (!socket.write(text)) {
          socket.pause(); // a client that sends faster than it reads waits for its answers
          socket.once("drain", () => live.has(socket) && socket.resume());
        }
      }
      if (core.closing() && off > 0) return void socket.end();
      if (r === DECLINE) return handOff(off < data.length ? data.subarray(off) : null);
      if (off < data.length) {
        pending = Buffer.from(data.subarray(off)); // a copy: `data` may be a slice of a larger pooled buffer
        partial.add(socket);
      } else partial.delete(socket);
    };
    const onEnd = (): void => void socket.end(); // the client is done sending: an unfinished request is dropped
    const onTimeout = (): void => void socket.destroy();
    const onError = (): void => void socket.destroy(); // ECONNRESET and the like: nothing to answer
    const onClose = (): void => void live.delete(socket);

    const handOff = (rest: Buffer | null): void => {
      live.delete(socket);
      partial.delete(socket);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("timeout", onTimeout);
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.setTimeout(0);
      socket.pause(); // node:http attaches its reader; the unread bytes are read first on resume
      if (rest) socket.unshift(rest);
      toHttp.call(server, socket);
      socket.resume();
    };

    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("timeout", onTimeout);
    socket.on("error", onError);
    socket.on("close", onClose);
  });

  const fast: FastConnections = {
    closeIdle() {
      for (const socket of live) if (!partial.has(socket)) socket.destroy();
    },
    get size() {
      return live.size;
    },
    get answered() {
      return answered;
    },
  };
  installed.set(server, fast);
  return fast;
}
