// bench/stream's Kafka rows: `ridepred stream --from kafka://... --group` against a bare kafkajs consumer
// doing the same round trips on the same broker (kcat's librdkafka mock cluster, 3 brokers, 4 partitions):
// per batch of `batch` messages, one produce (acks=-1, same key, source headers) and one offset commit,
// values copied as they are (no parse, no prediction); then again doing ridepred's JSON work per event and
// reading ahead like ridepred (everything but the model). All are timed from their first commit to the
// last (group join and process start excluded), watching the group's committed offsets.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { startStream } from "./lib/stream-child.mjs";

const require = createRequire(import.meta.url);

export async function benchKafka({ bin, nodeArgs = [], n, batch, event, echo, fmt, concurrentRef = false }) {
  const { Kafka, logLevel, Partitioners } = require("kafkajs");
  const kcat = spawn("kcat", ["-b", "127.0.0.1:1", "-X", "test.mock.num.brokers=3", "-P", "-t", "keepalive"], { stdio: ["pipe", "ignore", "pipe"] });
  let err = "";
  const bootstrap = await new Promise((resolve, reject) => {
    kcat.stderr.on("data", (d) => {
      err += d;
      const m = /replaced with (\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    kcat.on("exit", (c) => reject(new Error(`kcat exited ${c}: ${err}`)));
  });
  const kafka = new Kafka({ clientId: "bench", brokers: bootstrap.split(","), logLevel: process.env.BENCH_KAFKA_LOG ? logLevel.ERROR : logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, maxInFlightRequests: 1 });
  const admin = kafka.admin();
  try {
    await producer.connect();
    await admin.connect();
    const load = async (topic) => {
      for (let i = 0; i < n; i += 2000) {
        const messages = [];
        for (let j = i; j < Math.min(i + 2000, n); j++) messages.push({ key: `ride-${j}`, value: event(j) });
        await producer.send({ topic, acks: -1, messages });
      }
    };
    const committed = async (group, topic) => {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return t.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    };
    /** Seconds from the group's first commit to the one that covers all n messages. */
    let crashed; // a reference consumer that stopped for good: end the bench instead of waiting forever
    const timeCommits = async (group, topic) => {
      let tFirst = 0;
      for (;;) {
        if (crashed) throw crashed;
        const c = await committed(group, topic);
        if (!tFirst && c > 0) tFirst = performance.now();
        if (c >= n) return (performance.now() - tFirst) / 1000;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    console.log(`\nKafka (kcat ${"librdkafka mock"}, 3 brokers, 4 partitions, 127.0.0.1), ${fmt(n)} events, batch ${batch}:`);
    await load("ref-in");
    await load("rides");

    // The bare consumer: ridepred's round trips without ridepred, one batch in flight at a time as in
    // ridepred's loop (--concurrent-ref lets every partition's batches overlap, for comparison). With
    // `full`, it also does ridepred's JSON work per event (parse, write an output event) and, like
    // ridepred's read-ahead, prepares the next chunk while this one is produced and committed.
    const reference = async (group, topic, full) => {
      const consumer = kafka.consumer({ groupId: group, maxBytes: 4 << 20 });
      const out = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, maxInFlightRequests: 1 });
      await out.connect();
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) crashed = payload.error;
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: concurrentRef ? 8 : 1,
        eachBatch: async ({ batch: b }) => {
          const prepare = (i) =>
            b.messages.slice(i, i + batch).map((m) => ({
              key: m.key,
              value: full ? echo(m.value.toString("utf8")) : m.value,
              headers: { "source-topic": topic, "source-partition": String(b.partition), "source-offset": m.offset, model: "ride-duration@bench" },
            }));
          let next = prepare(0);
          for (let i = 0; i < b.messages.length; i += batch) {
            const last = b.messages[Math.min(i + batch, b.messages.length) - 1];
            const sending = out.send({ topic: `${topic}-out`, acks: -1, messages: next });
            if (full && i + batch < b.messages.length) next = prepare(i + batch);
            await sending;
            await consumer.commitOffsets([{ topic, partition: b.partition, offset: String(Number(last.offset) + 1) }]);
            if (!full && i + batch < b.messages.length) next = prepare(i + batch);
          }
        },
      });
      const t = await timeCommits(group, topic);
      await consumer.disconnect();
      await out.disconnect();
      return t;
    };
    const tRef = await reference("ref", "ref-in", false);
    console.log(
      `  bare kafkajs consumer (same round trips) ${fmt(n / tRef).padStart(9)} events/s (no parse/predict; ${concurrentRef ? "partitions concurrently" : "one batch in flight"}; in the bench process)`,
    );
    await load("ref-full-in");
    const tRefFull = await reference("ref-full", "ref-full-in", true);
    console.log(`  bare consumer + JSON + read-ahead        ${fmt(n / tRefFull).padStart(9)} events/s (ridepred's work without the model)`);

    const child = startStream({
      bin,
      nodeArgs,
      from: `kafka://${bootstrap}/rides`,
      to: `kafka://${bootstrap}/predictions`,
      more: ["--group", "duration"],
      batch,
    });
    const tRun = await timeCommits("duration", "rides");
    await child.stop(n);
    console.log(
      `  ridepred stream (first..last commit)     ${fmt(n / tRun).padStart(9)} events/s  = ${(tRef / tRun).toFixed(2)} x bare consumer, ${(tRefFull / tRun).toFixed(2)} x with JSON + read-ahead`,
    );
    return { ref: n / tRef, refFull: n / tRefFull, ridepred: n / tRun };
  } finally {
    await admin.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    kcat.kill("SIGKILL");
  }
}
