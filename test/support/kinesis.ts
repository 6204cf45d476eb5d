// kinesalite as the tests' Kinesis: in-memory, in this process, on a free loopback port. The SDK reaches it
// through AWS_ENDPOINT_URL_KINESIS, as ridepred does from the standard AWS environment.
import { createRequire } from "node:module";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const require = createRequire(import.meta.url);

export interface Kinesalite {
  endpoint: string;
  /** The environment a child process needs to reach it (no real AWS account is touched). */
  env: Record<string, string>;
  client: KinesisClient;
  createStream(name: string, shards?: number): Promise<void>;
  put(stream: string, records: { data: string; key: string }[]): Promise<void>;
  /** Every record of every shard, oldest first per shard. */
  records(stream: string): Promise<{ data: string; key: string; shard: string; seq: string }[]>;
  stop(): Promise<void>;
}

export async function startKinesalite(): Promise<Kinesalite> {
  const kinesalite = require("kinesalite") as (o: Record<string, unknown>) => Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = { AWS_ENDPOINT_URL_KINESIS: endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };
  const client = clientFor(endpoint);
  return {
    endpoint,
    env,
    client,
    async createStream(name, shards = 1) {
      await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
      for (let i = 0; i < 200; i++) {
        const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
        if (d.StreamDescriptionSummary?.StreamStatus === "ACTIVE") return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`stream ${name} did not become ACTIVE`);
    },
    async put(stream, records) {
      for (let i = 0; i < records.length; i += 500) {
        const res = await client.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: records.slice(i, i + 500).map((r) => ({ Data: Buffer.from(r.data), PartitionKey: r.key })),
          }),
        );
        if (res.FailedRecordCount) throw new Error(`${res.FailedRecordCount} records not put`);
      }
    },
    async records(stream) {
      const out: { data: string; key: string; shard: string; seq: string }[] = [];
      const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
      for (const s of shards) {
        let it = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId!, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator;
        while (it) {
          const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
          for (const x of r.Records ?? [])
            out.push({ data: Buffer.from(x.Data!).toString("utf8"), key: x.PartitionKey!, shard: s.ShardId!, seq: x.SequenceNumber! });
          if (!r.Records?.length) break;
          it = r.NextShardIterator;
        }
      }
      return out;
    },
    async stop() {
      client.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function clientFor(endpoint: string): KinesisClient {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // as ridepred does (kinesis-stream.ts)
  return new KinesisClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    requestHandler: new NodeHttpHandler(),
  });
}

/**
 * An HTTP proxy in front of kinesalite that fails some PutRecords entries as Kinesis does under throttling:
 * the call succeeds, FailedRecordCount > 0, and those entries carry ErrorCode
 * ProvisionedThroughputExceededException; they were not written. `failEvery` = fail every k-th record put.
 */
export async function startFailingProxy(target: string, failEvery: number) {
  let counter = 0;
  let failed = 0;
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      const isPut = String(req.headers["x-amz-target"]).endsWith(".PutRecords");
      const dropped = new Map<number, true>();
      if (isPut) {
        const doc = JSON.parse(body.toString("utf8")) as { Records: unknown[]; StreamName: string };
        const keep: unknown[] = [];
        doc.Records.forEach((r, i) => {
          if (++counter % failEvery === 0) dropped.set(i, true);
          else keep.push(r);
        });
        failed += dropped.size;
        body = Buffer.from(JSON.stringify({ ...doc, Records: keep }));
      }
      if (isPut && dropped.size && !JSON.parse(body.toString("utf8")).Records.length) {
        // Every entry failed: Kinesis answers without writing anything (kinesalite refuses an empty call).
        const failedAll = [...dropped.keys()].map(() => ({
          ErrorCode: "ProvisionedThroughputExceededException",
          ErrorMessage: "Rate exceeded for shard (injected)",
        }));
        const out = JSON.stringify({ FailedRecordCount: failedAll.length, Records: failedAll });
        res.writeHead(200, { "content-type": "application/x-amz-json-1.1", "content-length": String(Buffer.byteLength(out)) });
        res.end(out);
        return;
      }
      const headers = { ...req.headers, host: upstream.host, "content-length": String(body.length) };
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (ur) => {
        const parts: Buffer[] = [];
        ur.on("data", (c) => parts.push(c));
        ur.on("end", () => {
          let out = Buffer.concat(parts);
          if (isPut && ur.statusCode === 200) {
            const doc = JSON.parse(out.toString("utf8")) as { Records: unknown[]; FailedRecordCount: number };
            const merged: unknown[] = [];
            let k = 0;
            const total = doc.Records.length + dropped.size;
            for (let i = 0; i < total; i++)
              merged.push(
                dropped.has(i) ? { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard (injected)" } : doc.Records[k++],
              );
            out = Buffer.from(JSON.stringify({ ...doc, Records: merged, FailedRecordCount: doc.FailedRecordCount + dropped.size }));
          }
          const h = { ...ur.headers, "content-length": String(out.length) };
          res.writeHead(ur.statusCode ?? 500, h);
          res.end(out);
        });
      });
      up.on("error", (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failed: () => failed,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
