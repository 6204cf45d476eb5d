// A Kinesis checkpoint in Redis that several processes share: positions in a hash, and a lease per shard so
// that each shard is read by one process at a time. Every lease operation is one Lua script, timed by the
// Redis server's clock (TIME), so clocks of the processes never matter and two processes can never both
// believe they hold a shard. Keys, for --checkpoint redis://HOST:PORT/HASH:
//   HASH          shard id -> sequence number of the last record whose prediction was put (or SHARD_END);
//                 "@stream" -> the stream's name (a hash belongs to one stream)
//   HASH:leases   shard id -> "OWNER EXPIRES_MS"
//   HASH:workers  sorted set: live processes, scored by when their heartbeat expires
//   HASH:log      a stream of lease events (take, takeover, release, lost), for operators and tests
// A position is saved only by the shard's current lease holder (fenced in the script): a process that
// stalled past its lease and lost the shard cannot move the new owner's checkpoint.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { RidepredError } from "../errors.js";
import type { CheckpointStore, Leases } from "./checkpoint.js";
import { connectRedis, parseStreamUrl } from "./redis.js";

/** Server time in ms; scripts replicate their effects (Redis >= 6.2 allows TIME before a write that way). */
const NOW = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function holder(shard)
  local v = redis.call('HGET', KEYS[2], shard)
  if not v then return nil, 0 end
  local sp = string.find(v, ' ')
  return string.sub(v, 1, sp - 1), tonumber(string.sub(v, sp + 1))
end
`;

/**
 * KEYS: positions, leases, workers, log. ARGV: owner, ttl, then the shards open for reading.
 * Renews the owner's heartbeat and every lease it holds, then takes free or expired leases among the
 * candidates until it holds its fair share of them (candidates / live processes, rounded up). Returns
 * [live processes, held shards..., "|", "shard previous-owner" for each lease taken over from a dead process].
 */
const LEASE = `${NOW}
local me, ttl = ARGV[1], tonumber(ARGV[2])
redis.call('ZADD', KEYS[3], now + ttl, me)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local live = redis.call('ZCARD', KEYS[3])
local wanted = math.ceil((#ARGV - 2) / live)
local held, mine, took = {}, {}, {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  -- Ours even if expired: a lease is only ever taken over by another process, which renames it.
  if string.sub(all[i + 1], 1, #me + 1) == me .. ' ' then
    redis.call('HSET', KEYS[2], all[i], me .. ' ' .. (now + ttl))
    held[#held + 1] = all[i]
    mine[all[i]] = true
  end
end
for i = 3, #ARGV do
  if #held >= wanted then break end
  local shard = ARGV[i]
  local owner, expires = holder(shard)
  if not mine[shard] and (owner == nil or expires <= now) then
    redis.call('HSET', KEYS[2], shard, me .. ' ' .. (now + ttl))
    held[#held + 1] = shard
    mine[shard] = true
    if owner == nil then
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'event', 'take', 'shard', shard, 'owner', me)
    else
      took[#took + 1] = shard .. ' ' .. owner
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'event', 'takeover', 'shard', shard, 'owner', me, 'previous', owner)
    end
  end
end
local out = { live }
for _, s in ipairs(held) do out[#out + 1] = s end
out[#out + 1] = '|'
for _, s in ipairs(took) do out[#out + 1] = s end
return out
`;

/** KEYS: positions, leases. ARGV: owner, then shard/position pairs. Saves those whose lease the owner holds; returns the others. */
const SAVE = `${NOW}
local refused = {}
for i = 2, #ARGV, 2 do
  local owner = holder(ARGV[i])
  if owner == ARGV[1] then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) else refused[#refused + 1] = ARGV[i] end
end
return refused
`;

/** KEYS: positions, leases, workers, log. ARGV: owner, "all" or "some", then shards. Gives leases back (all of them, and the heartbeat, with "all"). */
const RELEASE = `${NOW}
local me = ARGV[1]
local shards = {}
if ARGV[2] == 'all' then
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do shards[#shards + 1] = all[i] end
  redis.call('ZREM', KEYS[3], me)
else
  for i = 3, #ARGV do shards[#shards + 1] = ARGV[i] end
end
for _, shard in ipairs(shards) do
  if holder(shard) == me then
    redis.call('HDEL', KEYS[2], shard)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'event', 'release', 'shard', shard, 'owner', me)
  end
end
return 0
`;

export interface RedisCheckpointOptions {
  /** How long a lease lasts unless renewed; renewed every third of it. */
  leaseMs: number;
  log: (m: string) => void;
}

/** --checkpoint redis://[user:pass@]HOST:PORT/HASH[?db=N] */
export async function redisCheckpoint(url: string, stream: string, o: RedisCheckpointOptions): Promise<CheckpointStore> {
  const addr = parseStreamUrl("--checkpoint", url);
  const hash = addr.stream;
  const redis = await connectRedis(addr);
  const keys = { positions: hash, leases: `${hash}:leases`, workers: `${hash}:workers`, log: `${hash}:log` };
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  try {
    const recorded = await redis.hget(hash, "@stream");
    if (recorded !== null && recorded !== stream)
      throw new RidepredError(`--checkpoint ${addr.display}: holds positions of stream "${recorded}", not "${stream}"`);
    if (recorded === null) await redis.hsetnx(hash, "@stream", stream);
  } catch (e) {
    redis.disconnect();
    throw e;
  }
  return new RedisLeaseStore(redis, keys, owner, addr.display, o);
}

class RedisLeaseStore implements CheckpointStore {
  readonly shared = true;
  private held = new Set<string>();
  private renewing: NodeJS.Timeout;
  private renewal: Promise<unknown> = Promise.resolve();
  private keyList: string[];

  constructor(
    private redis: Redis,
    keys: { positions: string; leases: string; workers: string; log: string },
    private owner: string,
    readonly display: string,
    private o: RedisCheckpointOptions,
  ) {
    this.keyList = [keys.positions, keys.leases, keys.workers, keys.log];
    // Leases are renewed on a timer, not only between batches: a batch slowed by PutRecords retries must not
    // let them lapse. The timer only renews (no candidates); taking more is lease()'s job.
    this.renewing = setInterval(
      () => {
        this.renewal = this.run([]).catch((e: Error) => o.log(`cannot renew shard leases in ${display}: ${e.message}`));
      },
      Math.max(100, Math.floor(o.leaseMs / 3)),
    );
    this.renewing.unref();
  }

  async load(): Promise<Map<string, string>> {
    const all = await this.redis.hgetall(this.keyList[0]!);
    delete all["@stream"];
    return new Map(Object.entries(all));
  }

  /** Saves the positions of shards this process still holds; returns the others (their lease was lost). */
  async save(positions: ReadonlyMap<string, string>): Promise<Set<string>> {
    if (!positions.size) return new Set();
    const refused = (await this.redis.eval(SAVE, 2, this.keyList[0]!, this.keyList[1]!, this.owner, ...[...positions].flat())) as string[];
    for (const s of refused) this.held.delete(s);
    return new Set(refused);
  }

  async lease(readable: readonly string[]): Promise<Leases> {
    await this.renewal;
    const { live, took } = await this.run(readable);
    const fair = Math.ceil(readable.length / live);
    const mine = [...this.held].filter((s) => readable.includes(s)).sort();
    return { held: new Set(this.held), surplus: mine.slice(fair), takenOver: took, processes: live };
  }

  async release(shards: readonly string[]): Promise<void> {
    if (!shards.length) return;
    await this.redis.eval(RELEASE, 4, ...this.keyList, this.owner, "some", ...shards);
    for (const s of shards) this.held.delete(s);
  }

  async close(): Promise<void> {
    clearInterval(this.renewing);
    await this.renewal;
    try {
      await this.redis.eval(RELEASE, 4, ...this.keyList, this.owner, "all");
      this.held.clear();
    } finally {
      await this.redis.quit().catch(() => this.redis.disconnect());
    }
  }

  /** One LEASE call: renew what is held, take a fair share of `candidates`. */
  private async run(candidates: readonly string[]): Promise<{ live: number; took: Map<string, string> }> {
    const reply = (await this.redis.eval(LEASE, 4, ...this.keyList, this.owner, this.o.leaseMs, ...candidates)) as (string | number)[];
    const bar = reply.indexOf("|");
    this.held = new Set(reply.slice(1, bar).map(String));
    const took = new Map(reply.slice(bar + 1).map((p) => String(p).split(" ") as [string, string]));
    return { live: Math.max(1, Number(reply[0])), took };
  }
}
