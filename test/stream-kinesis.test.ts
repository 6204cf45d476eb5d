// Kinesis beyond the shared broker suite (stream-brokers.test.ts), against kinesalite in this process:
// the course's ride_events -> ride_predictions deployment through `ridepred stream` and through the
// Lambda handler with PREDICTIONS_STREAM_NAME, partial PutRecords failures (injected by a proxy, since
// kinesalite never fails a record) retried, a shard split mid-stream, the checkpoint lock, --shards.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListShardsCommand, SplitShardCommand } from "@aws-sdk/client-kinesis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { lambdaHandler } from "../src/stream/kinesis.js";
import { type Kinesalite, startFailingProxy, startKinesalite } from "./support/kinesis.js";
import { BIN, event, ROOT, ride, runNode, startConsumer, waitFor } from "./support/stream-cli.js";

const { predictor } = loadModel();
const courseEvent = JSON.parse(readFileSync(join(ROOT, "test/fixtures/stream/kinesis-event.json"), "utf8"));
const courseRecord = courseEvent.Records[0].kinesis;
const courseData = Buffer.from(courseRecord.data, "base64").toString("utf8"); // {"ride": {...}, "ride_id": 256}
const courseRide = { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 };
/** The course's output record for ride 256: its prediction event, keyed by ride id (lambda_function.py). */
const courseOutput = {
  data: { model: predictor.name, version: predictor.version, prediction: { ride_duration: predictor.predict(courseRide), ride_id: 256 } },
  key: "256",
};

let k: Kinesalite;
let tmp: string;
beforeAll(async () => {
  k = await startKinesalite();
  tmp = mkdtempSync(join(tmpdir(), "ridepred-kinesis-"));
});
afterAll(async () => {
  await k?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const parsed = async (stream: string) => (await k.records(stream)).map((r) => ({ data: JSON.parse(r.data), key: r.key }));
/** A Kinesis event as Lambda delivers the records of a stream. */
const lambdaEvent = (records: { data: string; key: string; seq: string }[]) => ({
  Records: records.map((r) => ({
    kinesis: { kinesisSchemaVersion: "1.0", partitionKey: r.key, sequenceNumber: r.seq, data: Buffer.from(r.data).toString("base64") },
    eventSource: "aws:kinesis",
  })),
});

describe("the course's deployment: ride_events -> ride_predictions", () => {
  beforeAll(async () => {
    await k.createStream("ride_events", 1);
    await k.createStream("ride_predictions", 1);
    // As the course sends it: aws kinesis put-record --stream-name ride_events --partition-key 1 --data ...
    await k.put("ride_events", [{ data: courseData, key: "1" }]);
  });

  it("ridepred stream turns the course's ride-256 event into the course's output record, and checkpoints it", async () => {
    const checkpoint = join(tmp, "course.json");
    const c = startConsumer(["--from", "kinesis://ride_events", "--to", "kinesis://ride_predictions", "--checkpoint", checkpoint], k.env);
    await waitFor("the prediction", async () => (await k.records("ride_predictions")).length >= 1, 45_000, c.stderr);
    const { code, summary } = await c.stop();
    expect(code).toBe(0);
    expect(summary).toMatchObject({ mode: "kinesis", from: "kinesis://ride_events", to: "kinesis://ride_predictions", events: 1, predictions: 1, checkpoint });
    expect(await parsed("ride_predictions")).toStrictEqual([courseOutput]);
    const [input] = await k.records("ride_events");
    expect(JSON.parse(readFileSync(checkpoint, "utf8"))).toStrictEqual({ stream: "ride_events", shards: { "shardId-000000000000": input!.seq } });
  });

  it("the Lambda handler with PREDICTIONS_STREAM_NAME puts the same record (as the Node.js runtime calls it); TEST_RUN=True puts nothing", async () => {
    const before = (await k.records("ride_predictions")).length;
    const records = await k.records("ride_events");
    const invoke = async (env: Record<string, string>) => {
      const script = `import("ridepred/lambda").then(async (m) => process.stdout.write(JSON.stringify(await m.handler(JSON.parse(process.argv[1]), {}))))`;
      const r = await runNode(["--input-type=module", "-e", script, JSON.stringify(lambdaEvent(records))], { ...k.env, ...env });
      expect(r.stderr).toBe("");
      return JSON.parse(r.stdout);
    };
    expect(await invoke({ PREDICTIONS_STREAM_NAME: "ride_predictions", TEST_RUN: "True" })).toStrictEqual({ predictions: [courseOutput.data] });
    expect(await k.records("ride_predictions")).toHaveLength(before);
    expect(await invoke({ PREDICTIONS_STREAM_NAME: "ride_predictions" })).toStrictEqual({ predictions: [courseOutput.data] });
    const after = await parsed("ride_predictions");
    expect(after).toHaveLength(before + 1);
    expect(after[after.length - 1]).toStrictEqual(courseOutput);
  });
});

describe("partial PutRecords failures (a proxy in front of kinesalite fails some entries, as throttling does)", () => {
  beforeAll(async () => {
    await k.createStream("flaky-in", 2);
    await k.createStream("flaky-out", 1);
  });

  it("ridepred stream retries the failed entries: every prediction is put once", async () => {
    const N = 500;
    await k.put(
      "flaky-in",
      Array.from({ length: N }, (_, i) => ({ data: event(i), key: `ride-${i}` })),
    );
    const proxy = await startFailingProxy(k.endpoint, 3);
    try {
      const c = startConsumer(["--from", "kinesis://flaky-in", "--to", "kinesis://flaky-out", "--checkpoint", join(tmp, "flaky.json")], {
        ...k.env,
        AWS_ENDPOINT_URL_KINESIS: proxy.endpoint,
      });
      await waitFor(`${N} predictions`, async () => (await k.records("flaky-out")).length >= N, 60_000, c.stderr);
      const { code, summary } = await c.stop();
      expect(code, c.stderr()).toBe(0);
      expect(summary).toMatchObject({ events: N, predictions: N });
      expect(proxy.failed()).toBeGreaterThanOrEqual(N / 3 - 1);
      const ids = (await parsed("flaky-out")).map((r) => r.data.prediction.ride_id as number);
      expect(ids.sort((a, b) => a - b)).toStrictEqual(Array.from({ length: N }, (_, i) => i)); // each once
    } finally {
      await proxy.close();
    }
  });

  it("the Lambda handler retries failed puts, reports what still fails in batchItemFailures, and never retries an unscorable record", async () => {
    await k.createStream("lambda-out", 1);
    const good = [0, 1, 2, 3].map((i) => ({ data: event(i), key: "1", seq: `4963008166608487929058118563032477039860870488080252${9200 + i}` }));
    const bad = { data: "{not json", key: "1", seq: "49630081666084879290581185630324770398608704880802529299" };
    const ev = lambdaEvent([...good.slice(0, 2), bad, ...good.slice(2)]);
    const env = { ...k.env, PREDICTIONS_STREAM_NAME: "lambda-out" };
    Object.assign(process.env, env);
    // Every other put fails once: the handler's own retries get them all through.
    let proxy = await startFailingProxy(k.endpoint, 2);
    process.env.AWS_ENDPOINT_URL_KINESIS = proxy.endpoint;
    let r = await (await lambdaHandler(predictor, env))(ev);
    await proxy.close();
    expect(proxy.failed()).toBeGreaterThan(0);
    expect(r.batchItemFailures).toBeUndefined();
    expect(r.predictions.map((p) => p.prediction.ride_id)).toStrictEqual([0, 1, 2, 3]);
    expect(r.errors).toStrictEqual([{ index: 2, sequenceNumber: bad.seq, reason: expect.stringMatching(/^not valid JSON/) }]);
    const out = (await parsed("lambda-out")).sort((a, b) => a.key.localeCompare(b.key)); // retried ones land later
    expect(out.map((o) => [o.key, o.data.prediction.ride_duration])).toStrictEqual([0, 1, 2, 3].map((i) => [String(i), predictor.predict(ride(i))]));

    // Every put fails: each scorable record is named for Lambda to retry; the poison one is not.
    proxy = await startFailingProxy(k.endpoint, 1);
    process.env.AWS_ENDPOINT_URL_KINESIS = proxy.endpoint;
    r = await (await lambdaHandler(predictor, env))(ev);
    await proxy.close();
    expect(r.batchItemFailures).toStrictEqual(good.map((g) => ({ itemIdentifier: g.seq })));
    expect(r.errors).toHaveLength(1);
    expect(await k.records("lambda-out")).toHaveLength(4);
  });
});

describe("resharding, locks and static splits", () => {
  it("a shard split mid-stream: the parent is finished before its children are read, per-key order kept, nothing lost", { timeout: 180_000 }, async () => {
    await k.createStream("split-in", 2);
    await k.createStream("split-out", 1);
    const keys = 8;
    const put = (from: number, n: number) =>
      k.put(
        "split-in",
        Array.from({ length: n }, (_, i) => ({ data: event(from + i), key: `k${(from + i) % keys}` })),
      );
    await put(0, 600);
    const checkpoint = join(tmp, "split.json");
    const c = startConsumer(["--from", "kinesis://split-in", "--to", "kinesis://split-out", "--checkpoint", checkpoint, "--batch", "50"], k.env);
    await waitFor("the first predictions", async () => (await k.records("split-out")).length >= 100, 45_000, c.stderr);
    const [parent] = (await k.client.send(new ListShardsCommand({ StreamName: "split-in" }))).Shards!;
    const mid = (BigInt(parent!.HashKeyRange!.StartingHashKey!) + BigInt(parent!.HashKeyRange!.EndingHashKey!)) / 2n;
    await k.client.send(new SplitShardCommand({ StreamName: "split-in", ShardToSplit: parent!.ShardId!, NewStartingHashKey: String(mid) }));
    await put(600, 600);
    await waitFor("1200 predictions", async () => (await k.records("split-out")).length >= 1200, 90_000, c.stderr);
    const { code, summary } = await c.stop();
    expect(code, c.stderr()).toBe(0);
    expect(summary).toMatchObject({ events: 1200, predictions: 1200 });
    const ids = (await parsed("split-out")).map((r) => r.data.prediction.ride_id as number);
    expect([...ids].sort((a, b) => a - b)).toStrictEqual(Array.from({ length: 1200 }, (_, i) => i));
    // The output stream has one shard, so its order is the processing order: per input key, rising.
    const last = new Map<number, number>();
    for (const id of ids) {
      expect(id, `ride ${id} (key k${id % keys}) after ride ${last.get(id % keys)}`).toBeGreaterThan(last.get(id % keys) ?? -1);
      last.set(id % keys, id);
    }
    const shards = JSON.parse(readFileSync(checkpoint, "utf8")).shards;
    expect(shards[parent!.ShardId!]).toBe("SHARD_END");
    const children = Object.keys(shards).filter((s) => !["shardId-000000000000", "shardId-000000000001"].includes(s));
    expect(children).toHaveLength(2);
    expect(c.stderr()).toMatch(/shard shardId-000000000000 finished/);
  });

  it("a second process on the same checkpoint is refused while the first runs (exit 2)", async () => {
    await k.createStream("lock-in", 1);
    await k.createStream("lock-out", 1);
    const args = ["--from", "kinesis://lock-in", "--to", "kinesis://lock-out", "--checkpoint", join(tmp, "lock.json")];
    const first = startConsumer(args, k.env);
    await waitFor("the first to start", () => /checkpoint/.test(first.stderr()), 45_000, first.stderr);
    const second = startConsumer(args, k.env);
    expect(await second.exited).toBe(2);
    expect(second.stderr()).toMatch(new RegExp(`lock\\.json\\.lock is held by process ${first.child.pid} on .*: another ridepred stream reads these shards`));
    expect((await first.stop()).code).toBe(0);
  });

  it("--shards 0/2 and 1/2: two processes split a 4-shard stream, every ride predicted once", { timeout: 120_000 }, async () => {
    await k.createStream("wide-in", 4);
    await k.createStream("wide-out", 1);
    const N = 800;
    await k.put(
      "wide-in",
      Array.from({ length: N }, (_, i) => ({ data: event(i), key: `ride-${i}` })),
    );
    const run = (i: number) =>
      startConsumer(["--from", "kinesis://wide-in", "--to", "kinesis://wide-out", "--checkpoint", join(tmp, `wide-${i}.json`), "--shards", `${i}/2`], k.env);
    const [a, b] = [run(0), run(1)];
    await waitFor(
      `${N} predictions`,
      async () => (await k.records("wide-out")).length >= N,
      60_000,
      () => a.stderr() + b.stderr(),
    );
    const [ra, rb] = [await a.stop(), await b.stop()];
    expect([ra.code, rb.code]).toStrictEqual([0, 0]);
    expect(Number(ra.summary.events)).toBeGreaterThan(0);
    expect(Number(rb.summary.events)).toBeGreaterThan(0);
    expect(Number(ra.summary.events) + Number(rb.summary.events)).toBe(N);
    const ids = (await parsed("wide-out")).map((r) => r.data.prediction.ride_id as number);
    expect(ids.sort((x, y) => x - y)).toStrictEqual(Array.from({ length: N }, (_, i) => i));
    const owned = (i: number) => Object.keys(JSON.parse(readFileSync(join(tmp, `wide-${i}.json`), "utf8")).shards).sort();
    expect(owned(0)).toStrictEqual(["shardId-000000000000", "shardId-000000000002"]);
    expect(owned(1)).toStrictEqual(["shardId-000000000001", "shardId-000000000003"]);
  });

  it("refuses a missing stream, a missing --checkpoint and a bad --shards with exit 2", async () => {
    const run = (argv: string[]) => runNode([BIN, "stream", ...argv], k.env);
    const nostream = await run(["--from", "kinesis://nope", "--to", "kinesis://ride_predictions", "--checkpoint", join(tmp, "x.json")]);
    expect([nostream.code, nostream.stderr]).toStrictEqual([2, "ridepred: kinesis://nope: no such Kinesis stream\n"]);
    const base = ["--from", "kinesis://a", "--to", "kinesis://b"];
    expect((await run(base)).stderr).toMatch(/Kinesis mode needs --checkpoint/);
    expect((await run([...base, "--checkpoint", "c", "--shards", "2/2"])).stderr).toMatch(/--shards 2\/2: expected INDEX\/COUNT/);
    expect((await run([...base, "--checkpoint", "c", "--group", "g"])).stderr).toMatch(/--group does not apply to Kinesis/);
  });
});
