// A classifier through every transport, named as runtime/outputs.ts says: score's predicted_<target> and
// proba_<class> columns (no actual_duration/diff), /predict's {"<target>": label, "probabilities"}, MLflow's
// labels, V2's "predict" and "predict_proba", stream events' "ride_<target>" and "ride_<target>_probability".
// The bundled tip model (models/tip.json, examples/train/train_tip.py) and a multiclass fixture with string labels.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { startServer, type RunningServer } from "../src/serve/server.js";
import type { Json } from "./support/json.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "ridepred");
const TIP = join(ROOT, "models", "tip.json");
const SAMPLE = join(ROOT, "examples", "green_tripdata_2021-02_sample.csv");
const rows = parse(readFileSync(SAMPLE, "utf8"), { columns: true }) as Record<string, string>[];
const rides = rows.map((r) => ({ PULocationID: Number(r.PULocationID), DOLocationID: Number(r.DOLocationID), trip_distance: Number(r.trip_distance) }));
const tip = loadModel(TIP).predictor;
const tipOf = (ride: Record<string, unknown>) => {
  const { index, probabilities } = tip.classify(ride);
  return { label: [false, true][index]!, p: Array.from(probabilities) };
};

const tmp = mkdtempSync(join(tmpdir(), "ridepred-classify-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", input, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the bundled tip model", () => {
  it("is a real classifier trained on 2021-01 card-paid rides, and proves its golden examples", () => {
    const a = tip.artifact;
    expect(a.target).toEqual({ name: "tipped", unit: "class" });
    expect(a.classifier).toEqual({ classes: [false, true], class_names: ["False", "True"], link: "logistic", decision: "raw" });
    expect(a.examples.cases.length).toBe(44);
    expect(a.examples.cases.every((c) => c.probabilities && typeof c.output === "boolean")).toBe(true);
    const v = cli(["verify", TIP]);
    expect(v.code, v.stderr).toBe(0);
  });
});

describe("score", () => {
  it("writes predicted_tipped and proba_False/proba_True, and no actual_duration or diff", () => {
    const out = join(tmp, "tips.csv");
    const r = cli(["score", SAMPLE, "-o", out, "--model", TIP, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const got = parse(readFileSync(out, "utf8"), { columns: true }) as Record<string, string>[];
    expect(Object.keys(got[0]!)).toEqual([
      "ride_id",
      "pickup_datetime",
      "PULocationID",
      "DOLocationID",
      "predicted_tipped",
      "proba_False",
      "proba_True",
      "model_version",
    ]);
    expect(got.length).toBe(1000);
    got.forEach((row, i) => {
      const want = tipOf(rides[i]!);
      expect(row.predicted_tipped).toBe(want.label ? "True" : "False");
      expect(Number(row.proba_False)).toBe(want.p[0]);
      expect(Number(row.proba_True)).toBe(want.p[1]);
    });
    const summary = JSON.parse(r.stdout);
    expect(summary.predictions).toBeNull();
    expect(summary.classes.False + summary.classes.True).toBe(1000);
    // --columns names them too; diff needs a duration model.
    const picked = cli(["score", SAMPLE, "-o", "-", "--model", TIP, "--columns", "ride_id,proba_True"]);
    expect(picked.stdout.split("\n")[0]).toBe("ride_id,proba_True");
    const diff = cli(["score", SAMPLE, "-o", "-", "--model", TIP, "--columns", "ride_id,diff"]);
    expect(diff.code).toBe(2);
    expect(diff.stderr).toMatch(/--columns diff: the model predicts tipped, not a duration/);
  });

  it("a multiclass model with string labels: one proba_ column per class as Python prints it; --target names the column", () => {
    const model = join(tmp, "bucket.json");
    const imp = cli(["import", join(ROOT, "test/fixtures/classifiers/GradientBoostingClassifier_multiclass.pkl"), "-o", model, "--target", "bucket"]);
    expect(imp.code, imp.stderr).toBe(0);
    const r = cli(["score", SAMPLE, "-o", "-", "--model", model]);
    expect(r.code, r.stderr).toBe(0);
    const got = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(got[0]!).slice(4)).toEqual(["predicted_bucket", "proba_long", "proba_medium", "proba_short", "model_version"]);
    const p = loadModel(model).predictor;
    got.forEach((row, i) => {
      const { index, probabilities } = p.classify(rides[i]!);
      expect(row.predicted_bucket).toBe(["long", "medium", "short"][index]);
      expect([row.proba_long, row.proba_medium, row.proba_short].map(Number)).toEqual(Array.from(probabilities));
    });
  });

  it("integer classes are written as numbers, proba_0/proba_1; the duration model keeps its columns", () => {
    const model = join(tmp, "long.json");
    expect(cli(["import", join(ROOT, "test/fixtures/classifiers/RandomForestClassifier_binary.pkl"), "-o", model]).code).toBe(0);
    const r = cli(["score", SAMPLE, "-o", "-", "--model", model]);
    const header = r.stdout.split("\n")[0];
    expect(header).toBe("ride_id,pickup_datetime,PULocationID,DOLocationID,predicted_class,proba_0,proba_1,model_version");
    expect(
      new Set(
        r.stdout
          .trim()
          .split("\n")
          .slice(1)
          .map((l) => l.split(",")[4]),
      ),
    ).toEqual(new Set(["0", "1"]));
    const d = cli(["score", SAMPLE, "-o", "-"]);
    expect(d.stdout.split("\n")[0]).toBe("ride_id,pickup_datetime,PULocationID,DOLocationID,actual_duration,predicted_duration,diff,model_version");
  });
});

describe("serve", () => {
  let s: RunningServer;
  let bucket: RunningServer;
  beforeAll(async () => {
    const quiet = pino({ level: "silent" });
    s = await startServer({ model: TIP, port: 0, logger: quiet, bodyLimit: 256 * 1024 });
    const model = join(tmp, "bucket-serve.json");
    expect(cli(["import", join(ROOT, "test/fixtures/classifiers/LogisticRegression_multinomial.pkl"), "-o", model, "--name", "bucket"]).code).toBe(0);
    bucket = await startServer({ model, port: 0, logger: quiet, bodyLimit: 256 * 1024 });
  });
  afterAll(async () => {
    await s?.close();
    await bucket?.close();
  });
  const post = async (srv: RunningServer, path: string, body: unknown) => {
    const res = await fetch(srv.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Json };
  };

  it('POST /predict: {"tipped": label, "probabilities": {class: p}, "model_version"}, one ride or many', async () => {
    const want = tipOf(rides[0]!);
    const one = await post(s, "/predict", rides[0]);
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ tipped: want.label, probabilities: { False: want.p[0], True: want.p[1] }, model_version: "2021-01.1" });
    const many = await post(s, "/predict", rides.slice(0, 50));
    expect(many.json).toEqual(
      rides.slice(0, 50).map((r) => {
        const w = tipOf(r);
        return { tipped: w.label, probabilities: { False: w.p[0], True: w.p[1] }, model_version: "2021-01.1" };
      }),
    );
    const bad = await post(s, "/predict", { PULocationID: 1, DOLocationID: 2 });
    expect(bad.status).toBe(400);
    expect(bad.json.details).toEqual([{ field: "trip_distance", reason: "is required but missing" }]);
  });

  it("POST /invocations answers predict()'s labels", async () => {
    const r = await post(s, "/invocations", { dataframe_records: rides.slice(0, 20) });
    expect(r.json).toEqual({ predictions: rides.slice(0, 20).map((x) => tipOf(x).label) });
    const b = await post(bucket, "/invocations", { dataframe_records: rides.slice(0, 5) });
    const p = loadModel(join(tmp, "bucket-serve.json")).predictor;
    expect(b.json.predictions).toEqual(rides.slice(0, 5).map((x) => ["long", "medium", "short"][p.predict(x)]));
  });

  it('V2 infer gives "predict" and "predict_proba" as MLServer\'s scikit-learn runtime names them; metadata lists both', async () => {
    const n = 3;
    const tensor = (name: string, datatype: string, data: unknown[]) => ({ name, shape: [n], datatype, data });
    const inputs = [
      tensor(
        "PULocationID",
        "INT64",
        rides.slice(0, n).map((r) => r.PULocationID),
      ),
      tensor(
        "DOLocationID",
        "INT64",
        rides.slice(0, n).map((r) => r.DOLocationID),
      ),
      tensor(
        "trip_distance",
        "FP64",
        rides.slice(0, n).map((r) => r.trip_distance),
      ),
    ];
    const r = await post(s, "/v2/models/tip/infer", { id: "7", inputs });
    expect(r.status).toBe(200);
    const want = rides.slice(0, n).map(tipOf);
    expect(r.json.outputs).toEqual([
      { name: "predict", shape: [n], datatype: "BOOL", data: want.map((w) => w.label) },
      { name: "predict_proba", shape: [n, 2], datatype: "FP64", data: want.flatMap((w) => w.p) },
    ]);
    const only = await post(s, "/v2/models/tip/infer", { inputs, outputs: [{ name: "predict_proba" }] });
    expect(only.json.outputs.map((o: { name: string }) => o.name)).toEqual(["predict_proba"]);
    const unknown = await post(s, "/v2/models/tip/infer", { inputs, outputs: [{ name: "tipped" }] });
    expect(unknown.status).toBe(400);
    const meta = await (await fetch(`${s.url}/v2/models/tip`)).json();
    expect(meta.outputs).toEqual([
      { name: "predict", datatype: "BOOL", shape: [-1] },
      { name: "predict_proba", datatype: "FP64", shape: [-1, 2] },
    ]);
    const api = await (await fetch(`${s.url}/openapi.json`)).json();
    const answer = api.paths["/predict"].post.responses["200"].content["application/json"].schema.anyOf[0];
    expect(answer.properties.tipped).toEqual({ enum: [false, true] });
    expect(Object.keys(answer.properties.probabilities.properties)).toEqual(["False", "True"]);
    const strings = await post(bucket, "/v2/models/bucket/infer", { inputs });
    expect(strings.json.outputs[0].datatype).toBe("BYTES");
    expect(strings.json.outputs[1].shape).toEqual([n, 3]);
  });

  it("/metrics counts a classifier's predictions by class (ridepred_predicted_class_total), from every route", async () => {
    const own = await startServer({ model: TIP, port: 0, logger: pino({ level: "silent" }), bodyLimit: 256 * 1024 });
    try {
      const v2 = (rs: typeof rides) => ({
        inputs: (["PULocationID", "DOLocationID", "trip_distance"] as const).map((name) => ({
          name,
          shape: [rs.length],
          datatype: name === "trip_distance" ? "FP64" : "INT64",
          data: rs.map((r) => r[name]),
        })),
      });
      expect((await post(own, "/predict", rides[0])).status).toBe(200);
      expect((await post(own, "/predict", rides.slice(1, 50))).status).toBe(200);
      expect((await post(own, "/invocations", { dataframe_records: rides.slice(50, 70) })).status).toBe(200);
      expect((await post(own, "/v2/models/tip/infer", v2(rides.slice(70, 100)))).status).toBe(200);
      expect((await post(own, "/predict", { PULocationID: 1, DOLocationID: 2 })).status).toBe(400); // rejected: not counted
      const text = await (await fetch(`${own.url}/metrics`)).text();
      const count = (label: string) => Number(text.match(new RegExp(`^ridepred_predicted_class_total\\{class="${label}"\\} (\\S+)$`, "m"))?.[1] ?? 0);
      const trues = rides.slice(0, 100).filter((r) => tipOf(r).label).length;
      expect(trues).toBeGreaterThan(0);
      expect(trues).toBeLessThan(100);
      expect([count("True"), count("False")]).toEqual([trues, 100 - trues]);
      // Labels are not values on a scale: the regressor's histogram stays empty.
      expect(text).not.toMatch(/^ridepred_prediction_value_count [1-9]/m);
    } finally {
      await own.close();
    }
  });
});

describe("stream", () => {
  it('events name the prediction "ride_tipped" with "ride_tipped_probability"; --event-key renames them', () => {
    const events = rides.slice(0, 30).map((r, i) => JSON.stringify({ ride: r, ride_id: i }));
    const r = cli(["stream", "--model", TIP], `${events.join("\n")}\n`);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(out.length).toBe(30);
    out.forEach((ev, i) => {
      const w = tipOf(rides[i]!);
      expect(ev).toEqual({
        model: "tip",
        version: "2021-01.1",
        prediction: { ride_tipped: w.label, ride_tipped_probability: w.p[w.label ? 1 : 0], ride_id: i },
      });
    });
    const keyed = join(tmp, "tip-keyed.json");
    expect(cli(["import", join(ROOT, "models/tip.bin"), "-o", keyed, "--target", "tipped", "--event-key", "tip"]).code).toBe(0);
    const k = JSON.parse(cli(["stream", "--model", keyed], `${events[0]}\n`).stdout);
    expect(Object.keys(k.prediction)).toEqual(["tip", "tip_probability", "ride_id"]);
    // The duration model keeps the course's key.
    expect(JSON.parse(cli(["stream"], `${events[0]}\n`).stdout).prediction).toHaveProperty("ride_duration");
  });
});
