// Two consumers on one stream, as the course's streaming design has them: the duration model and the tip
// classifier read the same ride events from one real Redis stream (redis-server started here on a free
// 127.0.0.1 port) in their own consumer groups, and each emits one correctly named prediction per event.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { freePort } from "./support/net.js";
import { waitFor } from "./support/stream-cli.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "ridepred");
const TIP = join(ROOT, "models", "tip.json");
const haveRedis = spawnSync("redis-server", ["--version"]).status === 0;
if (!haveRedis) console.warn("classifiers-redis tests skipped: redis-server is not installed (apt-get install redis-server)");

const rows = parse(readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv")), { columns: true }) as Record<string, string>[];
const rides = rows.map((r) => ({ PULocationID: Number(r.PULocationID), DOLocationID: Number(r.DOLocationID), trip_distance: Number(r.trip_distance) }));
const duration = loadModel().predictor;
const tip = loadModel(TIP).predictor;

function consumer(args: string[]) {
  const child = spawn(process.execPath, [BIN, "stream", "--json", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    async stop() {
      child.kill("SIGTERM");
      const code = await exited;
      return { code, summary: JSON.parse(out || "{}"), stderr: err };
    },
  };
}

describe.skipIf(!haveRedis)("duration and tip consumer groups on one Redis stream", () => {
  let server: ChildProcess;
  let redis: Redis;
  let url: (stream: string) => string;

  beforeAll(async () => {
    const port = await freePort();
    server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    url = (stream) => `redis://127.0.0.1:${port}/${stream}`;
    redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 50 });
    redis.on("error", () => {});
    await waitFor(
      "redis-server",
      // connect() once; if the server is not up yet, ioredis retries by itself (retryStrategy) until "ready".
      async () =>
        redis.status === "ready" ||
        (redis.status === "wait" &&
          (await redis.connect().then(
            () => true,
            () => false,
          ))),
      10_000,
    );
  });

  afterAll(async () => {
    redis?.disconnect();
    server?.kill("SIGKILL");
  });

  it("every event gets one ride_duration and one ride_tipped (+ probability), each from its own group", async () => {
    const n = 600;
    const p = redis.pipeline();
    for (let i = 0; i < n; i++) p.xadd("rides", "*", "data", JSON.stringify({ ride: rides[i % rides.length], ride_id: i }));
    const ids = ((await p.exec()) ?? []).map(([e, id]) => {
      if (e) throw e;
      return id as string;
    });
    const durations = consumer(["--from", url("rides"), "--group", "duration", "--to", url("duration-predictions"), "--consumer", "d1"]);
    const tips = consumer(["--from", url("rides"), "--group", "tip", "--model", TIP, "--to", url("tip-predictions"), "--consumer", "t1"]);
    await waitFor(
      "both groups to answer every event",
      async () => (await redis.xlen("duration-predictions")) === n && (await redis.xlen("tip-predictions")) === n,
    );
    const [d, t] = await Promise.all([durations.stop(), tips.stop()]);
    expect(d.code, d.stderr).toBe(0);
    expect(t.code, t.stderr).toBe(0);
    expect(d.summary.predictions).toBe(n);
    expect(t.summary.predictions).toBe(n);

    const read = async (stream: string) =>
      ((await redis.xrange(stream, "-", "+")) as [string, string[]][]).map(([, f]) => ({
        ev: JSON.parse(f[f.indexOf("data") + 1]!),
        source: f[f.indexOf("source_id") + 1]!,
      }));
    const dOut = await read("duration-predictions");
    const tOut = await read("tip-predictions");
    // One prediction per event in each group: every source entry exactly once.
    expect(dOut.map((e) => e.source).sort()).toEqual([...ids].sort());
    expect(tOut.map((e) => e.source).sort()).toEqual([...ids].sort());
    for (const { ev } of dOut) {
      const i = ev.prediction.ride_id as number;
      expect(ev).toEqual({
        model: "ride-duration",
        version: "2021-01.1",
        prediction: { ride_duration: duration.predict(rides[i % rides.length]!), ride_id: i },
      });
    }
    for (const { ev } of tOut) {
      const i = ev.prediction.ride_id as number;
      const { index, probabilities } = tip.classify(rides[i % rides.length]!);
      expect(ev).toEqual({
        model: "tip",
        version: "2021-01.1",
        prediction: { ride_tipped: index === 1, ride_tipped_probability: probabilities[index], ride_id: i },
      });
    }
    // Both groups acked everything they read.
    for (const g of ["duration", "tip"]) expect(Number(((await redis.xpending("rides", g)) as unknown[])[0])).toBe(0);
  }, 120_000);
});
