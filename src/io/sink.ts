// Output files are written under a temporary name in the same directory and renamed only on success:
// a failed or interrupted run never leaves a partial file under the final name.
import { createWriteStream, mkdirSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { RidepredError } from "../errors.js";

export interface TempTarget {
  /** Where to write now. */
  tmp: string;
  commit(): void;
  discard(): void;
}

export function tempTarget(path: string): TempTarget {
  // Scheduled runs write to paths like out/{year}/{month}.parquet: create the directory.
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw new RidepredError(`${path}: cannot create its directory: ${(e as Error).message}`);
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  return {
    tmp,
    commit: () => renameSync(tmp, path),
    discard: () => rmSync(tmp, { force: true }),
  };
}

/** A text output: a file (via temp + rename), optionally gzipped, or stdout for "-". */
export interface TextOut {
  write(s: string): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export function openText(path: string, gzip: boolean): TextOut {
  if (path === "-") {
    const out = gzip ? createGzip() : process.stdout;
    if (gzip) (out as Writable).pipe(process.stdout);
    // A reader that goes away (`| head`) must end the run with a message, not an unhandled EPIPE.
    let closed: Error | undefined;
    process.stdout.on("error", (e) => (closed ??= e));
    return {
      write: async (s) => {
        try {
          if (closed) throw closed;
          await writeAll(out, s);
        } catch (e) {
          throw stdoutError(e);
        }
      },
      finish: async () => {
        try {
          if (gzip) await endStream(out);
          if (closed) throw closed;
        } catch (e) {
          throw stdoutError(e);
        }
      },
      abort: async () => {},
    };
  }
  const target = tempTarget(path);
  let file: WriteStream;
  try {
    file = createWriteStream(target.tmp, { flags: "wx" });
  } catch (e) {
    throw new RidepredError(`${path}: cannot write: ${(e as Error).message}`);
  }
  let failed: Error | undefined;
  file.on("error", (e) => (failed ??= e));
  const out: Writable = gzip ? createGzip({ level: 6 }) : file;
  if (gzip) out.pipe(file);
  const check = () => {
    if (failed) throw new RidepredError(`${path}: cannot write: ${failed.message}`);
  };
  return {
    write: async (s) => {
      check();
      await writeAll(out, s);
    },
    finish: async () => {
      check();
      await endStream(out);
      if (gzip) await finished(file);
      check();
      target.commit();
    },
    abort: async () => {
      // Wait for the stream to close: removing the file before an in-flight open completes would leave it behind.
      if (!file.closed) {
        const closed = new Promise<void>((resolve) => file.once("close", () => resolve()));
        file.destroy();
        await closed;
      }
      target.discard();
    },
  };
}

function stdoutError(e: unknown): RidepredError {
  const err = e as NodeJS.ErrnoException;
  return new RidepredError(`stdout: ${err?.code === "EPIPE" ? "closed by the reader" : err?.message}`, 1);
}

function writeAll(out: Writable, s: string): Promise<void> {
  if (out.write(s)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      out.off("error", onError);
      resolve();
    };
    const onError = (e: Error) => {
      out.off("drain", onDrain);
      reject(e);
    };
    out.once("drain", onDrain);
    out.once("error", onError);
  });
}

function endStream(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once("error", reject);
    out.end(() => resolve());
  });
}

function finished(s: WriteStream): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    s.once("close", () => resolve());
    s.once("error", reject);
  });
}
