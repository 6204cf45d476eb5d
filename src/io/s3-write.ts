// Output to s3://BUCKET/KEY by multipart upload, completed only when the run succeeds: a failed run
// aborts the upload and a killed one never completes it, so no object ever appears under the key
// half-written (S3 shows an object only once CompleteMultipartUpload succeeds). The format's own sink
// writes to a private staging directory; every full part of the growing file is uploaded while the run
// goes on (Parquet and CSV only append), the rest when the sink finishes. An output smaller than one
// part is a single PutObject, which is just as atomic.
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { RidepredError } from "../errors.js";
import { parseS3Url, s3Client, s3Error } from "./s3.js";
import type { OutBatch, Sink } from "./types.js";

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
  const sdk = await import("@aws-sdk/client-s3");
  const client = await s3Client();
  const part = partSize();
  const dir = mkdtempSync(join(tmpdir(), "ridepred-s3-"));
  const local = join(dir, basename(key));
  let inner: Sink;
  try {
    inner = await open(local);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  let uploadId: string | undefined;
  let sent = 0; // bytes of the staging file handed to uploads
  const parts: { PartNumber: number; ETag: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  let failed: unknown;

  /** The file the format's sink is writing: its temp name until it finishes, then the final name. */
  const staged = (): string | undefined => {
    const names = readdirSync(dir);
    const name = names.includes(basename(local)) ? basename(local) : names[0];
    return name === undefined ? undefined : join(dir, name);
  };
  const readPart = (file: string, start: number, length: number): Buffer => {
    const buf = Buffer.alloc(length);
    const fd = openSync(file, "r");
    try {
      let n = 0;
      while (n < length) {
        const got = readSync(fd, buf, n, length - n, start + n);
        if (got === 0) throw new Error(`staging file ended at ${start + n} bytes`);
        n += got;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  };
  const upload = async (body: Buffer): Promise<void> => {
    uploadId ??= (await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
    const n = parts.length + 1;
    const slot = { PartNumber: n, ETag: "" };
    parts.push(slot);
    const task = client
      .send(new sdk.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length }))
      .then((r) => {
        slot.ETag = r.ETag ?? "";
      })
      .catch((e) => {
        failed ??= e;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  };
  /** Upload every full part the staging file holds beyond what is sent; at the end, the rest too. */
  const pump = async (final: boolean): Promise<void> => {
    const file = staged();
    if (file === undefined) return; // the writer has not opened its file yet
    const size = statSync(file).size;
    while (size - sent >= part || (final && size > sent && uploadId !== undefined)) {
      const len = Math.min(part, size - sent);
      await upload(readPart(file, sent, len));
      sent += len;
      if (failed) break;
    }
    if (failed) throw s3Error(url, "upload failed", failed, 1);
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
        await Promise.all(inFlight);
        if (failed) throw s3Error(url, "upload failed", failed, 1);
        if (uploadId === undefined) {
          // Smaller than one part: a single PutObject.
          const file = staged()!;
          const body = readPart(file, 0, statSync(file).size);
          await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
        } else {
          await client.send(new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
        }
        done = true;
      } catch (e) {
        await abortUpload();
        throw s3Error(url, "upload failed", e, 1);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async abort() {
      if (done) return;
      await inner.abort().catch(() => {});
      await abortUpload();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  /** Best effort: some stores (s3rver) have no AbortMultipartUpload; an upload never completed shows no object either way. */
  async function abortUpload(): Promise<void> {
    await Promise.allSettled(inFlight);
    if (uploadId === undefined) return;
    await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
    uploadId = undefined;
  }
}
