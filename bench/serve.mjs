#!/usr/bin/env node
// bench/serve: HTTP load with wrk on 127.0.0.1, in one run, against
//   1. ridepred serve  POST /predict  (one worker)
//   2. a bare node:http JSON echo     (the stack's limit: parse + stringify, no framework, no model)
//   3. the course's Flask app         (pickle.load + DictVectorizer + LinearRegression, gunicorn, one sync worker)
// then a soak run of ridepred at 100 connections counting non-2xx answers. Prints req/s, p50/p99, ratios.
// Usage: node bench/serve.mjs [--duration 10] [--rounds 2] [--connections 50] [--soak 60] [--workers 2]
// Servers are measured in turn, round after round, and each keeps its best round: on a shared machine
// the other load only ever slows a run down. Default ~2.5 min; --workers N adds ridepred with N workers.
// Needs wrk, Debian's /usr/bin/gunicorn and python3-flask, python3-sklearn.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    rounds: { type: "string", default: "2" },
    connections: { type: "string", default: "50" },
    soak: { type: "string", default: "60" },
    "soak-connections": { type: "string", default: "100" },
    workers: { type: "string", default: "0" },
    warmup: { type: "string", default: "2" },
  },
});
const D = Number(args.duration);
const C = Number(args.connections);
const RIDE = { PULocationID: 10, DOLocationID: 50, trip_distance: 40 };
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, argv, env = {}) {
  const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
  child.stdout.resume();
  child.tail = () => err;
  children.push(child);
  return child;
}

async function post(url) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(RIDE) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function waitUp(url, child, name) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${child.tail()}`);
    try {
      return await post(url);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not come up:\n${child.tail()}`);
}

/** GET on a fresh connection (an idle pooled one may have been closed during the long runs). */
function getText(url) {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(text));
    }).on("error", reject);
  });
}

const toMs = (s) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2]];
};

function wrk(url, seconds, connections) {
  const r = spawnSync("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s", "-s", join(root, "bench/serve-post.lua"), url], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const out = r.stdout;
  const grab = (re) => out.match(re)?.[1];
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    rps: Number(grab(/Requests\/sec:\s+([\d.]+)/)),
    p50: toMs(grab(/\s50%\s+(\S+)/)),
    p99: toMs(grab(/\s99%\s+(\S+)/)),
    requests: Number(grab(/(\d+) requests in/)),
    non2xx: Number(grab(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/** CPU seconds (user+system) used so far by a process and its children (gunicorn's worker, cluster workers). */
function cpuSeconds(pid) {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const visit = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(f[11]) + Number(f[12])) / tick; // utime, stime
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, "utf8").split(" ").filter(Boolean)) visit(c);
      }
    } catch {
      /* gone */
    }
  };
  visit(pid);
  return total;
}

// CPU per request is the server's own cost, much steadier than req/s on a shared machine.
function measure(name, url, pid) {
  if (Number(args.warmup) > 0) wrk(url, Number(args.warmup), C);
  const cpu0 = cpuSeconds(pid);
  const r = wrk(url, D, C);
  const cpuUs = ((cpuSeconds(pid) - cpu0) / Math.max(r.requests, 1)) * 1e6;
  process.stderr.write(`  ${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${cpuUs.toFixed(0)} us CPU/request\n`);
  return { name, ...r, cpuUs };
}

function stopAll() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
}
process.on("exit", stopAll);
process.on("SIGINT", () => process.exit(130));

async function main() {
  const [pRid, pFlask, pRidN] = await Promise.all([freePort(), freePort(), freePort()]);
  const rid = start(process.execPath, ["bin/ridepred", "serve", "--port", String(pRid), "--log-level", "warn"]);
  const echo = start(process.execPath, ["bench/serve-echo.mjs"]);
  const flask = start("/usr/bin/gunicorn", ["--workers", "1", "--worker-class", "sync", "--bind", `127.0.0.1:${pFlask}`, "--chdir", "bench/reference", "--log-level", "warning", "flask_app:app"], {
    MODEL: join(root, "models/ride-duration.bin"),
  });
  // the echo server picks its own port and prints it
  const echoPort = await new Promise((resolve) => echo.stdout.once("data", (d) => resolve(JSON.parse(String(d)).port)));
  const urls = { ridepred: `http://127.0.0.1:${pRid}/predict`, echo: `http://127.0.0.1:${echoPort}/`, flask: `http://127.0.0.1:${pFlask}/predict` };
  const [a, , c] = await Promise.all([waitUp(urls.ridepred, rid, "ridepred"), waitUp(urls.echo, echo, "echo"), waitUp(urls.flask, flask, "flask")]);
  process.stderr.write(`same ride: ridepred ${a.duration}, Flask+scikit-learn ${c.duration} (${a.duration === c.duration ? "identical" : "DIFFERENT"})\n`);

  process.stderr.write(`wrk -t1 -c${C} -d${D}s on 127.0.0.1 (${args.warmup}s warm-up each); machine has ${(await import("node:os")).availableParallelism()} cores, shared\n`);
  const targets = [
    ["ridepred /predict (1 worker)", urls.ridepred, rid.pid],
    ["bare node:http JSON echo", urls.echo, echo.pid],
    ["Flask+gunicorn (1 sync worker)", urls.flask, flask.pid],
  ];
  const best = [];
  for (let round = 1; round <= Number(args.rounds); round++) {
    process.stderr.write(`round ${round}\n`);
    targets.forEach(([name, url, pid], i) => {
      const r = measure(name, url, pid);
      const b = best[i];
      best[i] = !b ? { ...r, rounds: 1 } : { ...(r.rps > b.rps ? r : b), cpuUs: Math.min(r.cpuUs, b.cpuUs), rounds: b.rounds + 1 };
    });
  }
  const rows = best;
  const W = Number(args.workers);
  if (W > 1) {
    const ridN = start(process.execPath, ["bin/ridepred", "serve", "--port", String(pRidN), "--workers", String(W), "--log-level", "warn"]);
    const url = `http://127.0.0.1:${pRidN}/predict`;
    await waitUp(url, ridN, `ridepred --workers ${W}`);
    rows.push(measure(`ridepred /predict (${W} workers)`, url, ridN.pid));
  }
  flask.kill("SIGTERM");
  echo.kill("SIGTERM");

  const S = Number(args.soak);
  let soak = null;
  if (S > 0) {
    const sc = Number(args["soak-connections"]);
    process.stderr.write(`soak: ridepred at ${sc} connections for ${S}s\n`);
    soak = { connections: sc, seconds: S, ...wrk(urls.ridepred, S, sc) };
    const metrics = await getText(`http://127.0.0.1:${pRid}/metrics`);
    soak.server5xx = metrics
      .split("\n")
      .filter((l) => l.startsWith("ridepred_http_requests_total") && /status="5\d\d"/.test(l))
      .reduce((a, l) => a + Number(l.split(" ").pop()), 0);
  }

  const [r, e, f] = rows;
  console.log(`\nbest of ${args.rounds} rounds of ${D}s at ${C} connections (req/s, p50, p99 from the same run; least CPU per request of any round)`);
  console.log("| server | req/s | p50 ms | p99 ms | CPU us/request | non-2xx |\n|---|---:|---:|---:|---:|---:|");
  for (const x of rows) console.log(`| ${x.name} | ${x.rps.toFixed(0)} | ${x.p50.toFixed(2)} | ${x.p99.toFixed(2)} | ${x.cpuUs.toFixed(0)} | ${x.non2xx + x.socketErrors} |`);
  const check = (ok) => (ok ? "met" : "NOT met");
  console.log(`\nridepred / Flask reference: ${(r.rps / f.rps).toFixed(1)}x   (target >= 15x: ${check(r.rps / f.rps >= 15)})`);
  console.log(`ridepred / bare echo:       ${((100 * r.rps) / e.rps).toFixed(0)}%   (target >= 90%: ${check(r.rps / e.rps >= 0.9)}); CPU per request: echo is ${((100 * e.cpuUs) / r.cpuUs).toFixed(0)}% of ridepred's`);
  console.log(`ridepred p99 at ${C} conns:  ${r.p99.toFixed(2)} ms (target < 5 ms: ${check(r.p99 < 5)})`);
  if (soak) {
    console.log(
      `soak ${soak.seconds}s at ${soak.connections} conns: ${soak.requests} requests, ${soak.rps.toFixed(0)} req/s, p99 ${soak.p99.toFixed(2)} ms, ` +
        `non-2xx ${soak.non2xx}, socket errors ${soak.socketErrors}, server-counted 5xx ${soak.server5xx} (target: no 5xx: ${check(soak.non2xx === 0 && soak.server5xx === 0)})`,
    );
  }
  const load = (await import("node:os")).loadavg()[0];
  console.log(`load average at the end: ${load.toFixed(1)} on ${(await import("node:os")).availableParallelism()} cores (wrk shares them; above ~1 the machine was busy and req/s/p99 are noisy)`);
  console.log(JSON.stringify({ rows, soak, ratios: { vsFlask: r.rps / f.rps, vsEcho: r.rps / e.rps, cpuFlaskOverRidepred: f.cpuUs / r.cpuUs, cpuEchoOverRidepred: e.cpuUs / r.cpuUs }, loadavg: load }));
}

main().then(
  () => {
    stopAll();
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`bench/serve: ${e.message}${e.cause ? ` (${e.cause.message ?? e.cause})` : ""}\n`);
    stopAll();
    process.exit(1);
  },
);
