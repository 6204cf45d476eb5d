// Several `ridepred stream` processes sharing one Kinesis stream through a redis:// checkpoint: a lease per
// shard (owner + expiry, kept in Redis, renewed while working), a fair share each, and a dead process's
// shards taken over once their leases expire, resumed from its checkpoint. Against kinesalite (in this
// process) and a real redis-server; the processes are spawned for real.
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { type Kinesalite, startKinesalite } from "./support/kinesis.js";
import { haveRedis, type RedisServer, startRedis } from "./support/redis.js";
import { BIN, event, ride, runNode, startConsumer, waitFor } from "./support/stream-cli.js";

const { predictor } = loadModel();
if (!haveRedis) console.warn("Kinesis lease cases skipped: redis-server is not installed (apt-get install redis-server)");

describe.skipIf(!haveRedis)("Kinesis with a redis:// checkpoint: shard leases shared by several processes", () => {
  let k: Kinesalite;
  let r: RedisServer;
  beforeAll(async () => {
    k = await startKinesalite();
    r = await startRedis();
  });
  afterAll(async () => {
    await k?.stop();
    await r?.stop();
  });

  /** Lease holders by shard, as the checkpoint's HASH:leases holds them ("OWNER EXPIRES_MS"). */
  const leases = async (hash: string) =>
    Object.fromEntries(Object.entries(await r.client.hgetall(`${hash}:leases`)).map(([shard, v]) => [shard, v.split(" ")[0]!]));
  const ownerOf = (pid: number | undefined) => new RegExp(`^${hostname()}:${pid}:[0-9a-f]{6}$`);
  const count = (held: Record<string, string>, pid: number | undefined) => Object.values(held).filter((o) => ownerOf(pid).test(o)).length;

  it("two processes split a 4-shard stream by leases, each ride predicted once; one SIGKILLed, the other takes its shards over from the checkpoint and loses nothing", {
    timeout: 240_000,
  }, async () => {
    await k.createStream("lease-in", 4);
    await k.createStream("lease-out", 1);
    const put = (from: number, n: number) =>
      k.put(
        "lease-in",
        Array.from({ length: n }, (_, i) => ({ data: event(from + i), key: `ride-${from + i}` })),
      );
    const outputs = async () => (await k.records("lease-out")).map((x) => JSON.parse(x.data).prediction as { ride_id: number; ride_duration: number });
    const args = ["--from", "kinesis://lease-in", "--to", "kinesis://lease-out", "--checkpoint", r.url("cp"), "--lease", "3000", "--batch", "50"];

    // A alone holds every shard; B joining makes A give two back once their records are acked.
    const a = startConsumer(args, k.env);
    await waitFor("A to lease all 4 shards", async () => count(await leases("cp"), a.child.pid) === 4, 45_000, a.stderr);
    const b = startConsumer(args, k.env);
    const both = () => a.stderr() + b.stderr();
    await waitFor(
      "the leases to settle at 2 + 2",
      async () => {
        const held = await leases("cp");
        return count(held, a.child.pid) === 2 && count(held, b.child.pid) === 2;
      },
      45_000,
      both,
    );
    expect(a.stderr()).toMatch(/giving its lease back once its records are acked \(a fair share is 2 of 4 shards for 2 processes\)/);
    const split = await leases("cp");

    const N = 1200;
    await put(0, N);
    await waitFor(`${N} predictions`, async () => (await outputs()).length >= N, 60_000, both);
    await new Promise((res) => setTimeout(res, 1500)); // a shard read by both would put a second copy by now
    let outs = await outputs();
    expect(outs).toHaveLength(N); // no duplicate: no shard was read by both processes
    expect(new Set(outs.map((o) => o.ride_id)).size).toBe(N);
    expect(await leases("cp")).toStrictEqual(split); // nobody lost or stole a lease while both were alive

    // Kill A mid-stream: its leases lapse after --lease, and B takes them over, resuming after A's checkpoint.
    const M = 2000;
    await put(N, M);
    await waitFor("the next predictions", async () => (await outputs()).length >= N + 300, 60_000, both);
    a.child.kill("SIGKILL");
    expect(await a.exited).toBeNull();
    await waitFor("B to take A's shards over", async () => count(await leases("cp"), b.child.pid) === 4, 30_000, b.stderr);
    const late = 400; // and events for every shard after the takeover
    await put(N + M, late);
    const total = N + M + late;
    await waitFor(`${total} ride ids`, async () => new Set((await outputs()).map((o) => o.ride_id)).size >= total, 60_000, b.stderr);
    const taken = [...b.stderr().matchAll(/shard (\S+): leased \(taken over from (\S+), whose lease expired\)/g)];
    expect(taken.map((m) => m[1]).sort()).toStrictEqual(
      Object.keys(split)
        .filter((s) => ownerOf(a.child.pid).test(split[s]!))
        .sort(),
    );
    for (const m of taken) expect(m[2]).toMatch(ownerOf(a.child.pid));

    const { code, summary } = await b.stop();
    expect(code, b.stderr()).toBe(0);
    expect(summary).toMatchObject({ mode: "kinesis", checkpoint: r.url("cp"), dead_lettered: 0 });
    expect(summary.shards_read).toStrictEqual(["shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"]);
    outs = await outputs();
    const seen = new Set<number>();
    for (const o of outs) {
      expect(o.ride_duration).toBe(predictor.predict(ride(o.ride_id)));
      seen.add(o.ride_id);
    }
    for (let i = 0; i < total; i++) expect(seen.has(i), `ride_id ${i} lost`).toBe(true);
    console.log(`Kinesis leases: A SIGKILLed at ${N + 300}+ predictions; ${outs.length - seen.size} duplicates after B took its shards over`);
    expect(b.stderr()).not.toMatch(/Warning/);

    // Stopped cleanly, B gave its leases back; each shard's checkpoint is its last record.
    expect(await r.client.hlen("cp:leases")).toBe(0);
    const last = new Map<string, string>();
    for (const x of await k.records("lease-in")) last.set(x.shard, x.seq);
    expect(await r.client.hgetall("cp")).toStrictEqual({ "@stream": "lease-in", ...Object.fromEntries(last) });

    // The lease log: per shard, a take only when free, a takeover naming the holder, a release by the holder.
    const log = (await r.client.xrange("cp:log", "-", "+")) as [string, string[]][];
    const holder = new Map<string, string>();
    for (const [, f] of log) {
      const e = Object.fromEntries(f.flatMap((v, i) => (i % 2 ? [] : [[v, f[i + 1]!]])));
      if (e.event === "take") expect(holder.has(e.shard!), `${e.shard} taken while held`).toBe(false);
      if (e.event === "takeover") expect(e.previous).toBe(holder.get(e.shard!));
      if (e.event === "release") expect(e.owner).toBe(holder.get(e.shard!));
      if (e.event === "release") holder.delete(e.shard!);
      else holder.set(e.shard!, e.owner!);
    }
    expect(holder.size).toBe(0);
    expect(log.filter(([, f]) => f[1] === "takeover")).toHaveLength(2);
  });

  it("a checkpoint hash of another stream is refused; --lease without a redis:// checkpoint too (exit 2)", async () => {
    await k.createStream("other-in", 1);
    await k.createStream("other-out", 1);
    const run = (argv: string[]) => runNode([BIN, "stream", ...argv], k.env);
    const base = ["--from", "kinesis://other-in", "--to", "kinesis://other-out"];
    await r.client.hset("foreign", "@stream", "lease-in");
    expect(await run([...base, "--checkpoint", r.url("foreign")])).toMatchObject({
      code: 2,
      stderr: `ridepred: --checkpoint ${r.url("foreign")}: holds positions of stream "lease-in", not "other-in"\n`,
    });
    expect(await run([...base, "--checkpoint", "x.json", "--lease", "500"])).toMatchObject({
      code: 2,
      stderr: "ridepred: --lease applies to kinesis:// with a redis:// checkpoint only (a checkpoint file is one process's: it has no leases)\n",
    });
  });
});
