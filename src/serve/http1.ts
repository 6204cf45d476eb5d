// `serve --fast-path`: POST /predict read straight off the TCP connection, for deployments behind a
// trusted proxy. node:http builds an IncomingMessage, a ServerResponse, a header object and several stream
// callbacks per request; here a connection is read as bytes, and each request that is exactly the
// course's call (http1-head.ts says which) is answered from those bytes through the same PredictCore as
// the node:http path. The first request that is anything else hands the connection, with its unread
// bytes, to node:http for the rest of its life: llhttp then decides. The rule: answer only what llhttp
// would accept and answer the same way; hand everything else over.
//
// Reading, one stage per function: FastConnection.onData appends what arrived (Pending) and answers
// every complete request in it (answerNext); the Head reader says when a head is complete, still
// arriving, or not one to answer here; Responder writes the answer; handOff gives the socket to node:http.
import { maxHeaderSize, STATUS_CODES, type Server } from "node:http";
import type { Socket } from "node:net";
import type { PredictCore } from "./fast-predict.js";
import { DECLINE, Head, NEED_MORE } from "./http1-head.js";
import { Pending } from "./http1-pending.js";
import type { Metrics } from "./metrics.js";
import { requestIdFrom } from "./request-id.js";

/** Bodies up to this size are read here; larger ones (up to bodyLimit) go through node:http, which streams. */
const MAX_FAST_BODY = 256 * 1024;

export interface FastConnections {
  /** At shutdown: close idle connections now; a connection mid-request closes once it is answered. */
  closeIdle(): void;
}

/**
 * Takes over `server`'s connections: each starts on the fast path and moves to node:http (the listener
 * node installed) at its first request the fast path does not take.
 */
export function acceptFast(server: Server, core: PredictCore, metrics: Metrics): FastConnections {
  const [toHttp] = server.listeners("connection") as ((socket: Socket) => void)[];
  if (!toHttp) throw new Error("node:http's connection listener is missing");
  server.removeListener("connection", toHttp);
  const live = new Set<FastConnection>();
  const shared: Shared = {
    server,
    core,
    metrics,
    respond: responder(server),
    toHttp: (socket) => toHttp.call(server, socket),
    live,
    maxBody: Math.min(MAX_FAST_BODY, core.bodyLimit),
  };
  server.on("connection", (socket: Socket) => {
    if (core.closing()) return shared.toHttp(socket); // node:http answers 503 while draining
    live.add(new FastConnection(socket, shared));
  });
  return {
    closeIdle() {
      for (const c of live) if (c.idle) c.socket.destroy();
    },
  };
}

interface Shared {
  server: Server;
  core: PredictCore;
  metrics: Metrics;
  respond: (status: number, text: string, id: string, closing: boolean) => string;
  toHttp: (socket: Socket) => void;
  live: Set<FastConnection>;
  maxBody: number;
}

/** The answer's bytes, with the headers node:http's path sends, in its order (Date cached per second, as node does). */
function responder(server: Server): Shared["respond"] {
  let dateSecond = -1;
  let date = "";
  return (status, text, id, closing) => {
    const s = Math.floor(Date.now() / 1000);
    if (s !== dateSecond) {
      dateSecond = s;
      date = new Date(s * 1000).toUTCString();
    }
    const connection = closing ? "Connection: close" : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}`;
    return (
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n` +
      `x-request-id: ${id}\r\nDate: ${date}\r\n${connection}\r\n\r\n${text}`
    );
  };
}

class FastConnection {
  private readonly pending = new Pending();
  private readonly head: Head;
  /** When the unanswered request began (node:http's headersTimeout and requestTimeout count from there). */
  private since = 0;
  private out = "";

  constructor(
    readonly socket: Socket,
    private readonly s: Shared,
  ) {
    this.head = new Head(maxHeaderSize, s.server.maxHeadersCount ?? 2000, s.maxBody);
    socket.setNoDelay(true);
    socket.setTimeout(s.server.keepAliveTimeout);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("timeout", this.onTimeout);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  /** No request under way: safe to close at shutdown. */
  get idle(): boolean {
    return this.pending.size === 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    // Read from the chunk itself when nothing is pending (the usual case: one request per packet).
    let data = chunk;
    let off = 0;
    let end = chunk.length;
    if (this.pending.size > 0) {
      this.pending.append(chunk, 0, chunk.length);
      ({ buf: data, start: off, end } = this.pending);
    }
    const core = this.s.core;
    let r = 0;
    while (off < end) {
      r = this.answerNext(data, off, end);
      if (r < 0) break;
      off = r;
      if (core.closing()) break; // answered with Connection: close; nothing after it is read
    }
    this.flush();
    if (core.closing() && off > 0) this.socket.end();
    else if (r === DECLINE) this.handOff(data.subarray(off, end));
    else this.keep(data, chunk, off, end);
  };

  /** Answers the request at data[off] into `out`: the offset after it, NEED_MORE or DECLINE. */
  private answerNext(data: Buffer, off: number, end: number): number {
    const head = this.head;
    const bodyStart = head.bodyStart >= 0 ? head.bodyStart : head.read(data, off, end);
    if (bodyStart < 0) return bodyStart;
    const next = off + bodyStart + head.length;
    if (next > end) return NEED_MORE;
    const { core, respond } = this.s;
    const start = performance.now();
    const id = requestIdFrom(head.requestId);
    const text = core.answer(data.toString("utf8", off + bodyStart, next), id);
    const status = core.status;
    this.out += respond(status, text, id, core.closing());
    core.done(id, head.target, status, start);
    this.s.metrics.fastPath("answered");
    head.reset();
    return next;
  }

  /** Writes the answers of this read; a client that sends faster than it reads waits for them. */
  private flush(): void {
    if (!this.out) return;
    const text = this.out;
    this.out = "";
    if (!this.socket.write(text)) {
      this.socket.pause();
      this.socket.once("drain", () => this.s.live.has(this) && this.socket.resume());
    }
  }

  /** Keeps the unanswered bytes data[off, end) for the next read, and applies node:http's limits on a slow request. */
  private keep(data: Buffer, chunk: Buffer, off: number, end: number): void {
    const { pending, head } = this;
    const started = pending.size === 0 || off > pending.start; // a new request began in this read
    if (data === chunk) {
      pending.clear();
      if (off < end) pending.append(chunk, off, end); // a copy: the chunk may be a slice of a larger pooled buffer
    } else if (off < end) pending.start = off;
    else pending.clear();
    if (pending.size === 0) return;
    const now = Date.now();
    if (started) this.since = now;
    // node:http's limits on a request sent slowly (each byte resets the idle timeout, not these)
    const { server } = this.s;
    const limit = head.bodyStart >= 0 ? server.requestTimeout : server.headersTimeout;
    if (limit > 0 && now - this.since > limit) this.clientError("ERR_HTTP_REQUEST_TIMEOUT", "Request timeout");
  }

  /** A request left unfinished is answered as node:http answers it: through the server's clientError handler (fastify's: 400 at end of input, 408 on timeout), which also closes the connection. */
  private clientError(code: string, message: string): void {
    const err = Object.assign(new Error(message), { code });
    const { server } = this.s;
    if (server.listenerCount("clientError") > 0) server.emit("clientError", err, this.socket);
    else this.socket.end(`HTTP/1.1 ${code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request"}\r\nConnection: close\r\n\r\n`);
  }

  private readonly onEnd = (): void => (this.idle ? void this.socket.end() : this.clientError("HPE_INVALID_EOF_STATE", "Parse Error: Invalid EOF state"));
  private readonly onTimeout = (): void => (this.idle ? void this.socket.destroy() : this.clientError("ERR_HTTP_REQUEST_TIMEOUT", "Request timeout"));
  private readonly onError = (): void => void this.socket.destroy(); // ECONNRESET and the like: nothing to answer
  private readonly onClose = (): void => void this.s.live.delete(this);

  /** node:http takes the socket for the rest of its life, reading `rest` (the unanswered request onwards) first. */
  private handOff(rest: Buffer): void {
    const { socket } = this;
    this.s.metrics.fastPath("handed_off");
    this.s.live.delete(this);
    socket.off("data", this.onData);
    socket.off("end", this.onEnd);
    socket.off("timeout", this.onTimeout);
    socket.off("error", this.onError);
    socket.off("close", this.onClose);
    socket.setTimeout(0);
    socket.pause(); // node:http attaches its reader; the unread bytes are read first on resume
    if (rest.length > 0) socket.unshift(rest);
    this.s.toHttp(socket);
    socket.resume();
  }
}
