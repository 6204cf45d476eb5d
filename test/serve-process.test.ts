// `ridepred serve` as a process (bin/ridepred, built dist/): graceful SIGTERM/SIGINT with requests in
// flight, SIGHUP and --watch hot reload (good and bad files), --workers via node:cluster, startup errors.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL, serializeArtifact } from "../src/artifact/io.js";
import type { ModelArtifact } from "../src/artifact/types.js";
import { loadModel } from "../src/runtime/load.js";
import type { Json } from "./support/json.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const { predictor } = loadModel(BUNDLED_MODEL);
const ORIGINAL = readFileSync(BUNDLED_MODEL, "utf8");
const ART = JSON.parse(ORIGINAL) as ModelArtifact;
const RIDE = { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 };
const EXPECTED = predictor.predict(RIDE);

type Event = Record<string, Json>;
interface Serve {
  child: ChildProcess;
  events: Event[];
  stderr: () => string;
  url: string;
  waitFor(pred: (e: Event) => boolean, what: string, ms?: number): Promise<Event>;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function spawnServe(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; events: Event[]; stderr: () => string; waitFor: Serve["waitFor"]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", RIDEPRED_FAST_PATH: "", ...env },
  });
  running.push(child);
  const events: Event[] = [];
  let err = "";
  let partial = "";
  const waiters: (() => void)[] = [];
  child.stderr!.on("data", (d) => {
    err += d;
    partial += d;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const l of lines) if (l.startsWith("{")) events.push(JSON.parse(l));
    for (const w of waiters.splice(0)) w();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = (pred: (e: Event) => boolean, what: string, ms = 15_000) =>
    new Promise<Event>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr:\n${err}`)), ms);
      const check = () => {
        const e = events.find(pred);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else if (child.exitCode !== null) {
          clearTimeout(timer);
          reject(new Error(`exited ${child.exitCode} before ${what}; stderr:\n${err}`));
        } else waiters.push(check);
      };
      check();
    });
  return { child, events, stderr: () => err, waitFor, exited };
}

async function startServe(args: string[] = [], env: Record<string, string> = {}): Promise<Serve> {
  const s = spawnServe(args, env);
  const listening = await s.waitFor((e) => e.event === "listening", "listening");
  await s.waitFor((e) => e.event === "model_loaded", "model_loaded");
  return { ...s, url: `http://127.0.0.1:${listening.port}` };
}

async function predict(url: string, headers: Record<string, string> = {}) {
  const r = await fetch(url + "/predict", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(RIDE) });
  return { status: r.status, id: r.headers.get("x-request-id"), json: (await r.json()) as Json };
}

/** A request whose body is only half sent: in flight until finish() sends the rest. */
function halfSent(url: string, path: string, body: string) {
  const u = new URL(url + path);
  const half = Math.floor(body.length / 2);
  let finish!: () => void;
  const done = new Promise<{ status: number; json: Json }>((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.write(body.slice(0, half));
    finish = () => req.end(body.slice(half));
  });
  return { done, finish: () => finish() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function versioned(version: string): string {
  const { digest: _, ...rest } = ART;
  return serializeArtifact({ ...rest, version });
}

/** Replace a file the way deploy tools do: write aside, rename over. */
function replace(path: string, text: string) {
  writeFileSync(path + ".tmp", text);
  renameSync(path + ".tmp", path);
}

describe("ridepred serve (process)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ridepred-serve-proc-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("SIGTERM: stops accepting, answers every request in flight, exits 0", async () => {
    const s = await startServe();
    const rides = Array.from({ length: 2000 }, (_, i) => ({ ...RIDE, trip_distance: i / 10 }));
    const batch = JSON.stringify(rides);
    const inflight = [
      ...Array.from({ length: 5 }, () => halfSent(s.url, "/predict", JSON.stringify(RIDE))),
      ...Array.from({ length: 3 }, () => halfSent(s.url, "/predict", batch)),
      halfSent(s.url, "/invocations", JSON.stringify({ dataframe_records: rides })),
    ];
    await sleep(300); // the server has the headers and half of each body
    s.child.kill("SIGTERM");
    await s.waitFor((e) => e.event === "shutdown", "shutdown");
    // no new connections once draining
    await expect(fetch(s.url + "/v2/health/live")).rejects.toThrow();
    for (const r of inflight) r.finish();
    const answers = await Promise.all(inflight.map((r) => r.done));
    for (const a of answers.slice(0, 5)) expect(a).toEqual({ status: 200, json: { duration: EXPECTED, model_version: ART.version } });
    for (const a of answers.slice(5, 8)) {
      expect(a.status).toBe(200);
      expect(a.json.map((x: Json) => x.duration)).toEqual(rides.map((r) => predictor.predict(r)));
    }
    expect(answers[8]).toEqual({ status: 200, json: { predictions: rides.map((r) => predictor.predict(r)) } });
    expect(await s.exited).toBe(0);
    expect(s.events.at(-1)).toMatchObject({ event: "stopped" });
  });

  it("--shutdown-timeout: a request that never completes does not hold the process forever (exit 1)", async () => {
    const s = await startServe(["--shutdown-timeout", "1"]);
    const stuck = halfSent(s.url, "/predict", JSON.stringify(RIDE));
    stuck.done.catch(() => undefined); // its connection is cut at exit
    await sleep(300);
    const t0 = Date.now();
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.events.some((e) => e.event === "shutdown_timeout")).toBe(true);
  });

  it("SIGINT exits 0 too", async () => {
    const s = await startServe();
    expect((await predict(s.url)).status).toBe(200);
    s.child.kill("SIGINT");
    expect(await s.exited).toBe(0);
  });

  it("SIGHUP reloads: a good file is swapped in; a bad one is refused, logged, and the old model keeps serving", async () => {
    const path = join(dir, "hup.json");
    writeFileSync(path, ORIGINAL);
    const s = await startServe(["--model", path]);
    expect((await predict(s.url)).json).toEqual({ duration: EXPECTED, model_version: ART.version });

    replace(path, versioned("2021-01.7"));
    s.child.kill("SIGHUP");
    await s.waitFor((e) => e.event === "model_reloaded" && e.version === "2021-01.7", "reload to 2021-01.7");
    expect((await predict(s.url)).json).toEqual({ duration: EXPECTED, model_version: "2021-01.7" });

    replace(path, JSON.stringify({ ...ART, estimator: { ...ART.estimator, intercept: 0 } })); // tampered: digest mismatch
    s.child.kill("SIGHUP");
    const refused = await s.waitFor((e) => e.event === "model_reload_refused", "refusal");
    expect(refused).toMatchObject({ level: 50, serving: "2021-01.7", error: expect.stringMatching(/digest mismatch/) });
    expect((await predict(s.url)).json).toEqual({ duration: EXPECTED, model_version: "2021-01.7" });
    expect((await fetch(s.url + "/v2/health/ready")).status).toBe(200);
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  });

  it("--watch reloads when the file changes, and refuses a broken one", async () => {
    const path = join(dir, "watch.json");
    writeFileSync(path, ORIGINAL);
    const s = await startServe(["--model", path, "--watch"]);
    replace(path, versioned("2021-01.8"));
    await s.waitFor((e) => e.event === "model_reloaded" && e.version === "2021-01.8", "watch reload");
    expect((await predict(s.url)).json.model_version).toBe("2021-01.8");
    replace(path, "{ not json");
    await s.waitFor((e) => e.event === "model_reload_refused", "watch refusal");
    expect((await predict(s.url)).json).toEqual({ duration: EXPECTED, model_version: "2021-01.8" });
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  });

  it("--workers 2: two processes share the port; metrics sum over workers; SIGHUP reaches both; SIGTERM exits 0", async () => {
    const path = join(dir, "workers.json");
    writeFileSync(path, ORIGINAL);
    const s = spawnServe(["--model", path, "--workers", "2"]);
    const listening = await s.waitFor((e) => e.event === "listening", "a worker listening");
    await s.waitFor((e) => e.event === "model_loaded" && e.pid === listening.pid, "model loaded");
    await s.waitFor((e) => e.event === "model_loaded" && e.pid !== listening.pid, "second worker ready");
    const url = `http://127.0.0.1:${listening.port}`;
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await predict(url, { connection: "close" }));
    for (const a of answers) expect(a.json).toEqual({ duration: EXPECTED, model_version: ART.version });
    // request ids start with the answering worker's pid (base 36)
    expect(new Set(answers.map((a) => a.id!.split("-")[0])).size).toBe(2);
    const metrics = await (await fetch(url + "/metrics")).text();
    expect(metrics).toMatch(/^ridepred_http_requests_total\{route="\/predict",method="POST",status="200"\} 20$/m);
    expect(metrics).toMatch(/^ridepred_prediction_value_count 20$/m);
    expect(metrics).toMatch(/ridepred_model_info\{name="ride-duration",version="2021-01.1",digest="sha256:[0-9a-f]+"\} 1$/m);

    replace(path, versioned("2021-01.3"));
    s.child.kill("SIGHUP");
    await s.waitFor((e) => e.event === "model_reloaded" && e.pid === listening.pid, "worker 1 reload");
    await s.waitFor((e) => e.event === "model_reloaded" && e.pid !== listening.pid, "worker 2 reload");
    for (let i = 0; i < 4; i++) expect((await predict(url, { connection: "close" })).json.model_version).toBe("2021-01.3");

    // a worker that dies is replaced; the service keeps answering
    process.kill(listening.pid, "SIGKILL");
    await s.waitFor((e) => e.event === "worker_died" && e.pid === listening.pid, "worker_died");
    const fresh = s.events.filter((e) => e.event === "model_loaded").map((e) => e.pid);
    await s.waitFor((e) => e.event === "model_loaded" && !fresh.slice(0, 2).includes(e.pid), "replacement worker");
    for (let i = 0; i < 4; i++) expect((await predict(url, { connection: "close" })).json).toEqual({ duration: EXPECTED, model_version: "2021-01.3" });
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  });

  it("startup errors: unreadable model exits 2, tampered model exits 1, port in use and bad options exit 2", async () => {
    const missing = spawnServe(["--model", join(dir, "nope.json")]);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toMatch(/ridepred: .*nope\.json: cannot read model: ENOENT/);

    const tampered = join(dir, "tampered.json");
    writeFileSync(tampered, JSON.stringify({ ...ART, version: "x" }));
    for (const extra of [[], ["--workers", "2"]]) {
      const t = spawnServe(["--model", tampered, ...extra]);
      expect(await t.exited).toBe(1);
      expect(t.stderr()).toMatch(/digest mismatch/);
    }
    const busy = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => busy.once("listening", r));
    const taken = String((busy.address() as { port: number }).port);
    for (const extra of [[], ["--workers", "2"]]) {
      const t = spawnServe(["--port", taken, ...extra]);
      expect(await t.exited).toBe(2);
      expect(t.stderr()).toContain(`ridepred: cannot listen on 127.0.0.1:${taken}: the address is already in use`);
      expect(t.stderr()).not.toMatch(/\n\s+at /); // no stack trace
    }
    busy.close();
    const badPort = spawnServe(["--port", "70000"]);
    expect(await badPort.exited).toBe(2);
    expect(badPort.stderr()).toMatch(/--port 70000/);
  });
});

describe("ridepred serve: the byte-level /predict path is opt-in", () => {
  /** The fast path's counter on /metrics: requests it answered off the bytes (null: no series at all). */
  const fastAnswered = async (url: string) => {
    const line = (await (await fetch(url + "/metrics")).text()).split("\n").find((l) => l.startsWith('ridepred_fast_path_total{outcome="answered"}'));
    return line ? Number(line.split(" ").pop()) : null;
  };

  it("off by default (node:http reads every request), on with --fast-path or RIDEPRED_FAST_PATH=on; a bad value exits 2", async () => {
    for (const [args, env, on] of [
      [[], {}, false],
      [[], { RIDEPRED_FAST_PATH: "off" }, false],
      [["--fast-path"], {}, true],
      [[], { RIDEPRED_FAST_PATH: "on" }, true],
    ] as const) {
      const s = await startServe([...args], env);
      const listening = s.events.find((e) => e.event === "listening")!;
      expect(listening.fastPath, JSON.stringify([args, env])).toBe(on);
      const r = await predict(s.url);
      expect(r.status).toBe(200);
      expect(r.json.duration).toBe(EXPECTED);
      expect(await fastAnswered(s.url), JSON.stringify([args, env])).toBe(on ? 1 : null);
      s.child.kill("SIGTERM");
      expect(await s.exited).toBe(0);
    }
    const bad = spawnServe([], { RIDEPRED_FAST_PATH: "yes" });
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('RIDEPRED_FAST_PATH=yes: expected "on" or "off"');
  });
});

describe("README: Web service examples", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Web service"), readme.indexOf("\n## ", readme.indexOf("## Web service") + 5));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.split("\n"));
  const curls: { cmd: string; want: string }[] = [];
  for (const lines of blocks) {
    lines.forEach((l, i) => {
      if (l.startsWith("curl ")) curls.push({ cmd: l, want: lines[i + 1]!.replace(/^# /, "") });
    });
  }

  it("every curl example prints what the README shows, against a real server", async () => {
    expect(curls.length).toBeGreaterThanOrEqual(6);
    const s = await startServe();
    const port = new URL(s.url).port;
    for (const { cmd, want } of curls) {
      const r = spawnSync("bash", ["-c", cmd.replaceAll("localhost:9696", `127.0.0.1:${port}`)], { cwd: ROOT, encoding: "utf8" });
      expect({ cmd, out: r.stdout }).toEqual({ cmd, out: want });
    }
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  });

  it("the serve command lines start as written (on a free port)", async () => {
    const lines = blocks[0]!.filter((l) => l.startsWith("ridepred serve")).map((l) => l.replace(/#.*$/, "").trim());
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const args = line
        .split(/\s+/)
        .slice(2)
        .map((a) => (a === "model.json" ? BUNDLED_MODEL : a));
      const s = await startServe(args);
      expect((await predict(s.url)).json).toEqual({ duration: EXPECTED, model_version: ART.version });
      s.child.kill("SIGTERM");
      expect(await s.exited).toBe(0);
    }
  });
});
