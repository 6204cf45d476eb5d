// Reading S3 objects: ranged GETs for Parquet (the footer, then the column chunks a job reads), one
// streamed GET for CSV and JSONL, and listings for patterns. Ranges are always explicit (first-last):
// some S3-compatible stores (s3rver) answer suffix ranges (bytes=-N) wrongly.
import type { Readable } from "node:stream";
import type { ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import type { Listed, RangeSource } from "./range.js";
import { RidepredError } from "../errors.js";
import { parseS3Url, s3Client, s3Error } from "./s3.js";

/** 8 MiB per GET: a round trip costs far more than the bytes, and a column chunk is usually one read. */
const WINDOW = 8 << 20;

/** The object's size and ETag (a HEAD), or the reason it cannot be read. */
async function s3Head(url: string): Promise<{ size: number; etag?: string }> {
  const { bucket, key } = parseS3Url(url);
  const { HeadObjectCommand } = await import("@aws-sdk/client-s3");
  const client = await s3Client();
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: Number(head.ContentLength ?? 0), etag: head.ETag };
  } catch (e) {
    throw s3Error(url, "cannot read", e);
  }
}

/** The object's size, without reading it (range.ts inputSize). */
export async function s3Size(url: string): Promise<number> {
  return (await s3Head(url)).size;
}

/**
 * Ranged reads of an object. `listed`: its size and ETag from the listing that found it, taken instead of
 * a HEAD (a round trip per object of a backfill); If-Match on that ETag still refuses an object replaced
 * since, as it refuses one replaced during the run.
 */
export async function s3Range(url: string, listed?: Listed): Promise<RangeSource> {
  const { bucket, key } = parseS3Url(url);
  const { GetObjectCommand } = await import("@aws-sdk/client-s3");
  const client = await s3Client();
  const { size, etag } = listed?.etag !== undefined ? listed : await s3Head(url);
  return {
    name: url,
    size,
    window: WINDOW,
    async read(buf, position) {
      const last = Math.min(position + buf.length, size) - 1;
      if (last < position) return 0;
      try {
        // If-Match: an object replaced while it is read fails the run instead of mixing two versions.
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${position}-${last}`, IfMatch: etag }));
        // The object's whole size, as this answer gives it: another size is another object, also from a
        // store that ignores If-Match.
        const total = /\/(\d+)$/.exec(res.ContentRange ?? "")?.[1];
        if (total !== undefined && Number(total) !== size) {
          (res.Body as Readable | undefined)?.destroy();
          throw new RidepredError(`${url}: replaced while it was read (now ${total} bytes, ${size} when opened)`);
        }
        return await fill(res.Body as Readable, buf);
      } catch (e) {
        throw s3Error(url, `cannot read bytes ${position}-${last}`, e);
      }
    },
    close: async () => {},
  };
}

/** Copy a body into buf; the count copied (the body must not be longer than buf). */
async function fill(body: Readable, buf: Uint8Array): Promise<number> {
  let n = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    if (n + chunk.length > buf.length) throw new Error(`the store sent more bytes than the range asked for (${n + chunk.length} > ${buf.length})`);
    buf.set(chunk, n);
    n += chunk.length;
  }
  return n;
}

/** The whole object as a stream (CSV, JSONL), with its size for progress. */
export async function s3Stream(url: string): Promise<{ stream: Readable; size?: number }> {
  const { bucket, key } = parseS3Url(url);
  const { GetObjectCommand } = await import("@aws-sdk/client-s3");
  const client = await s3Client();
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { stream: res.Body as Readable, size: res.ContentLength };
  } catch (e) {
    throw s3Error(url, "cannot read", e);
  }
}

/** Every key under a prefix, as s3:// URLs with their sizes and ETags (ListObjectsV2, page by page). */
export async function s3List(bucket: string, prefix: string): Promise<(Listed & { url: string })[]> {
  const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
  const client = await s3Client();
  const out: (Listed & { url: string })[] = [];
  let token: string | undefined;
  do {
    let res: ListObjectsV2CommandOutput;
    try {
      res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    } catch (e) {
      throw s3Error(`s3://${bucket}/${prefix}`, "cannot list", e);
    }
    for (const o of res.Contents ?? [])
      if (o.Key !== undefined) out.push({ url: `s3://${bucket}/${o.Key}`, size: Number(o.Size ?? 0), ...(o.ETag ? { etag: o.ETag } : {}) });
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out;
}
