// Where a Kinesis reader keeps each shard's position: the sequence number of the last record whose
// prediction was put (or SHARD_END once a closed shard is done). Two stores: a JSON file guarded by a lock
// file (here), or a Redis hash with a lease per shard (redis-checkpoint.ts). Either way
// two processes never read one shard silently: the second is refused (file) or reads other shards (Redis).
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { RidepredError } from "../errors.js";

export const SHARD_END = "SHARD_END";

export interface CheckpointStore {
  display: string;
  /** True when other processes share the store: positions may move under us, and leases decide who reads. */
  shared: boolean;
  /** Positions saved so far, by shard id. */
  load(): Promise<Map<string, string>>;
  /**
   * Save positions (sequence numbers or SHARD_END); resolves once they are durable. Returns the shards whose
   * position was refused because this process no longer holds their lease (another took it over).
   */
  save(positions: ReadonlyMap<string, string>): Promise<Set<string>>;
  /** Renew this process's leases and take its fair share of `readable` (the shards open for reading). */
  lease(readable: readonly string[]): Promise<Leases>;
  /** Give leases back (a surplus shard drained, a finished shard). */
  release(shards: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface Leases {
  /** Shards this process may read now. */
  held: Set<string>;
  /** Held shards above this process's fair share: to be given back once their records are acked. */
  surplus: string[];
  /** Shards just taken over from a process whose lease expired, with that process's name. */
  takenOver: Map<string, string>;
  /** Processes sharing the store (1 for a file). */
  processes: number;
}

interface FileContent {
  stream: string;
  shards: Record<string, string>;
}

/**
 * A JSON file, replaced atomically (temp + rename) on every save, and FILE.lock holding the owner's pid and
 * host. A lock left by a process that died on this host is taken over; any other lock is an error.
 */
export function fileCheckpoint(path: string, stream: string, log: (m: string) => void): CheckpointStore {
  const lock = `${path}.lock`;
  const me = { pid: process.pid, host: hostname() };
  takeLock(lock, me, log);
  let shards: Record<string, string> = {};
  try {
    const doc = JSON.parse(readFileSync(path, "utf8")) as Partial<FileContent>;
    if (doc.stream !== stream) {
      releaseLock(lock);
      throw new RidepredError(`--checkpoint ${path}: holds positions of stream "${doc.stream}", not "${stream}"`);
    }
    shards = { ...doc.shards };
  } catch (e) {
    if (e instanceof RidepredError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") {
      releaseLock(lock);
      throw new RidepredError(`--checkpoint ${path}: ${code ?? `not a checkpoint file (${(e as Error).message})`}`);
    }
  }
  const tmp = `${path}.${process.pid}.tmp`;
  return {
    display: path,
    load: async () => new Map(Object.entries(shards)),
    shared: false,
    async save(positions) {
      for (const [k, v] of positions) shards[k] = v;
      const fd = openSync(tmp, "w");
      try {
        writeSync(fd, JSON.stringify({ stream, shards } satisfies FileContent, null, 1));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      return new Set<string>();
    },
    // The file lock covers every shard of the file.
    lease: async (readable) => ({ held: new Set(readable), surplus: [], takenOver: new Map(), processes: 1 }),
    release: async () => {},
    async close() {
      releaseLock(lock);
    },
  };
}

function takeLock(lock: string, me: { pid: number; host: string }, log: (m: string) => void): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, JSON.stringify(me), { flag: "wx" });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new RidepredError(`--checkpoint: cannot create ${lock}: ${(e as NodeJS.ErrnoException).code}`);
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(readFileSync(lock, "utf8"));
    } catch {}
    if (owner.host === me.host && typeof owner.pid === "number" && !alive(owner.pid)) {
      log(`${lock}: left by process ${owner.pid}, which is gone; taking it over`);
      unlinkSync(lock);
      continue;
    }
    throw new RidepredError(
      `--checkpoint: ${lock} is held by process ${owner.pid ?? "?"} on ${owner.host ?? "?"}: another ridepred stream reads these shards ` +
        "(stop it, or delete the lock if that process is gone; several processes on one stream: --shards i/n, one checkpoint each, or a redis:// checkpoint)",
    );
  }
}

function releaseLock(lock: string): void {
  try {
    unlinkSync(lock);
  } catch {}
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
