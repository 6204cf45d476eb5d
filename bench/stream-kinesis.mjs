// bench/stream's Kinesis rows: `ridepred stream --from kinesis://... --checkpoint FILE` against a bare
// AWS SDK client doing the same round trips on the same emulator (kinesalite in a child process, a 2-shard
// input stream): GetRecords of up to 1,000 records per shard, then per batch of `batch` records one
// PutRecords and one checkpoint file write (temp + rename), data copied as is (no parse, no prediction).
// Both are timed from their first checkpoint write to the last, so start-up is excluded.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { freePort, startStream } from "./lib/stream-child.mjs";

const require = createRequire(import.meta.url);

export async function benchKinesis({ bin, nodeArgs = [], n, batch, event, fmt, tmp }) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const sdk = require("@aws-sdk/client-kinesis");
  const { NodeHttpHandler } = require("@smithy/node-http-handler");
  const { Agent } = require("node:http");
  const port = await freePort();
  const kinesaliteDir = require.resolve("kinesalite");
  const server = spawn(
    process.execPath,
    ["-e", `require(${JSON.stringify(kinesaliteDir)})({createStreamMs:0,deleteStreamMs:0,updateStreamMs:0}).listen(${port}, "127.0.0.1")`],
    { stdio: "ignore" },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { AWS_ENDPOINT_URL_KINESIS: endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench" };
  const client = new sdk.KinesisClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
  try {
    for (let i = 0; ; i++) {
      try {
        await client.send(new sdk.ListStreamsCommand({}));
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const create = async (name, shards) => {
      await client.send(new sdk.CreateStreamCommand({ StreamName: name, ShardCount: shards }));
      while ((await client.send(new sdk.DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary.StreamStatus !== "ACTIVE")
        await new Promise((r) => setTimeout(r, 20));
    };
    for (const s of ["ref-in", "rides"]) await create(s, 2);
    for (const s of ["ref-out", "predictions"]) await create(s, 1);
    const enc = new TextEncoder();
    const load = async (stream) => {
      for (let i = 0; i < n; i += 500) {
        const Records = [];
        for (let j = i; j < Math.min(i + 500, n); j++) Records.push({ Data: enc.encode(event(j)), PartitionKey: `ride-${j}` });
        await client.send(new sdk.PutRecordsCommand({ StreamName: stream, Records }));
      }
    };
    console.log(
      `\nKinesis (kinesalite ${require("kinesalite/package.json").version} in a child process, 2-shard input, 127.0.0.1), ${fmt(n)} events, batch ${batch}:`,
    );
    await load("ref-in");
    await load("rides");

    // The bare client: ridepred's round trips without ridepred, one shard after another in turn.
    const shards = (await client.send(new sdk.ListShardsCommand({ StreamName: "ref-in" }))).Shards.map((s) => s.ShardId);
    const its = new Map();
    for (const id of shards)
      its.set(id, (await client.send(new sdk.GetShardIteratorCommand({ StreamName: "ref-in", ShardId: id, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator);
    const cp = join(tmp, "ref-checkpoint.json");
    const positions = {};
    let done = 0;
    let t0 = 0;
    while (done < n) {
      for (const id of shards) {
        const r = await client.send(new sdk.GetRecordsCommand({ ShardIterator: its.get(id), Limit: 1000 }));
        its.set(id, r.NextShardIterator);
        for (let i = 0; i < r.Records.length; i += batch) {
          const chunk = r.Records.slice(i, i + batch);
          await client.send(new sdk.PutRecordsCommand({ StreamName: "ref-out", Records: chunk.map((x) => ({ Data: x.Data, PartitionKey: x.PartitionKey })) }));
          positions[id] = chunk[chunk.length - 1].SequenceNumber;
          writeFileSync(`${cp}.tmp`, JSON.stringify({ stream: "ref-in", shards: positions }));
          renameSync(`${cp}.tmp`, cp);
          if (!t0) t0 = performance.now();
          done += chunk.length;
        }
      }
    }
    const tRef = (performance.now() - t0) / 1000;
    console.log(`  bare SDK client (same round trips)      ${fmt(n / tRef).padStart(9)} events/s (no parse/predict; runs in the bench process)`);

    // ridepred, watched through its checkpoint file: done when every shard is at its last sequence number.
    const last = {};
    for (const id of shards) {
      let it = (await client.send(new sdk.GetShardIteratorCommand({ StreamName: "rides", ShardId: id, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator;
      for (;;) {
        const r = await client.send(new sdk.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
        if (!r.Records.length) break;
        last[id] = r.Records[r.Records.length - 1].SequenceNumber;
        it = r.NextShardIterator;
      }
    }
    const checkpoint = join(tmp, "ridepred-checkpoint.json");
    const child = startStream({
      bin,
      nodeArgs,
      from: "kinesis://rides",
      to: "kinesis://predictions",
      more: ["--checkpoint", checkpoint],
      batch,
      env: { ...process.env, ...env },
    });
    let tFirst = 0;
    for (;;) {
      if (existsSync(checkpoint)) {
        if (!tFirst) tFirst = performance.now();
        let s = {};
        try {
          s = JSON.parse(readFileSync(checkpoint, "utf8")).shards;
        } catch {}
        if (Object.entries(last).every(([id, seq]) => s[id] === seq)) break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const tRun = (performance.now() - tFirst) / 1000;
    await child.stop(n);
    console.log(`  ridepred stream (first..last checkpoint) ${fmt(n / tRun).padStart(9)} events/s  = ${(tRef / tRun).toFixed(2)} x bare client`);
    return { ref: n / tRef, ridepred: n / tRun };
  } finally {
    client.destroy();
    server.kill("SIGKILL");
  }
}
