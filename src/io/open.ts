// Byte streams for paths, with "-" meaning stdin, and friendly errors for unreadable files.
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { isHttp, isS3, statInput } from "./range.js";

export interface ByteInput {
  stream: Readable;
  /** Size in bytes when known (a plain file), for progress. */
  size?: number;
  /** Bytes read so far from the file (before decompression). */
  read(): number;
}

// 64 KiB chunks: decoded as text they stay ordinary young-generation strings; a 1 MiB chunk is a large
// object only a full GC frees, which raises a long run's peak memory.
export function openBytes(path: string, gzip: boolean, chunkSize = 1 << 16, remote?: { stream: Readable; size?: number }): ByteInput {
  let raw: Readable;
  let size: number | undefined;
  if (remote) [raw, size] = [remote.stream, remote.size];
  else if (path === "-") raw = process.stdin;
  else {
    size = statInput(path).size;
    raw = createReadStream(path, { highWaterMark: chunkSize });
  }
  let bytes = 0;
  raw.on("data", (c: Buffer) => (bytes += c.length));
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  if (gzip) {
    raw.on("error", (e) => stream.destroy(e));
    // Closing the input (a reader done early, a dry run) ends the download under the gunzip too: an
    // S3 or HTTPS body left paused would hold its socket, and the process, open.
    stream.on("close", () => raw.destroy());
  }
  return { stream, size, read: () => bytes };
}

/** openBytes for any input: s3:// and https:// are one streamed GET (their modules load only then). */
export async function openInputBytes(path: string, gzip: boolean, chunkSize?: number): Promise<ByteInput> {
  if (isS3(path)) return openBytes(path, gzip, chunkSize, await (await import("./s3-read.js")).s3Stream(path));
  if (isHttp(path)) return openBytes(path, gzip, chunkSize, await (await import("./http-read.js")).httpStream(path));
  return openBytes(path, gzip, chunkSize);
}
