#!/usr/bin/env node
// bench/serve-callgrind: instructions per request of POST /predict, A/B, counted by valgrind's callgrind.
// CPU time per request (bench/serve-cpu.mjs) moves by +-20% on a shared machine; instruction counts do not.
// They show only instructions (not cache misses, not the kernel), so they say which of two handlers does
// more work, not how much faster it runs. Each server runs under callgrind with counting off, takes wrk's
// load for --warmup seconds (the JIT settles; counting off keeps this fast), then counts --window seconds.
// Prints instructions per request on the main thread (the handler's) and on all threads (GC, compiler).
// Usage: node bench/serve-callgrind.mjs [--warmup 45] [--window 25] NAME=DIR|echo|NAME=F.mjs ...
//   (servers as in bench/serve-cpu.mjs; needs valgrind and wrk; about 2 minutes per server)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "./lib/harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args, positionals } = parseArgs({
  options: { warmup: { type: "string", default: "45" }, window: { type: "string", default: "25" } },
  allowPositionals: true,
});

function wrk(url, seconds) {
  const r = spawnSync("wrk", ["-t1", "-c10", `-d${seconds}s`, "--timeout", "30s", "-s", join(root, "bench/serve-post.lua"), url], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wrk: ${r.stderr}`);
  if (/Non-2xx/.test(r.stdout)) throw new Error(`${url}: non-2xx answers\n${r.stdout}`);
  return Number(r.stdout.match(/(\d+) requests in/)[1]);
}

async function measure(name, spec, flags) {
  const dir = mkdtempSync(join(tmpdir(), "ridepred-cg-"));
  const script = spec === "echo" ? join(root, "bench/serve-echo.mjs") : spec.endsWith(".mjs") ? resolve(spec) : null;
  const port = await freePort();
  const target = script ? [script] : [join(resolve(spec), "bin/ridepred"), "serve", "--port", String(port), "--log-level", "warn"];
  const vg = ["--tool=callgrind", "--smc-check=all-non-file", "--instr-atstart=no", "--separate-threads=yes", `--callgrind-out-file=${dir}/cg.%p`];
  const child = spawn("valgrind", [...vg, process.execPath, ...flags, ...target], {
    env: { ...process.env, RIDEPRED_FAST_PATH: "" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    const p = script ? await new Promise((res) => child.stdout.once("data", (d) => res(JSON.parse(String(d).split("\n")[0]).port))) : port;
    const url = `http://127.0.0.1:${p}/${script ? "" : "predict"}`;
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}',
        });
        if (r.ok) break;
      } catch {
        if (i > 600) throw new Error(`${name} did not come up`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    wrk(url, Number(args.warmup));
    spawnSync("callgrind_control", ["-i", "on", String(child.pid)]);
    const n = wrk(url, Number(args.window));
    spawnSync("callgrind_control", ["-i", "off", String(child.pid)]);
    spawnSync("callgrind_control", ["-d", String(child.pid)]);
    const totals = {};
    for (const f of readdirSync(dir)) {
      const t = readFileSync(join(dir, f), "utf8").match(/^totals: (\d+)/m);
      const thread = f.match(/-(\d+)$/)?.[1];
      if (t && thread) totals[thread] = (totals[thread] ?? 0) + Number(t[1]);
    }
    const all = Object.values(totals).reduce((a, b) => a + b, 0);
    return { name, n, main: (totals["01"] ?? 0) / n, all: all / n };
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

const specs = positionals.length ? positionals : [`ridepred=${root}`, "echo"];
const results = [];
for (const s of specs) {
  const [name, rest] = s === "echo" ? ["echo", "echo"] : s.split(/=(.*)/s);
  const [spec, ...flags] = rest.split(" ");
  const r = await measure(name, spec, flags);
  results.push(r);
  console.log(`${r.name}: ${Math.round(r.main)} instructions/request on the main thread, ${Math.round(r.all)} on all threads (${r.n} requests counted)`);
}
for (const r of results.slice(1))
  console.log(`${r.name} / ${results[0].name}: main thread ${(r.main / results[0].main).toFixed(3)}, all threads ${(r.all / results[0].all).toFixed(3)}`);
