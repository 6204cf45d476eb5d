// Adversarial differential for `serve --fast-path`: the same bytes go to a server with the byte-level
// /predict path and to one without it (node:http's llhttp reads every request), and what comes back must be
// the same bytes (Date and generated request ids aside), connection closed or kept alike. Three sources:
//   1. llhttp's own request test cases (nodejs/llhttp test/request/*.md), transplanted onto POST /predict
//      so that the fast path has to judge them rather than decline at the first byte;
//   2. Transfer-Encoding / Content-Length obfuscations from request-smuggling gadget lists;
//   3. single-byte sweeps over a valid request: at every position, a byte of every class replaced,
//      inserted, or the byte deleted (bench/serve-sweep.mjs does all 256 values).
// Each request goes on its own connection in two writes: up to where a request framed by its declared
// Content-Length would end, then (after its answer, or 1.5 s) the rest, then a half-close. node:http given a
// complete request followed in the same packet by bytes it refuses drops the first answer and sends only
// the 400; the fast path answers the first. Writing the two parts apart compares the framing (what
// request smuggling depends on) instead of that.
import { describe, expect, it } from "vitest";
import { exchange, fastPathCounts, normalize } from "./support/http-wire.js";
import { defaultAndBare, fastAndPlain } from "./support/serve-pair.js";

const BODY = JSON.stringify({ PULocationID: 10, DOLocationID: 50, trip_distance: 40 });
const CL = Buffer.byteLength(BODY);

/** POST /predict HTTP/1.1 with `lines` as its header lines (Host, Content-Type, Content-Length unless `bare`), then `body`. */
function predict(lines: string[], body = BODY, opts: { bare?: boolean; line?: string } = {}): string {
  const base = opts.bare ? [] : ["Host: 127.0.0.1:9696", "Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`];
  return [opts.line ?? "POST /predict HTTP/1.1", ...base, ...lines, "", body].join("\r\n");
}
const std = (cl: string) => ["Host: a", "Content-Type: application/json", cl];

/** Cases from llhttp's test/request/*.md (file: section), the construct each exercises carried onto POST /predict. */
const LLHTTP: [string, string][] = [
  ["sample: simple request, tab and space before a value", predict(["Header1: Value1", "Header2:\t Value2"])],
  ["sample: curl GET headers", predict(["User-Agent: curl/7.18.0 (i486-pc-linux-gnu) libcurl/7.18.0", "Accept: */*"])],
  ["sample: Firefox GET headers", predict(["Accept-Language: en-us,en;q=0.5", "Accept-Encoding: gzip,deflate", "Keep-Alive: 300", "Connection: keep-alive"])],
  ["sample: a header with an empty value", predict(["X-Empty:", "X-Spaces:   "])],
  ["sample: request with no headers", "POST /predict HTTP/1.1\r\n\r\n"],
  ["sample: HTTP/1.0 with Content-Length", predict([], BODY, { line: "POST /predict HTTP/1.0" })],
  ["sample: line folding in a value", predict(["X-Fold: a", "  b"])],
  ["sample: underscore in a header name", predict(["X_Forwarded_For: 1"])],
  ["sample: a very long header value", predict([`X-Long: ${"v".repeat(8000)}`])],
  ["content-length: with zeroes", predict(std(`Content-Length: 00${CL}`), BODY, { bare: true })],
  ["content-length: with follow-up headers", predict(["Ohai: world"])],
  ["content-length: overflow", predict(std("Content-Length: 1000000000000000000000"), BODY, { bare: true })],
  ["content-length: duplicate, different", predict(std(`Content-Length: ${CL}`).concat(`Content-Length: ${CL + 1}`), BODY, { bare: true })],
  ["content-length: duplicate, equal", predict(std(`Content-Length: ${CL}`).concat(`Content-Length: ${CL}`), BODY, { bare: true })],
  ["content-length: with Transfer-Encoding: identity", predict(["Transfer-Encoding: identity"])],
  ["content-length: funky case", predict(std(`conTENT-Length: ${CL}`), BODY, { bare: true })],
  ["content-length: surrounding spaces", predict(std(`Content-Length:  ${CL} `), BODY, { bare: true })],
  ["content-length: spaces inside (4 2)", predict(std(`Content-Length: ${String(CL)[0]} ${String(CL).slice(1)}`), BODY, { bare: true })],
  ["content-length: empty", predict(std("Content-Length:"), BODY, { bare: true })],
  ["content-length: CR instead of dash", predict(std(`Content\rLength: ${CL}`), BODY, { bare: true })],
  ["transfer-encoding: empty, with Content-Length", predict(["Transfer-Encoding:"])],
  [
    "transfer-encoding: chunked",
    predict(["Host: a", "Content-Type: application/json", "Transfer-Encoding: chunked"], `${CL.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`, { bare: true }),
  ],
  [
    "transfer-encoding: upper-case chunk size",
    predict(["Host: a", "Content-Type: application/json", "Transfer-Encoding: chunked"], `${CL.toString(16).toUpperCase()}\r\n${BODY}\r\n0\r\n\r\n`, {
      bare: true,
    }),
  ],
  [
    "transfer-encoding: trailing headers",
    predict(["Host: a", "Content-Type: application/json", "Transfer-Encoding: chunked"], `${CL.toString(16)}\r\n${BODY}\r\n0\r\nVary: *\r\n\r\n`, {
      bare: true,
    }),
  ],
  [
    "transfer-encoding: chunk extensions",
    predict(["Host: a", "Content-Type: application/json", "Transfer-Encoding: chunked"], `${CL.toString(16)};ilove=w3\r\n${BODY}\r\n0\r\n\r\n`, { bare: true }),
  ],
  ["transfer-encoding: pigeons", predict(["Host: a", "Content-Type: application/json", "Transfer-Encoding: pigeons"], "", { bare: true })],
  ["transfer-encoding: three empty, with Content-Length", predict(["Transfer-Encoding:", "Transfer-Encoding:", "Transfer-Encoding:"])],
  ["invalid: ICE/1.0", predict([], BODY, { line: "POST /predict ICE/1.0" })],
  ["invalid: IHTTP/1.0", predict([], BODY, { line: "POST /predict IHTTP/1.0" })],
  ["invalid: RTSP/1.0", predict([], BODY, { line: "POST /predict RTSP/1.0" })],
  ["invalid: headers separated by CR", predict(["Foo: 1\rBar: 2"])],
  ["invalid: headers separated by LF", predict(["x:x\nTransfer-Encoding: chunked"])],
  ["invalid: headers separated by dummy characters", predict(["Connection: keep-alive", "\rZGET /evil: HTTP/1.1"])],
  ["invalid: empty header separated by CR", predict(["x:\rTransfer-Encoding: chunked"])],
  ["invalid: empty header separated by LF", predict(["x:\nTransfer-Encoding: chunked"])],
  ["invalid: header token @", predict(["Fo@: Failure"])],
  ["invalid: header token with control bytes", predict(["Foo\x01\test: Bar"])],
  ["invalid: empty header name", predict([": Bar"])],
  ["invalid: header name line folding", predict(["name", " : value"])],
  ["invalid: corrupted Connection header", predict(["Connection\r\x1b\x35\xd5eep-Alive"])],
  ["invalid: missing CR between headers", predict(["Dummy: x\nContent-Length: 23"])],
  ["invalid: HTTP/5.6", predict([], BODY, { line: "POST /predict HTTP/5.6" })],
  ["invalid: space after start line", `POST /predict HTTP/1.1\r\n Host: foo\r\nContent-Type: application/json\r\nContent-Length: ${CL}\r\n\r\n${BODY}`],
  ["invalid: only LFs", predict([]).replace(/\r\n/g, "\n")],
  ["invalid: spaces before headers", predict(["Foo: bar", " Content-Length: 38"])],
  ["connection: keep-alive", predict(["Connection: keep-alive"])],
  ["connection: close", predict(["Connection: close"])],
  ["connection: CRLF between requests", `${predict([])}\r\n${predict([])}`],
  ["connection: multiple tokens", predict(["Connection: close, token, upgrade, token, keep-alive"])],
  ["connection: multiple tokens with folding", predict(["Connection: Something,", " Upgrade, ,Keep-Alive"])],
  ["connection: keep-alive, upgrade", predict(["Connection: keep-alive, upgrade", "Upgrade: WebSocket"])],
  ["connection: upgrade", predict(["Connection: upgrade", "Upgrade: ws"])],
  ["connection: Upgrade POST", predict(["Connection: Upgrade", "Upgrade: HTTP/2.0"])],
  ["connection: Proxy-Connection close", predict(["Proxy-Connection: close"])],
  ["connection: Proxy-Connection in a list", predict(["proxy-connection: foo, CLOSE"])],
  ["connection: Proxy-Connection keep-alive", predict(["PROXY-CONNECTION: keep-alive"])],
  ["uri: quotes", predict([], BODY, { line: 'POST /predict?q="x" HTTP/1.1' })],
  ["uri: query and fragment", predict([], BODY, { line: "POST /predict?q=search#hey HTTP/1.1" })],
  ["uri: empty query", predict([], BODY, { line: "POST /predict? HTTP/1.1" })],
  ["uri: fragment only", predict([], BODY, { line: "POST /predict#frag HTTP/1.1" })],
  ["uri: utf-8 in the query", predict([], BODY, { line: "POST /predict?q=\xc3\xa9 HTTP/1.1" })],
  ["uri: absolute form", predict([], BODY, { line: "POST http://a/predict HTTP/1.1" })],
  ["uri: tab in the target", predict([], BODY, { line: "POST /predict?a\tb HTTP/1.1" })],
  ["uri: form feed in the target", predict([], BODY, { line: "POST /predict?a\fb HTTP/1.1" })],
  ["uri: two spaces before the version", predict([], BODY, { line: "POST /predict  HTTP/1.1" })],
  ["uri: space before the target", predict([], BODY, { line: "POST  /predict HTTP/1.1" })],
  ["uri: 0xFF in the target", predict([], BODY, { line: "POST /predict\xff HTTP/1.1" })],
  ["method: lower case", predict([], BODY, { line: "post /predict HTTP/1.1" })],
  ["method: PATCH", predict([], BODY, { line: "PATCH /predict HTTP/1.1" })],
  ["method: POSTX", predict([], BODY, { line: "POSTX /predict HTTP/1.1" })],
  ["pipelining: three requests", predict([]) + predict([]) + predict([])],
];

const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"; // answered 404, the same by both
const chunked = `${CL.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`;
/** Transfer-Encoding and Content-Length obfuscations; each body is followed by a request a confused parser would read as the next one. */
const TE_CL: [string, string][] = [
  ...[
    "Transfer-Encoding: chunked",
    "Transfer-Encoding : chunked",
    "Transfer-Encoding:\tchunked",
    "Transfer-Encoding: \tchunked",
    "Transfer-Encoding: chunked ",
    "Transfer-Encoding: chunked\t",
    "Transfer-Encoding: xchunked",
    "Transfer-Encoding: chunkedx",
    "Transfer-Encoding: chunked, identity",
    "Transfer-Encoding: identity, chunked",
    "Transfer-Encoding: chunked,chunked",
    "Transfer-Encoding: cHuNkEd",
    'Transfer-Encoding: "chunked"',
    "Transfer-Encoding: chunk",
    "Transfer-Encoding:\x0bchunked",
    "Transfer-Encoding:\x0cchunked",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: x",
    "Transfer-Encoding: x\r\nTransfer-Encoding: chunked",
    "Transfer-Encoding:\r\n chunked",
    " Transfer-Encoding: chunked",
    "X: X\nTransfer-Encoding: chunked",
    "X: X\rTransfer-Encoding: chunked",
    "Transfer-Encoding\n: chunked",
    "Transfer_Encoding: chunked",
    "Transfer-Encoding\x00: chunked",
    "Transfer-Encoding: \xffchunked",
    "Transfer-Encoding: chunked\xa0",
    "TRANSFER-ENCODING: CHUNKED",
    "Transfer-Encoding\t: chunked",
  ].flatMap((te): [string, string][] => [
    [`TE ${JSON.stringify(te)} with Content-Length`, predict([te], chunked) + SMUGGLED],
    [`TE ${JSON.stringify(te)} without Content-Length`, predict(["Host: a", "Content-Type: application/json", te], chunked, { bare: true }) + SMUGGLED],
  ]),
  ...[
    `Content-Length: ${CL}\t`,
    `Content-Length: ${CL} \t`,
    `Content-Length: ${CL}\t `,
    `Content-Length:\t${CL}`,
    `Content-Length:\t${CL}\t`,
    `Content-Length: \t ${CL}  `,
    `Content-Length: +${CL}`,
    `Content-Length: -${CL}`,
    `Content-Length: 0x${CL.toString(16)}`,
    `Content-Length: ${CL}.0`,
    `Content-Length: ${CL}e0`,
    `Content-Length: ${CL}, ${CL}`,
    `Content-Length: ${CL},${CL}`,
    `Content-Length: ${CL}\x0b`,
    `Content-Length: ${CL}\x0c`,
    `Content-Length: ${CL}\xa0`,
    `Content-Length: ${CL}\x00`,
    `Content-Length : ${CL}`,
    `Content-Length\t: ${CL}`,
    `Content-Length:${CL}`,
    `Content-Length: 0000000000${CL}`,
    `Content-Length: ${CL}\r\nContent-Length: ${CL}`,
    `Content-Length: ${CL}\r\nContent-Length: 0`,
    `Content-Length: 0\r\nContent-Length: ${CL}`,
    `Content-Length: ${CL}\r\n Content-Length: 0`,
    `Content-Length: ${CL}\nContent-Length: 0`,
    "Content-Length: 99999999999999999999",
    `content-length: ${CL}`,
    `CONTENT-LENGTH: ${CL}`,
    `Content-Lengthx: ${CL}`,
    `Content_Length: ${CL}`,
    `Content-Length: ${CL} ${CL}`,
    `Content-Length: "${CL}"`,
    `Content-Length: ${CL};`,
  ].map((cl): [string, string] => [`CL ${JSON.stringify(cl)}`, predict(std(cl), BODY, { bare: true }) + SMUGGLED]),
];

/** A representative byte of every class llhttp and the fast path tell apart (bench/serve-sweep.mjs tries all 256). */
const CLASSES = [
  0x00, 0x01, 0x09, 0x0a, 0x0b, 0x0d, 0x20, 0x22, 0x23, 0x25, 0x2c, 0x2d, 0x2f, 0x30, 0x37, 0x3a, 0x3b, 0x3f, 0x40, 0x41, 0x5c, 0x61, 0x7f, 0x80, 0xff,
];
const SWEPT = predict(["Host: a", "Content-Type: application/json", `Content-Length: ${CL}`, "X-Request-Id: sweep-1", "Connection: keep-alive"], BODY, {
  bare: true,
  line: "POST /predict?v=1 HTTP/1.1",
});

/** Every single-byte change of `valid` by class: replaced, inserted before, deleted. */
function sweep(valid: string): [string, Buffer][] {
  const b = Buffer.from(valid, "latin1");
  const out: [string, Buffer][] = [];
  for (let i = 0; i <= b.length; i++) {
    for (const c of CLASSES) {
      if (i < b.length && b[i] !== c) out.push([`byte ${i} -> 0x${c.toString(16)}`, Buffer.concat([b.subarray(0, i), Buffer.from([c]), b.subarray(i + 1)])]);
      out.push([`0x${c.toString(16)} inserted at ${i}`, Buffer.concat([b.subarray(0, i), Buffer.from([c]), b.subarray(i)])]);
    }
    if (i < b.length) out.push([`byte ${i} deleted`, Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])]);
  }
  return out;
}

/** Where a request framed by its first declared Content-Length would end (the whole buffer if none can be read). */
function framedEnd(b: Buffer): number {
  const headEnd = b.indexOf("\r\n\r\n");
  if (headEnd < 0) return b.length;
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(b.toString("latin1", 0, headEnd));
  return Math.min(b.length, headEnd + 4 + (m ? Number(m[1]) : 0));
}

describe("serve --fast-path: adversarial differential against node:http", () => {
  const servers = fastAndPlain();

  /** Sends every case to both servers (a few connections at a time); returns the cases whose answers differ. */
  async function differences(cases: [string, Buffer][], parallel = 12): Promise<string[]> {
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const [name, bytes] = cases[next++]!;
        const cut = framedEnd(bytes);
        const pieces = cut < bytes.length ? [[bytes.subarray(0, cut)], [bytes.subarray(cut)]] : [[bytes]];
        const { fast, plain } = servers;
        let [a, b] = await Promise.all([exchange(fast.port, pieces, 1500), exchange(plain.port, pieces, 1500)]);
        if (normalize(a) !== normalize(b)) [a, b] = await Promise.all([exchange(fast.port, pieces, 1500), exchange(plain.port, pieces, 1500)]); // once more: a loaded machine may miss a deadline
        if (normalize(a) !== normalize(b))
          bad.push(`${name}: ${JSON.stringify(bytes.toString("latin1"))}\n  fast:  ${JSON.stringify(normalize(a))}\n  plain: ${JSON.stringify(normalize(b))}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return bad;
  }
  const bytes = (cases: [string, string][]): [string, Buffer][] => cases.map(([n, s]) => [n, Buffer.from(s, "latin1")]);

  it("llhttp's request cases, carried onto POST /predict: same bytes back", async () => {
    const before = (await fastPathCounts(servers.fast)).answered;
    expect(await differences(bytes(LLHTTP))).toEqual([]);
    expect((await fastPathCounts(servers.fast)).answered - before).toBeGreaterThan(10); // the valid ones were the fast path's to answer
  }, 120_000);

  it("Transfer-Encoding and Content-Length obfuscations: same bytes back", async () => {
    expect(await differences(bytes(TE_CL))).toEqual([]);
  }, 120_000);

  it("every single-byte change of a valid request, by byte class: same bytes back", async () => {
    const cases = sweep(SWEPT);
    expect(cases.length).toBeGreaterThan(8000);
    const before = (await fastPathCounts(servers.fast)).answered;
    expect(await differences(cases)).toEqual([]);
    expect((await fastPathCounts(servers.fast)).answered - before).toBeGreaterThan(500); // harmless changes (in the query, the id, a value) stay on the fast path
  }, 240_000);
});

// Without --fast-path the server is node:http: on every case above it refuses (a parser 400, then the close)
// exactly when a bare node:http server does. Their successful answers differ (a bare server has no model),
// so what is compared is the parser's verdict: the refusal, and how many requests were answered before it.
describe("serve (default): node:http's verdict on every case", () => {
  const servers = defaultAndBare();

  /** Responses before a parser refusal (node's bare 400, or fastify's clientError 400), and whether one came. */
  const verdict = (text: string) => {
    const refusal =
      /HTTP\/1\.1 400 Bad Request\r\n(Connection: close\r\n\r\n|Content-Length: \d+\r\nContent-Type: application\/json\r\n\r\n\{"error":"Bad Request")/.exec(
        text,
      );
    const before = refusal ? text.slice(0, refusal.index) : text;
    return { answered: (before.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, refused: refusal !== null };
  };

  it("llhttp's cases and the TE/CL obfuscations: refused by both or by neither", async () => {
    const bad: string[] = [];
    let refused = 0;
    for (const [name, text] of [...LLHTTP, ...TE_CL]) {
      const bytes = Buffer.from(text, "latin1");
      const cut = framedEnd(bytes);
      const pieces = cut < bytes.length ? [[bytes.subarray(0, cut)], [bytes.subarray(cut)]] : [[bytes]];
      const [a, b] = await Promise.all([exchange(servers.s.port, pieces, 1500), exchange(servers.barePort, pieces, 1500)]);
      if (verdict(b).refused) refused++;
      if (JSON.stringify(verdict(a)) !== JSON.stringify(verdict(b)))
        bad.push(`${name}: ridepred ${JSON.stringify(verdict(a))}, node:http ${JSON.stringify(verdict(b))}`);
    }
    expect(bad).toEqual([]);
    expect(refused).toBeGreaterThan(40); // most of these are refusals: the comparison is not vacuous
  }, 120_000);
});
