// The head of a request as the fast path (http1.ts) reads it: a byte-level state machine that accepts only
// a narrow form of the course's call and answers "decline" to anything else, at the first byte that leaves
// that form. It never has to know what llhttp would do with other bytes: declined bytes go to node:http,
// whose parser decides (400 at once for what it refuses, a wait for what it would wait on).
//
// The accepted form, every piece of it one that llhttp reads the same way:
//   POST /predict[?query] HTTP/1.1 CRLF            query: RFC 3986 query characters, no "#"
//   (name ":" OWS value OWS CRLF)*                 name: RFC 9110 token; value: visible ASCII, SP, HTAB
//   CRLF
// with exactly one Host, a Content-Type of application/json, one Content-Length of digits followed by
// spaces only (llhttp refuses a tab there), Connection / Proxy-Connection (llhttp reads both) only as
// keep-alive, and no Transfer-Encoding, Expect, Upgrade or HTTP2-Settings.
//
// The reader is resumable: it keeps its place (offsets from the request's first byte), so a head arriving
// in pieces is read once in all, not again from its start on every read.
import { PREDICT_ROUTE } from "./fast-predict.js";

export const NEED_MORE = -1;
export const DECLINE = -2;

enum S {
  RequestLine, // matching REQUEST_START, then a query or the version
  Query,
  Version, // matching VERSION
  NameStart,
  Name,
  BeforeValue,
  Value,
  ValueLF,
  HeadLF,
}

const REQUEST_START = Buffer.from(`POST ${PREDICT_ROUTE}`, "latin1");
const VERSION = Buffer.from(" HTTP/1.1\r\n", "latin1");
const JSON_TYPE = "application/json";

const table = (chars: string): Uint8Array => {
  const t = new Uint8Array(256);
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  return t;
};
const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** RFC 9110 token characters (header names). */
const TOKEN = table(`!#$%&'*+-.^_\`|~${ALNUM}`);
/** RFC 3986 query characters (pchar / "/" / "?"). */
const QUERY = table(`-._~!$&'()*+,;=:@/?%${ALNUM}`);
/** Header value bytes taken (besides SP and HTAB): visible ASCII. Control bytes and obs-text are declined. */
const VISIBLE = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) VISIBLE[c] = 1;

/** The head read so far, and what it said. Offsets are from the request's first byte. */
export class Head {
  state = S.RequestLine;
  /** Next byte to read. */
  at = 0;
  lineStart = 0;
  colon = 0;
  valueStart = 0;
  /** End of the value without its trailing spaces and tabs. */
  valueEnd = 0;
  queryEnd = 0;
  headers = 0;
  hosts = 0;
  /** -1 until a Content-Length is read. */
  length = -1;
  json = false;
  requestId: string | undefined = undefined;
  target = PREDICT_ROUTE;
  /** Offset of the body once the head is complete, else -1. */
  bodyStart = -1;

  constructor(
    /** Longest head read here (node:http's --max-http-header-size): a longer one is node:http's to refuse. */
    readonly maxHead: number,
    /** node:http's maxHeadersCount (it drops headers past it; 0: no limit). */
    readonly maxHeaders: number,
    /** Largest Content-Length taken here. */
    readonly maxBody: number,
  ) {}

  reset(): void {
    this.state = S.RequestLine;
    this.at = 0;
    this.headers = 0;
    this.hosts = 0;
    this.length = -1;
    this.json = false;
    this.requestId = undefined;
    this.target = PREDICT_ROUTE;
    this.bodyStart = -1;
  }

  /**
   * Reads the request starting at b[base] up to b[end]: the body's offset once the head is complete and
   * taken, NEED_MORE while it may still become so, DECLINE as soon as it cannot.
   */
  read(b: Buffer, base: number, end: number): number {
    const stop = Math.min(end - base, this.maxHead);
    let at = this.at;
    let state = this.state;
    for (; at < stop; at++) {
      const c = b[base + at]!;
      switch (state) {
        case S.RequestLine:
          if (at < REQUEST_START.length) {
            if (c !== REQUEST_START[at]) return DECLINE;
          } else if (c === 0x3f /* ? */) state = S.Query;
          else if (c === 0x20) {
            this.queryEnd = at;
            state = S.Version;
          } else return DECLINE;
          break;
        case S.Query:
          if (c === 0x20) {
            this.queryEnd = at;
            state = S.Version;
          } else if (QUERY[c] !== 1) return DECLINE;
          break;
        case S.Version:
          if (c !== VERSION[at - this.queryEnd]) return DECLINE;
          if (c === 0x0a) {
            if (this.queryEnd > REQUEST_START.length) this.target = b.toString("latin1", base + 5, base + this.queryEnd); // with its query
            state = this.lineDone(at);
          }
          break;
        case S.NameStart:
          if (c === 0x0d) state = S.HeadLF;
          else if (TOKEN[c] === 1) state = S.Name;
          else return DECLINE; // also a space or tab: obs-fold, or whitespace before the first header
          break;
        case S.Name:
          if (c === 0x3a /* : */) {
            this.colon = at;
            state = S.BeforeValue;
          } else if (TOKEN[c] !== 1) return DECLINE; // also a space before the colon
          break;
        case S.BeforeValue:
          if (c === 0x20 || c === 0x09) break;
          this.valueStart = this.valueEnd = at;
          if (c === 0x0d) state = S.ValueLF;
          else if (VISIBLE[c] === 1) {
            this.valueEnd = at + 1;
            state = S.Value;
          } else return DECLINE;
          break;
        case S.Value:
          if (VISIBLE[c] === 1) this.valueEnd = at + 1;
          else if (c === 0x0d) state = S.ValueLF;
          else if (c !== 0x20 && c !== 0x09) return DECLINE;
          break;
        case S.ValueLF:
          if (c !== 0x0a || !this.header(b, base, at - 1)) return DECLINE;
          state = this.lineDone(at);
          break;
        case S.HeadLF:
          if (c !== 0x0a || !this.taken()) return DECLINE;
          this.bodyStart = at + 1;
          return this.bodyStart;
      }
    }
    this.at = at;
    this.state = state;
    return at >= this.maxHead ? DECLINE : NEED_MORE;
  }

  /** After a line's LF at `at`: the next line starts. */
  private lineDone(at: number): S {
    this.lineStart = at + 1;
    return S.NameStart;
  }

  /** The whole head read: is it the course's call, one this path answers? */
  private taken(): boolean {
    return this.hosts === 1 && this.json && this.length >= 0 && this.length <= this.maxBody;
  }

  /** The header line just read (its CR at `cr`): false declines the request. */
  private header(b: Buffer, base: number, cr: number): boolean {
    if (++this.headers > this.maxHeaders && this.maxHeaders > 0) return false;
    const name = base + this.lineStart;
    const len = this.colon - this.lineStart;
    const v = base + this.valueStart;
    const ve = base + this.valueEnd;
    switch (len) {
      case 4:
        if (named(b, name, "host")) this.hosts++;
        return true;
      case 14:
        if (named(b, name, "content-length")) return this.contentLength(b, v, ve, base + cr);
        if (named(b, name, "http2-settings")) return false;
        return true;
      case 12:
        if (named(b, name, "content-type")) {
          if (this.json) return false; // a second one
          this.json = isJson(b, v, ve);
          return this.json;
        }
        if (named(b, name, "x-request-id")) {
          if (this.requestId !== undefined) return false;
          this.requestId = b.toString("latin1", v, ve);
        }
        return true;
      case 10: // Connection
      case 16: // Proxy-Connection: llhttp reads it as Connection
        if (named(b, name, len === 10 ? "connection" : "proxy-connection")) return ve - v === 10 && named(b, v, "keep-alive");
        return true;
      case 17:
        return !named(b, name, "transfer-encoding");
      case 6:
        return !named(b, name, "expect");
      case 7:
        return !named(b, name, "upgrade");
      default:
        return true;
    }
  }

  /** Digits, then nothing but spaces up to the CR (llhttp refuses a tab, or anything else, there). */
  private contentLength(b: Buffer, v: number, ve: number, cr: number): boolean {
    if (this.length >= 0 || ve === v || ve - v > 9) return false;
    let n = 0;
    for (let k = v; k < ve; k++) {
      const d = b[k]! - 0x30;
      if (d < 0 || d > 9) return false;
      n = n * 10 + d;
    }
    for (let k = ve; k < cr; k++) if (b[k] !== 0x20) return false;
    this.length = n;
    return true;
  }
}

/** The bytes at i spell `lower` in any case (`lower`: lower-case letters, digits and "-"). */
function named(b: Buffer, i: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((b[i + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** application/json, alone or followed by parameters (";") or a space, in any case: what fast-predict's isJsonType takes. */
function isJson(b: Buffer, v: number, ve: number): boolean {
  if (ve - v < JSON_TYPE.length) return false;
  for (let k = 0; k < JSON_TYPE.length; k++) {
    const c = JSON_TYPE.charCodeAt(k);
    if (c === 0x2f ? b[v + k] !== c : (b[v + k]! | 0x20) !== c) return false;
  }
  const next = v + JSON_TYPE.length;
  return next === ve || b[next] === 0x3b || b[next] === 0x20;
}
