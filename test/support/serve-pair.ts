// The servers test/serve-http1.test.ts and test/serve-llhttp.test.ts compare, started before a describe
// block's tests and closed after them (call these inside describe): ridepred with and without --fast-path,
// and ridepred's default server beside a bare node:http one.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll } from "vitest";
import { BUNDLED_MODEL } from "../../src/artifact/io.js";
import { type RunningServer, startServer } from "../../src/serve/server.js";

/** The bundled model on a free port, logging nothing. */
export const serveBundled = (opts: { fastPath?: boolean; bodyLimit?: number } = {}): Promise<RunningServer> =>
  startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }), ...opts });

/** ridepred with the byte-level path (`fast`) and without it (`plain`): the fast path's differential. */
export function fastAndPlain(): { readonly fast: RunningServer; readonly plain: RunningServer } {
  let fast: RunningServer | undefined;
  let plain: RunningServer | undefined;
  beforeAll(async () => {
    [fast, plain] = await Promise.all([serveBundled({ fastPath: true }), serveBundled()]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), plain?.close()]);
  });
  return {
    get fast() {
      return fast!;
    },
    get plain() {
      return plain!;
    },
  };
}

/**
 * ridepred's default server (`s`) and a bare node:http server on `barePort` that answers `{}` to every
 * request it parses: what node:http refuses, both must refuse the same way.
 */
export function defaultAndBare(): { readonly s: RunningServer; readonly barePort: number } {
  let s: RunningServer | undefined;
  let bare: Server | undefined;
  let barePort = 0;
  beforeAll(async () => {
    s = await serveBundled();
    bare = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    await new Promise<void>((r) => bare!.listen(0, "127.0.0.1", r));
    barePort = (bare.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await s?.close();
    bare?.close();
  });
  return {
    get s() {
      return s!;
    },
    get barePort() {
      return barePort;
    },
  };
}
