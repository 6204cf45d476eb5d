// `ridepred score` through the real binary on real rows: predictions equal the predictor's own (and
// scikit-learn's committed outputs), the summary reconciles, outputs re-read with the right types,
// broken inputs give clear errors, exit codes, and no output file.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import type { Predictor } from "../src/runtime/predictor.js";
import { containerArgs } from "./support/examples.js";
import { BIN, hasShared, ROOT, SAMPLE_CSV, SAMPLE_PQ, SHARED } from "./support/paths.js";

let predictor: Predictor;
let tmp: string;

function ridepred(args: string[], opts: { cwd?: string; input?: string | Buffer; env?: Record<string, string> } = {}) {
  const env = { ...process.env, NO_COLOR: "1", ...opts.env };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? tmp, input: opts.input, encoding: "utf8", env, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const readCsv = (path: string): Record<string, string>[] => parse(readFileSync(path), { columns: true, bom: true });
const minutes = (a: string, b: string) => (Date.parse(b.replace(" ", "T") + "Z") - Date.parse(a.replace(" ", "T") + "Z")) / 60000;
/** Files left in a directory besides the expected ones: a failed run must leave no temp or partial file. */
const leftovers = (dir: string, expected: string[] = []) => readdirSync(dir).filter((f) => !expected.includes(f));

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  predictor = loadModel().predictor;
  tmp = mkdtempSync(join(tmpdir(), "ridepred-score-"));
});

describe("ridepred score on the committed samples", () => {
  it("README quickstart: Parquet sample -> predictions.csv, every prediction equal to the predictor's", async () => {
    const dir = mkdtempSync(join(tmp, "qs-"));
    const r = ridepred(["score", SAMPLE_PQ, "-o", "predictions.csv"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/1,000 rows read = 1,000 scored \+ 0 filtered \+ 0 rejected/);
    const out = readCsv(join(dir, "predictions.csv"));
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(SAMPLE_PQ) });
    expect(out).toHaveLength(rows.length);
    expect(Object.keys(out[0]!)).toEqual([
      "ride_id",
      "pickup_datetime",
      "PULocationID",
      "DOLocationID",
      "actual_duration",
      "predicted_duration",
      "diff",
      "model_version",
    ]);
    rows.forEach((row, i) => {
      const o = out[i]!;
      const expected = predictor.predict(row);
      expect(Number(o.predicted_duration)).toBe(expected);
      expect(o.PULocationID).toBe(String(row.PULocationID));
      expect(o.pickup_datetime).toBe((row.lpep_pickup_datetime as Date).toISOString().slice(0, 19).replace("T", " "));
      const actual = ((row.lpep_dropoff_datetime as Date).getTime() - (row.lpep_pickup_datetime as Date).getTime()) / 60000;
      expect(Number(o.actual_duration)).toBeCloseTo(actual, 12);
      expect(Number(o.diff)).toBeCloseTo(actual - expected, 12);
      expect(o.model_version).toBe(predictor.version);
      expect(o.ride_id).toBe(`green_tripdata_2021-02_sample_${i}`);
    });
    expect(leftovers(dir, ["predictions.csv"])).toEqual([]);
  });

  it("--compression none writes uncompressed Parquet with the same rows; snappy is the default, where it pays", async () => {
    const plain = join(tmp, "plain.parquet");
    const snappy = join(tmp, "snappy.parquet");
    expect(ridepred(["score", SAMPLE_PQ, "-o", plain, "--compression", "none"]).code).toBe(0);
    expect(ridepred(["score", SAMPLE_PQ, "-o", snappy]).code).toBe(0);
    const chunks = async (f: string) => (await parquetMetadataAsync(await asyncBufferFromFile(f))).row_groups[0]!.columns.map((c) => c.meta_data!);
    const codecs = async (f: string) => Object.fromEntries((await chunks(f)).map((m) => [m.path_in_schema[0], m.codec]));
    expect(new Set(Object.values(await codecs(plain)))).toEqual(new Set(["UNCOMPRESSED"]));
    // Snappy where it shrinks the column chunk (all its pages) by at least 1/8: ids do; model outputs
    // (random doubles) and times (DELTA_BINARY_PACKED: bit-packed already) do not, and are stored as they are.
    const chosen = await codecs(snappy);
    expect(chosen.ride_id).toBe("SNAPPY");
    expect(chosen.predicted_duration).toBe("UNCOMPRESSED");
    expect(chosen.pickup_datetime).toBe("UNCOMPRESSED");
    for (const m of await chunks(snappy))
      if (m.codec === "SNAPPY") expect(Number(m.total_compressed_size), m.path_in_schema[0]).toBeLessThan(Number(m.total_uncompressed_size) * 0.9);
    expect(statSync(plain).size).toBeGreaterThan(statSync(snappy).size);
    const a = await parquetReadObjects({ file: await asyncBufferFromFile(plain) });
    const b = await parquetReadObjects({ file: await asyncBufferFromFile(snappy) });
    expect(a).toEqual(b);
    expect(a).toHaveLength(1000);
    const bad = ridepred(["score", SAMPLE_PQ, "-o", join(tmp, "z.parquet"), "--compression", "zstd"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are snappy, none/);
  });

  it("CSV -> Parquet: re-reads with the right column types and the same values", async () => {
    const out = join(tmp, "sample.parquet");
    const r = ridepred(["score", SAMPLE_CSV, "-o", out, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rows_read: 1000, scored: 1000, filtered: 0, rejected: 0 });
    const md = await parquetMetadataAsync(await asyncBufferFromFile(out));
    const types = Object.fromEntries(md.schema.slice(1).map((s) => [s.name, [s.type, s.logical_type?.type ?? s.converted_type ?? null]]));
    expect(types).toEqual({
      ride_id: ["BYTE_ARRAY", "STRING"],
      pickup_datetime: ["INT64", "TIMESTAMP"],
      PULocationID: ["BYTE_ARRAY", "STRING"],
      DOLocationID: ["BYTE_ARRAY", "STRING"],
      actual_duration: ["DOUBLE", null],
      predicted_duration: ["DOUBLE", null],
      diff: ["DOUBLE", null],
      model_version: ["BYTE_ARRAY", "STRING"],
    });
    const pickup = md.schema.find((s) => s.name === "pickup_datetime")!;
    expect(pickup.logical_type).toMatchObject({ type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" });
    const got = await parquetReadObjects({ file: await asyncBufferFromFile(out) });
    const input = readCsv(SAMPLE_CSV);
    expect(got).toHaveLength(input.length);
    input.forEach((row, i) => {
      const g = got[i]!;
      expect(g.predicted_duration).toBe(predictor.predict(row));
      // naive time in, the same wall-clock digits out: no zone applied anywhere
      expect((g.pickup_datetime as Date).toISOString().slice(0, 19).replace("T", " ")).toBe(row.lpep_pickup_datetime);
      expect(g.actual_duration).toBeCloseTo(minutes(row.lpep_pickup_datetime!, row.lpep_dropoff_datetime!), 12);
      expect(g.PULocationID).toBe(row.PULocationID);
    });
    const preds = got.map((g) => g.predicted_duration as number);
    const mean = preds.reduce((a, x) => a + x, 0) / preds.length;
    expect(summary.predictions.mean).toBeCloseTo(mean, 9);
    expect(summary.predictions.std).toBeCloseTo(Math.sqrt(preds.reduce((a, x) => a + (x - mean) ** 2, 0) / preds.length), 9); // numpy's ddof=0
    expect(summary.predictions.min).toBe(Math.min(...preds));
    expect(summary.predictions.max).toBe(Math.max(...preds));
  });

  it("small batches still make full Parquet row groups; results do not depend on the batch size", async () => {
    const big = join(tmp, "b-big.parquet");
    const small = join(tmp, "b-small.parquet");
    const r1 = ridepred(["score", SAMPLE_PQ, "-o", big, "--json"]);
    const r2 = ridepred(["score", SAMPLE_PQ, "-o", small, "--batch-size", "7", "--json"]);
    expect([r1.code, r2.code]).toEqual([0, 0]);
    // the summary merges batch statistics: the same numbers whatever the batch size
    const [s1, s2] = [JSON.parse(r1.stdout).predictions, JSON.parse(r2.stdout).predictions];
    for (const key of ["mean", "std", "min", "max"]) expect(s2[key]).toBeCloseTo(s1[key], 9);
    const md = await parquetMetadataAsync(await asyncBufferFromFile(small));
    expect(md.row_groups.map((g) => Number(g.num_rows))).toEqual([1000]);
    const [a, b] = [await parquetReadObjects({ file: await asyncBufferFromFile(big) }), await parquetReadObjects({ file: await asyncBufferFromFile(small) })];
    expect(b).toEqual(a);
  });

  it("batches that keep every row and batches that filter some, in turn, give the rows and summary one batch gives", async () => {
    // --batch-size 7 with a 3..45 minute filter: many batches keep all 7 rows (keep made once and reused), others drop some.
    const one = join(tmp, "f-one.parquet");
    const small = join(tmp, "f-small.parquet");
    const r1 = ridepred(["score", SAMPLE_PQ, "-o", one, "--filter-duration", "3..45", "--json"]);
    const r2 = ridepred(["score", SAMPLE_PQ, "-o", small, "--filter-duration", "3..45", "--batch-size", "7", "--json"]);
    expect([r1.code, r2.code]).toEqual([0, 0]);
    const [s1, s2] = [JSON.parse(r1.stdout), JSON.parse(r2.stdout)];
    expect(s1.filtered).toBeGreaterThan(0);
    expect([s2.scored, s2.filtered]).toEqual([s1.scored, s1.filtered]);
    expect([s2.predictions.min, s2.predictions.max]).toEqual([s1.predictions.min, s1.predictions.max]);
    for (const key of ["mean", "std"]) expect(s2.predictions[key]).toBeCloseTo(s1.predictions[key], 9);
    const [a, b] = [await parquetReadObjects({ file: await asyncBufferFromFile(one) }), await parquetReadObjects({ file: await asyncBufferFromFile(small) })];
    expect(b).toEqual(a);
  });

  it("ride ids from a column, any text, survive a Parquet round trip", async () => {
    const input = join(tmp, "ids.jsonl");
    const ids = ["plain-1", "ünïcode-2", "日本-3", "", "x".repeat(300)];
    writeFileSync(input, ids.map((id) => JSON.stringify({ ride_id: id, PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 })).join("\n") + "\n");
    const out = join(tmp, "ids.parquet");
    expect(ridepred(["score", input, "-o", out]).code).toBe(0);
    const got = await parquetReadObjects({ file: await asyncBufferFromFile(out) });
    expect(got.map((g) => g.ride_id)).toEqual(ids);
  });

  it("matches scikit-learn's own committed predictions (JSONL in, JSONL out)", () => {
    const examples = readFileSync(join(ROOT, "models/ride-duration.examples.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const input = join(tmp, "examples.jsonl");
    writeFileSync(input, examples.map((e, i) => JSON.stringify({ ride_id: `ex${i}`, ...e.input })).join("\n") + "\n");
    const out = join(tmp, "examples.out.jsonl");
    const r = ridepred(["score", input, "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const got = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(got).toHaveLength(examples.length);
    got.forEach((g, i) => {
      expect(g.ride_id).toBe(`ex${i}`);
      expect(Math.abs(g.predicted_duration - examples[i].output)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(examples[i].output)));
    });
    // no pickup/dropoff in this input: no actual_duration or diff columns
    expect(Object.keys(got[0])).toEqual(["ride_id", "PULocationID", "DOLocationID", "predicted_duration", "model_version"]);
  });

  it("stdin to stdout gives the same rows as file to file; the summary goes to stderr", () => {
    const file = join(tmp, "viafile.csv");
    expect(ridepred(["score", SAMPLE_CSV, "-o", file, "--ride-id-prefix", "r"]).code).toBe(0);
    const r = ridepred(["score", "-", "--ride-id-prefix", "r", "--json"], { input: readFileSync(SAMPLE_CSV) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(file, "utf8"));
    expect(JSON.parse(r.stderr)).toMatchObject({ input: "-", output: "-", rows_read: 1000 });
  });

  it("CSV.gz round trip and --columns", () => {
    const gz = join(tmp, "out.csv.gz");
    const r = ridepred(["score", SAMPLE_PQ, "-o", gz, "--columns", "ride_id,trip_distance,predicted_duration,VendorID"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = parse(gunzipSync(readFileSync(gz)), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual(["ride_id", "trip_distance", "predicted_duration", "VendorID"]);
    const again = join(tmp, "again.csv");
    // the gzipped output reads back as an input (no location ids in it: map nothing, expect a clear error)
    const r2 = ridepred(["score", gz, "-o", again]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/no column for model input PULocationID \(tried PULocationID, pickup_location_id.*--map COLUMN=PULocationID/);
    expect(existsSync(again)).toBe(false);
  });

  it("--filter-duration drops what the course's filter drops, and the summary reconciles", () => {
    const input = readCsv(SAMPLE_CSV);
    const keep = input.filter((r) => {
      const d = minutes(r.lpep_pickup_datetime!, r.lpep_dropoff_datetime!);
      return d >= 5 && d <= 20;
    });
    const out = join(tmp, "filtered.csv");
    const r = ridepred(["score", SAMPLE_CSV, "-o", out, "--filter-duration", "5..20", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.scored).toBe(keep.length);
    expect(s.filtered).toBe(input.length - keep.length);
    expect(s.rows_read).toBe(s.scored + s.filtered + s.rejected);
    expect(readCsv(out).map((o) => Number(o.predicted_duration))).toEqual(keep.map((k) => predictor.predict(k)));
  });
});

describe("rows that cannot be scored", () => {
  /** The sample with row 3 cut short, row 5 missing its PULocationID and row 8 with a bad distance. */
  function brokenCsv(): string {
    const lines = readFileSync(SAMPLE_CSV, "utf8").trim().split("\n").slice(0, 11);
    lines[3] = lines[3]!.split(",").slice(0, 5).join(",");
    const f5 = lines[5]!.split(",");
    f5[5] = "";
    lines[5] = f5.join(",");
    const f8 = lines[8]!.split(",");
    f8[8] = "far";
    lines[8] = f8.join(",");
    const dir = mkdtempSync(join(tmp, "broken-"));
    writeFileSync(join(dir, "in.csv"), lines.join("\n") + "\n");
    return dir;
  }

  it("--on-error fail (default): exit 1 naming the file, row and reason; no output file", () => {
    const dir = brokenCsv();
    const r = ridepred(["score", "in.csv", "-o", "out.csv"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ridepred: in\.csv: row 3: \$: has 5 fields, the header has 21/);
    expect(leftovers(dir, ["in.csv"])).toEqual([]);
  });

  it("--on-error skip --rejects: every row accounted for, rejects hold row and reason", () => {
    const dir = brokenCsv();
    const r = ridepred(["score", "in.csv", "-o", "out.parquet", "--on-error", "skip", "--rejects", "rejects.csv", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ rows_read: 10, scored: 7, filtered: 0, rejected: 3, rejected_by_field: { $: 1, PULocationID: 1, trip_distance: 1 } });
    const rejects = readCsv(join(dir, "rejects.csv"));
    expect(rejects.map((x) => [x.row, x.field])).toEqual([
      ["3", "$"],
      ["5", "PULocationID"],
      ["8", "trip_distance"],
    ]);
    expect(rejects[1]!.reason).toBe("is required but missing");
    expect(rejects[2]!.reason).toMatch(/expected a number, got "far"/);
    expect(rejects[2]!.trip_distance).toBe("far");
    expect(leftovers(dir, ["in.csv", "out.parquet", "rejects.csv"])).toEqual([]);
  });

  it("ids as DOUBLE and INT64 with nulls, a broken JSON line: each bad row named, the rest equal the predictor's", async () => {
    const { parquetWriteFile } = await import("hyparquet-writer");
    const dir = mkdtempSync(join(tmp, "types-"));
    const pu = [130, 55, null, 74.0, 43];
    const dO = [205n, 55n, 7n, null, 236n];
    const dist = [3.66, 1.1, 2.0, 0.5, NaN];
    parquetWriteFile({
      filename: join(dir, "in.parquet"),
      columnData: [
        { name: "PULocationID", data: pu, type: "DOUBLE" },
        { name: "DOLocationID", data: dO, type: "INT64" },
        { name: "trip_distance", data: dist, type: "DOUBLE" },
      ],
    });
    const r = ridepred(
      ["score", "in.parquet", "-o", "out.jsonl", "--rejects", "rej.jsonl", "--columns", "ride_id,PULocationID,DOLocationID,predicted_duration", "--json"],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      rows_read: 5,
      scored: 2,
      rejected: 3,
      rejected_by_field: { PULocationID: 1, DOLocationID: 1, trip_distance: 1 },
    });
    const out = readFileSync(join(dir, "out.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(out.map((o) => [o.ride_id, o.PULocationID, o.DOLocationID])).toEqual([
      ["in_0", "130", "205"],
      ["in_1", "55", "55"],
    ]);
    expect(out.map((o) => o.predicted_duration)).toEqual(
      [0, 1].map((i) => predictor.predict({ PULocationID: pu[i], DOLocationID: dO[i], trip_distance: dist[i] })),
    );
    const rej = readFileSync(join(dir, "rej.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rej.map((x) => [x.row, x.field])).toEqual([
      [3, "PULocationID"],
      [4, "DOLocationID"],
      [5, "trip_distance"],
    ]);

    writeFileSync(join(dir, "in.jsonl"), '{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}\n{"PULocationID": 1,\n[1,2]\n');
    const j = ridepred(["score", "in.jsonl", "-o", "j.csv"], { cwd: dir });
    expect(j.code).toBe(1);
    expect(j.stderr).toMatch(/in\.jsonl: row 2: \$: not valid JSON/);
    const k = ridepred(["score", "in.jsonl", "-o", "j.csv", "--on-error", "skip", "--json"], { cwd: dir });
    expect(JSON.parse(k.stdout)).toMatchObject({ rows_read: 3, scored: 1, rejected: 2, rejected_by_field: { $: 2 } });
  });

  it("Parquet output encoded on the writer thread is byte for byte the file the main thread writes", () => {
    const dir = mkdtempSync(join(tmp, "thread-"));
    const on = ridepred(["score", SAMPLE_CSV, "-o", "on.parquet", "--json"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "on" } });
    const off = ridepred(["score", SAMPLE_CSV, "-o", "off.parquet", "--json"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "off" } });
    expect(on.code, on.stderr).toBe(0);
    expect(off.code, off.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "on.parquet")), readFileSync(join(dir, "off.parquet")))).toBe(0);
    expect(JSON.parse(on.stdout).scored).toBe(1000);
    const bad = ridepred(["score", SAMPLE_CSV, "-o", "x.parquet"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "sometimes" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/RIDEPRED_WRITER_THREAD=sometimes: expected on, off or auto/);
  });

  it("the writer thread's shared-memory batches: same bytes across row groups (new dictionaries), pass-through columns and many batches", async () => {
    const { parquetWriteFile } = await import("hyparquet-writer");
    const dir = mkdtempSync(join(tmp, "thread-groups-"));
    const n = 6000;
    const t0 = Date.UTC(2021, 1, 1);
    // Row groups of 1,700 rows: each has its own zone dictionary (drawn from a shifting range), nulls included.
    const zone = (i: number, k: number) => (i % 301 === k ? null : String(1 + ((i * 7 + Math.floor(i / 1700) * 50 + k) % 260)));
    parquetWriteFile({
      filename: join(dir, "in.parquet"),
      columnData: [
        { name: "PULocationID", data: Array.from({ length: n }, (_, i) => zone(i, 0)), type: "STRING" },
        { name: "DOLocationID", data: Array.from({ length: n }, (_, i) => zone(i, 3)), type: "STRING" },
        { name: "trip_distance", data: Array.from({ length: n }, (_, i) => (i % 113 === 0 ? null : (i % 40) / 3)), type: "DOUBLE" },
        { name: "lpep_pickup_datetime", data: Array.from({ length: n }, (_, i) => new Date(t0 + i * 60000)), type: "TIMESTAMP" },
        { name: "lpep_dropoff_datetime", data: Array.from({ length: n }, (_, i) => new Date(t0 + i * 60000 + (i % 50) * 60000)), type: "TIMESTAMP" },
        { name: "store_and_fwd_flag", data: Array.from({ length: n }, (_, i) => (i % 9 === 0 ? "Y" : "N")), type: "STRING" },
      ],
      rowGroupSize: 1700,
    });
    const args = [
      "score",
      "in.parquet",
      "--batch-size",
      "250",
      "--filter-duration",
      "1..60",
      "--on-error",
      "skip",
      "--columns",
      "ride_id,pickup_datetime,PULocationID,DOLocationID,store_and_fwd_flag,trip_distance,predicted_duration,model_version",
    ];
    const on = ridepred([...args, "-o", "on.parquet"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "on" } });
    const off = ridepred([...args, "-o", "off.parquet"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "off" } });
    expect(on.code, on.stderr).toBe(0);
    expect(off.code, off.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "on.parquet")), readFileSync(join(dir, "off.parquet")))).toBe(0);
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(join(dir, "on.parquet")) });
    expect(rows.length).toBeGreaterThan(4000);
    expect(new Set(rows.map((r) => r.store_and_fwd_flag))).toEqual(new Set(["Y", "N"]));
  });

  it("a run that fails after writing on the writer thread leaves no output file; an unwritable target is a clear error", () => {
    const dir = mkdtempSync(join(tmp, "thread-fail-"));
    // 1,000 good rows, then a broken one: batches of the good rows reach the thread before the failure.
    const text = readFileSync(SAMPLE_CSV, "utf8").trimEnd() + "\n1,2,3\n";
    writeFileSync(join(dir, "in.csv"), text);
    const r = ridepred(["score", "in.csv", "-o", "out.parquet", "--batch-size", "100"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "on" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in\.csv: row 1001: \$: has 3 fields/);
    expect(leftovers(dir, ["in.csv"])).toEqual([]);
    writeFileSync(join(dir, "file"), "");
    const u = ridepred(["score", SAMPLE_CSV, "-o", "file/out.parquet"], { cwd: dir, env: { RIDEPRED_WRITER_THREAD: "on" } });
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/file\/out\.parquet: cannot create its directory/);
  });

  it("a truncated Parquet file: exit 2, a clear message, no output file", () => {
    const dir = mkdtempSync(join(tmp, "trunc-"));
    const bad = join(dir, "cut.parquet");
    copyFileSync(SAMPLE_PQ, bad);
    truncateSync(bad, Math.floor(statSync(bad).size / 2));
    const r = ridepred(["score", "cut.parquet", "-o", "out.csv"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ridepred: cut\.parquet: not a readable Parquet file .*truncated or not Parquet\?/);
    expect(leftovers(dir, ["cut.parquet"])).toEqual([]);
  });

  it("a quote that never closes: exit 2 with the row, no output file", () => {
    const dir = mkdtempSync(join(tmp, "quote-"));
    writeFileSync(join(dir, "q.csv"), 'PULocationID,DOLocationID,trip_distance\n1,2,3\n"4,5,6\n7,8,9\n');
    const r = ridepred(["score", "q.csv", "-o", "out.jsonl"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/q\.csv: not valid CSV: the quoted field opened in row 2 is never closed/);
    expect(leftovers(dir, ["q.csv"])).toEqual([]);
  });

  it.each(["out.csv", "out.parquet"])("killed mid-run (SIGTERM): dies of the signal and leaves no file behind (%s)", async (out) => {
    // (Parquet from stdin is encoded on the writer thread: its temp file goes too.)
    const dir = mkdtempSync(join(tmp, "kill-"));
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [BIN, "score", "-", "-o", out, "--rejects", "rej.csv"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    child.stdin.write(readFileSync(SAMPLE_CSV)); // stdin stays open: the run is waiting for more rows
    for (let i = 0; i < 200 && readdirSync(dir).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toHaveLength(2); // output and rejects, under temp names
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    child.kill("SIGTERM");
    expect(await exited).toBe("SIGTERM");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a missing file and an unknown extension are usage errors (exit 2)", () => {
    expect(ridepred(["score", "nope.parquet"]).stderr).toMatch(/nope\.parquet: cannot read: no such file/);
    const r = ridepred(["score", SAMPLE_CSV, "-o", join(tmp, "x.xlsx")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot tell the format/);
  });
});

describe("real TLC shapes", () => {
  it("snake_case names, CRLF, quoted fields: built-in aliases and --map", () => {
    const dir = mkdtempSync(join(tmp, "snake-"));
    const src = readCsv(SAMPLE_CSV).slice(0, 50);
    const head = ["pickup_datetime", "dropoff_datetime", "pickup_location_id", "dropoff_location_id", "dist", "note"];
    const body = src.map((r, i) =>
      [r.lpep_pickup_datetime, r.lpep_dropoff_datetime, `"${r.PULocationID}"`, r.DOLocationID, r.trip_distance, i % 2 ? '"a, ""quoted""\r\nnote"' : ""].join(
        ",",
      ),
    );
    writeFileSync(join(dir, "in.csv"), [head.join(","), ...body].join("\r\n") + "\r\n");
    const r = ridepred(
      ["score", "in.csv", "-o", "out.csv", "--map", "dist=trip_distance", "--columns", "pickup_datetime,PULocationID,predicted_duration,note", "--json"],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows_read: 50, scored: 50 });
    const out = readCsv(join(dir, "out.csv"));
    out.forEach((o, i) => {
      expect(Number(o.predicted_duration)).toBe(predictor.predict(src[i]!));
      expect(o.note).toBe(i % 2 ? 'a, "quoted"\r\nnote' : "");
      expect(o.pickup_datetime).toBe(src[i]!.lpep_pickup_datetime);
    });
  });

  it("ids written as floats in CSV (pandas' 130.0) are the categories the model knows", () => {
    const r = ridepred(["score", "-", "--columns", "PULocationID,DOLocationID,predicted_duration"], {
      input: "PULocationID,DOLocationID,trip_distance\n130.0,205.00,3.66\n130,205,3.66\n",
    });
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(a).toEqual(b);
    expect(Number(a!.predicted_duration)).toBe(predictor.predict({ PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 }));
    expect(r.stderr).toMatch(/^stdin -> stdout: 2 rows read/);
  });

  it("--run-date with --period previous-month fills {year}/{month} in input and output paths", () => {
    const dir = mkdtempSync(join(tmp, "sched-"));
    mkdirSync(join(dir, "data"));
    copyFileSync(SAMPLE_PQ, join(dir, "data/green_tripdata_2021-02.parquet"));
    const r = ridepred(
      [
        "score",
        "data/green_tripdata_{year}-{month}.parquet",
        "-o",
        "out/{year}/{month}/predictions.parquet",
        "--run-date",
        "2021-03-05",
        "--period",
        "previous-month",
        "--json",
      ],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ input: "data/green_tripdata_2021-02.parquet", output: "out/2021/02/predictions.parquet", scored: 1000 });
    expect(existsSync(join(dir, "out/2021/02/predictions.parquet"))).toBe(true);
    const bad = ridepred(["score", "data/{yr}.parquet"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown placeholder \{yr\}/);
  });

  describe.skipIf(!hasShared)("the real months in ../shared (skipped: ../shared/data is absent)", () => {
    for (const month of ["2023-01", "2023-02", "2021-01"]) {
      it(`green ${month} Parquet (ids ${month === "2023-01" ? "INT64" : month === "2023-02" ? "INT32" : "strings"}) -> Parquet: predictions equal the predictor's, filter reconciles`, async () => {
        const file = join(SHARED, `green_tripdata_${month}.parquet`);
        const out = join(tmp, `green_${month}.parquet`);
        const r = ridepred([
          "score",
          file,
          "-o",
          out,
          "--filter-duration",
          "1..60",
          "--columns",
          "ride_id,PULocationID,DOLocationID,trip_distance,actual_duration,predicted_duration",
          "--json",
        ]);
        expect(r.code, r.stderr).toBe(0);
        const s = JSON.parse(r.stdout);
        const rows = await parquetReadObjects({
          file: await asyncBufferFromFile(file),
          columns: ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"],
        });
        const keep = rows.flatMap((row, i) => {
          const d = ((row.lpep_dropoff_datetime as Date).getTime() - (row.lpep_pickup_datetime as Date).getTime()) / 60000;
          return d >= 1 && d <= 60 ? [i] : [];
        });
        expect(s.rows_read).toBe(rows.length);
        expect(s.filtered).toBe(rows.length - keep.length);
        expect(s.rejected).toBe(0);
        expect(s.scored).toBe(keep.length);
        if (month === "2021-01")
          expect(s.filtered).toBe(0); // published already cleaned to 1..60 minutes
        else expect(s.filtered).toBeGreaterThan(0);
        const got = await parquetReadObjects({ file: await asyncBufferFromFile(out) });
        expect(got).toHaveLength(keep.length);
        keep.forEach((i, k) => {
          expect(got[k]!.predicted_duration).toBe(predictor.predict(rows[i]!));
          expect(got[k]!.PULocationID).toBe(String(rows[i]!.PULocationID));
          expect(got[k]!.ride_id).toBe(`green_tripdata_${month}_${i}`);
        });
      });
    }

    it("yellow snake_case CSV with CRLF and empty fields: aliases, every row scored", () => {
      const file = join(SHARED, "yellow_tripdata_sample_2019-01.csv");
      const out = join(tmp, "yellow.csv");
      const r = ridepred(["score", file, "-o", out, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout);
      const input = readCsv(file);
      expect(s).toMatchObject({ rows_read: input.length, scored: input.length });
      const got = readCsv(out);
      got.forEach((o, i) => {
        const row = input[i]!;
        expect(Number(o.predicted_duration)).toBe(
          predictor.predict({ PULocationID: row.pickup_location_id, DOLocationID: row.dropoff_location_id, trip_distance: row.trip_distance }),
        );
        expect(Number(o.actual_duration)).toBeCloseTo(minutes(row.pickup_datetime!, row.dropoff_datetime!), 9);
      });
    });
  });
});

describe("progress", () => {
  it("silent when stderr is not a terminal: only the summary", () => {
    const r = ridepred(["score", SAMPLE_PQ, "-o", join(tmp, "quiet.csv")]);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(2);
    expect(r.stderr).not.toMatch(/\x1b/);
  });

  it.skipIf(!existsSync("/usr/bin/script"))("on a terminal: an ora spinner with rows, rows/s and ETA (util-linux script gives the pty)", () => {
    const big = join(tmp, "big.csv");
    const lines = readFileSync(SAMPLE_CSV, "utf8").trim().split("\n");
    writeFileSync(big, [lines[0], ...Array.from({ length: 300 }, () => lines.slice(1)).flat()].join("\n") + "\n"); // 300k rows
    const cmd = `stty cols 150; ${process.execPath} ${BIN} score ${big} -o ${join(tmp, "big.out.csv")} --batch-size 1000`;
    // A user's terminal: ora (is-interactive) turns itself off when CI is set, as it is in CI runs.
    const { CI: _ci, ...env } = process.env;
    const r = spawnSync("/usr/bin/script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", input: "", env: { ...env, NO_COLOR: "1" }, timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/scoring .*big\.csv: [\d,]+ rows, [\d,]+ rows\/s, ETA \d+ s/);
    expect(r.stdout).toMatch(/300,000 rows read = 300,000 scored/);
  });

  it.skipIf(!existsSync("/usr/bin/script"))("a terminal of unknown width gets no spinner (ora would redraw forever) and the run completes", () => {
    const r = spawnSync("/usr/bin/script", ["-qec", `${process.execPath} ${BIN} score ${SAMPLE_PQ} -o ${join(tmp, "nosize.csv")}`, "/dev/null"], {
      encoding: "utf8",
      input: "",
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1,000 rows read/);
  });
});

describe("scheduling examples run as written", () => {
  /** examples/* with the machine paths pointed at a scratch tree holding last month's sample. */
  function scratch(): { dir: string; redirect: (s: string) => string } {
    const dir = mkdtempSync(join(tmp, "cron-"));
    mkdirSync(join(dir, "tlc"));
    mkdirSync(join(dir, "log"));
    const now = new Date();
    const prev = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    const ym = `${prev.getUTCFullYear()}-${String(prev.getUTCMonth() + 1).padStart(2, "0")}`;
    copyFileSync(SAMPLE_PQ, join(dir, `tlc/green_tripdata_${ym}.parquet`));
    const redirect = (s: string) =>
      s
        .replaceAll("/usr/local/bin/ridepred", `${process.execPath} ${BIN}`)
        .replace(/(\/srv)?\/models\/ride-duration\.json/g, join(ROOT, "models/ride-duration.json"))
        .replaceAll("/data/tlc", join(dir, "tlc"))
        .replaceAll("/data/predictions", join(dir, "predictions"))
        .replaceAll("/var/log/ridepred", join(dir, "log"));
    return { dir, redirect };
  }

  it("examples/crontab: scores last month into predictions/{year}/{month}/ and logs the JSON summary", () => {
    const line = readFileSync(join(ROOT, "examples/crontab"), "utf8")
      .split("\n")
      .find((l) => /^[0-9*]/.test(l))!;
    const command = line.trim().split(/\s+/).slice(5).join(" ");
    const { dir, redirect } = scratch();
    const r = spawnSync("sh", ["-c", redirect(command)], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, "log/score.jsonl"), "utf8"));
    expect(summary).toMatchObject({ rows_read: 1000, scored: 1000, rejected: 0 });
    expect(existsSync(summary.output)).toBe(true);
    expect(summary.output).toMatch(/predictions\/\d{4}\/\d{2}\/green\.parquet$/);
  });

  it("examples/k8s-cronjob.yaml: the container's command and args work", () => {
    const yaml = readFileSync(join(ROOT, "examples/k8s-cronjob.yaml"), "utf8");
    const args = containerArgs(yaml);
    expect(yaml).toMatch(/command: \["ridepred"\]/);
    const { dir, redirect } = scratch();
    const r = spawnSync(process.execPath, [BIN, ...args.map(redirect)], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows_read: 1000, scored: 1000 });
  });
});
