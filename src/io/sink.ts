// Output files are written under a temporary name in the same directory and renamed only on success:
// a failed or interrupted run never leaves a partial file under the final name.
import { createWriteStream, mkdirSync, openSync, readdirSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { RidepredError } from "../errors.js";

export interface TempTarget {
  /** Where to write now: `.NAME.HOST.PID.UNIQUE.tmp` beside the target, created (empty) and open. */
  tmp: string;
  /** The open file descriptor of tmp; whoever writes closes it. */
  fd: number;
  /** Rename tmp to the target. */
  commit(): void;
  /** Remove tmp (it may already be gone). */
  discard(): void;
}

// Temp files of this thread not yet committed or discarded: what a signal must remove (removeTempsSync).
const live = new Set<string>();
let unique = 0;

/**
 * A temp file for path, created now (so a signal handler that removes it cannot race an open still under
 * way). Its name carries the host name and pid, and stale temps in that directory left by a killed run of
 * this host (pid no longer alive) are removed first; another host's are never touched (shards may share a
 * volume, and its pids mean nothing here).
 */
export function tempTarget(path: string): TempTarget {
  const dir = dirname(path);
  // Scheduled runs write to paths like out/{year}/{month}.parquet: create the directory.
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new RidepredError(`${path}: cannot create its directory: ${(e as Error).message}`);
  }
  removeStaleTemps(dir);
  const tmp = join(dir, `.${basename(path)}.${HOST}.${process.pid}.${Date.now().toString(36)}${(unique++).toString(36)}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "wx");
  } catch (e) {
    throw new RidepredError(`${path}: cannot write: ${(e as Error).message}`);
  }
  live.add(tmp);
  return adoptTemp(path, tmp, fd);
}

/** A temp file another thread created (the Parquet writer thread's, made on the main thread): commit or discard it here. */
export function adoptTemp(path: string, tmp: string, fd: number): TempTarget {
  return {
    tmp,
    fd,
    commit: () => {
      renameSync(tmp, path);
      live.delete(tmp);
    },
    discard: () => {
      rmSync(tmp, { force: true });
      live.delete(tmp);
    },
  };
}

/** Stop tracking a temp file committed by another thread (it is no longer there to remove). */
export function forgetTemp(tmp: string): void {
  live.delete(tmp);
}

/** Remove every temp file of this thread, synchronously: what a signal handler can rely on. */
export function removeTempsSync(): void {
  for (const tmp of live) rmSync(tmp, { force: true });
  live.clear();
}

// Host names may hold dots; in temp names they become "_", so that the name splits unambiguously.
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, "_") || "host";
const STALE = new RegExp(`^\\..+\\.${HOST}\\.(\\d+)\\.[0-9a-z]+\\.tmp$`);

function removeStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = STALE.exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(dir, name), { force: true });
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

export interface SignalStop {
  /** Stop handling the signals (the run is over). */
  dispose(): void;
  /**
   * Await in the run's loop: lets the event loop turn every ~50 ms (a batch loop whose reads and writes
   * complete without I/O would otherwise keep a signal waiting for seconds), and never returns once a
   * signal arrived, so the run does no more work while it stops.
   */
  checkpoint(): Promise<void> | undefined;
}

/**
 * Until dispose(), SIGINT and SIGTERM end the process promptly, dying of the same signal (exit status
 * 130 / 143): this thread's temp files are removed at once, synchronously, then `cleanup` (aborts that
 * need I/O, e.g. a remote upload) gets at most `graceMs`. Nothing waits longer: a scheduler's next run
 * must not be blocked by a run that was told to stop.
 */
export function stopOnSignals(cleanup?: () => Promise<unknown>, graceMs = 1500): SignalStop {
  let stopping = false;
  let turned = performance.now();
  const onSignal = (signal: keyof typeof SIGNALS) => {
    stopping = true;
    dispose();
    removeTempsSync();
    const die = () => {
      removeTempsSync();
      process.kill(process.pid, signal);
      setTimeout(() => process.exit(128 + SIGNALS[signal]), 100).unref();
    };
    if (!cleanup) return die();
    const timer = setTimeout(die, graceMs);
    void Promise.resolve()
      .then(cleanup)
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        die();
      });
  };
  const dispose = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const never = new Promise<void>(() => {});
  const checkpoint = () => {
    if (stopping) return never;
    const now = performance.now();
    if (now - turned < 50) return undefined;
    turned = now;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => (stopping ? never : undefined));
  };
  return { dispose, checkpoint };
}

/** A text output: a file (via temp + rename), optionally gzipped, or stdout for "-". */
export interface TextOut {
  /** Resolves once the stream took s (it may still hold it: s must not change afterwards). */
  write(s: string | Uint8Array): Promise<void>;
  /** Resolves once the stream is done with b (written, or consumed by gzip): the caller may then refill b. */
  writeLent(b: Uint8Array): Promise<void>;
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
      writeLent: async (b) => {
        try {
          if (closed) throw closed;
          await writeDone(out, b);
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
  const file: WriteStream = createWriteStream(target.tmp, { fd: target.fd });
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
    writeLent: async (b) => {
      check();
      await writeDone(out, b);
    },
    finish: async () => {
      check();
      await endStream(out);
      if (gzip) await finished(file);
      check();
      target.commit();
    },
    abort: async () => {
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

function writeAll(out: Writable, s: string | Uint8Array): Promise<void> {
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

/** Write b and wait until the stream has processed it (its callback), not only buffered it. */
function writeDone(out: Writable, b: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(b, (e) => (e ? reject(e) : resolve()));
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
