// Redis Streams adapter: a consumer group as the Source, XADD to an output stream as the Sink.
// At-least-once: entries stay in the group's pending list (PEL) until acked, which the pipeline does only
// after the prediction was XADDed. On start a consumer first re-reads its own PEL (a restart after a
// crash under the same --consumer name), then takes over entries idle longer than --claim-idle from dead
// consumers (XAUTOCLAIM, Redis >= 6.2), and keeps doing so every --claim-idle while it runs.
import { Redis } from "ioredis";
import { RidepredError } from "../errors.js";
import type { DeadLetter, Message, Output, Sink, Source } from "./types.js";

export interface StreamAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  stream: string;
  /** The URL without credentials, for messages and summaries. */
  display: string;
}

/** redis://[user:pass@]host[:port]/STREAM[?db=N] (rediss:// is refused: no TLS adapter is tested here). */
export function parseStreamUrl(flag: string, value: string): StreamAddress {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new RidepredError(`${flag} ${value}: expected redis://host:port/STREAM`);
  }
  if (u.protocol !== "redis:") throw new RidepredError(`${flag} ${value}: only redis:// URLs are supported`);
  const stream = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!stream) throw new RidepredError(`${flag} ${value}: no stream name; expected redis://host:port/STREAM`);
  const db = Number(u.searchParams.get("db") ?? 0);
  if (!Number.isInteger(db) || db < 0) throw new RidepredError(`${flag} ${value}: db must be a non-negative integer`);
  const host = u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = u.port ? Number(u.port) : 6379;
  return {
    host,
    port,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    stream,
    display: display(u.host, stream, db),
  };
}

function display(hostPort: string, stream: string, db: number): string {
  return `redis://${hostPort}/${stream}${db ? `?db=${db}` : ""}`;
}

/** Another stream on the same server. */
export function withStream(addr: StreamAddress, stream: string): StreamAddress {
  const hostPort = `${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${addr.port}`;
  return { ...addr, stream, display: display(hostPort, stream, addr.db) };
}

/** Same server and database: one connection can serve both. */
export function sameServer(a: StreamAddress, b: StreamAddress): boolean {
  return a.host === b.host && a.port === b.port && a.db === b.db && a.username === b.username && a.password === b.password;
}

/** Connect or fail with a usage error (exit 2) naming the server; checks XAUTOCLAIM is available. */
export async function connectRedis(addr: StreamAddress): Promise<Redis> {
  let connected = false;
  const redis = new Redis({
    host: addr.host,
    port: addr.port,
    db: addr.db,
    ...(addr.username ? { username: addr.username } : {}),
    ...(addr.password ? { password: addr.password } : {}),
    lazyConnect: true,
    connectionName: "ridepred-stream",
    disconnectTimeout: 200, // do not hold the process 2 s after a failed connection
    maxRetriesPerRequest: 3,
    // Give up after a few seconds of outage: the process exits non-zero and its supervisor restarts it;
    // unacked entries are still pending, so nothing is lost.
    // Not at start-up, though: a wrong address is reported at once.
    retryStrategy: (times) => (!connected || times > 10 ? null : Math.min(times * 200, 1000)),
  });
  let lastError: Error | undefined;
  redis.on("error", (e: Error) => (lastError = e));
  const where = `redis://${addr.host}:${addr.port}`;
  try {
    await redis.connect();
    connected = true;
  } catch (e) {
    redis.disconnect();
    throw new RidepredError(`cannot connect to ${where}: ${(lastError ?? (e as Error)).message}`);
  }
  const info = await redis.info("server");
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
    redis.disconnect();
    throw new RidepredError(`${where} runs Redis ${version[1]}.${version[2]}; stream consumer groups with XAUTOCLAIM need Redis >= 6.2`);
  }
  return redis;
}

export interface GroupOptions {
  group: string;
  consumer: string;
  /** Where a newly created group starts: "0" = every entry already on the stream, "$" = only new ones. */
  start: string;
  /** How long XREADGROUP blocks: the longest a stop request waits. */
  blockMs: number;
  /** Entries pending this long at another consumer are taken over; also how often to look for them. */
  claimIdleMs: number;
  /** An entry delivered more times than this is poison (it keeps killing consumers): dead-lettered. */
  maxDeliveries: number;
}

/** XGROUP CREATE ... MKSTREAM; an existing group is fine (that is the restart case). */
export async function ensureGroup(redis: Redis, stream: string, group: string, start: string): Promise<boolean> {
  try {
    await redis.xgroup("CREATE", stream, group, start, "MKSTREAM");
    return true;
  } catch (e) {
    if (/BUSYGROUP/.test((e as Error).message)) return false;
    throw e;
  }
}

type Entry = [id: string, fields: string[] | null];

function toMessage([id, fields]: Entry): Message {
  if (fields === null) return { id, data: undefined, poison: "entry was deleted from the stream before it was processed" };
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "data") return { id, data: fields[i + 1] };
  return { id, data: undefined, poison: `entry has no "data" field (fields: ${fields.filter((_, i) => i % 2 === 0).join(", ")})` };
}

export function redisSource(redis: Redis, stream: string, o: GroupOptions): Source {
  type Phase = "mine" | "claim" | "new";
  let phase: Phase = "mine";
  let cursor = "0-0";
  let lastClaim = 0;
  let reclaimed = 0;
  // After a full batch of new entries the next read does not block: it may be the pipeline's read-ahead,
  // sent while the previous batch's XACK waits for this connection. An empty answer makes the next one block.
  let backlog = false;
  const claimEvery = Math.max(o.claimIdleMs, 1000);

  /** Mark entries redelivered too often as poison (one XPENDING over the batch's id range). */
  async function checkDeliveries(msgs: Message[]): Promise<void> {
    if (!msgs.length) return;
    const rows = (await redis.xpending(stream, o.group, msgs[0]!.id, msgs[msgs.length - 1]!.id, msgs.length, o.consumer)) as [string, string, number, number][];
    const count = new Map(rows.map((r) => [r[0], Number(r[3])]));
    for (const m of msgs) {
      const n = count.get(m.id) ?? 0;
      if (n > o.maxDeliveries && m.poison === undefined)
        m.poison = `delivered ${n} times without being acknowledged (more than --max-deliveries ${o.maxDeliveries}): it may crash consumers`;
    }
  }

  async function readGroup(max: number, id: string, block: boolean): Promise<Entry[]> {
    const args: (string | number)[] = ["GROUP", o.group, o.consumer, "COUNT", max];
    if (block) args.push("BLOCK", o.blockMs);
    args.push("STREAMS", stream, id);
    const reply = (await redis.call("XREADGROUP", ...args)) as [string, Entry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  return {
    async next(max, signal) {
      if (signal.aborted) return null;
      if (phase === "new" && performance.now() - lastClaim >= claimEvery) {
        phase = "claim";
        cursor = "0-0";
      }
      if (phase === "mine") {
        // Our own PEL: what this consumer name had read but not acked when it last stopped.
        const entries = await readGroup(max, cursor, false);
        if (entries.length) {
          cursor = entries[entries.length - 1]![0];
          const msgs = entries.map(toMessage);
          await checkDeliveries(msgs);
          reclaimed += msgs.length;
          return msgs;
        }
        phase = "claim";
        cursor = "0-0";
      }
      if (phase === "claim") {
        const [next, entries] = (await redis.call("XAUTOCLAIM", stream, o.group, o.consumer, o.claimIdleMs, cursor, "COUNT", max)) as [
          string,
          Entry[],
          string[]?,
        ];
        cursor = next;
        if (next === "0-0") {
          phase = "new";
          lastClaim = performance.now();
        }
        if (entries.length) {
          const msgs = entries.map(toMessage);
          await checkDeliveries(msgs);
          reclaimed += msgs.length;
          return msgs;
        }
        if (phase === "claim") return [];
      }
      const entries = await readGroup(max, ">", !backlog);
      backlog = entries.length >= max;
      return entries.map(toMessage);
    },
    readAhead: true,
    async ack(ids) {
      if (ids.length) await redis.xack(stream, o.group, ...ids);
    },
    reclaimed: () => reclaimed,
    async close() {},
  };
}

export interface SinkOptions {
  to: string;
  deadLetter: string;
  /** Recorded with every dead letter, so an operator knows where it came from. */
  origin: { stream: string; group: string; consumer: string; model: string };
}

/**
 * A batch's XADDs in one script call (EVALSHA): one command and one reply instead of one per prediction,
 * which was most of the client's CPU per event. A failure part-way leaves the batch unacked, as a failed
 * pipeline did: the entries already added are written again on redelivery, never lost.
 */
const XADD_BATCH = `for i = 1, #ARGV, 2 do redis.call('XADD', KEYS[1], '*', 'data', ARGV[i], 'source_id', ARGV[i + 1]) end
return #ARGV / 2`;

type XaddBatch = Redis & { ridepredXaddBatch(stream: string, ...dataAndIds: string[]): Promise<number> };

/** Predictions XADDed as {data: event JSON, source_id}; poison as {data, reason, source_stream, source_id, ...}. */
export function redisSink(redis: Redis, o: SinkOptions): Sink {
  if (!("ridepredXaddBatch" in redis)) redis.defineCommand("ridepredXaddBatch", { numberOfKeys: 1, lua: XADD_BATCH });
  async function exec(p: ReturnType<Redis["pipeline"]>): Promise<void> {
    const results = (await p.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }
  return {
    async write(outputs: readonly Output[]) {
      const args: string[] = new Array(outputs.length * 2);
      for (let i = 0; i < outputs.length; i++) {
        args[2 * i] = outputs[i]!.json;
        args[2 * i + 1] = outputs[i]!.id;
      }
      await (redis as XaddBatch).ridepredXaddBatch(o.to, ...args);
    },
    async deadLetter(letters: readonly DeadLetter[]) {
      const p = redis.pipeline();
      const { stream, group, consumer, model } = o.origin;
      for (const l of letters) {
        p.xadd(
          o.deadLetter,
          "*",
          "data",
          l.data ?? "",
          "reason",
          l.reason,
          "source_stream",
          stream,
          "source_id",
          l.id,
          "group",
          group,
          "consumer",
          consumer,
          "model",
          model,
        );
      }
      await exec(p);
    },
    async close() {},
  };
}
