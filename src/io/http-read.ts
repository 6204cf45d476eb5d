// Reading https:// (and http://) inputs: Range requests for Parquet when the server honours them; a
// server that ignores ranges (a 200 with the whole body) is streamed once to a temp file, which is then
// read locally and removed on close. CSV and JSONL are one streamed GET.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { RidepredError } from "../errors.js";
import { localRange, type RangeSource } from "./range.js";
import { redactLocation } from "./redact.js";

const WINDOW = 8 << 20;
const MAX_REDIRECTS = 5;

/** GET url (following redirects), with a Range header when asked; the response, whatever its status. */
export async function httpGet(url: string, range?: string, redirects = 0): Promise<IncomingMessage> {
  const lib = url.startsWith("https:") ? await import("node:https") : await import("node:http");
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = lib.get(url, { headers: { "accept-encoding": "identity", ...(range ? { range } : {}) }, timeout: 60_000 }, resolve);
    req.on("timeout", () => req.destroy(new Error("no response in 60 s")));
    req.on("error", reject);
  }).catch((e: Error) => {
    throw new RidepredError(`${redactLocation(url)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
  });
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && res.headers.location) {
    res.resume();
    if (redirects >= MAX_REDIRECTS) throw new RidepredError(`${redactLocation(url)}: cannot read: more than ${MAX_REDIRECTS} redirects`);
    return httpGet(new URL(res.headers.location, url).toString(), range, redirects + 1);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new RidepredError(`${redactLocation(url)}: cannot read: HTTP ${status}${status === 404 ? " (no such file)" : ""}`);
  }
  return res;
}

/** The total size a 206 answer to a range request states (Content-Range: bytes A-B/TOTAL), if it does. */
const rangeTotal = (res: IncomingMessage) => /\/(\d+)\s*$/.exec(String(res.headers["content-range"] ?? ""));

/** The input's size by httpRange's probe, without reading the body (range.ts inputSize): undefined if the server does not say. */
export async function httpSize(url: string): Promise<{ bytes?: number; ranges: boolean }> {
  const probe = await httpGet(url, "bytes=0-0");
  const total = probe.statusCode === 206 ? rangeTotal(probe) : null;
  const length = Number(probe.headers["content-length"]);
  probe.destroy(); // a server that ignored the range is sending the whole file: not read
  if (total) return { bytes: Number(total[1]), ranges: true };
  return { bytes: probe.statusCode === 200 && Number.isFinite(length) && length >= 0 ? length : undefined, ranges: false };
}

export async function httpRange(url: string): Promise<RangeSource> {
  const name = redactLocation(url);
  // One probe: a 206 with the total size means ranges work; a 200 is the whole file, kept on disk.
  const probe = await httpGet(url, "bytes=0-0");
  const total = rangeTotal(probe);
  if (probe.statusCode !== 206 || !total) return downloaded(url, probe);
  probe.resume();
  const size = Number(total[1]);
  return {
    name,
    size,
    window: WINDOW,
    async read(buf, position) {
      const last = Math.min(position + buf.length, size) - 1;
      if (last < position) return 0;
      const res = await httpGet(url, `bytes=${position}-${last}`);
      const got = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
      if (res.statusCode !== 206 || Number(got?.[1]) !== position) {
        res.destroy();
        throw new RidepredError(`${name}: the server stopped answering range requests (asked for bytes ${position}-${last})`);
      }
      let n = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (n + chunk.length > buf.length) throw new RidepredError(`${name}: the server sent more bytes than the range asked for`);
        buf.set(chunk, n);
        n += chunk.length;
      }
      return n;
    },
    close: async () => {},
  };
}

/** The server ignored the range: stream the body it sent to a temp file and read that. */
async function downloaded(url: string, res: IncomingMessage): Promise<RangeSource> {
  const dir = await mkdtemp(join(tmpdir(), "ridepred-http-"));
  const path = join(dir, "input");
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(res, createWriteStream(path));
  } catch (e) {
    await cleanup();
    throw new RidepredError(`${redactLocation(url)}: download failed: ${(e as Error).message}`);
  }
  const src = await localRange(path, cleanup);
  return { ...src, name: redactLocation(url) };
}

/** The whole body as a stream (CSV, JSONL), with its size for progress when the server says it. */
export async function httpStream(url: string): Promise<{ stream: IncomingMessage; size?: number }> {
  const res = await httpGet(url);
  const len = Number(res.headers["content-length"]);
  return { stream: res, size: Number.isFinite(len) && len >= 0 ? len : undefined };
}
