// `ridepred stream --from/--to` against a real redis-server started here on a free 127.0.0.1 port:
// every event predicted with the predictor's own value, poison to the dead-letter stream, no loss when the
// consumer is SIGKILLed mid-stream, takeover of a dead consumer's pending entries, two groups = two models.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import type { Predictor } from "../src/runtime/predictor.js";
import { freePort } from "./support/net.js";
import { haveRedis, type RedisServer, startRedis } from "./support/redis.js";
import { BIN, event, ROOT, ride, startConsumer, waitFor } from "./support/stream-cli.js";

if (!haveRedis) console.warn("stream-redis tests skipped: redis-server is not installed (apt-get install redis-server)");

const { predictor } = loadModel();

describe.skipIf(!haveRedis)("ridepred stream with Redis Streams", () => {
  let server: RedisServer;
  let redis: Redis;
  let url: (stream: string) => string;
  let tmp: string;
  let ridge: Predictor;

  beforeAll(async () => {
    server = await startRedis();
    redis = server.client;
    url = server.url;
    // A second model for the "several consumers" test: a Ridge fixture imported with the real CLI.
    tmp = mkdtempSync(join(tmpdir(), "ridepred-stream-redis-"));
    const imp = spawnSync(process.execPath, [BIN, "import", join(ROOT, "test/fixtures/linear/Ridge.p4.pkl"), "-o", join(tmp, "ridge.json")], {
      encoding: "utf8",
    });
    expect(imp.status, imp.stderr).toBe(0);
    ridge = loadModel(join(tmp, "ridge.json")).predictor;
  });

  afterAll(async () => {
    await server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function produce(stream: string, from: number, to: number): Promise<string[]> {
    const p = redis.pipeline();
    for (let i = from; i < to; i++) p.xadd(stream, "*", "data", event(i));
    return ((await p.exec()) ?? []).map(([e, id]) => {
      if (e) throw e;
      return id as string;
    });
  }

  /** Every prediction on a stream: [ride_id, ride_duration, model, source_id] per entry. */
  async function predictions(stream: string) {
    const entries = (await redis.xrange(stream, "-", "+")) as [string, string[]][];
    return entries.map(([, f]) => {
      const field = (k: string) => f[f.indexOf(k) + 1]!;
      const ev = JSON.parse(field("data"));
      return {
        rideId: ev.prediction.ride_id as number,
        duration: ev.prediction.ride_duration as number,
        model: ev.model as string,
        version: ev.version as string,
        sourceId: field("source_id"),
      };
    });
  }

  const pendingCount = async (stream: string, group: string) => Number(((await redis.xpending(stream, group)) as unknown[])[0]);

  it("N events in, N predictions out, each equal to predictor.predict; SIGTERM stops cleanly with nothing pending", async () => {
    const N = 1000;
    const ids = await produce("rides", 0, N);
    const c = startConsumer(["--from", url("rides"), "--to", url("predictions"), "--group", "duration", "--consumer", "c1", "--batch", "64"]);
    await waitFor("1000 predictions", async () => (await redis.xlen("predictions")) >= N);
    const { code, summary } = await c.stop();
    expect(code).toBe(0);
    expect(summary).toMatchObject({
      mode: "redis",
      model: predictor.name,
      version: predictor.version,
      group: "duration",
      consumer: "c1",
      events: N,
      predictions: N,
      dead_lettered: 0,
      reclaimed: 0,
    });
    const preds = await predictions("predictions");
    expect(preds).toHaveLength(N);
    preds.forEach((p, i) => {
      expect(p.rideId).toBe(i); // one batch at a time: stream order is kept
      expect(p.duration).toBe(predictor.predict(ride(i)));
      expect([p.model, p.version]).toStrictEqual([predictor.name, predictor.version]);
      expect(p.sourceId).toBe(ids[i]);
    });
    expect(await pendingCount("rides", "duration")).toBe(0);
  });

  it("poison events go to the dead-letter stream with the reason, and the stream goes on", async () => {
    await produce("mixed", 0, 2);
    const [badJson] = (await redis.pipeline().xadd("mixed", "*", "data", "{not json").exec())!.map((r) => r[1] as string);
    const missing = (await redis.xadd("mixed", "*", "data", JSON.stringify({ ride: { PULocationID: "1", trip_distance: 2 }, ride_id: "m" })))!;
    const noData = (await redis.xadd("mixed", "*", "payload", "x"))!;
    await produce("mixed", 2, 4);
    const c = startConsumer(["--from", url("mixed"), "--to", url("mixed-out"), "--group", "duration", "--dead-letter", url("mixed-dlq")]);
    await waitFor("4 predictions and 3 dead letters", async () => (await redis.xlen("mixed-out")) >= 4 && (await redis.xlen("mixed-dlq")) >= 3);
    const { code, summary } = await c.stop();
    expect(code).toBe(0);
    expect(summary).toMatchObject({ events: 7, predictions: 4, dead_lettered: 3 });
    expect((await predictions("mixed-out")).map((p) => p.rideId)).toStrictEqual([0, 1, 2, 3]);
    const dead = ((await redis.xrange("mixed-dlq", "-", "+")) as [string, string[]][]).map(([, f]) =>
      Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]]]))),
    );
    expect(dead).toStrictEqual([
      expect.objectContaining({
        source_id: badJson,
        data: "{not json",
        reason: expect.stringMatching(/^not valid JSON/),
        group: "duration",
        source_stream: "mixed",
      }),
      expect.objectContaining({ source_id: missing, reason: "ride.DOLocationID: is required but missing", model: `${predictor.name}@${predictor.version}` }),
      expect.objectContaining({ source_id: noData, reason: 'entry has no "data" field (fields: payload)' }),
    ]);
    expect(await pendingCount("mixed", "duration")).toBe(0); // poison is acked once dead-lettered: it never blocks the group
  });

  it("a consumer SIGKILLed mid-stream and restarted loses no event (duplicates counted)", async () => {
    const N = 4000;
    const args = ["--from", url("live"), "--to", url("live-out"), "--group", "duration", "--consumer", "worker-1", "--batch", "50"];
    // The producer keeps writing while the consumer is killed and restarted.
    let produced = 0;
    const producer = (async () => {
      while (produced < N) {
        await produce("live", produced, produced + 100);
        produced += 100;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const first = startConsumer(args);
    await waitFor("the first predictions", async () => (await redis.xlen("live-out")) >= 600);
    first.child.kill("SIGKILL");
    expect(await first.exited).toBeNull(); // killed, not exited
    const pendingAtKill = await pendingCount("live", "duration");
    const beforeRestart = await redis.xlen("live-out");

    const second = startConsumer(args);
    await producer;
    await waitFor("every ride_id predicted", async () => new Set((await predictions("live-out")).map((p) => p.rideId)).size >= N);
    const { code, summary } = await second.stop();
    expect(code).toBe(0);

    const preds = await predictions("live-out");
    const seen = new Map<number, number>();
    for (const p of preds) {
      expect(p.duration).toBe(predictor.predict(ride(p.rideId)));
      seen.set(p.rideId, (seen.get(p.rideId) ?? 0) + 1);
    }
    for (let i = 0; i < N; i++) expect(seen.has(i), `ride_id ${i} lost`).toBe(true);
    const duplicates = preds.length - seen.size;
    console.log(
      `SIGKILL after ${beforeRestart} predictions: ${pendingAtKill} entries pending at kill, all redelivered on restart; ${duplicates} duplicate predictions (written, not yet acked)`,
    );
    // Only entries left pending by the dead process can be predicted twice, and the restart re-read all of them.
    expect(duplicates).toBeLessThanOrEqual(pendingAtKill);
    expect(summary.reclaimed).toBe(pendingAtKill);
    // A duplicate carries the same source_id as its first prediction: downstream can drop it.
    const bySource = new Map<string, number>();
    for (const p of preds) bySource.set(p.sourceId, (bySource.get(p.sourceId) ?? 0) + 1);
    expect(bySource.size).toBe(N);
    expect(await pendingCount("live", "duration")).toBe(0);
  });

  it("SIGTERM mid-stream finishes the batch in flight: everything predicted is acked, a restart resumes without duplicates", async () => {
    const N = 30000; // enough that a fast machine is still mid-stream when the signal comes
    await produce("graceful", 0, N);
    const args = ["--from", url("graceful"), "--to", url("graceful-out"), "--group", "duration", "--consumer", "w", "--batch", "50"];
    const first = startConsumer(args);
    await waitFor("some predictions", async () => (await redis.xlen("graceful-out")) >= 300);
    const { code, summary } = await first.stop();
    expect(code).toBe(0);
    const done = await redis.xlen("graceful-out");
    expect(done).toBeLessThan(N); // really stopped mid-stream
    expect(summary.predictions).toBe(done);
    expect(await pendingCount("graceful", "duration")).toBe(0); // nothing read and left unacked
    const second = startConsumer(args);
    await waitFor("the rest", async () => (await redis.xlen("graceful-out")) >= N);
    const r2 = await second.stop();
    expect(r2.summary).toMatchObject({ reclaimed: 0, events: N - done });
    expect((await predictions("graceful-out")).map((p) => p.rideId)).toStrictEqual(Array.from({ length: N }, (_, i) => i));
  });

  it("reads from one server and writes to another; losing the output server mid-stream exits 1 and loses nothing", async () => {
    const server2 = await startRedis();
    const out = server2.client;
    try {
      await produce("split", 0, 100);
      await redis.xadd("split", "*", "data", "{oops");
      const c = startConsumer(["--from", url("split"), "--to", server2.url("split-out"), "--group", "duration", "--consumer", "w"]);
      // The default dead-letter stream is named after the input, on the output server.
      await waitFor(
        "100 predictions and the poison on the second server",
        async () => (await out.xlen("split-out")) >= 100 && (await out.xlen("split:dead-letter")) >= 1,
      );
      expect(await redis.exists("split:dead-letter")).toBe(0);
      await server2.stop();
      await produce("split", 100, 150); // arrive while the output server is down
      expect(await c.exited).toBe(1);
      expect(c.stderr()).toMatch(/Redis failed mid-stream: .*stay pending in group duration and are redelivered on restart/);
      // The events it could not write were not acked: they wait in the group for a restart.
      expect(await pendingCount("split", "duration")).toBeGreaterThan(0);
    } finally {
      await server2.stop();
    }
  });

  it("a new consumer takes over the pending entries of a dead one (XAUTOCLAIM)", async () => {
    await produce("handoff", 0, 200);
    await redis.xgroup("CREATE", "handoff", "duration", "0");
    // A consumer that read 20 entries and died before acking them.
    const taken = (await redis.xreadgroup("GROUP", "duration", "dead-worker", "COUNT", 20, "STREAMS", "handoff", ">")) as [string, unknown[]][];
    expect(taken[0]![1]).toHaveLength(20);
    const c = startConsumer(["--from", url("handoff"), "--to", url("handoff-out"), "--group", "duration", "--consumer", "alive", "--claim-idle", "0"]);
    await waitFor("200 predictions", async () => (await redis.xlen("handoff-out")) >= 200);
    const { code, summary } = await c.stop();
    expect(code).toBe(0);
    expect(summary).toMatchObject({ events: 200, predictions: 200, reclaimed: 20 });
    expect(new Set((await predictions("handoff-out")).map((p) => p.rideId)).size).toBe(200);
    expect(await pendingCount("handoff", "duration")).toBe(0);
  });

  it("an entry redelivered more than --max-deliveries times is dead-lettered instead of crashing consumers forever", async () => {
    await produce("crashy", 0, 2);
    await redis.xgroup("CREATE", "crashy", "duration", "0");
    // Entry 0 was delivered 3 times to "w" (each time, say, the process died on it).
    await redis.xreadgroup("GROUP", "duration", "w", "COUNT", 1, "STREAMS", "crashy", ">");
    for (let k = 0; k < 2; k++) await redis.xreadgroup("GROUP", "duration", "w", "COUNT", 1, "STREAMS", "crashy", "0");
    const c = startConsumer(["--from", url("crashy"), "--to", url("crashy-out"), "--group", "duration", "--consumer", "w", "--max-deliveries", "3"]);
    await waitFor("1 prediction, 1 dead letter", async () => (await redis.xlen("crashy-out")) >= 1 && (await redis.xlen("crashy:dead-letter")) >= 1);
    const { summary } = await c.stop();
    expect(summary).toMatchObject({ events: 2, predictions: 1, dead_lettered: 1 });
    expect((await predictions("crashy-out")).map((p) => p.rideId)).toStrictEqual([1]);
    const [[, fields]] = (await redis.xrange("crashy:dead-letter", "-", "+")) as [string, string[]][];
    expect(fields[fields.indexOf("reason") + 1]).toMatch(/^delivered 4 times without being acknowledged/);
  });

  it("several consumers: two groups with different models each predict every event of one stream", async () => {
    const N = 500;
    await produce("shared", 0, N);
    const a = startConsumer(["--from", url("shared"), "--to", url("shared-duration"), "--group", "duration"]);
    const b = startConsumer(["--from", url("shared"), "--to", url("shared-ridge"), "--group", "ridge", "--model", join(tmp, "ridge.json")]);
    await waitFor("both groups done", async () => (await redis.xlen("shared-duration")) >= N && (await redis.xlen("shared-ridge")) >= N);
    const [ra, rb] = await Promise.all([a.stop(), b.stop()]);
    expect([ra.code, rb.code]).toStrictEqual([0, 0]);
    for (const [stream, p] of [
      ["shared-duration", predictor],
      ["shared-ridge", ridge],
    ] as const) {
      const preds = await predictions(stream);
      expect(preds).toHaveLength(N);
      preds.forEach((x, i) => {
        expect(x.rideId).toBe(i);
        expect([x.model, x.version]).toStrictEqual([p.name, p.version]);
        expect(x.duration).toBe(p.predict(ride(i)));
      });
    }
    expect(predictor.predict(ride(0))).not.toBe(ridge.predict(ride(0))); // really two models
  });

  it("an unreachable server is a usage error (exit 2) naming it", async () => {
    const port = await freePort();
    const c = startConsumer(["--from", `redis://127.0.0.1:${port}/x`, "--to", `redis://127.0.0.1:${port}/y`, "--group", "g"]);
    expect(await c.exited).toBe(2);
    expect(c.stderr()).toContain(`cannot connect to redis://127.0.0.1:${port}`);
  });
});
