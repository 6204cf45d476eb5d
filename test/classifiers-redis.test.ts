// Two consumers on one stream, as the course's streaming design has them: the duration model and the tip
// classifier read the same ride events from one real Redis stream (redis-server started here on a free
// 127.0.0.1 port) in their own consumer groups, and each emits one correctly named prediction per event.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { haveRedis, type RedisServer, startRedis } from "./support/redis.js";
import { ROOT, startConsumer, waitFor } from "./support/stream-cli.js";

const TIP = join(ROOT, "models", "tip.json");
if (!haveRedis) console.warn("classifiers-redis tests skipped: redis-server is not installed (apt-get install redis-server)");

// Location ids as numbers here (the shared stream helpers send them as text, as the CSV has them).
const rows = parse(readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv")), { columns: true }) as Record<string, string>[];
const rides = rows.map((r) => ({ PULocationID: Number(r.PULocationID), DOLocationID: Number(r.DOLocationID), trip_distance: Number(r.trip_distance) }));
const duration = loadModel().predictor;
const tip = loadModel(TIP).predictor;

describe.skipIf(!haveRedis)("duration and tip consumer groups on one Redis stream", () => {
  let server: RedisServer;
  let redis: Redis;
  let url: (stream: string) => string;

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client;
    url = server.url;
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("every event gets one ride_duration and one ride_tipped (+ probability), each from its own group", async () => {
    const n = 600;
    const p = redis.pipeline();
    for (let i = 0; i < n; i++) p.xadd("rides", "*", "data", JSON.stringify({ ride: rides[i % rides.length], ride_id: i }));
    const ids = ((await p.exec()) ?? []).map(([e, id]) => {
      if (e) throw e;
      return id as string;
    });
    const durations = startConsumer(["--from", url("rides"), "--group", "duration", "--to", url("duration-predictions"), "--consumer", "d1"]);
    const tips = startConsumer(["--from", url("rides"), "--group", "tip", "--model", TIP, "--to", url("tip-predictions"), "--consumer", "t1"]);
    await waitFor(
      "both groups to answer every event",
      async () => (await redis.xlen("duration-predictions")) === n && (await redis.xlen("tip-predictions")) === n,
    );
    const [d, t] = await Promise.all([durations.stop(), tips.stop()]);
    expect(d.code, durations.stderr()).toBe(0);
    expect(t.code, tips.stderr()).toBe(0);
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
