// POST /predict read straight off the TCP connection. node:http builds an IncomingMessage, a
// ServerResponse, a header object and several stream callbacks per request: on this path that costs more
// than parsing the ride, predicting and answering together. Here a connection is read as bytes; each
// request that is exactly the course's call (HTTP/1.1 POST /predict, JSON, a Content-Length body, nothing
// unusual in its head) is answered from those bytes through the same predictCore() as the node:http path.
// The first request that is anything else hands the connection, with its unread bytes, to node:http for
// the rest of its life: node's own parser then decides (fastify's routes, 4xx for malformed requests,
// chunked bodies, Expect, Upgrade, HTTP/1.0, Connection: close, oversized heads). The fast path never
// answers anything it is not sure of; it only declines.
import { maxHeaderSize, STATUS_CODES, type Server } from "node:http";
import type { Socket } from "node:net";
import { PREDICT_ROUTE, type PredictCore } from "./fast-predict.js";
import type { Metrics } from "./metrics.js";
import { requestIdFrom } from "./request-id.js";

/** node's --max-http-header-size (16 KiB unless set): a longer head is node:http's to refuse (431). */
const MAX_HEAD = maxHeaderSize;
/** Bodies up to this size are read here; larger ones (up to bodyLimit) go through node:http, which streams. */
const MAX_FAST_BODY = 256 * 1024;
const PREFIX = Buffer.from(`POST ${PREDICT_ROUTE}`, "latin1");
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
const CRLF = Buffer.from("\r\n", "latin1");
const NEED_MORE = -1;
const DECLINE = -2;

export interface FastConnections {
  /** At shutdown: close idle connections now; a connection mid-request closes once it is answered. */
  closeIdle(): void;
}

interface Parsed {
  contentType: boolean;
  requestId: string | undefined;
  length: number;
  target: string;
}

/** RFC 9110 token characters (header names). */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;
const VERSION = Buffer.from(" HTTP/1.1", "latin1");
const JSON_TYPE = "application/json";

/** Index of the CR ending the line that starts at i (end when the head ends there); -1 for a bare CR, LF or other control byte. */
function lineEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 ? c !== 0x09 : c === 0x7f) return c === 0x0d && b[i + 1] === 0x0a ? i : -1;
  }
  return end;
}

/** The bytes at i spell `lower` in any case (`lower`: lower-case letters, digits and "-"). */
function named(b: Buffer, i: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((b[i + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** application/json, alone or followed by parameters (";") or a space, in any case. */
function isJson(b: Buffer, v: number, ve: number): boolean {
  if (ve - v < JSON_TYPE.length) return false;
  for (let k = 0; k < JSON_TYPE.length; k++) {
    const c = JSON_TYPE.charCodeAt(k);
    if (c === 0x2f ? b[v + k] !== c : (b[v + k]! | 0x20) !== c) return false;
  }
  const next = v + JSON_TYPE.length;
  return next === ve || b[next] === 0x3b || b[next] === 0x20;
}

/**
 * Takes over `server`'s connections: each starts on the fast path and moves to node:http (the listener
 * node installed) at its first request the fast path does not take.
 */
export function acceptFast(server: Server, core: PredictCore, metrics: Metrics): FastConnections {
  const [toHttp] = server.listeners("connection") as ((socket: Socket) => void)[];
  if (!toHttp) throw new Error("node:http's connection listener is missing");
  server.removeListener("connection", toHttp);
  const maxBody = Math.min(MAX_FAST_BODY, core.bodyLimit);
  const live = new Set<Socket>();
  const partial = new WeakSet<Socket>(); // holds unanswered bytes: not idle

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

  /** Reads the head in data[off, end) (end: its blank line) into `p`; false when the fast path declines it. */
  const p: Parsed = { contentType: false, requestId: undefined, length: -1, target: PREDICT_ROUTE };
  function parseHead(b: Buffer, off: number, end: number, complete = true): boolean {
    p.contentType = false;
    p.requestId = undefined;
    p.length = -1;
    // Request line: "POST /predict" (checked by the caller), an optional query, " HTTP/1.1".
    let i = off + PREFIX.length;
    const eol = lineEnd(b, i, end);
    if (eol < 0 || eol - i < VERSION.length || b.compare(VERSION, 0, VERSION.length, eol - VERSION.length, eol) !== 0) return false;
    const targetEnd = eol - VERSION.length;
    if (i < targetEnd) {
      if (b[i] !== 0x3f) return false; // "?"
      for (let k = i + 1; k < targetEnd; k++) if (b[k]! < 0x21 || b[k]! > 0x7e) return false;
      p.target = b.toString("latin1", off + 5, targetEnd);
    } else p.target = PREDICT_ROUTE;
    let host = 0;
    let count = 0;
    const maxCount = server.maxHeadersCount ?? 2000; // node:http drops headers past it (0: no limit)
    i = eol + 2;
    while (i < end) {
      if (++count > maxCount && maxCount > 0) return false;
      let j = i;
      while (TOKEN[b[j]!] === 1) j++;
      if (j === i || b[j] !== 0x3a) return false; // not "name:" (also obs-fold and a space before the colon)
      let v = j + 1;
      while (b[v] === 0x20 || b[v] === 0x09) v++;
      const le = lineEnd(b, v, end);
      if (le < 0) return false;
      let ve = le;
      while (ve > v && (b[ve - 1] === 0x20 || b[ve - 1] === 0x09)) ve--;
      const len = j - i;
      if (len === 4 && named(b, i, "host")) host++;
      else if (len === 14 && named(b, i, "content-length")) {
        if (p.length >= 0 || ve === v || ve - v > 9) return false;
        let n = 0;
        for (let k = v; k < ve; k++) {
          const d = b[k]! - 0x30;
          if (d < 0 || d > 9) return false;
          n = n * 10 + d;
        }
        p.length = n;
      } else if (len === 12 && named(b, i, "content-type")) {
        if (p.contentType) return false;
        p.contentType = isJson(b, v, ve);
        if (!p.contentType) return false;
      } else if (len === 12 && named(b, i, "x-request-id")) {
        if (p.requestId !== undefined) return false;
        p.requestId = b.toString("latin1", v, ve);
      } else if (len === 10 && named(b, i, "connection")) {
        if (ve - v !== 10 || !named(b, v, "keep-alive")) return false;
      } else if (
        (len === 17 && named(b, i, "transfer-encoding")) ||
        (len === 6 && named(b, i, "expect")) ||
        (len === 7 && named(b, i, "upgrade")) ||
        (len === 14 && named(b, i, "http2-settings"))
      ) {
        return false;
      }
      i = le + 2;
    }
    if (!complete) return true; // lines so far are well-formed: the rest of the head may still come
    return host === 1 && p.contentType && p.length >= 0 && p.length <= maxBody;
  }

  /** Answers the request at `off` into `out`: the offset after it, NEED_MORE, or DECLINE. */
  let out = "";
  let headRead = false; // set with NEED_MORE when only the body is still coming
  function one(data: Buffer, off: number): number {
    const avail = data.length - off;
    const n = Math.min(avail, PREFIX.length);
    if (data.compare(PREFIX, 0, n, off, off + n) !== 0) return DECLINE;
    if (avail <= PREFIX.length) return NEED_MORE;
    const end = data.indexOf(HEAD_END, off);
    // Wait for the rest of a head only while node:http would wait too: not past its size limit, and not
    // when the bytes so far hold something it refuses at once. The complete lines must be well-formed
    // (parseHead), the line still arriving free of what lineEnd refuses (a CR as the last byte may still
    // get its LF).
    if (end < 0) {
      if (avail > MAX_HEAD) return DECLINE;
      const lines = data.lastIndexOf(CRLF);
      if (lines > off && !parseHead(data, off, lines, false)) return DECLINE;
      const tailEnd = data[data.length - 1] === 0x0d ? data.length - 1 : data.length;
      return lineEnd(data, lines > off ? lines + 2 : off + PREFIX.length, tailEnd) === tailEnd ? NEED_MORE : DECLINE;
    }
    if (end - off > MAX_HEAD || !parseHead(data, off, end)) return DECLINE;
    const bodyStart = end + 4;
    const next = bodyStart + p.length;
    if (next > data.length) {
      headRead = true;
      return NEED_MORE;
    }
    const start = performance.now();
    const id = requestIdFrom(p.requestId);
    const text = core.answer(data.toString("utf8", bodyStart, next), id);
    const status = core.status;
    const closing = core.closing();
    out +=
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
      `x-request-id: ${id}\r\nDate: ${dateHeader()}\r\n${closing ? "Connection: close\r\n" : keepAlive()}\r\n${text}`;
    core.done(id, p.target, status, start);
    metrics.fastPath("answered");
    return next;
  }

  function clientError(socket: Socket, code: string, message: string): void {
    const err = Object.assign(new Error(message), { code });
    if (server.listenerCount("clientError") > 0) server.emit("clientError", err, socket);
    else socket.end(`HTTP/1.1 ${code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request"}\r\nConnection: close\r\n\r\n`);
  }

  server.on("connection", (socket: Socket) => {
    if (core.closing()) return toHttp.call(server, socket); // node:http answers 503 while draining
    live.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(server.keepAliveTimeout);
    let pending: Buffer | null = null;
    let since = 0; // when the unfinished request began

    const onData = (chunk: Buffer): void => {
      const data: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let off = 0;
      let r = 0;
      out = "";
      headRead = false;
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
        const now = Date.now();
        if (off > 0 || !partial.has(socket)) since = now;
        partial.add(socket);
        // node:http's limits on a request sent slowly (each byte resets the idle timeout, not these)
        const limit = headRead ? server.requestTimeout : server.headersTimeout;
        if (limit > 0 && now - since > limit) clientError(socket, "ERR_HTTP_REQUEST_TIMEOUT", "Request timeout");
      } else partial.delete(socket);
    };
    // A request left unfinished is answered as node:http answers it: through the server's clientError
    // handler (fastify's: 400 at end of input, 408 on timeout), which also closes the connection.
    const onEnd = (): void => (pending ? clientError(socket, "HPE_INVALID_EOF_STATE", "Parse Error: Invalid EOF state") : void socket.end());
    const onTimeout = (): void => (pending ? clientError(socket, "ERR_HTTP_REQUEST_TIMEOUT", "Request timeout") : void socket.destroy());
    const onError = (): void => void socket.destroy(); // ECONNRESET and the like: nothing to answer
    const onClose = (): void => void live.delete(socket);

    const handOff = (rest: Buffer | null): void => {
      metrics.fastPath("handed_off");
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

  return {
    closeIdle() {
      for (const socket of live) if (!partial.has(socket)) socket.destroy();
    },
  };
}
