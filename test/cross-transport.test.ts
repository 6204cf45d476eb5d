// One coercion rule on every path (src/runtime/coerce.ts): the 1,000 real sample rides, with their zone
// ids written in every integral form (130, 130.0, "130", "130.0", "+130", "0130", 130.00 as CSV text),
// scored through every transport, give the same numbers bit for bit as predictor.predict on the canonical
// ride ({"PULocationID": "130", ...}): score (CSV, JSONL, Parquet with string and with DOUBLE ids),
// /predict (node:http and --fast-path; one ride and arrays), /invocations (every JSON layout and text/csv),
// V2 infer, stream (JSONL, Redis Streams, the Lambda endpoint).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parquetSink } from "../src/io/parquet-write.js";
import { loadModel } from "../src/runtime/load.js";
import { freePort } from "./support/net.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const { predictor } = loadModel();
const sample = parse(readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv")), { columns: true }) as Record<string, string>[];
const N = sample.length;
const rides = sample.map((r) => ({ PULocationID: r.PULocationID!, DOLocationID: r.DOLocationID!, trip_distance: r.trip_distance! }));
/** The reference: the canonical ride (ids as the vocabulary writes them, the distance as a number). */
const expected = rides.map((r) => predictor.predict({ PULocationID: r.PULocationID, DOLocationID: r.DOLocationID, trip_distance: Number(r.trip_distance) }));

// Zone id forms, rotated over rows (offset per field so that PU and DO differ within a row).
const csvForms = [(v: string) => v, (v: string) => `${v}.0`, (v: string) => `"${v}"`, (v: string) => `+${v}`, (v: string) => `0${v}`, (v: string) => `${v}.00`];
const jsonForms = [
  (v: string) => v,
  (v: string) => `${v}.0`,
  (v: string) => `"${v}"`,
  (v: string) => `"${v}.0"`,
  (v: string) => `"+${v}"`,
  (v: string) => `"0${v}"`,
];
const form = <T>(forms: T[], i: number, field: number): T => forms[(i + 2 * field) % forms.length]!;
/** Ride i as JSON text, ids in this row's forms (130.0 written as such: JSON.stringify would print 130). */
const rideJson = (i: number) => {
  const r = rides[i]!;
  return `{"PULocationID":${form(jsonForms, i, 0)(r.PULocationID)},"DOLocationID":${form(jsonForms, i, 1)(r.DOLocationID)},"trip_distance":${r.trip_distance}}`;
};
const csvText = () =>
  "PULocationID,DOLocationID,trip_distance\n" +
  rides.map((r, i) => `${form(csvForms, i, 0)(r.PULocationID)},${form(csvForms, i, 1)(r.DOLocationID)},${r.trip_distance}`).join("\n") +
  "\n";

/** Bit-for-bit equality, row by row, naming the first row that differs. */
function same(label: string, got: ArrayLike<number>): void {
  expect(got.length, label).toBe(N);
  for (let i = 0; i < N; i++)
    if (!Object.is(got[i], expected[i]))
      expect({ label, row: i, ride: rideJson(i), got: got[i] }).toStrictEqual({ label, row: i, ride: rideJson(i), got: expected[i] });
}

/** True once something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

let tmp: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-xt-"));
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: "utf8", cwd: tmp, env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 1 << 26 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** Predictions of a `ridepred score` run, read from its JSONL output in row order. */
function scored(input: string, extra: string[] = []): number[] {
  const out = join(tmp, `out-${Math.random().toString(36).slice(2)}.jsonl`);
  cli(["score", input, "-o", out, "--columns", "PULocationID,DOLocationID,predicted_duration", ...extra]);
  const lines = readFileSync(out, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  // The ids written out are the canonical categories the model saw.
  expect(lines.map((o) => [o.PULocationID, o.DOLocationID])).toStrictEqual(rides.map((r) => [r.PULocationID, r.DOLocationID]));
  return lines.map((o) => o.predicted_duration);
}

describe("ridepred score", () => {
  it('CSV, with ids as 130, 130.0, "130", +130, 0130, 130.00', () => {
    writeFileSync(join(tmp, "rides.csv"), csvText());
    same("score CSV", scored(join(tmp, "rides.csv")));
  });
  it('JSONL, with ids as numbers (130, 130.0) and strings ("130", "130.0", "+130", "0130")', () => {
    writeFileSync(join(tmp, "rides.jsonl"), rides.map((_, i) => rideJson(i)).join("\n") + "\n");
    same("score JSONL", scored(join(tmp, "rides.jsonl")));
  });
  it("Parquet, with ids as strings in every form and as DOUBLE", async () => {
    for (const kind of ["string", "double"] as const) {
      const path = join(tmp, `rides-${kind}.parquet`);
      const sink = parquetSink(path, [
        { name: "PULocationID", kind },
        { name: "DOLocationID", kind },
        { name: "trip_distance", kind: "double" },
      ]);
      const ids = (field: 0 | 1) =>
        rides.map((r, i) => {
          const v = field === 0 ? r.PULocationID : r.DOLocationID;
          return kind === "double" ? Number(v) : JSON.parse(`"${form(jsonForms, i, field)(v).replaceAll('"', "")}"`);
        });
      const values = [ids(0), ids(1), Float64Array.from(rides, (r) => Number(r.trip_distance))];
      await sink.write({ n: N, values: values.map((v) => (kind === "double" && Array.isArray(v) ? Float64Array.from(v) : v)) });
      await sink.finish();
      same(`score Parquet (${kind} ids)`, scored(path));
    }
  });
});

describe("the library (src/index.ts)", () => {
  it("predictRides on the rides parsed from JSON, and predictor.predict one by one", async () => {
    const { predictRides } = await import("../src/index.js");
    const parsed = rides.map((_, i) => JSON.parse(rideJson(i)) as Record<string, unknown>);
    const batch = predictRides(predictor, parsed);
    expect(batch.errors).toStrictEqual([]);
    same("predictRides", batch.predictions);
    same(
      "predict",
      parsed.map((r) => predictor.predict(r)),
    );
  });
});

describe("ridepred stream", () => {
  const events = () => rides.map((_, i) => `{"ride":${rideJson(i)},"ride_id":${i}}`);
  const byId = (out: { prediction: { ride_id: number; ride_duration: number } }[]) => {
    const y = new Array<number>(N);
    for (const o of out) y[o.prediction.ride_id] = o.prediction.ride_duration;
    return y;
  };

  it("JSONL on stdin", () => {
    const out = cli(["stream"], events().join("\n") + "\n");
    same(
      "stream JSONL",
      byId(
        out
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l)),
      ),
    );
  });

  it("the Lambda endpoint (Kinesis records, base64 event JSON)", async () => {
    const child = spawn(process.execPath, [BIN, "stream", "--lambda-port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    children.push(child);
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on("data", (d) => {
        err += d;
        const m = /POST (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const Records = events().map((e, i) => ({ kinesis: { data: Buffer.from(e).toString("base64"), sequenceNumber: String(i) } }));
    const res = await fetch(url, { method: "POST", body: JSON.stringify({ Records }) });
    const body = (await res.json()) as { predictions: { prediction: { ride_id: number; ride_duration: number } }[]; errors?: unknown };
    expect(body.errors).toBeUndefined();
    same("stream Lambda", byId(body.predictions));
    child.kill("SIGTERM");
  });

  const haveRedis = spawnSync("redis-server", ["--version"]).status === 0;
  it.skipIf(!haveRedis)("Redis Streams", async () => {
    const port = await freePort();
    const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    children.push(server);
    const redis = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 50 });
    redis.on("error", () => {});
    try {
      for (let t = Date.now(); !(await listening(port)); ) {
        if (Date.now() - t > 10_000) throw new Error("redis-server did not start");
        await new Promise((r) => setTimeout(r, 50));
      }
      await redis.connect();
      const p = redis.pipeline();
      for (const e of events()) p.xadd("rides", "*", "data", e);
      await p.exec();
      const url = (s: string) => `redis://127.0.0.1:${port}/${s}`;
      const consumer = spawn(process.execPath, [BIN, "stream", "--from", url("rides"), "--to", url("predictions"), "--group", "g"], { stdio: "ignore" });
      children.push(consumer);
      for (let t = Date.now(); (await redis.xlen("predictions")) < N; ) {
        if (Date.now() - t > 60_000) throw new Error("timed out waiting for the predictions");
        await new Promise((r) => setTimeout(r, 50));
      }
      consumer.kill("SIGTERM");
      const entries = (await redis.xrange("predictions", "-", "+")) as [string, string[]][];
      same("stream Redis", byId(entries.map(([, f]) => JSON.parse(f[f.indexOf("data") + 1]!))));
      expect(await redis.xlen("rides:dead-letter")).toBe(0);
    } finally {
      redis.disconnect();
      server.kill("SIGKILL");
    }
  });
});

describe.each([
  ["node:http", []],
  ["--fast-path", ["--fast-path"]],
])("ridepred serve (%s)", (_name, flags) => {
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, "serve", "--port", String(port), ...flags], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, RIDEPRED_FAST_PATH: "" },
    });
    children.push(child);
    child.stderr!.resume();
    base = `http://127.0.0.1:${port}`;
    for (let t = Date.now(); ; ) {
      const ok = await fetch(base + "/health").then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() - t > 20_000 || child.exitCode !== null) throw new Error("ridepred serve did not become ready");
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const post = async (path: string, body: string, type = "application/json") => {
    const res = await fetch(base + path, { method: "POST", headers: { "content-type": type }, body });
    // biome-ignore lint/suspicious/noExplicitAny: each route's answer is read by its own test
    const json = (await res.json()) as any;
    expect(res.status, JSON.stringify(json).slice(0, 500)).toBe(200);
    return json;
  };

  it("POST /predict, one ride per request", async () => {
    const y = new Array<number>(N);
    // 8 connections at a time, each ride its own request
    for (let i = 0; i < N; i += 8) {
      await Promise.all(rides.slice(i, i + 8).map(async (_, k) => (y[i + k] = (await post("/predict", rideJson(i + k))).duration)));
    }
    same("/predict", y);
  });
  it("POST /predict, an array of rides", async () => {
    same(
      "/predict array",
      ((await post("/predict", `[${rides.map((_, i) => rideJson(i)).join(",")}]`)) as { duration: number }[]).map((o) => o.duration),
    );
  });
  it("POST /invocations: dataframe_split, dataframe_records, instances, inputs (columns), text/csv", async () => {
    const rowsJson = rides.map((_, i) => rideJson(i));
    const split = `{"dataframe_split":{"columns":["PULocationID","DOLocationID","trip_distance"],"data":[${rides.map((r, i) => `[${form(jsonForms, i, 0)(r.PULocationID)},${form(jsonForms, i, 1)(r.DOLocationID)},${r.trip_distance}]`).join(",")}]}}`;
    same("/invocations dataframe_split", (await post("/invocations", split)).predictions);
    same("/invocations dataframe_records", (await post("/invocations", `{"dataframe_records":[${rowsJson.join(",")}]}`)).predictions);
    same("/invocations instances (objects)", (await post("/invocations", `{"instances":[${rowsJson.join(",")}]}`)).predictions);
    const cols = `{"inputs":{"PULocationID":[${rides.map((r, i) => form(jsonForms, i, 0)(r.PULocationID)).join(",")}],"DOLocationID":[${rides.map((r, i) => form(jsonForms, i, 1)(r.DOLocationID)).join(",")}],"trip_distance":[${rides.map((r) => r.trip_distance).join(",")}]}}`;
    same("/invocations inputs (columns)", (await post("/invocations", cols)).predictions);
    same("/invocations text/csv", (await post("/invocations", csvText(), "text/csv")).predictions);
  });
  it("POST /v2/models/NAME/infer", async () => {
    const tensor = (name: string, datatype: string, data: string[]) => `{"name":"${name}","shape":[${N}],"datatype":"${datatype}","data":[${data.join(",")}]}`;
    const body = `{"inputs":[${tensor(
      "PULocationID",
      "BYTES",
      rides.map((r, i) => form(jsonForms, i, 0)(r.PULocationID)),
    )},${tensor(
      "DOLocationID",
      "BYTES",
      rides.map((r, i) => form(jsonForms, i, 1)(r.DOLocationID)),
    )},${tensor(
      "trip_distance",
      "FP64",
      rides.map((r) => r.trip_distance),
    )}]}`;
    same("V2 infer", (await post(`/v2/models/${predictor.name}/infer`, body)).outputs[0].data);
  });
});
