// Stopping `ridepred score`: SIGTERM/SIGINT at any point of a Parquet -> Parquet run (start-up, reading,
// writing, the rename), with the writer thread on and off, end the process within 2 s, dying of that
// signal (exit status 143 / 130), with no file left behind: no temp file, and nothing (or, when the signal
// comes after the rename, the complete output) under the final name. A SIGKILLed run cannot clean up: its
// temp file (named .NAME.HOST.PID.UNIQUE.tmp) is removed by the next run writing into that directory,
// while temps of another host, or of a process still alive, are left alone.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { materialize } from "../src/columns.js";
import { openParquet } from "../src/io/parquet-read.js";
import { parquetSink } from "../src/io/parquet-write.js";
import { BIN, ROOT, SAMPLE_PQ } from "./support/paths.js";

const REPEAT = 300; // 300k rows: a run of a second or more, long enough to be stopped mid-way
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, "_");

let tmp: string;
let input: string;
let rows: number;

/** The 1,000 real sample rides repeated REPEAT times, written by the project's own Parquet writer. */
async function makeInput(path: string): Promise<number> {
  const names = ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"];
  const source = await openParquet(SAMPLE_PQ);
  const cols: number[][] = names.map(() => []);
  for await (const b of source.batches(names, 8192)) {
    for (const [j, name] of names.entries()) cols[j]!.push(...Array.from(materialize(b.columns[name]!), Number));
  }
  await source.close();
  const sink = parquetSink(
    path,
    names.map((name, j) => ({ name, kind: j < 2 ? "timestamp" : "double" })),
  );
  const values = cols.map((c) => Float64Array.from(c));
  for (let i = 0; i < REPEAT; i++) await sink.write({ n: values[0]!.length, values });
  await sink.finish();
  return values[0]!.length * REPEAT;
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-signals-"));
  input = join(tmp, "rides.parquet");
  rows = await makeInput(input);
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  pid: number;
  /** performance.now() when it was spawned. */
  began: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr: () => string;
  kill(signal: NodeJS.Signals): number;
}

function start(out: string, thread: "on" | "off"): Run {
  const child = spawn(process.execPath, [BIN, "score", input, "-o", out], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NO_COLOR: "1", RIDEPRED_WRITER_THREAD: thread },
  });
  const began = performance.now();
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  return {
    pid: child.pid!,
    began,
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, at: performance.now() }))),
    stderr: () => err,
    kill: (signal) => {
      child.kill(signal);
      return performance.now();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const temps = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

/** Wait until cond() or the run ends; true if cond() held. */
async function until(run: Run, cond: () => boolean): Promise<boolean> {
  let over = false;
  void run.exited.then(() => (over = true));
  while (!over) {
    if (cond()) return true;
    await sleep(2);
  }
  return cond();
}

async function outputRows(path: string): Promise<number> {
  return Number((await parquetMetadataAsync(await asyncBufferFromFile(path))).num_rows);
}

describe.each(["on", "off"] as const)("stopping a Parquet -> Parquet run, writer thread %s", (thread) => {
  let seconds = 0;

  it("runs to completion when left alone (the baseline the signal points are spread over)", async () => {
    const dir = mkdtempSync(join(tmp, `full-${thread}-`));
    const t0 = performance.now();
    const run = start(join(dir, "out.parquet"), thread);
    const { code } = await run.exited;
    seconds = (performance.now() - t0) / 1000;
    expect(code, run.stderr()).toBe(0);
    expect(readdirSync(dir)).toStrictEqual(["out.parquet"]);
    expect(await outputRows(join(dir, "out.parquet"))).toBe(rows);
  }, 120_000);

  // Points of a run: right at start-up, once the output's temp file exists, once it holds data (reading
  // and writing under way), then spread over the whole run up to its end (the rename).
  // A point timed as a fraction of a run's length comes after the end when this run is faster than the
  // one measured (a warm cache, a machine that other tests loaded then left quieter): such a point is tried
  // again, timed by the run that just finished (measured under the load of the moment) and earlier, until
  // a run is stopped there. Only the rename may come after the end; the points that wait for a state never may.
  type Point = { name: string; timed?: boolean; wait: (run: Run, dir: string, attempt: number) => Promise<unknown> };
  const points: Point[] = [
    { name: "start-up (at once)", wait: async () => {} },
    { name: "start-up (100 ms)", wait: () => sleep(100) },
    { name: "temp file created", wait: (run, dir) => until(run, () => temps(dir).length > 0) },
    { name: "mid-write (temp holds 1 MB)", wait: (run, dir) => until(run, () => temps(dir).some((t) => size(join(dir, t)) > 1 << 20)) },
    ...[0.3, 0.6, 0.9].map((f) => ({
      name: `${f * 100}% of a full run`,
      timed: true,
      wait: (_run: Run, _dir: string, attempt: number) => sleep(f * 0.7 ** attempt * seconds * 1000),
    })),
    { name: "rename (the output appears)", wait: (run, dir) => until(run, () => existsSync(join(dir, "out.parquet"))) },
  ];
  const RENAME = points[points.length - 1]!.name;
  const TRIES = 4;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} at each point ends the run within 2 s with exit status ${signal === "SIGTERM" ? 143 : 130} and no file left`, async () => {
      // SIGINT takes the same path as SIGTERM: a few points suffice.
      const chosen = signal === "SIGTERM" ? points : points.filter((_, i) => i % 3 === 2);
      let stoppedWithTemp = 0; // runs stopped while their temp file was there: the cleanup was exercised
      const finished: string[] = [];
      const stopIn: number[] = [];
      let tries = 0;
      for (const p of chosen) {
        let stopped = false;
        for (let attempt = 0; !stopped && attempt < (p.timed ? TRIES : 1); attempt++) {
          tries++;
          const dir = mkdtempSync(join(tmp, `${signal}-${thread}-`));
          const out = join(dir, "out.parquet");
          const run = start(out, thread);
          await p.wait(run, dir, attempt);
          const hadTemp = temps(dir).length > 0;
          const sent = run.kill(signal);
          const { code, signal: died, at } = await run.exited;
          const where = `${p.name} (try ${attempt + 1}): ${run.stderr()}`;
          if (code === 0) {
            // The run had finished before the signal came: its complete output, nothing else.
            expect(readdirSync(dir), where).toStrictEqual(["out.parquet"]);
            seconds = Math.min(seconds, (at - run.began) / 1000);
            continue;
          }
          stopped = true;
          if (hadTemp) stoppedWithTemp++;
          stopIn.push(Math.round(at - sent));
          expect(at - sent, where).toBeLessThan(2000);
          expect(died ?? code, where).toBe(died ? signal : signal === "SIGTERM" ? 143 : 130);
          expect(temps(dir), where).toStrictEqual([]);
          // Nothing under the final name, or (signal after the rename) the complete output.
          if (existsSync(out)) expect(await outputRows(out), where).toBe(rows);
          else expect(readdirSync(dir), where).toStrictEqual([]);
        }
        if (!stopped) finished.push(p.name);
      }
      console.log(
        `${signal}, writer thread ${thread}: ms from signal to exit ${stopIn.join(", ")}; tries ${tries}; finished first: ${finished.join(", ") || "none"}`,
      );
      // Every point but the rename stopped a run before its end (the signal was tested there).
      expect(
        finished.filter((n) => n !== RENAME),
        `finished before the signal (ms from signal to exit of the stopped runs: ${stopIn.join(", ")})`,
      ).toStrictEqual([]);
      // The points that wait for the temp file always stop a run holding one.
      expect(stoppedWithTemp).toBeGreaterThanOrEqual(signal === "SIGTERM" ? 2 : 1);
    }, 240_000);
  }
});

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

describe("a SIGKILLed run's temp file", () => {
  it("is named after the host and pid, and removed by the next run into that directory (same host, pid gone); others are kept", async () => {
    const dir = mkdtempSync(join(tmp, "kill-"));
    const run = start(join(dir, "out.parquet"), "on");
    expect(await until(run, () => temps(dir).some((t) => size(join(dir, t)) > 0))).toBe(true);
    run.kill("SIGKILL");
    const { signal } = await run.exited;
    expect(signal).toBe("SIGKILL");
    const left = temps(dir);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^\\.out\\.parquet\\.${HOST}\\.${run.pid}\\.[0-9a-z]+\\.tmp$`));
    // Temps the next run must not touch: another host's (shards may share a volume), and one of a live process (this one).
    const otherHost = `.out.parquet.not-${HOST}.${run.pid}.abc.tmp`;
    const liveProcess = `.other.csv.${HOST}.${process.pid}.abc.tmp`;
    writeFileSync(join(dir, otherHost), "x");
    writeFileSync(join(dir, liveProcess), "x");
    mkdirSync(join(dir, "sub"));

    const r = spawnSync(process.execPath, [BIN, "score", SAMPLE_PQ, "-o", join(dir, "small.csv")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toStrictEqual([liveProcess, otherHost, "small.csv", "sub"].sort());
  }, 60_000);
});
