// bench/stream: events/s of `ridepred stream` end to end, through the JSONL pipe and through Redis Streams,
// each beside a reference measured in the same run on the same events:
//   pipe:  `cat` through the same pipe (the OS limit) and bench/stream-echo.mjs (node parse+stringify per line,
//          no prediction: the stack's limit);
//   redis: raw XADD throughput, and a bare consumer doing ridepred's round trips (XREADGROUP, XADD, XACK)
//          without parsing or predicting (the broker's limit), its XADDs pipelined one command each or, as
//          ridepred sends them, in one script call per batch; and a consumer doing everything ridepred does
//          but the model (script call, JSON parse and stringify per event, read-ahead on two connections).
//   kafka: a bare kafkajs consumer doing ridepred's round trips (produce acks=-1, commit) on kcat's mock cluster,
//          values copied, and again with ridepred's JSON work and read-ahead (bench/stream-kafka.mjs);
//   kinesis: a bare AWS SDK client doing ridepred's round trips (GetRecords, PutRecords, checkpoint write) on
//          kinesalite (bench/stream-kinesis.mjs).
// usage: npm run build && flock /tmp/ridepred-bench.lock node bench/stream.mjs [--events N] [--batch N] [--only pipe,redis,kafka,kinesis] [--cpu-prof DIR]
// (defaults: 200000 pipe / 100000 redis / 50000 kafka / 20000 kinesis events, batch 100; --events sets all)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse/sync";
import { Redis } from "ioredis";
import { arg, fmt } from "./lib/harness.mjs";
import { freePort, startStream } from "./lib/stream-child.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "ridepred");
const nPipe = Number(arg("--events", 200_000));
const nRedis = process.argv.includes("--events") ? nPipe : 100_000;
const nKafka = process.argv.includes("--events") ? nPipe : 50_000;
const nKinesis = process.argv.includes("--events") ? nPipe : 20_000;
const onlyAt = process.argv.indexOf("--only");
const only = new Set(onlyAt > 0 ? process.argv[onlyAt + 1].split(",") : ["pipe", "redis", "kafka", "kinesis"]);
const batch = Number(arg("--batch", 100));
// --cpu-prof DIR: each ridepred child writes a V8 CPU profile there (run the bench itself with
// `node --cpu-prof --cpu-prof-dir DIR` to profile the bare clients, which run in the bench process).
const profAt = process.argv.indexOf("--cpu-prof");
const nodeArgs = profAt > 0 ? ["--cpu-prof", "--cpu-prof-dir", process.argv[profAt + 1]] : [];
const t00 = Date.now();

const rows = parse(readFileSync(join(root, "examples/green_tripdata_2021-02_sample.csv")), { columns: true });
const event = (i) => {
  const r = rows[i % rows.length];
  return JSON.stringify({ ride: { PULocationID: r.PULocationID, DOLocationID: r.DOLocationID, trip_distance: Number(r.trip_distance) }, ride_id: i });
};
// What a bare client does per event where it does ridepred's JSON work: parse the event, write an output
// event of the same shape (a made-up duration instead of the model's).
const echo = (text) => {
  const e = JSON.parse(text);
  return JSON.stringify({ model: "ride-duration", version: "bench", prediction: { ride_duration: e.ride.trip_distance * 3.3517 + 2.1, ride_id: e.ride_id } });
};
// CPU time (user + sys, ms): of this process since a process.cpuUsage() mark, of a child from /proc (Linux).
const cpuMs = (u) => (u.user + u.system) / 1000;
const childCpuMs = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
};
const tmp = mkdtempSync(join(tmpdir(), "ridepred-bench-stream-"));

// ---- JSONL pipe -------------------------------------------------------------------------------------------
if (only.has("pipe")) {
  const file = join(tmp, "events.jsonl");
  writeFileSync(file, Array.from({ length: nPipe }, (_, i) => event(i)).join("\n") + "\n");
  const sh = (cmd) => {
    const t0 = performance.now();
    const r = spawnSync("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  };
  const best = (cmd, runs = 3) => Math.min(...Array.from({ length: runs }, () => sh(cmd)));
  console.log(`JSONL pipe, ${fmt(nPipe)} events (${(readFileSync(file).length / 1e6).toFixed(1)} MB), best of 3, wall time including process start:`);
  const tCat = best(`cat ${file} | cat > /dev/null`);
  const tEcho = best(`cat ${file} | ${process.execPath} ${join(root, "bench/stream-echo.mjs")} > /dev/null`);
  const tRide = best(`cat ${file} | ${process.execPath} ${bin} stream > /dev/null`);
  const tStart = best(`${process.execPath} ${bin} stream < /dev/null`); // start-up: load + prove the model, no events
  const out = execFileSync("sh", ["-c", `head -n 1000 ${file} | ${process.execPath} ${bin} stream | wc -l`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
  if (out !== "1000") throw new Error(`ridepred stream answered ${out} of 1000 lines`);
  console.log(`  cat | cat (OS pipe)                 ${fmt(nPipe / tCat).padStart(12)} events/s`);
  console.log(`  node parse+stringify (no model)     ${fmt(nPipe / tEcho).padStart(12)} events/s`);
  console.log(
    `  ridepred stream                     ${fmt(nPipe / tRide).padStart(12)} events/s  = ${(tEcho / tRide).toFixed(2)} x node echo, ${(tCat / tRide).toFixed(3)} x cat`,
  );
  console.log(
    `  ridepred stream minus start-up      ${fmt(nPipe / (tRide - tStart)).padStart(12)} events/s  (start-up with no input: ${(tStart * 1000).toFixed(0)} ms)`,
  );
}

// ---- Redis Streams ----------------------------------------------------------------------------------------
if (!only.has("redis")) {
} else if (spawnSync("redis-server", ["--version"]).status !== 0) {
  console.log("redis-server not installed: Redis part skipped");
} else {
  const port = await freePort();
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const redis = new Redis({ port, host: "127.0.0.1", retryStrategy: (n) => (n > 100 ? null : 50) });
  redis.on("error", () => {}); // refused until redis-server listens
  await new Promise((resolve, reject) => {
    redis.once("ready", resolve);
    redis.once("end", () => reject(new Error("redis-server did not start")));
  }).catch((e) => {
    server.kill("SIGKILL"); // never leave our broker behind
    throw e;
  });
  try {
    const events = Array.from({ length: nRedis }, (_, i) => event(i));
    const load = async (stream) => {
      const t0 = performance.now();
      for (let i = 0; i < nRedis; i += 1000) {
        const p = redis.pipeline();
        for (let j = i; j < Math.min(i + 1000, nRedis); j++) p.xadd(stream, "*", "data", events[j]);
        await p.exec();
      }
      return (performance.now() - t0) / 1000;
    };
    console.log(
      `\nRedis Streams (redis-server ${/v=(\S+)/.exec(execFileSync("redis-server", ["--version"], { encoding: "utf8" }))?.[1]}, 127.0.0.1), ${fmt(nRedis)} events, batch ${batch}:`,
    );
    const tXadd = await load("ref-in");
    console.log(`  raw XADD, pipelined by 1000          ${fmt(nRedis / tXadd).padStart(12)} events/s (producer side)`);

    // Reference consumers: ridepred's round trips per batch (XREADGROUP, the batch's XADDs, XACK), data copied
    // as is. The batch's XADDs either pipelined one command each, or in one script call as ridepred sends them.
    const reference = async (input, script) => {
      await redis.xgroup("CREATE", input, "g", "0");
      const c = new Redis({ port, host: "127.0.0.1" });
      c.defineCommand("xaddBatch", {
        numberOfKeys: 1,
        lua: "for i = 1, #ARGV, 2 do redis.call('XADD', KEYS[1], '*', 'data', ARGV[i], 'source_id', ARGV[i + 1]) end return #ARGV / 2",
      });
      const t0 = performance.now();
      for (let done = 0; done < nRedis; ) {
        const reply = await c.xreadgroup("GROUP", "g", "c", "COUNT", batch, "BLOCK", 1000, "STREAMS", input, ">");
        const entries = reply[0][1];
        if (script) await c.xaddBatch(`${input}-out`, ...entries.flatMap(([id, f]) => [f[1], id]));
        else {
          const p = c.pipeline();
          for (const [id, f] of entries) p.xadd(`${input}-out`, "*", "data", f[1], "source_id", id);
          await p.exec();
        }
        await c.xack(input, "g", ...entries.map((e) => e[0]));
        done += entries.length;
      }
      c.disconnect();
      return (performance.now() - t0) / 1000;
    };
    const tRef = await reference("ref-in", false);
    console.log(`  bare consumer, XADDs pipelined       ${fmt(nRedis / tRef).padStart(12)} events/s (no parse/predict; runs in the bench process)`);
    await load("ref-script-in");
    const tRefScript = await reference("ref-script-in", true);
    console.log(`  bare consumer, XADDs in one script   ${fmt(nRedis / tRefScript).padStart(12)} events/s (as ridepred sends them)`);

    // The strictest reference: ridepred's round trips and connections (reads and acks on one, the script
    // call on another), its JSON work per event (parse, write an output event) and its read-ahead (the next
    // batch read without BLOCK and decoded while this one is written and acked); only the model is missing.
    const fullReference = async (input) => {
      await redis.xgroup("CREATE", input, "g", "0");
      const rd = new Redis({ port, host: "127.0.0.1" });
      const wr = new Redis({ port, host: "127.0.0.1" });
      wr.defineCommand("xaddBatch", {
        numberOfKeys: 1,
        lua: "for i = 1, #ARGV, 2 do redis.call('XADD', KEYS[1], '*', 'data', ARGV[i], 'source_id', ARGV[i + 1]) end return #ARGV / 2",
      });
      const read = (block) =>
        rd.xreadgroup("GROUP", "g", "c", "COUNT", batch, ...(block ? ["BLOCK", 1000] : []), "STREAMS", input, ">").then((r) => r?.[0]?.[1] ?? []);
      const t0 = performance.now();
      let ahead = read(true);
      let flushing;
      for (let done = 0; done < nRedis; ) {
        const entries = await ahead;
        if (!entries.length) {
          await flushing;
          ahead = read(true);
          continue;
        }
        const args = new Array(entries.length * 2);
        const ids = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          args[2 * i] = echo(entries[i][1][1]);
          args[2 * i + 1] = ids[i] = entries[i][0];
        }
        await flushing;
        done += entries.length;
        if (done < nRedis) ahead = read(false);
        flushing = wr.xaddBatch(`${input}-out`, ...args).then(() => rd.xack(input, "g", ...ids));
      }
      await flushing;
      rd.disconnect();
      wr.disconnect();
      return (performance.now() - t0) / 1000;
    };
    await load("ref-full-in");
    const cpu0 = process.cpuUsage();
    const tRefFull = await fullReference("ref-full-in");
    const cpuRefFull = cpuMs(process.cpuUsage(cpu0));
    console.log(
      `  bare consumer, script + JSON + read-ahead ${fmt(nRedis / tRefFull).padStart(7)} events/s (ridepred's work without the model; ${((cpuRefFull * 1000) / nRedis).toFixed(1)} us CPU/event)`,
    );

    // ridepred: events already on the stream; timed from the first prediction written to the last.
    await load("rides");
    const t0 = performance.now();
    const child = startStream({
      bin,
      nodeArgs,
      from: `redis://127.0.0.1:${port}/rides`,
      to: `redis://127.0.0.1:${port}/predictions`,
      more: ["--group", "duration"],
      batch,
    });
    let tFirst = 0;
    let cpuFirst = 0;
    let n = 0;
    while ((n = await redis.xlen("predictions")) < nRedis) {
      if (!tFirst && n > 0) [tFirst, cpuFirst] = [performance.now(), childCpuMs(child.pid)];
      await new Promise((r) => setTimeout(r, 5));
    }
    const tEnd = performance.now();
    const cpuRun = childCpuMs(child.pid) - cpuFirst;
    await child.stop(nRedis);
    const tRun = (tEnd - tFirst) / 1000;
    console.log(
      `  ridepred stream (first..last output) ${fmt(nRedis / tRun).padStart(12)} events/s  = ${(tRef / tRun).toFixed(2)} x bare consumer pipelined, ${(tRefScript / tRun).toFixed(2)} x with the script, ${(tRefFull / tRun).toFixed(2)} x script + JSON + read-ahead`,
    );
    console.log(
      `  ridepred stream incl. process start  ${fmt(nRedis / ((tEnd - t0) / 1000)).padStart(12)} events/s (first..last output: ${((cpuRun * 1000) / nRedis).toFixed(1)} us CPU/event)`,
    );
  } finally {
    redis.disconnect();
    server.kill("SIGKILL");
  }
}
// ---- Kafka and Kinesis ------------------------------------------------------------------------------------
if (only.has("kafka")) {
  if (spawnSync("kcat", ["-V"]).status !== 0) console.log("\nkcat not installed: Kafka part skipped");
  else
    await (await import("./stream-kafka.mjs")).benchKafka({
      bin,
      nodeArgs,
      n: nKafka,
      batch,
      event,
      echo,
      fmt,
      concurrentRef: process.argv.includes("--concurrent-ref"),
    });
}
if (only.has("kinesis")) await (await import("./stream-kinesis.mjs")).benchKinesis({ bin, nodeArgs, n: nKinesis, batch, event, fmt, tmp });

rmSync(tmp, { recursive: true, force: true });
console.log(`\n(${((Date.now() - t00) / 1000).toFixed(0)} s; shared 2-core machine: expect noise of +-20%)`);
