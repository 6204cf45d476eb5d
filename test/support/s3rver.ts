// A throwaway S3 for tests: s3rver on 127.0.0.1 (a free port), storing in a temp dir, with the env a
// ridepred child needs to reach it (AWS_ENDPOINT_URL_S3, dummy credentials) and an SDK client for the
// test's own puts and gets. stop() closes it and removes the dir.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
// @ts-expect-error s3rver ships no types
import S3rver from "s3rver";

export interface TestS3 {
  endpoint: string;
  dir: string;
  env: Record<string, string>;
  client: S3Client;
  put(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  keys(bucket: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<TestS3> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // the SDK's notice about Node 22, noise here
  const dir = mkdtempSync(join(tmpdir(), "ridepred-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { AWS_ENDPOINT_URL_S3: endpoint, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: new NodeHttpHandler(),
  });
  return {
    endpoint,
    dir,
    env,
    client,
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async get(bucket, key) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (e) {
        if ((e as { name?: string }).name === "NoSuchKey") return undefined;
        throw e;
      }
    },
    async keys(bucket, prefix) {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (r.Contents ?? []).map((o) => o.Key!).sort();
    },
    async stop() {
      client.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
