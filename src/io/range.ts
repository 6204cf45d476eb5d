// Random access to an input's bytes, wherever it lives: a local file, an S3 object (ranged GETs) or an
// HTTPS URL (Range requests). The Parquet reader needs only this: its footer, then the column chunks it
// reads, so a remote file is never downloaded whole into memory.
import { readSync, type Stats, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { RidepredError } from "../errors.js";

export interface RangeSource {
  /** The path or URL, for messages. */
  readonly name: string;
  readonly size: number;
  /** Bytes worth reading at a time: a remote read costs a round trip, so remote sources ask for more. */
  readonly window: number;
  /** Fill buf from byte `position` (fewer bytes only at the end of the input); resolves to the count read. */
  read(buf: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** An object as the listing that found it described it: its size and, when the store said, its ETag. */
export interface Listed {
  size: number;
  etag?: string;
}

/** s3://, https:// or http:// (a plain path is a local file). */
export const isUrl = (path: string): boolean => /^(s3|https?):\/\//i.test(path);
export const isS3 = (path: string): boolean => /^s3:\/\//i.test(path);
export const isHttp = (path: string): boolean => /^https?:\/\//i.test(path);

/**
 * Open any input for ranged reads; the S3 and HTTP modules load only when such a URL is given. An S3
 * object a listing found (`listed`, with its ETag) is opened without a HEAD.
 */
export async function openRange(path: string, listed?: Listed): Promise<RangeSource> {
  if (isS3(path)) return (await import("./s3-read.js")).s3Range(path, listed);
  if (isHttp(path)) return (await import("./http-read.js")).httpRange(path);
  return localRange(path);
}

/**
 * An input found without reading it (a dry run's check): its size in bytes (a local file's stat, undefined
 * for a pipe or a device; an S3 object's HEAD; an https server's answer to httpRange's one-byte probe, a
 * whole body sent instead not read) and whether its bytes can be read by position (false: a pipe, or a
 * server that ignores Range requests, whose file a run downloads whole first). Fails as opening it would.
 */
export async function inputSize(path: string): Promise<{ bytes?: number; ranges: boolean }> {
  if (isS3(path)) return { bytes: await (await import("./s3-read.js")).s3Size(path), ranges: true };
  if (isHttp(path)) return (await import("./http-read.js")).httpSize(path);
  const st = statInput(path);
  return st.isFile() ? { bytes: st.size, ranges: true } : { ranges: false };
}

/** A local input's stat, with the messages every reader gives for a missing file and a directory. */
export function statInput(path: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
  if (st.isDirectory()) throw new RidepredError(`${path}: is a directory, not a file`);
  return st;
}

const cannotRead = (path: string, e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return new RidepredError(`${path}: cannot read: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
};

export async function localRange(path: string, onClose?: () => Promise<void>): Promise<RangeSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw cannotRead(path, e);
  }
  const size = (await fh.stat()).size;
  return {
    name: path,
    size,
    window: 1 << 20,
    // A local read is synchronous: the reader waits for every read anyway, and an async one costs two
    // thread wake-ups (the libuv pool's and this thread's), which a host short of CPU makes slow.
    async read(buf, position) {
      let done = 0;
      while (done < buf.length) {
        const bytesRead = readSync(fh.fd, buf, done, buf.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
    close: async () => {
      await fh.close().catch(() => {});
      await onClose?.();
    },
  };
}
