#!/usr/bin/env node
// bench/serve-ticks: how many fresh server processes have process.nextTick's tick object literal in the slow
// state (src/serve/tick-maps.ts): V8's feedback for one of the literal's four properties megamorphic, so that
// every tick defines its properties in V8's runtime. Each process is started, answers one request, is loaded
// by wrk for --load seconds (0: left idle), then prints nextTick's feedback vector (node's %DebugPrint, on a
// signal, through a preloaded probe) and is stopped. The servers are started in turn, run after run.
// Usage: node bench/serve-ticks.mjs [--runs 10] [--load 2] [--wait 1] NAME=DIR|echo ...
//   NAME=DIR  `ridepred serve` from a ridepred tree ("NAME=DIR --flag ..." runs node with those flags)
//   echo      the bare node:http JSON echo (bench/serve-echo.mjs)
// With no servers named: this tree's ridepred and the echo. Prints, per process, the state of the four
// properties in the literal's order (m: monomorphic, M: megamorphic, u: uninitialized), then the counts.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort, serverArgv, serverSpec, serverUp } from "./lib/harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args, positionals } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    load: { type: "string", default: "2" },
    wait: { type: "string", default: "1" },
  },
  allowPositionals: true,
});

// The probe: a signal handler only, so that it changes nothing before it is asked. %DebugPrint goes through
// new Function so that this file stays plain JavaScript; it writes to C's stdout, flushed when the process exits,
// which goes to a file (through a pipe, which node makes non-blocking, part of it was lost).
const dir = mkdtempSync(join(tmpdir(), "serve-ticks-"));
const probe = join(dir, "probe.cjs");
writeFileSync(probe, 'process.on("SIGUSR2", () => new Function("%DebugPrint(process.nextTick)")());\n');

const LETTER = { MONOMORPHIC: "m", MEGAMORPHIC: "M", UNINITIALIZED: "u" };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One fresh process of server spec: the four letters of its tick literal's feedback. */
async function sample(spec) {
  const port = await freePort();
  const { script, argv } = serverArgv(root, spec, port);
  const outPath = join(dir, "stdout");
  const fd = openSync(outPath, "w");
  const child = spawn(process.execPath, ["--allow-natives-syntax", "-r", probe, ...spec.flags, ...argv], {
    env: { ...process.env, RIDEPRED_FAST_PATH: "" },
    stdio: ["ignore", fd, "inherit"],
  });
  closeSync(fd);
  const exited = new Promise((res) => child.on("close", res));
  const out = () => readFileSync(outPath, "utf8");
  while (script && !out().includes("\n")) await sleep(10);
  const url = script ? `http://127.0.0.1:${JSON.parse(out().split("\n")[0]).port}/` : `http://127.0.0.1:${port}/predict`;
  await serverUp(url);
  if (Number(args.load) > 0) {
    const r = spawnSync("wrk", ["-t1", "-c50", `-d${args.load}s`, "-s", join(root, "bench/serve-post.lua"), url], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`wrk: ${r.stderr}`);
  }
  await sleep(Number(args.wait) * 1000);
  child.kill("SIGUSR2");
  await sleep(200);
  child.kill("SIGTERM");
  await exited;
  const states = [...out().matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => LETTER[m[1]] ?? "?");
  if (states.length !== 4) throw new Error(`expected 4 DefineKeyedOwnPropertyInLiteral slots in nextTick's feedback, found ${states.length}`);
  return states.join("");
}

const specs = positionals.length ? positionals : [`ridepred=${root}`, "echo"];
const servers = specs.map((s) => ({ ...serverSpec(s), seen: [] }));
for (let run = 1; run <= Number(args.runs); run++) {
  for (const s of servers) {
    const st = await sample(s);
    s.seen.push(st);
    process.stderr.write(`run ${run} ${s.name}: ${st}${st.includes("M") ? " (slow state)" : ""}, load ${loadavg()[0].toFixed(1)}\n`);
  }
}
for (const s of servers) {
  const slow = s.seen.filter((st) => st.includes("M")).length;
  console.log(`${s.name}: ${slow} of ${s.seen.length} processes in the slow state (${s.seen.join(" ")})`);
}
