#!/usr/bin/env node
// bench/serve-cpu: CPU per request of POST /predict, A/B, for comparing builds on a shared machine.
// Each server is loaded in turn by wrk (one connection count, pinned as bench/serve.mjs pins), round after
// round, and its CPU time (user+system from /proc) is divided by the requests answered: a server's own
// cost, much steadier than req/s while other work shares the cores. Prints every round and the median.
// Usage: node bench/serve-cpu.mjs [--duration 5] [--rounds 4] [--connections 50] [--together] NAME=DIR ...
//   --together  load every server at once (all on the server CPU, one wrk each on the other): they share the
//               same interference, at the price of taking turns on one core (context switches, shared caches)
//   NAME=DIR  a ridepred tree (DIR/bin/ridepred, its dist/ built): `ridepred serve` from it, default path
//             ("NAME=DIR --flag ..." runs node with those flags)
//   echo      the bare node:http JSON echo (bench/serve-echo.mjs), the reference of bench/serve.mjs
//   NAME=F.mjs a server script that prints {"port": N} on its first line and answers POST / (node flags may follow,
//             then `--` and the script's own arguments: "loaded=bench/serve-echo-loaded.mjs -- --load model")
// With no servers named: this tree's ridepred and the echo.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort, serverArgv, serverSpec, serverUp } from "./lib/harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args, positionals } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "4" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "2" },
    saturated: { type: "string", default: "0.9" },
    "max-wait": { type: "string", default: "0.15" },
    together: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const PIN = availableParallelism() >= 2 && spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const onCpu = (cpu, cmd, argv) => (PIN ? ["taskset", ["-c", String(cpu), cmd, ...argv]] : [cmd, argv]);
const children = [];

const statOf = (path) => readFileSync(path, "utf8").split(") ")[1].split(" ").map(Number);

/**
 * CPU seconds (user+system) of the whole process, of its main thread, its system time, its minor page faults,
 * and the seconds its main thread was running or waiting for a CPU (schedstat: not idle).
 */
function cpuSeconds(pid) {
  const f = statOf(`/proc/${pid}/stat`);
  const m = statOf(`/proc/${pid}/task/${pid}/stat`);
  const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ").map(Number);
  return { all: (f[11] + f[12]) / 100, main: (m[11] + m[12]) / 100, sys: f[12] / 100, faults: f[7], runnable: (run + wait) / 1e9, wait: wait / 1e9 };
}

const wrkArgv = (url, seconds) => onCpu(0, "wrk", ["-t1", `-c${args.connections}`, `-d${seconds}s`, "-s", join(root, "bench/serve-post.lua"), url]);

function wrkCount(url, status, stdout, stderr) {
  if (status !== 0) throw new Error(`wrk: ${stderr}`);
  if (/Non-2xx/.test(stdout)) throw new Error(`${url}: non-2xx answers\n${stdout}`);
  return Number(stdout.match(/(\d+) requests in/)[1]);
}

function wrk(url, seconds) {
  const r = spawnSync(...wrkArgv(url, seconds), { encoding: "utf8" });
  return wrkCount(url, r.status, r.stdout, r.stderr);
}

/** wrk without waiting for it: for --together, where every server is loaded at once. */
function wrkAsync(url, seconds) {
  const child = spawn(...wrkArgv(url, seconds), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  return new Promise((res, rej) => child.on("close", (code) => (code === 0 ? res(wrkCount(url, code, out, err)) : rej(new Error(`wrk: ${err}`)))));
}

async function startServer(spec) {
  const port = await freePort();
  // A script (the echo, or NAME=path.mjs) prints {"port": N} on its first line; a tree is `ridepred serve`.
  const { script, argv } = serverArgv(root, spec, port);
  const [cmd, cmdArgs] = onCpu(1, process.execPath, [...spec.flags, ...argv]);
  const child = spawn(cmd, cmdArgs, { env: { ...process.env, RIDEPRED_FAST_PATH: "" }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const p = script ? await new Promise((res) => child.stdout.once("data", (d) => res(JSON.parse(String(d).split("\n")[0]).port))) : port;
  const url = `http://127.0.0.1:${p}/${script ? "" : "predict"}`;
  await serverUp(url, spec.name, 100);
  return { name: spec.name, url, pid: child.pid, us: [], main: [], busy: [], waited: [] };
}

process.on("exit", () => {
  for (const c of children) c.kill("SIGTERM");
});
const specs = positionals.length ? positionals : [`ridepred=${root}`, "echo"];
const servers = [];
for (const s of specs) servers.push(await startServer(serverSpec(s)));
const D = Number(args.duration);

/** One server's round: its CPU per request from /proc snapshots c0, c1 around n requests. */
function record(s, round, c0, c1, n) {
  const us = ((c1.all - c0.all) / n) * 1e6;
  const main = ((c1.main - c0.main) / n) * 1e6;
  const sys = ((c1.sys - c0.sys) / n) * 1e6;
  const faults = (c1.faults - c0.faults) / n;
  // The main thread's share of the wall time spent running or waiting for the CPU: below ~0.9 it sat idle,
  // waiting for wrk (itself starved by other work on its core).
  const busy = (c1.runnable - c0.runnable) / D;
  // Its share waiting for a CPU that other processes held: it comes back to cold caches (more CPU per request).
  const waited = (c1.wait - c0.wait) / D;
  s.us.push(us);
  s.main.push(main);
  s.busy.push(busy);
  s.waited.push(waited);
  process.stderr.write(
    `round ${round} ${s.name}: ${us.toFixed(1)} us CPU/request (main thread ${main.toFixed(1)}, busy ${busy.toFixed(2)}, waited ${waited.toFixed(2)}; others ${(us - main).toFixed(1)}; system ${sys.toFixed(1)}; ${faults.toFixed(2)} page faults), ${(n / D).toFixed(0)} req/s, load ${loadavg()[0].toFixed(1)}\n`,
  );
}

for (let round = 1; round <= Number(args.rounds); round++) {
  if (args.together) {
    // Every server loaded at once on the one server CPU: they share its time slices and whatever else runs
    // on the machine, so the interference that moves sequential rounds by +-30% hits all of them alike.
    await Promise.all(servers.map((s) => wrkAsync(s.url, Number(args.warmup))));
    const c0 = servers.map((s) => cpuSeconds(s.pid));
    const ns = await Promise.all(servers.map((s) => wrkAsync(s.url, D)));
    const c1 = servers.map((s) => cpuSeconds(s.pid));
    for (const [i, s] of servers.entries()) record(s, round, c0[i], c1[i], ns[i]);
    continue;
  }
  for (const s of servers) {
    wrk(s.url, Number(args.warmup));
    const c0 = cpuSeconds(s.pid);
    const n = wrk(s.url, D);
    record(s, round, c0, cpuSeconds(s.pid), n);
  }
}
const median = (a) => (a.length ? [...a].sort((x, y) => x - y)[a.length >> 1] : Number.NaN);
// A server whose main thread was idle for part of the round waited for wrk (starved by other work on wrk's
// core): fewer requests per turn of the event loop, more wake-ups, a higher CPU cost per request that says
// nothing about the server. A server that waited for its CPU while others ran came back to cold caches. Such
// rounds are left out of the paired comparison (--saturated: the least share of the round the main thread
// must have been running or runnable; --max-wait: the largest share it may have waited for the CPU).
const WAIT = Number(args["max-wait"]);
// (With --together the servers take turns on one CPU by design: waiting is expected, not a fault.)
const clean = (s, i) => s.busy[i] >= SAT && (args.together || s.waited[i] <= WAIT);
const SAT = Number(args.saturated);
// Paired by round (each server against the first, measured seconds apart): steadier than either median alone.
for (const s of servers.slice(1)) {
  const both = s.us.map((_, i) => i).filter((i) => clean(s, i) && clean(servers[0], i));
  const d = both.map((i) => s.us[i] - servers[0].us[i]);
  const dm = both.map((i) => s.main[i] - servers[0].main[i]);
  console.log(
    `${s.name} - ${servers[0].name}: median ${median(d).toFixed(1)} us/request per round (${d.filter((x) => x < 0).length} of ${d.length} rounds lower; ${s.us.length - both.length} rounds left out: busy < ${SAT} or waited > ${WAIT}); main thread ${median(dm).toFixed(1)}`,
  );
}
for (const s of servers)
  console.log(
    `${s.name}: median ${median(s.us).toFixed(1)}, min ${Math.min(...s.us).toFixed(1)} us CPU/request, main thread median ${median(s.main).toFixed(1)}, busy median ${median(s.busy).toFixed(2)}, waited median ${median(s.waited).toFixed(2)} (rounds: ${s.us.map((u) => u.toFixed(1)).join(", ")})`,
  );
process.exit(0);
