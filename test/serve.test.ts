// The web service in process: a real fastify server on an ephemeral 127.0.0.1 port, every route, every
// error class, readiness before/after load, hot reload. Predictions are compared with the predictor itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { parse } from "csv-parse/sync";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLED_MODEL, serializeArtifact } from "../src/artifact/io.js";
import type { ModelArtifact } from "../src/artifact/types.js";
import { InputError } from "../src/errors.js";
import { loadModel } from "../src/runtime/load.js";
import { startServer, type RunningServer } from "../src/serve/server.js";
import type { Json } from "./support/json.js";

const SAMPLE = join(import.meta.dirname, "../examples/green_tripdata_2021-02_sample.csv");
const csvText = readFileSync(SAMPLE, "utf8");
const rows = parse(csvText, { columns: true }) as Record<string, string>[];
const { predictor } = loadModel(BUNDLED_MODEL);
// Rides as a backend sends them: ids as integers, distance as a number.
const rides = rows.map((r) => ({ PULocationID: Number(r.PULocationID), DOLocationID: Number(r.DOLocationID), trip_distance: Number(r.trip_distance) }));
const expected = rides.map((r) => predictor.predict(r));
const NAMES = ["PULocationID", "DOLocationID", "trip_distance"] as const;

function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

async function call(s: RunningServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!headers["content-type"]) (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(s.url + path, init);
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Every 4xx/5xx: the envelope, JSON, no stack trace. */
function expectEnvelope(r: { status: number; json: Json; text: string; headers: Headers }, status: number) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  expect(typeof r.json.error).toBe("string");
  expect(Array.isArray(r.json.details)).toBe(true);
  for (const d of r.json.details) {
    expect(typeof d.field).toBe("string");
    expect(typeof d.reason).toBe("string");
  }
  expect(r.text).not.toMatch(/at .*\.(js|ts):\d+|stack/i);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function reasonFor(ride: Record<string, unknown>): { field: string; reason: string } {
  try {
    predictor.predict(ride);
  } catch (e) {
    if (e instanceof InputError) return { field: e.field, reason: e.reason };
  }
  throw new Error("expected the predictor to refuse this ride");
}

describe("ridepred serve: routes", () => {
  let s: RunningServer;
  const log = memoryLogger();
  beforeAll(async () => {
    s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: log.logger, bodyLimit: 256 * 1024 });
  });
  afterAll(() => s?.close());

  it("POST /predict: one ride as the course sends it -> {duration, model_version}, equal to the predictor", async () => {
    for (const i of [0, 1, 2, 500, 999]) {
      const r = await call(s, "POST", "/predict", rides[i]);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ duration: expected[i], model_version: "2021-01.1" });
    }
    // The course's README example
    const r = await call(s, "POST", "/predict", { PULocationID: 10, DOLocationID: 50, trip_distance: 40 });
    expect(r.json.duration).toBe(predictor.predict({ PULocationID: 10, DOLocationID: 50, trip_distance: 40 }));
  });

  it("POST /predict: an array of 1,000 real rides -> an array of results in order", async () => {
    const r = await call(s, "POST", "/predict", rides);
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(1000);
    expect(r.json.map((x: Json) => x.duration)).toEqual(expected);
    expect(new Set(r.json.map((x: Json) => x.model_version))).toEqual(new Set(["2021-01.1"]));
  });

  it("POST /predict answers the same on its node:http fast path as through fastify (inject)", async () => {
    const bodies = [
      JSON.stringify(rides[5]),
      JSON.stringify(rides.slice(0, 50)),
      JSON.stringify({ PULocationID: 10, trip_distance: 4 }),
      JSON.stringify([rides[0], { PULocationID: 1 }, 7]),
      JSON.stringify([rides[0], { PULocationID: 1, DOLocationID: 2, trip_distance: "x" }]),
      "[]",
      "null",
      '"a ride"',
      "{oops",
      "",
    ];
    for (const text of bodies) {
      for (const ct of ["application/json", "application/json; charset=utf-8"]) {
        const viaFast = await call(s, "POST", "/predict", text, { "content-type": ct });
        const viaFastify = await s.app.inject({ method: "POST", url: "/predict", payload: text, headers: { "content-type": ct } });
        expect(viaFast.status, text).toBe(viaFastify.statusCode);
        expect(viaFast.text, text).toBe(viaFastify.body);
        expect(viaFast.headers.get("content-type")).toBe(viaFastify.headers["content-type"]);
        expect(viaFast.headers.get("x-request-id")).toMatch(/\S/);
      }
    }
  });

  it("POST /invocations: every MLflow JSON format and text/csv give the predictor's numbers", async () => {
    const n = 200;
    const want = expected.slice(0, n);
    const sub = rides.slice(0, n);
    const bodies: [string, unknown][] = [
      ["dataframe_split", { dataframe_split: { columns: [...NAMES], data: sub.map((r) => NAMES.map((k) => r[k])) } }],
      [
        "dataframe_split (extra column, other order, index)",
        {
          dataframe_split: {
            index: sub.map((_, i) => i),
            columns: ["trip_distance", "x", "DOLocationID", "PULocationID"],
            data: sub.map((r) => [r.trip_distance, 1, r.DOLocationID, r.PULocationID]),
          },
        },
      ],
      ["dataframe_records", { dataframe_records: sub }],
      ["instances as records", { instances: sub }],
      ["instances as rows in input order", { instances: sub.map((r) => NAMES.map((k) => r[k])) }],
      ["inputs as columns", { inputs: Object.fromEntries(NAMES.map((k) => [k, sub.map((r) => r[k])])) }],
      ["inputs as records, with params", { inputs: sub, params: { anything: 1 } }],
    ];
    const single = await call(s, "POST", "/invocations", { inputs: rides[7] });
    expect(single.json).toEqual({ predictions: [expected[7]] });
    for (const [name, body] of bodies) {
      const r = await call(s, "POST", "/invocations", body);
      expect(r.status, `${name}: ${r.text}`).toBe(200);
      expect(r.json, name).toEqual({ predictions: want });
    }
    // The sample CSV as it is: 21 columns, ids as strings, a header line.
    const r = await call(s, "POST", "/invocations", csvText, { "content-type": "text/csv" });
    expect(r.status, r.text).toBe(200);
    expect(r.json.predictions).toEqual(rows.map((row) => predictor.predict(row)));
    expect(r.json.predictions).toEqual(expected); // "130" and 130 are the same category
  });

  it("KServe V2: server and model metadata, health, infer with columnar tensors and the id echoed", async () => {
    expect((await call(s, "GET", "/v2")).json).toMatchObject({ name: "ridepred", extensions: [] });
    expect(await call(s, "GET", "/v2/health/live")).toMatchObject({ status: 200, json: { live: true } });
    expect(await call(s, "GET", "/v2/health/ready")).toMatchObject({ status: 200, json: { ready: true } });
    const meta = await call(s, "GET", "/v2/models/ride-duration");
    expect(meta.json).toEqual({
      name: "ride-duration",
      versions: ["2021-01.1"],
      platform: "ridepred",
      inputs: [
        { name: "PULocationID", datatype: "BYTES", shape: [-1] },
        { name: "DOLocationID", datatype: "BYTES", shape: [-1] },
        { name: "trip_distance", datatype: "FP64", shape: [-1] },
      ],
      outputs: [{ name: "duration", datatype: "FP64", shape: [-1] }],
    });
    expect((await call(s, "GET", "/v2/models/ride-duration/versions/2021-01.1")).json).toEqual(meta.json);
    expect(await call(s, "GET", "/v2/models/ride-duration/ready")).toMatchObject({ status: 200, json: { name: "ride-duration", ready: true } });
    expect(await call(s, "GET", "/v2/models/ride-duration/versions/2021-01.1/ready")).toMatchObject({ status: 200, json: { ready: true } });

    const n = 100;
    const sub = rides.slice(0, n);
    const body = {
      id: "req-42",
      inputs: [
        { name: "PULocationID", shape: [n], datatype: "INT64", data: sub.map((r) => r.PULocationID) },
        { name: "DOLocationID", shape: [n, 1], datatype: "BYTES", data: sub.map((r) => [String(r.DOLocationID)]) },
        { name: "trip_distance", shape: [n], datatype: "FP64", data: sub.map((r) => r.trip_distance) },
      ],
      outputs: [{ name: "duration" }],
    };
    for (const path of ["/v2/models/ride-duration/infer", "/v2/models/ride-duration/versions/2021-01.1/infer"]) {
      const r = await call(s, "POST", path, body);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({
        model_name: "ride-duration",
        model_version: "2021-01.1",
        id: "req-42",
        outputs: [{ name: "duration", shape: [n], datatype: "FP64", data: expected.slice(0, n) }],
      });
    }
    // Without an id, the response's id is the request id (also in the X-Request-Id header).
    const { id: _, ...noId } = body;
    const r = await call(s, "POST", "/v2/models/ride-duration/infer", noId, { "x-request-id": "trace-7" });
    expect(r.json.id).toBe("trace-7");
    expect(r.headers.get("x-request-id")).toBe("trace-7");
  });

  it("MLflow health and version routes, /openapi.json, /metrics", async () => {
    expect(await call(s, "GET", "/ping")).toMatchObject({ status: 200, json: { status: "ok", version: "2021-01.1" } });
    expect(await call(s, "GET", "/health")).toMatchObject({ status: 200, json: { status: "ok" } });
    const v = await call(s, "GET", "/version");
    expect(v.text).toMatch(/^\d+\.\d+\.\d+/);

    const api = (await call(s, "GET", "/openapi.json")).json;
    expect(api.openapi).toBe("3.1.0");
    for (const p of [
      "/predict",
      "/invocations",
      "/ping",
      "/health",
      "/version",
      "/v2",
      "/v2/health/live",
      "/v2/health/ready",
      "/v2/models/ride-duration",
      "/v2/models/ride-duration/infer",
      "/v2/models/ride-duration/versions/{version}/infer",
      "/metrics",
      "/openapi.json",
    ]) {
      expect(api.paths, p).toHaveProperty([p]);
    }
    expect(api.components.schemas.Ride.required).toEqual([...NAMES]);

    await call(s, "POST", "/predict", rides[3]);
    const m = await call(s, "GET", "/metrics");
    expect(m.headers.get("content-type")).toMatch(/^text\/plain/);
    const value = (re: RegExp) =>
      Number(
        m.text
          .split("\n")
          .find((l) => re.test(l))
          ?.split(" ")
          .pop(),
      );
    expect(value(/^ridepred_http_requests_total\{route="\/predict",method="POST",status="200"\}/)).toBeGreaterThanOrEqual(7);
    expect(value(/^ridepred_http_request_duration_seconds_count\{route="\/predict"\}/)).toBeGreaterThanOrEqual(7);
    // 6 + 1000 from /predict, 7*200 + 1000 from /invocations, 2*100 + 100 from V2, + 1
    expect(value(/^ridepred_prediction_value_count/)).toBeGreaterThanOrEqual(6 + 1000 + 1400 + 1000 + 300 + 1);
    expect(m.text).toMatch(/ridepred_model_info\{name="ride-duration",version="2021-01.1",digest="sha256:[0-9a-f]{64}"\} 1/);
    expect(m.text).toMatch(/^ridepred_model_ready 1$/m);
    expect(m.text).toMatch(/^ridepred_process_cpu_seconds_total/m);
  });
});

describe("ridepred serve: errors are 4xx naming what was wrong, never 500, never a stack", () => {
  let s: RunningServer;
  const log = memoryLogger();
  beforeAll(async () => {
    s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: log.logger, bodyLimit: 64 * 1024 });
  });
  afterAll(() => s?.close());

  it("400: a missing or mistyped input names the field with the predictor's own reason", async () => {
    const cases: Record<string, unknown>[] = [
      { PULocationID: 10, trip_distance: 4 },
      { PULocationID: 10, DOLocationID: 50, trip_distance: "far" },
      { PULocationID: { id: 1 }, DOLocationID: 50, trip_distance: 4 },
      { PULocationID: 10, DOLocationID: 50, trip_distance: null },
      { PULocationID: 10, DOLocationID: [50], trip_distance: 1 },
    ];
    for (const ride of cases) {
      const r = await call(s, "POST", "/predict", ride);
      expectEnvelope(r, 400);
      expect(r.json.details).toEqual([reasonFor(ride)]);
    }
    // JSON's 1e400 parses to Infinity: not a category
    for (const text of ['{"PULocationID":1e400,"DOLocationID":50,"trip_distance":1}', '{"PULocationID":1,"DOLocationID":50,"trip_distance":-1e999}']) {
      const ride = JSON.parse(text);
      const r = await call(s, "POST", "/predict", text);
      expectEnvelope(r, 400);
      expect(r.json.details).toEqual([reasonFor(ride)]);
    }
    const r = await call(s, "POST", "/predict", { PULocationID: 10, trip_distance: 4 });
    expect(r.json.details).toEqual([{ field: "DOLocationID", reason: "is required but missing" }]);
  });

  it("400: a batch names every bad row's index, field and reason", async () => {
    const batch: unknown[] = rides.slice(0, 10).map((r) => ({ ...r }));
    (batch[3] as Record<string, unknown>).trip_distance = "x";
    delete (batch[7] as Record<string, unknown>).PULocationID;
    batch[8] = 5;
    const r = await call(s, "POST", "/predict", batch);
    expectEnvelope(r, 400);
    expect(r.json.details).toEqual([{ row: 8, field: "$", reason: "body[8] must be a JSON object keyed by input name" }]);
    batch[8] = rides[8];
    const r2 = await call(s, "POST", "/predict", batch);
    expectEnvelope(r2, 400);
    expect(r2.json.error).toBe("2 of 10 rows rejected");
    expect(r2.json.details).toEqual([
      { row: 3, ...reasonFor(batch[3] as Record<string, unknown>) },
      { row: 7, field: "PULocationID", reason: "is required but missing" },
    ]);
    const r3 = await call(s, "POST", "/invocations", { dataframe_records: batch });
    expect(r3.json.details).toEqual(r2.json.details);
    // many bad rows: the first 50 are listed, the message says how many in all
    const all = await call(
      s,
      "POST",
      "/predict",
      rides.slice(0, 600).map(({ trip_distance: _, ...r }) => r),
    );
    expectEnvelope(all, 400);
    expect(all.json.error).toBe("600 of 600 rows rejected (600 problems; the first 50 are listed)");
    expect(all.json.details).toHaveLength(50);
    expect(all.json.details[49]).toEqual({ row: 49, field: "trip_distance", reason: "is required but missing" });
  });

  it("400: malformed JSON, wrong shapes, MLflow and V2 structure errors", async () => {
    const bad: [string, string, unknown, (d: Json[]) => void][] = [
      ["POST", "/predict", '{"PULocationID": 10,', (d) => expect(d[0].field).toBe("body")],
      ["POST", "/predict", "42", (d) => expect(d).toEqual([{ field: "body", reason: "got number" }])],
      ["POST", "/invocations", { columns: ["a"], data: [[1]] }, (d) => expect(d[0].reason).toMatch(/got columns, data/)],
      ["POST", "/invocations", { dataframe_records: [], instances: [] }, (d) => expect(d[0].reason).toBe("got dataframe_records and instances")],
      [
        "POST",
        "/invocations",
        { dataframe_split: { columns: [...NAMES], data: [[1, 2]] } },
        (d) => expect(d).toEqual([{ row: 0, field: "dataframe_split.data[0]", reason: "has 2 values but dataframe_split.columns names 3" }]),
      ],
      [
        "POST",
        "/invocations",
        { dataframe_split: { columns: ["PULocationID", "trip_distance"], data: [[1, 2]] } },
        (d) => expect(d).toEqual([{ field: "DOLocationID", reason: "is required but dataframe_split.columns has no such column" }]),
      ],
      ["POST", "/invocations", { dataframe_split: { columns: "PULocationID", data: [] } }, (d) => expect(d[0].field).toBe("dataframe_split.columns")],
      [
        "POST",
        "/invocations",
        { inputs: { PULocationID: [1, 2], DOLocationID: [1], trip_distance: [1, 2] } },
        (d) => expect(d[0]).toEqual({ field: "inputs.DOLocationID", reason: "has 1 values but the columns before it have 2" }),
      ],
      ["POST", "/invocations", { instances: [[1, 2]] }, (d) => expect(d[0]).toMatchObject({ row: 0, field: "instances[0]" })],
      ["POST", "/invocations", { inputs: "x" }, (d) => expect(d[0]).toEqual({ field: "inputs", reason: "got string" })],
      ["POST", "/v2/models/ride-duration/infer", { inputs: [] }, (d) => expect(d[0].field).toBe("inputs")],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        { inputs: [{ name: "PULocationID", datatype: "INT64", data: [1] }] },
        (d) => expect(d).toContainEqual({ field: "inputs[0].shape", reason: "is required" }),
      ],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        { inputs: [{ name: "PULocationID", shape: [2], datatype: "INT64", data: [1] }] },
        (d) => expect(d[0]).toEqual({ field: "inputs[0].data", reason: "has 1 values but shape [2] says 2" }),
      ],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        { inputs: [{ name: "PULocationID", shape: [1, 3], datatype: "INT64", data: [1, 2, 3] }] },
        (d) => expect(d[0].field).toBe("inputs[0].shape"),
      ],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        { inputs: [{ name: "PULocationID", shape: [1], datatype: "INT64", data: [1] }] },
        (d) => expect(d.map((x) => x.field)).toEqual(["DOLocationID", "trip_distance"]),
      ],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        {
          inputs: [
            { name: "PULocationID", shape: [1], datatype: "INT64", data: [1] },
            { name: "DOLocationID", shape: [1], datatype: "INT64", data: [1] },
            { name: "trip_distance", shape: [1], datatype: "BYTES", data: ["far"] },
          ],
        },
        (d) => expect(d).toEqual([{ row: 0, ...reasonFor({ PULocationID: 1, DOLocationID: 1, trip_distance: "far" }) }]),
      ],
      [
        "POST",
        "/v2/models/ride-duration/infer",
        { inputs: [{ name: "PULocationID", shape: [1], datatype: "INT64", data: [1] }], outputs: [{ name: "eta" }] },
        (d) => expect(d[0].reason).toMatch(/no "eta"/),
      ],
    ];
    for (const [method, path, body, check] of bad) {
      const r = await call(s, method, path, body);
      expectEnvelope(r, 400);
      check(r.json.details);
    }
    const csv = await call(s, "POST", "/invocations", "PULocationID,trip_distance\n1,2\n", { "content-type": "text/csv" });
    expectEnvelope(csv, 400);
    expect(csv.json.details).toEqual([{ field: "DOLocationID", reason: "is required but the CSV header has no such column" }]);
    const ragged = await call(s, "POST", "/invocations", "PULocationID,DOLocationID,trip_distance\n1,2\n", { "content-type": "text/csv" });
    expectEnvelope(ragged, 400);
    expect(ragged.json.error).toBe("malformed CSV");
  });

  it("413 for a body over the limit; 415 for an unsupported content type", async () => {
    const big = await call(s, "POST", "/predict", rides.concat(rides, rides));
    expectEnvelope(big, 413);
    expect(big.json.details[0]).toEqual({ field: "body", reason: "exceeds the limit of 65536 bytes" });
    const bigCsv = await call(s, "POST", "/invocations", csvText, { "content-type": "text/csv" });
    expectEnvelope(bigCsv, 413);
    // chunked, no content-length: counted as it arrives
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode(i ? "," + JSON.stringify(rides[i]) : "[" + JSON.stringify(rides[i])));
        c.enqueue(new TextEncoder().encode("]".padStart(70_000)));
        c.close();
      },
    });
    const chunked = await fetch(s.url + "/predict", {
      method: "POST",
      body: chunks,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toEqual(big.json);

    for (const [path, ct] of [
      ["/predict", "text/plain"],
      ["/predict", "text/csv"],
      ["/predict", "application/x-www-form-urlencoded"],
      ["/invocations", "application/xml"],
      ["/v2/models/ride-duration/infer", "text/csv"],
    ]) {
      const r = await call(s, "POST", path!, "PULocationID=1", { "content-type": ct! });
      expectEnvelope(r, 415);
      expect(r.json.details[0].field).toBe("content-type");
      expect(r.json.details[0].reason).toContain(ct);
    }
  });

  it("404 for unknown routes, models and versions; 405 with Allow for a wrong method", async () => {
    expectEnvelope(await call(s, "GET", "/nope"), 404);
    const m = await call(s, "GET", "/v2/models/other");
    expectEnvelope(m, 404);
    expect(m.json.details).toEqual([{ field: "name", reason: 'this server serves "ride-duration"' }]);
    expectEnvelope(await call(s, "POST", "/v2/models/other/infer", { inputs: [{ name: "a", shape: [1], datatype: "FP64", data: [1] }] }), 404);
    const v = await call(s, "GET", "/v2/models/ride-duration/versions/9/ready");
    expectEnvelope(v, 404);
    expect(v.json.details[0].field).toBe("version");

    for (const [method, path, allow] of [
      ["GET", "/predict", "POST"],
      ["HEAD", "/invocations", "POST"],
      ["PUT", "/predict", "POST"],
      ["DELETE", "/invocations", "POST"],
      ["POST", "/ping", "GET, HEAD"],
      ["POST", "/v2/health/ready", "GET, HEAD"],
      ["GET", "/v2/models/ride-duration/infer", "POST"],
      ["PATCH", "/metrics", "GET, HEAD"],
    ]) {
      // with a body of a type the route would refuse: the method is reported, not the content type
      const r = await call(
        s,
        method!,
        path!,
        method === "GET" || method === "HEAD" ? undefined : "x",
        method === "GET" || method === "HEAD" ? {} : { "content-type": "text/plain" },
      );
      if (method === "HEAD")
        expect(r.status).toBe(405); // no body to check
      else expectEnvelope(r, 405);
      expect(r.headers.get("allow")).toBe(allow);
    }
  });

  it("POST /predict: many requests in flight at once, each response with its own id, length and no Connection: close", async () => {
    // Answered on node:http before fastify: nothing of one response may show in another.
    const sent = Array.from({ length: 60 }, (_, i) => ({ id: `req-${i}`, body: i % 3 === 0 ? rides.slice(0, i + 1) : rides[i]! }));
    const got = await Promise.all(sent.map(({ id, body }) => call(s, "POST", "/predict", body, { "x-request-id": id })));
    got.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.headers.get("x-request-id")).toBe(sent[i]!.id);
      expect(Number(r.headers.get("content-length"))).toBe(Buffer.byteLength(r.text));
      expect(r.headers.get("connection")).not.toBe("close");
      expect(r.json).toEqual(
        i % 3 === 0
          ? expected.slice(0, i + 1).map((d) => ({ duration: d, model_version: "2021-01.1" }))
          : { duration: expected[i], model_version: "2021-01.1" },
      );
    });
  });

  it("logs are JSON with the request id; a caller's X-Request-Id is kept", async () => {
    const r = await call(s, "POST", "/predict", { PULocationID: 1 }, { "x-request-id": "abc-123" });
    expect(r.headers.get("x-request-id")).toBe("abc-123");
    const line = log.lines.find((l) => l.reqId === "abc-123");
    expect(line).toMatchObject({ msg: "request rejected", status: 400 });
    // generated ids are unique
    const ids = await Promise.all([1, 2, 3].map(async () => (await fetch(s.url + "/v2/health/live")).headers.get("x-request-id")));
    expect(new Set(ids).size).toBe(3);
    expect(log.lines.some((l) => l.level === 50)).toBe(false); // nothing above was a server error
  });
});

describe("ridepred serve: draining", () => {
  it("finishes the request in flight; a request after it on the same connection gets 503 and the connection closes", async () => {
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }) });
    const body = JSON.stringify({ instances: [rides[2]] });
    const socket = connect(s.port, "127.0.0.1");
    let raw = "";
    socket.on("data", (d) => (raw += d));
    const ended = new Promise((r) => socket.on("close", r));
    socket.write(`POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    await sleep(100);
    const closed = s.close();
    await sleep(100);
    socket.write(body.slice(10) + "GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n");
    await ended;
    await closed;
    const [first, second] = raw.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(first!.slice(first!.indexOf("\r\n\r\n") + 4))).toEqual({ predictions: [expected[2]] });
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(second!.slice(second!.indexOf("\r\n\r\n") + 4))).toEqual({
      error: "server is shutting down",
      details: [{ field: "server", reason: "retry on another instance" }],
    });
  });
});

describe("ridepred serve: --log-level debug", () => {
  it("logs one JSON line per request with its id, on both the fast path and fastify", async () => {
    const lines: Json[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
        cb();
      },
    });
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "debug" }, stream) });
    try {
      await call(s, "POST", "/predict", rides[0], { "x-request-id": "fast-1" });
      await call(s, "GET", "/v2/health/ready", undefined, { "x-request-id": "slow-1" });
      expect(lines.find((l) => l.reqId === "fast-1" && l.msg === "request")).toMatchObject({ level: 20, method: "POST", url: "/predict", status: 200 });
      expect(lines.find((l) => l.reqId === "slow-1" && l.msg === "request")).toMatchObject({ level: 20, method: "GET", url: "/v2/health/ready", status: 200 });
    } finally {
      await s.close();
    }
  });
});

describe("ridepred serve: a server-side fault", () => {
  it("is a 500 with a generic message; the stack goes to the log, not to the client", async () => {
    const log = memoryLogger();
    const real = loadModel(BUNDLED_MODEL);
    const broken = {
      ...real,
      predictor: {
        ...real.predictor,
        predict: (): number => {
          throw new Error("secret internal detail");
        },
        predictColumns: (): never => {
          throw new Error("secret internal detail");
        },
      },
    };
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: log.logger, load: () => broken });
    try {
      for (const [path, body] of [
        ["/predict", rides[0]],
        ["/predict", [rides[0]]],
        ["/invocations", { instances: [rides[0]] }],
      ] as const) {
        const r = await call(s, "POST", path, body);
        expectEnvelope(r, 500);
        expect(r.json).toEqual({ error: "internal error", details: [] });
        expect(r.text).not.toContain("secret");
      }
      const errors = log.lines.filter((l) => l.level === 50);
      expect(errors).toHaveLength(3);
      for (const e of errors) expect((e.err as { stack: string }).stack).toContain("secret internal detail");
    } finally {
      await s.close();
    }
  });
});

describe("ridepred serve: readiness and hot reload", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ridepred-serve-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("not ready (503) until the model has loaded and reproduced its golden examples; live meanwhile", async () => {
    const s = await startServer({ model: BUNDLED_MODEL, port: 0, logger: pino({ level: "silent" }), autoload: false });
    try {
      expect(await call(s, "GET", "/v2/health/live")).toMatchObject({ status: 200, json: { live: true } });
      expect(await call(s, "GET", "/v2/health/ready")).toMatchObject({ status: 503, json: { ready: false } });
      expect(await call(s, "GET", "/v2/models/ride-duration/ready")).toMatchObject({ status: 503, json: { ready: false } });
      expect((await call(s, "GET", "/ping")).status).toBe(503);
      expect((await call(s, "GET", "/health")).json).toMatchObject({ status: "loading" });
      const p = await call(s, "POST", "/predict", rides[0]);
      expectEnvelope(p, 503);
      expect(p.json.error).toBe("model not loaded yet");
      expectEnvelope(await call(s, "POST", "/invocations", { instances: [rides[0]] }), 503);
      expect((await call(s, "GET", "/metrics")).text).toMatch(/^ridepred_model_ready 0$/m);

      s.loadInitial();
      expect(await call(s, "GET", "/v2/health/ready")).toMatchObject({ status: 200, json: { ready: true } });
      expect((await call(s, "GET", "/ping")).status).toBe(200);
      expect((await call(s, "POST", "/predict", rides[0])).json.duration).toBe(expected[0]);
    } finally {
      await s.close();
    }
  });

  it("a model whose golden examples do not reproduce never becomes ready", async () => {
    const art = JSON.parse(readFileSync(BUNDLED_MODEL, "utf8")) as ModelArtifact;
    const { digest: _, ...rest } = art;
    const wrong = join(dir, "wrong.json");
    const estimator = { ...art.estimator, intercept: (art.estimator as { intercept: number }).intercept + 1 } as ModelArtifact["estimator"];
    writeFileSync(wrong, serializeArtifact({ ...rest, estimator }));
    await expect(startServer({ model: wrong, port: 0, logger: pino({ level: "silent" }) })).rejects.toThrow(/golden example 0 does not reproduce/);
  });

  it("under load, every answer comes wholly from one model: its version and its numbers agree", async () => {
    // Model B: intercept + 1, golden outputs moved with it, so it verifies and predicts differently.
    const art = JSON.parse(readFileSync(BUNDLED_MODEL, "utf8")) as ModelArtifact;
    const { digest: _, ...rest } = art;
    const est = art.estimator as { intercept: number };
    const bText = serializeArtifact({
      ...rest,
      version: "B",
      estimator: { ...art.estimator, intercept: est.intercept + 1 } as ModelArtifact["estimator"],
      examples: { ...art.examples, cases: art.examples.cases.map((c) => ({ ...c, output: c.output + 1 })) },
    });
    const aPath = join(dir, "a.json");
    const bPath = join(dir, "b.json");
    writeFileSync(aPath, readFileSync(BUNDLED_MODEL, "utf8"));
    writeFileSync(bPath, bText);
    const byVersion = new Map([
      ["2021-01.1", loadModel(aPath).predictor],
      ["B", loadModel(bPath).predictor],
    ]);
    const s = await startServer({ model: aPath, port: 0, logger: pino({ level: "silent" }) });
    try {
      const seen = new Set<string>();
      const one = async (i: number) => {
        const ride = rides[i % rides.length]!;
        const r =
          i % 2
            ? await call(s, "POST", "/predict", ride)
            : await call(s, "POST", "/v2/models/ride-duration/infer", {
                inputs: NAMES.map((k) => ({ name: k, shape: [1], datatype: "BYTES", data: [ride[k]] })),
              });
        return { ride, r };
      };
      // Waves of requests with a model swap between them while they are in flight.
      const pending: Promise<{ ride: (typeof rides)[number]; r: Awaited<ReturnType<typeof call>> }>[] = [];
      for (let wave = 0; wave < 8; wave++) {
        for (let i = 0; i < 30; i++) pending.push(one(wave * 30 + i));
        await sleep(5);
        expect(s.reload(wave % 2 ? aPath : bPath).ok).toBe(true);
      }
      const answers = await Promise.all(pending);
      for (const { ride, r } of answers) {
        expect(r.status).toBe(200);
        const version = r.json.model_version as string;
        const y = "duration" in r.json ? r.json.duration : r.json.outputs[0].data[0];
        seen.add(version);
        expect(y).toBe(byVersion.get(version)!.predict(ride));
      }
      expect(seen).toEqual(new Set(["2021-01.1", "B"]));
    } finally {
      await s.close();
    }
  });

  it("reload swaps in a verified model atomically; an invalid file is refused and the old model keeps serving", async () => {
    const path = join(dir, "model.json");
    const original = readFileSync(BUNDLED_MODEL, "utf8");
    writeFileSync(path, original);
    const log = memoryLogger();
    const s = await startServer({ model: path, port: 0, logger: log.logger });
    try {
      const version = async () => (await call(s, "POST", "/predict", rides[0])).json;
      expect(await version()).toEqual({ duration: expected[0], model_version: "2021-01.1" });

      // refused: garbage, a tampered file (digest mismatch), a model failing its golden examples
      const art = JSON.parse(original) as ModelArtifact;
      const { digest: _, ...rest } = art;
      const tampered = JSON.stringify({ ...art, version: "evil" });
      const failing = serializeArtifact({ ...rest, version: "2021-01.9", estimator: { ...art.estimator, intercept: 99 } as ModelArtifact["estimator"] });
      for (const [text, why] of [
        ["{not json", /not valid JSON/],
        [tampered, /digest mismatch/],
        [failing, /golden example/],
      ] as const) {
        writeFileSync(path, text);
        const r = s.reload();
        expect(r.ok).toBe(false);
        expect(r.error).toMatch(why);
        expect(r.version).toBe("2021-01.1");
        expect(await version()).toEqual({ duration: expected[0], model_version: "2021-01.1" });
        expect(log.lines.at(-1)).toMatchObject({ event: "model_reload_refused", serving: "2021-01.1" });
      }
      rmSync(path);
      expect(s.reload()).toMatchObject({ ok: false, error: expect.stringMatching(/cannot read model: ENOENT/) });
      expect((await call(s, "GET", "/v2/health/ready")).json).toEqual({ ready: true });

      // accepted: a new version (same numbers, new version string)
      writeFileSync(path, serializeArtifact({ ...rest, version: "2021-01.2" }));
      expect(s.reload()).toMatchObject({ ok: true, version: "2021-01.2" });
      expect(await version()).toEqual({ duration: expected[0], model_version: "2021-01.2" });
      expect((await call(s, "GET", "/v2/models/ride-duration")).json.versions).toEqual(["2021-01.2"]);
      const m = (await call(s, "GET", "/metrics")).text;
      expect(m).toMatch(/ridepred_model_reloads_total\{result="refused"\} 4/);
      expect(m).toMatch(/ridepred_model_reloads_total\{result="ok"\} 1/);
      expect(m).toMatch(/ridepred_model_info\{name="ride-duration",version="2021-01.2"/);
      expect(m).not.toMatch(/version="2021-01.1"/);
    } finally {
      await s.close();
    }
  });
});
