#!/usr/bin/env node
// bench/serve-cpu: CPU per request of POST /predict, A/B, for comparing builds on a shared machine.
// Each server is loaded in turn by wrk (one connection count, pinned as bench/serve.mjs pins), round after
// round, and its CPU time (user+system from /proc) is divided by the requests answered: a server's own
// cost, much steadier than req/s while other work shares the cores. Prints every round and the median.
// Usage: node bench/serve-cpu.mjs [--duration 5] [--rounds 4] [--connections 50] NAME=DIR ...
//   NAME=DIR  a ridepred tree (DIR/bin/ridepred, its dist/ built): `ridepred serve` from it, default path
//             ("NAME=DIR --flag ..." runs node with those flags)
//   echo      the bare node:http JSON echo (bench/serve-echo.mjs), the reference of bench/serve.mjs
//   NAME=F.mjs a server script that prints {"port": N} on its first line and answers POST / (node flags may follow)
// With no servers named: this tree's ridepred and the echo.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "./lib/harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args, positionals } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "4" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "2" },
  },
  allowPositionals: true,
});
const PIN = availableParallelism() >= 2 && spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const onCpu = (cpu, cmd, argv) => (PIN ? ["taskset", ["-c", String(cpu), cmd, ...argv]] : [cmd, argv]);
const children = [];

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function wrk(url, seconds) {
  const [cmd, argv] = onCpu(0, "wrk", ["-t1", `-c${args.connections}`, `-d${seconds}s`, "-s", join(root, "bench/serve-post.lua"), url]);
  const r = spawnSync(cmd, argv, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wrk: ${r.stderr}`);
  if (/Non-2xx/.test(r.stdout)) throw new Error(`${url}: non-2xx answers\n${r.stdout}`);
  return Number(r.stdout.match(/(\d+) requests in/)[1]);
}

async function startServer(name, spec, flags) {
  const port = await freePort();
  // A script (the echo, or NAME=path.mjs) prints {"port": N} on its first line; a tree is `ridepred serve`.
  const script = spec === "echo" ? join(root, "bench/serve-echo.mjs") : spec.endsWith(".mjs") ? resolve(spec) : null;
  const [cmd, argv] = script
    ? onCpu(1, process.execPath, [...flags, script])
    : onCpu(1, process.execPath, [...flags, join(resolve(spec), "bin/ridepred"), "serve", "--port", String(port), "--log-level", "warn"]);
  const child = spawn(cmd, argv, { env: { ...process.env, RIDEPRED_FAST_PATH: "" }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const p = script ? await new Promise((res) => child.stdout.once("data", (d) => res(JSON.parse(String(d).split("\n")[0]).port))) : port;
  const url = `http://127.0.0.1:${p}/${script ? "" : "predict"}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}',
      });
      if (r.ok) return { name, url, pid: child.pid, us: [] };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not come up`);
}

process.on("exit", () => {
  for (const c of children) c.kill("SIGTERM");
});
const specs = positionals.length ? positionals : [`ridepred=${root}`, "echo"];
const servers = [];
for (const s of specs) {
  const [name, rest] = s === "echo" ? ["echo", "echo"] : s.split(/=(.*)/s);
  const [dir, ...flags] = rest.split(" ");
  servers.push(await startServer(name, dir, flags));
}
const D = Number(args.duration);
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const s of servers) {
    wrk(s.url, Number(args.warmup));
    const c0 = cpuSeconds(s.pid);
    const n = wrk(s.url, D);
    const us = ((cpuSeconds(s.pid) - c0) / n) * 1e6;
    s.us.push(us);
    process.stderr.write(`round ${round} ${s.name}: ${us.toFixed(1)} us CPU/request, ${(n / D).toFixed(0)} req/s, load ${loadavg()[0].toFixed(1)}\n`);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
// Paired by round (each server against the first, measured seconds apart): steadier than either median alone.
for (const s of servers.slice(1)) {
  const d = s.us.map((u, i) => u - servers[0].us[i]);
  console.log(
    `${s.name} - ${servers[0].name}: median ${median(d).toFixed(1)} us/request per round (${d.filter((x) => x < 0).length} of ${d.length} rounds lower)`,
  );
}
for (const s of servers)
  console.log(
    `${s.name}: median ${median(s.us).toFixed(1)}, min ${Math.min(...s.us).toFixed(1)} us CPU/request (rounds: ${s.us.map((u) => u.toFixed(1)).join(", ")})`,
  );
process.exit(0);
