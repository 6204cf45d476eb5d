// Streaming mode without a broker: the event transform, the JSONL pipe (`ridepred stream` spawned for
// real), and the course's Kinesis -> Lambda contract (exported handler and the --lambda-port endpoint).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { compile, type Predictor } from "../src/runtime/predictor.js";
import { importPickleFile } from "../src/sklearn/import.js";
import { eventBatchTransform, eventTransform } from "../src/stream/event.js";
import { kinesisHandler } from "../src/stream/kinesis.js";
import { rideIdText } from "../src/stream/pipeline.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "ridepred");
const { predictor } = loadModel();
const courseEvent = JSON.parse(readFileSync(join(ROOT, "test/fixtures/stream/kinesis-event.json"), "utf8"));
const courseRide = { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 };

// 1,000 real rides from the committed February 2021 sample (ids stored as strings there).
const rows = parse(readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv")), { columns: true }) as Record<string, string>[];
const rides = rows.map((r, i) => ({
  ride: { PULocationID: r.PULocationID, DOLocationID: r.DOLocationID, trip_distance: Number(r.trip_distance) },
  ride_id: i,
}));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-stream-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function runCli(args: string[], input: string) {
  const r = spawnSync(process.execPath, [BIN, "stream", ...args], { input, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("event transform", () => {
  const t = eventTransform(predictor);
  it("turns the course's ride event into the course's prediction event, with the predictor's value", () => {
    const r = t(JSON.stringify({ ride: courseRide, ride_id: 256 }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const expected = { model: "ride-duration", version: predictor.version, prediction: { ride_duration: predictor.predict(courseRide), ride_id: 256 } };
    expect(JSON.parse(r.json)).toStrictEqual(expected);
    expect(r.event).toStrictEqual(expected);
  });
  it("names what is wrong with a bad event instead of throwing", () => {
    const reason = (x: string) => {
      const r = t(x);
      return r.ok ? "ok" : r.reason;
    };
    expect(reason("{nope")).toMatch(/^not valid JSON/);
    expect(reason("[1,2]")).toMatch(/must be a JSON object/);
    expect(reason('{"ride_id": 1}')).toBe('missing "ride"');
    expect(reason(JSON.stringify({ ride: courseRide }))).toBe('missing "ride_id"');
    expect(reason('{"ride": 5, "ride_id": 1}')).toMatch(/^ride: /);
    expect(reason('{"ride": {"PULocationID": 1, "DOLocationID": 2}, "ride_id": 1}')).toBe("ride.trip_distance: is required but missing");
    expect(reason('{"ride": {"PULocationID": {}, "DOLocationID": 2, "trip_distance": 1}, "ride_id": 1}')).toMatch(/^ride\.PULocationID: expected a category/);
  });
});

describe("batch transform (the stream loop's): the per-event transform's answers, one predictColumns call per batch", () => {
  // Real rides with bad events among them, in several places of a batch, each kind of reason.
  const bad = [
    "{nope",
    "[1,2]",
    '{"ride_id": 1}',
    JSON.stringify({ ride: courseRide }),
    '{"ride": 5, "ride_id": 1}',
    '{"ride": [1], "ride_id": 1}',
    '{"ride": {"PULocationID": 1, "DOLocationID": 2}, "ride_id": "x"}',
    '{"ride": {"PULocationID": {}, "DOLocationID": 2, "trip_distance": 1}, "ride_id": 1}',
    '{"ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": "far"}, "ride_id": {"a": 1}}',
    '{"ride": {"PULocationID": "1", "DOLocationID": "2", "trip_distance": 1e400}, "ride_id": null}',
  ];
  const events = rides.map((r) => JSON.stringify(r));
  for (const [i, b] of bad.entries()) events.splice(i * 97 + (i % 3), 0, b);
  events.push(JSON.stringify({ ride: courseRide, ride_id: "256" }), JSON.stringify({ ride: { ...courseRide, extra: 1 }, ride_id: 1.5 }));
  const classifier = compile(importPickleFile(join(ROOT, "test/fixtures/classifiers/HistGradientBoostingClassifier_multiclass.pkl")));
  for (const [name, p] of [
    ["the bundled regressor", predictor],
    ["a multiclass classifier (label and probability)", classifier],
  ] as [string, Predictor][]) {
    it(name, () => {
      const one = eventTransform(p);
      const expected = events.map((e) => {
        const r = one(e);
        return r.ok ? { ok: true, json: r.json, rideId: rideIdText(r.event.prediction.ride_id) } : r;
      });
      expect(expected.filter((r) => !r.ok)).toHaveLength(bad.length);
      const batch = eventBatchTransform(p);
      for (const size of [100, 7, events.length]) {
        const got = [];
        for (let i = 0; i < events.length; i += size) got.push(...batch(events.slice(i, i + size)));
        expect(got).toStrictEqual(expected);
      }
      expect(batch([])).toStrictEqual([]);
      expect(batch(bad)).toStrictEqual(expected.filter((r) => !r.ok));
    });
  }
});

describe("ridepred stream (JSONL pipe)", () => {
  it("answers 1,000 real rides line for line, in order, and reports bad lines on stderr without stopping", () => {
    const lines = rides.map((r) => JSON.stringify(r));
    lines.splice(10, 0, "this is not json"); // line 11
    lines.splice(500, 0, JSON.stringify({ ride: { PULocationID: "1" }, ride_id: "bad" })); // line 501
    lines.splice(700, 0, ""); // blank lines are skipped, not errors
    const r = runCli([], lines.join("\n") + "\n");
    expect(r.code).toBe(0);
    const out = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(out).toHaveLength(rides.length);
    out.forEach((o, i) => {
      expect(o).toStrictEqual({
        model: predictor.name,
        version: predictor.version,
        prediction: { ride_duration: predictor.predict(rides[i]!.ride), ride_id: i },
      });
    });
    const errors = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    expect(errors).toStrictEqual([
      { error: expect.stringMatching(/^not valid JSON/), line: 11, input: "this is not json" },
      { error: "ride.DOLocationID: is required but missing", line: 501, input: lines[500] },
    ]);
    expect(r.stderr).toMatch(/1002 events, 1000 predictions, 2 dead-lettered \(stderr\)/);
  });

  it("--dead-letter FILE collects the error events; --json puts the summary on stderr, keeping stdout for data", () => {
    const dl = join(tmp, "dead.jsonl");
    const input = [JSON.stringify(rides[0]), "{", JSON.stringify(rides[1])].join("\n"); // no final newline
    const r = runCli(["--dead-letter", dl, "--json"], input);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).prediction.ride_id),
    ).toStrictEqual([0, 1]);
    expect(
      readFileSync(dl, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toStrictEqual([{ error: expect.stringMatching(/^not valid JSON/), line: 2, input: "{" }]);
    const summary = JSON.parse(r.stderr.trim().split("\n").pop()!);
    expect(summary).toMatchObject({ mode: "jsonl", model: predictor.name, events: 3, predictions: 2, dead_lettered: 1, dead_letter: dl });
  });

  it("answers each line as it arrives (composes with interactive producers), and stops cleanly at EOF", async () => {
    const child = spawn(process.execPath, [BIN, "stream"], { stdio: ["pipe", "pipe", "pipe"] });
    const out = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    for (const ev of rides.slice(0, 5)) {
      child.stdin!.write(JSON.stringify(ev) + "\n");
      // The answer must come back before the next event is even written.
      const { value } = await out.next();
      expect(JSON.parse(value as string).prediction).toStrictEqual({ ride_duration: predictor.predict(ev.ride), ride_id: ev.ride_id });
    }
    child.stdin!.end();
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
  });

  it("stops quietly when the reader goes away (| head)", () => {
    const line = JSON.stringify({ ride: courseRide, ride_id: 256 });
    const r = spawnSync("sh", ["-c", `yes '${line}' | "${process.execPath}" "${BIN}" stream | head -n 3`], { encoding: "utf8", timeout: 20_000 });
    expect(r.signal).toBeNull(); // did not hang
    const out = r.stdout.split("\n").filter((l) => l.startsWith("{"));
    expect(out).toHaveLength(3);
    expect(r.stderr).not.toMatch(/internal error|EPIPE/);
  });

  it("refuses contradictory options with exit 2", () => {
    expect(runCli(["--from", "redis://127.0.0.1:1/x"], "").code).toBe(2);
    const r = runCli(["--dead-letter", "redis://127.0.0.1:1/x"], "");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --from\/--to/);
    const loop = runCli(["--from", "redis://127.0.0.1:1/rides", "--to", "redis://127.0.0.1:1/rides", "--group", "g"], "");
    expect([loop.code, loop.stderr]).toStrictEqual([2, "ridepred: --to must be another stream than --from (predictions would be read back as events)\n"]);
    expect(runCli(["--batch", "0"], "").stderr).toMatch(/--batch 0: expected a positive integer/);
  });

  it("refuses Redis's --consumer/--claim-idle/--max-deliveries in every other mode with exit 2, naming the mode", () => {
    const kafka = ["--from", "kafka://127.0.0.1:1/t", "--to", "kafka://127.0.0.1:1/u", "--group", "g"];
    const kinesis = ["--from", "kinesis://a", "--to", "kinesis://b", "--checkpoint", join(tmp, "never.json")];
    const cases: [string[], string][] = [
      [
        [...kafka, "--consumer", "w", "--max-deliveries", "3"],
        "ridepred: --consumer, --max-deliveries apply to redis:// only, not to Kafka mode (Kafka's group names its members and redelivers from committed offsets)\n",
      ],
      [[...kinesis, "--claim-idle", "5000"], "ridepred: --claim-idle applies to redis:// only, not to Kinesis mode\n"],
      [["--consumer", "w"], "ridepred: --consumer applies to redis:// only, not to JSONL mode\n"],
      [["--lambda-port", "0", "--max-deliveries", "2"], "ridepred: --max-deliveries applies to redis:// only, not to --lambda-port mode\n"],
    ];
    for (const [args, message] of cases) {
      const r = runCli(args, "");
      expect([r.code, r.stderr, r.stdout], args.join(" ")).toStrictEqual([2, message, ""]);
    }
    // Their defaults alone do not count as given: JSONL mode still runs.
    expect(runCli([], `${JSON.stringify(rides[0])}\n`).code).toBe(0);
  });
});

describe("Kinesis / Lambda", () => {
  const expected = {
    predictions: [{ model: predictor.name, version: predictor.version, prediction: { ride_duration: predictor.predict(courseRide), ride_id: 256 } }],
  };

  it("the handler answers the course's sample Kinesis event with the course's output shape", () => {
    expect(kinesisHandler(predictor)(courseEvent)).toStrictEqual(expected);
  });

  it("keeps good records and reports bad ones when a batch mixes them", () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const event = {
      Records: [
        courseEvent.Records[0],
        { kinesis: { data: b64("not json"), sequenceNumber: "2" } },
        { kinesis: { data: b64(JSON.stringify(rides[3])), sequenceNumber: "3" } },
      ],
    };
    const r = kinesisHandler(predictor)(event);
    expect(r.predictions.map((p) => p.prediction.ride_id)).toStrictEqual([256, 3]);
    expect(r.errors).toStrictEqual([{ index: 1, sequenceNumber: "2", reason: expect.stringMatching(/^not valid JSON/) }]);
    expect(() => kinesisHandler(predictor)({ nope: 1 })).toThrow(/expected a Kinesis event/);
  });

  it('the package export "ridepred/lambda" is a Lambda handler (as the Node.js runtime would call it)', () => {
    const script = `import("ridepred/lambda").then(async (m) => process.stdout.write(JSON.stringify(await m.handler(JSON.parse(process.argv[1]), {}))))`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, JSON.stringify(courseEvent)], { cwd: ROOT, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toStrictEqual(expected);
  });

  describe("ridepred stream --lambda-port", () => {
    let child: ReturnType<typeof spawn>;
    let url: string;
    let stderr = "";
    beforeAll(async () => {
      child = spawn(process.execPath, [BIN, "stream", "--lambda-port", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
      url = await new Promise<string>((resolve, reject) => {
        child.stderr!.on("data", (d) => {
          stderr += d;
          const m = /POST (http:\/\/\S+)/.exec(stderr);
          if (m) resolve(m[1]!);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
    });
    afterAll(() => child.kill("SIGKILL"));

    it("serves the emulator's invoke path and answers the course's test_docker.py request", async () => {
      expect(url).toMatch(/\/2015-03-31\/functions\/function\/invocations$/);
      const res = await fetch(url, { method: "POST", body: JSON.stringify(courseEvent), headers: { "content-type": "application/json" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toStrictEqual(expected);
    });

    it("reports a malformed invocation as a function error, like Lambda's Invoke API", async () => {
      const res = await fetch(url, { method: "POST", body: "{}" });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-amz-function-error")).toBe("Unhandled");
      expect(await res.json()).toMatchObject({ errorMessage: expect.stringMatching(/expected a Kinesis event/), errorType: "TypeError" });
      expect((await fetch(url)).status).toBe(405);
      expect((await fetch(new URL("/other", url))).status).toBe(404);
    });

    it("stops on SIGTERM with a summary of the invocations", async () => {
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      const code = await new Promise((resolve) => {
        child.on("exit", resolve);
        child.kill("SIGTERM");
      });
      expect(code).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ mode: "lambda", model: predictor.name, invocations: 2 });
    });
  });
});
