// A real redis-server for the tests, on a free 127.0.0.1 port, without persistence; killed by stop().
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { freePort } from "./net.js";

export const haveRedis = spawnSync("redis-server", ["--version"]).status === 0;

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:PORT/NAME */
  url(name: string): string;
  /** A connected client for the test's own reads. */
  client: Redis;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const server: ChildProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const exited = new Promise<void>((r) => server.on("exit", () => r()));
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 50 });
  client.on("error", () => {}); // refused until redis-server listens
  // connect() once; while the server is not up yet, ioredis retries by itself (retryStrategy) until "ready".
  const end = Date.now() + 10_000;
  client.connect().catch(() => {});
  while (client.status !== "ready") {
    if (Date.now() > end) throw new Error(`redis-server on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: (name) => `redis://127.0.0.1:${port}/${name}`,
    client,
    async stop() {
      client.disconnect();
      server.kill("SIGKILL");
      await exited;
    },
  };
}
