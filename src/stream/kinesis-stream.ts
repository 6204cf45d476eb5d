// Kinesis Data Streams adapter (AWS SDK v3): every shard of the input stream as the Source, PutRecords to
// the output stream as the Sink. At-least-once: a shard's checkpoint moves only in ack(), which the
// pipeline calls after the batch's predictions were put; a restart resumes after the saved sequence
// numbers. Resharding: a child shard is read only once its parents are finished (SHARD_END saved), so
// a ride's events keep their order across a split or merge.
import { Agent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type Shard,
  type ShardIteratorType,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { RidepredError } from "../errors.js";
import { type CheckpointStore, SHARD_END } from "./checkpoint.js";
import type { DeadLetter, Message, Output, Sink, Source } from "./types.js";

const STREAM = /^[a-zA-Z0-9_.-]{1,128}$/;

export function parseKinesisUrl(flag: string, value: string): { stream: string; display: string } {
  const m = /^kinesis:\/\/([^/?#]+)\/?$/.exec(value);
  if (!m || !STREAM.test(m[1]!)) throw new RidepredError(`${flag} ${value}: expected kinesis://STREAM (letters, digits, _ . -; at most 128)`);
  return { stream: m[1]!, display: value.replace(/\/$/, "") };
}

/**
 * A client configured from the standard AWS environment (AWS_REGION, credentials chain,
 * AWS_ENDPOINT_URL_KINESIS), speaking HTTP/1.1 with keep-alive: Kinesis emulators such as kinesalite do
 * not speak HTTP/2.
 */
export function kinesisClient(): KinesisClient {
  // The pinned SDK runs on Node 20; its notice concerns later SDK releases, not this one, and would
  // otherwise open every run's (and every Lambda invocation's) log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const agent = { keepAlive: true, maxSockets: 64 };
  return new KinesisClient({
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent(agent), httpsAgent: new HttpsAgent(agent), connectionTimeout: 5000, requestTimeout: 30000 }),
    maxAttempts: 5,
  });
}

/** Records per GetRecords call (Kinesis allows 10,000); buffered and handed out --batch at a time. */
const READ_LIMIT = 1000;

/** Kinesis's limits per PutRecords call. */
const MAX_RECORDS = 500;
const MAX_BYTES = 5 * 1024 * 1024;

export interface PutOptions {
  /** Attempts per record before it is reported failed (the first try included). */
  attempts?: number;
  /** Backoff before the first retry; doubles, capped at 2 s. */
  backoffMs?: number;
}

/**
 * PutRecords for any number of entries, in calls within Kinesis's limits. Records the service failed
 * (throttled, internal error: the call succeeds with FailedRecordCount > 0) are retried alone, with
 * backoff. Returns, for each entry, undefined once put or the last error code.
 */
export async function putRecords(
  client: KinesisClient,
  stream: string,
  entries: readonly PutRecordsRequestEntry[],
  o: PutOptions = {},
): Promise<(string | undefined)[]> {
  const attempts = o.attempts ?? 8;
  const result: (string | undefined)[] = entries.map(() => "not sent");
  let todo = entries.map((_, i) => i);
  for (let attempt = 0; attempt < attempts && todo.length; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min((o.backoffMs ?? 100) * 2 ** (attempt - 1), 2000)));
    const failed: number[] = [];
    for (const chunk of chunks(todo, entries)) {
      const res = await client.send(new PutRecordsCommand({ StreamName: stream, Records: chunk.map((i) => entries[i]!) }));
      res.Records?.forEach((r, k) => {
        const i = chunk[k]!;
        if (r.ErrorCode) {
          result[i] = `${r.ErrorCode}: ${r.ErrorMessage ?? ""}`;
          failed.push(i);
        } else result[i] = undefined;
      });
    }
    todo = failed;
  }
  return result;
}

function* chunks(indices: number[], entries: readonly PutRecordsRequestEntry[]): Generator<number[]> {
  let chunk: number[] = [];
  let bytes = 0;
  for (const i of indices) {
    const e = entries[i]!;
    const size = (e.Data?.length ?? 0) + Buffer.byteLength(e.PartitionKey ?? "");
    if (chunk.length === MAX_RECORDS || (chunk.length && bytes + size > MAX_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(i);
    bytes += size;
  }
  if (chunk.length) yield chunk;
}

/** A partition key Kinesis accepts (1..256 Unicode characters), preferring the first usable candidate. */
export function partitionKey(...candidates: (string | Buffer | null | undefined)[]): string {
  for (const c of candidates) {
    const s = c === null || c === undefined ? "" : c.toString();
    if (s.length >= 1 && s.length <= 256) return s;
  }
  return "0";
}

/** Throw unless every entry was put: the pipeline then exits 1 without moving the checkpoint. */
async function putAll(client: KinesisClient, stream: string, entries: PutRecordsRequestEntry[]): Promise<void> {
  const errors = (await putRecords(client, stream, entries)).filter((e) => e !== undefined);
  if (errors.length) throw new Error(`${errors.length} of ${entries.length} records could not be put to ${stream} after retries (${errors[0]})`);
}

const enc = new TextEncoder();

/** Message ids are "shardId/sequenceNumber". */
const splitId = (id: string): [string, string] => {
  const i = id.lastIndexOf("/");
  return [id.slice(0, i), id.slice(i + 1)];
};

export interface KinesisSinkOptions {
  to: string;
  /** A Kinesis stream for dead letters, or undefined: they are logged to stderr as JSON lines. */
  deadLetter: string | undefined;
  origin: { stream: string; model: string };
}

/** Predictions keyed by ride id, as the course's function puts them; dead letters keyed like their input. */
export function kinesisSink(client: KinesisClient, o: KinesisSinkOptions): Sink {
  return {
    async write(outputs: readonly Output[]) {
      await putAll(
        client,
        o.to,
        outputs.map((x) => ({ Data: enc.encode(x.json), PartitionKey: partitionKey(x.rideId, x.key) })),
      );
    },
    async deadLetter(letters: readonly DeadLetter[]) {
      const docs = letters.map((l) => {
        const [shard, sequenceNumber] = splitId(l.id);
        return { error: l.reason, source: { stream: o.origin.stream, shard, sequenceNumber }, model: o.origin.model, data: l.data ?? null };
      });
      if (o.deadLetter === undefined) {
        process.stderr.write(docs.map((d) => JSON.stringify(d) + "\n").join(""));
        return;
      }
      await putAll(
        client,
        o.deadLetter,
        docs.map((d, i) => ({ Data: enc.encode(JSON.stringify(d)), PartitionKey: partitionKey(letters[i]!.key, d.source.shard) })),
      );
    },
    async close() {},
  };
}

/** Which shards a process reads: all of them, or split `index` of `count` (--shards i/n). */
export interface Split {
  index: number;
  count: number;
}

export function parseSplit(value: string): Split {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index >= count) throw new RidepredError(`--shards ${value}: expected INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/2`);
  return { index, count };
}

interface ShardState {
  id: string;
  parents: string[];
  iterator: string | undefined;
  /** GetRecords returned no next iterator: nothing more will arrive. */
  closed: boolean;
  /** Closed and every record acked: SHARD_END is saved; children may start. */
  ended: boolean;
  /** This process holds the shard's lease (always, with a file checkpoint): it may read it. */
  owned: boolean;
  /** Owned above the fair share: nothing more is read; its lease is given back once its records are acked. */
  draining: boolean;
  /** Records handed out, not yet acked. */
  inFlight: number;
  /** Last sequence number read (to renew an expired iterator). */
  lastSeq: string | undefined;
  /** Records read and not yet handed out: one GetRecords call serves several pipeline batches. */
  buffer: Message[];
  notBefore: number;
}

export interface KinesisSourceOptions {
  stream: string;
  store: CheckpointStore;
  split?: Split;
  /** "0": shards without a checkpoint start at the oldest record (TRIM_HORIZON); "$": at new ones (LATEST). */
  start: string;
  /** Longest a next() call waits when every shard is idle. */
  blockMs: number;
  /** Wait before polling a shard that had nothing (Kinesis allows 5 GetRecords per second per shard). */
  idleMs?: number;
  /** How often leases are renewed and balanced between the processes sharing the store. */
  leaseEveryMs?: number;
  log: (m: string) => void;
}

/** A Kinesis Source also tells which shards it read (the summary lists them). */
export interface KinesisSource extends Source {
  shardsRead(): string[];
}

/** The shard's "owner" in a static split: its lineage's, so parents and children land in one process. */
function owner(shard: Shard, byId: ReadonlyMap<string, Shard>, count: number): number {
  let s: Shard | undefined = shard;
  let id = shard.ShardId!;
  while (s?.ParentShardId) {
    id = s.ParentShardId;
    s = byId.get(id);
  }
  const n = Number(/(\d+)$/.exec(id)?.[1] ?? 0);
  return n % count;
}

const newShard = (id: string, parents: string[], ended: boolean): ShardState => ({
  id,
  parents,
  iterator: undefined,
  closed: ended,
  ended,
  owned: false,
  draining: false,
  inFlight: 0,
  lastSeq: undefined,
  buffer: [],
  notBefore: 0,
});

/** Forget what was read and not handed out: the next owner (or we, later) starts again from the checkpoint. */
function unread(s: ShardState): void {
  s.closed = s.ended; // known again only by reading to the shard's end
  s.buffer = [];
  s.iterator = undefined;
  s.lastSeq = undefined;
}

export async function kinesisSource(client: KinesisClient, o: KinesisSourceOptions): Promise<KinesisSource> {
  const shards = new Map<string, ShardState>();
  const positions = await o.store.load();
  const idleMs = o.idleMs ?? 1000;
  const leaseEveryMs = o.leaseEveryMs ?? 1000;
  const read = new Set<string>();
  let listedAt = 0;
  let leasedAt = 0;
  let rr = 0;

  async function listShards(): Promise<void> {
    const all: Shard[] = [];
    let token: string | undefined;
    do {
      const res = await client.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: o.stream }));
      all.push(...(res.Shards ?? []));
      token = res.NextToken;
    } while (token);
    const byId = new Map(all.map((s) => [s.ShardId!, s]));
    for (const s of all) {
      const id = s.ShardId!;
      if (shards.has(id)) continue;
      if (o.split && owner(s, byId, o.split.count) !== o.split.index) continue;
      const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined && byId.has(p));
      shards.set(id, newShard(id, parents, positions.get(id) === SHARD_END));
    }
    listedAt = performance.now();
  }

  /** A parent is done when its SHARD_END is saved (by us, or by another process sharing the store). */
  const parentDone = (p: string) => shards.get(p)?.ended ?? positions.get(p) === SHARD_END;

  /** Positions other processes saved (a shared store): their progress, and shards they finished. */
  async function refresh(only?: ReadonlySet<string>): Promise<void> {
    let finished = false;
    for (const [id, pos] of await o.store.load()) {
      const s = shards.get(id);
      if (only ? !only.has(id) : s?.owned) continue;
      positions.set(id, pos);
      if (s && pos === SHARD_END && !s.ended) {
        s.closed = s.ended = true;
        finished = true;
      }
    }
    if (finished) await listShards(); // their children
  }

  /** Renew leases, take this process's fair share of the readable shards, drop lost ones, drain surplus ones. */
  async function balance(): Promise<void> {
    leasedAt = performance.now();
    if (o.store.shared) await refresh();
    const readable = [...shards.values()].filter((s) => !s.ended && s.parents.every(parentDone)).map((s) => s.id);
    const l = await o.store.lease(readable);
    const gained = new Set<string>();
    for (const s of shards.values()) {
      if (l.held.has(s.id) && !s.owned) gained.add(s.id);
      else if (!l.held.has(s.id) && s.owned) lose(s);
    }
    // Read after taking: from here on only we can move these positions (saves are fenced by the lease).
    if (o.store.shared && gained.size) await refresh(gained);
    for (const id of gained) {
      const s = shards.get(id)!;
      unread(s);
      Object.assign(s, { owned: true, draining: false, notBefore: 0, closed: positions.get(id) === SHARD_END });
      if (!o.store.shared) continue;
      const from = l.takenOver.get(id);
      const pos = positions.get(id);
      o.log(
        `shard ${id}: leased${from ? ` (taken over from ${from}, whose lease expired)` : ""}, reading ${pos ? `after sequence number ${pos}` : "from --start"}`,
      );
    }
    for (const id of l.surplus) {
      const s = shards.get(id);
      if (!s?.owned || s.draining) continue;
      s.draining = true;
      unread(s);
      o.log(
        `shard ${id}: giving its lease back once its records are acked (a fair share is ${Math.ceil(readable.length / l.processes)} of ${readable.length} shards for ${l.processes} processes)`,
      );
    }
  }

  function lose(s: ShardState): void {
    if (!s.owned) return;
    s.owned = s.draining = false;
    unread(s);
    o.log(`shard ${s.id}: its lease was taken over by another process (this one was too slow to renew it): records not yet checkpointed are read again there`);
  }

  /** Drained surplus shards: every record acked, so the next owner resumes exactly where we stopped. */
  async function releaseDrained(): Promise<void> {
    const done = [...shards.values()].filter((s) => s.owned && s.draining && s.inFlight === 0);
    if (!done.length) return;
    await o.store.release(done.map((s) => s.id));
    for (const s of done) {
      s.owned = s.draining = false;
      o.log(`shard ${s.id}: lease given back`);
    }
  }

  async function iteratorFor(s: ShardState): Promise<string | undefined> {
    const seq = s.lastSeq ?? positions.get(s.id);
    // A child of a resharded shard starts at its beginning: LATEST would skip what arrived before we got here.
    const type: ShardIteratorType = seq ? "AFTER_SEQUENCE_NUMBER" : o.start === "0" || s.parents.length ? "TRIM_HORIZON" : "LATEST";
    const res = await client.send(
      new GetShardIteratorCommand({ StreamName: o.stream, ShardId: s.id, ShardIteratorType: type, ...(seq ? { StartingSequenceNumber: seq } : {}) }),
    );
    return res.ShardIterator;
  }

  /** Save positions; a shard whose save was refused has lost its lease. Returns the shards saved. */
  async function save(next: Map<string, string>): Promise<string[]> {
    const refused = await o.store.save(next);
    for (const id of refused) lose(shards.get(id)!);
    const saved = [...next.keys()].filter((id) => !refused.has(id));
    for (const id of saved) positions.set(id, next.get(id)!);
    return saved;
  }

  /** Closed shards whose records are all acked: save SHARD_END so their children can start. */
  async function finishClosed(): Promise<void> {
    const done = new Map<string, string>();
    for (const s of shards.values()) if (s.owned && !s.draining && s.closed && !s.ended && s.inFlight === 0 && !s.buffer.length) done.set(s.id, SHARD_END);
    if (!done.size) return;
    const saved = await save(done);
    for (const id of saved) {
      shards.get(id)!.ended = true;
      o.log(`shard ${id} finished (closed by resharding or stream end)`);
    }
    if (o.store.shared) await o.store.release(saved);
    for (const id of saved) shards.get(id)!.owned = false;
    await listShards(); // its children
    await balance();
  }

  /** Up to `max` of the shard's records: from its buffer, refilled by one GetRecords call when empty. */
  async function take(s: ShardState, max: number): Promise<Message[]> {
    if (!s.buffer.length) await fill(s);
    const out = s.buffer.splice(0, max);
    s.inFlight += out.length;
    if (out.length) read.add(s.id);
    return out;
  }

  async function fill(s: ShardState): Promise<void> {
    s.iterator ??= await iteratorFor(s);
    let res: GetRecordsCommandOutput;
    try {
      res = await client.send(new GetRecordsCommand({ ShardIterator: s.iterator, Limit: READ_LIMIT }));
    } catch (e) {
      const name = (e as Error).name;
      if (name === "ExpiredIteratorException") {
        s.iterator = undefined; // renewed from the last record read
        return;
      }
      if (name === "ProvisionedThroughputExceededException") {
        s.notBefore = performance.now() + idleMs;
        return;
      }
      throw e;
    }
    s.iterator = res.NextShardIterator;
    if (s.iterator === undefined) s.closed = true;
    const records = res.Records ?? [];
    s.notBefore = performance.now() + (records.length ? 200 : idleMs);
    for (const r of records) {
      s.lastSeq = r.SequenceNumber!;
      s.buffer.push({ id: `${s.id}/${r.SequenceNumber}`, data: Buffer.from(r.Data ?? new Uint8Array()).toString("utf8"), key: r.PartitionKey ?? null });
    }
  }

  await listShards();
  if (!shards.size) o.log(o.split ? `no shard of ${o.stream} falls in split ${o.split.index}/${o.split.count}` : `${o.stream} has no shards`);
  await balance();

  return {
    async next(max, signal) {
      const deadline = performance.now() + o.blockMs;
      while (!signal.aborted) {
        await finishClosed();
        await releaseDrained();
        if (performance.now() - listedAt > 30_000) await listShards();
        if (performance.now() - leasedAt >= leaseEveryMs) await balance();
        const ready = [...shards.values()].filter((s) => s.owned && !s.draining && (!s.closed || s.buffer.length) && s.parents.every(parentDone));
        const now = performance.now();
        for (let k = 0; k < ready.length; k++) {
          const s = ready[(rr + k) % ready.length]!;
          if (s.notBefore > now && !s.buffer.length) continue;
          rr = (rr + k + 1) % ready.length;
          const msgs = await take(s, max);
          if (msgs.length) return msgs;
          if (s.closed) break; // finish it before polling on
        }
        if (performance.now() >= deadline) return [];
        const wake = Math.min(deadline, leasedAt + leaseEveryMs, ...ready.map((s) => s.notBefore));
        await new Promise<void>((resolve) => {
          const onAbort = () => (clearTimeout(t), resolve());
          const t = setTimeout(() => (signal.removeEventListener("abort", onAbort), resolve()), Math.max(5, wake - performance.now()));
          signal.addEventListener("abort", onAbort, { once: true });
        });
      }
      return null;
    },
    async ack(ids) {
      const last = new Map<string, string>();
      for (const id of ids) {
        const [shard, seq] = splitId(id);
        last.set(shard, seq); // ids of one shard arrive in sequence order
        const s = shards.get(shard);
        if (s) s.inFlight--;
      }
      if (last.size) await save(last);
      await finishClosed();
    },
    shardsRead: () => [...read].sort(),
    async close() {},
  };
}
