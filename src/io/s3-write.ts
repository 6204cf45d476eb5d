// Output to s3://BUCKET/KEY by multipart upload, completed only when the run succeeds: a failed run
// aborts the upload and a killed one never completes it, so no object ever appears under the key
// half-written (S3 shows an object only once CompleteMultipartUpload succeeds). The format's own sink
// writes to a private staging directory; every full part of the growing file is uploaded while the run
// goes on (Parquet and CSV only append), the rest when the sink finishes. An output smaller than one
// part is a single PutObject, which is just as atomic.
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { RidepredError } from "../errors.js";
import { parseS3Url, s3Client, s3Error } from "./s3.js";
import type { OutBatch, Sink } from "./types.js";

type Sdk = typeof import("@aws-sdk/client-s3");

/** 8 MiB parts (S3's minimum is 5 MiB); RIDEPRED_S3_PART_SIZE (bytes) changes it, for stores that allow smaller. */
function partSize(): number {
  const v = process.env.RIDEPRED_S3_PART_SIZE;
  if (!v) return 8 << 20;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024) throw new RidepredError(`RIDEPRED_S3_PART_SIZE=${v}: expected a number of bytes (>= 1024)`);
  return n;
}

/** Parts uploading at once while the run goes on: enough to overlap the network with scoring. */
const IN_FLIGHT = 2;

export async function s3Sink(url: string, open: (localPath: string) => Promise<Sink>): Promise<Sink> {
  const { bucket, key } = parseS3Url(url);
  if (!key || key.endsWith("/")) throw new RidepredError(`${url}: an output needs an object key, not a bucket or folder`);
  const upload = new MultipartUpload(url, bucket, key, await import("@aws-sdk/client-s3"), await s3Client());
  const part = partSize();
  const staging = new Staging(basename(key));
  let inner: Sink;
  try {
    inner = await open(staging.local);
  } catch (e) {
    staging.remove();
    throw e;
  }
  let sent = 0; // bytes of the staging file handed to the upload

  /** Upload every full part the staging file holds beyond what is sent; at the end, the rest too. */
  const pump = async (final: boolean): Promise<void> => {
    const size = staging.size();
    while (size - sent >= part || (final && size > sent && upload.started)) {
      const len = Math.min(part, size - sent);
      await upload.part(staging.read(sent, len));
      sent += len;
    }
  };

  let done = false;
  return {
    async write(batch: OutBatch) {
      await inner.write(batch);
      await pump(false);
    },
    async finish() {
      await inner.finish();
      try {
        await pump(true);
        if (upload.started) await upload.complete();
        else await upload.putWhole(staging.read(0, staging.size())); // smaller than one part
        done = true;
      } catch (e) {
        await upload.abort();
        throw s3Error(url, "upload failed", e, 1);
      } finally {
        staging.remove();
      }
    },
    async abort() {
      if (done) return;
      await inner.abort().catch(() => {});
      await upload.abort();
      staging.remove();
    },
  };
}

/** A private directory the format's sink writes in (its temp file, then the final name). */
class Staging {
  private readonly dir = mkdtempSync(join(tmpdir(), "ridepred-s3-"));
  readonly local: string;

  constructor(name: string) {
    this.local = join(this.dir, name);
  }

  /** The file being written: the sink's temp name until it finishes, then the final name; undefined before it opens one. */
  private file(): string | undefined {
    const names = readdirSync(this.dir);
    const name = names.includes(basename(this.local)) ? basename(this.local) : names[0];
    return name === undefined ? undefined : join(this.dir, name);
  }

  size(): number {
    const file = this.file();
    return file === undefined ? 0 : statSync(file).size;
  }

  read(start: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const fd = openSync(this.file()!, "r");
    try {
      for (let n = 0; n < length; ) {
        const got = readSync(fd, buf, n, length - n, start + n);
        if (got === 0) throw new Error(`staging file ended at ${start + n} bytes`);
        n += got;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One multipart upload: created with its first part, parts sent IN_FLIGHT at a time, completed or aborted. */
class MultipartUpload {
  private id: string | undefined;
  private readonly parts: { PartNumber: number; ETag: string }[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failed: unknown;

  constructor(
    private readonly url: string,
    private readonly bucket: string,
    private readonly key: string,
    private readonly sdk: Sdk,
    private readonly client: S3Client,
  ) {}

  get started(): boolean {
    return this.id !== undefined;
  }

  /** Send a part; resolves once fewer than IN_FLIGHT parts are under way (a failure surfaces here or at complete). */
  async part(body: Buffer): Promise<void> {
    this.check();
    const { Bucket, Key } = { Bucket: this.bucket, Key: this.key };
    this.id ??= (await this.client.send(new this.sdk.CreateMultipartUploadCommand({ Bucket, Key }))).UploadId;
    const slot = { PartNumber: this.parts.length + 1, ETag: "" };
    this.parts.push(slot);
    const send = this.client.send(
      new this.sdk.UploadPartCommand({ Bucket, Key, UploadId: this.id, PartNumber: slot.PartNumber, Body: body, ContentLength: body.length }),
    );
    const task: Promise<void> = send
      .then((r) => {
        slot.ETag = r.ETag ?? "";
      })
      .catch((e) => {
        this.failed ??= e;
      })
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    while (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
    this.check();
  }

  async complete(): Promise<void> {
    await Promise.all(this.inFlight);
    this.check();
    await this.client.send(
      new this.sdk.CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.id, MultipartUpload: { Parts: this.parts } }),
    );
  }

  async putWhole(body: Buffer): Promise<void> {
    await this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentLength: body.length }));
  }

  /** Best effort: some stores (s3rver) have no AbortMultipartUpload; an upload never completed shows no object either way. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    if (this.id === undefined) return;
    const UploadId = this.id;
    this.id = undefined;
    await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId })).catch(() => {});
  }

  private check(): void {
    if (this.failed) throw s3Error(this.url, "upload failed", this.failed, 1);
  }
}
