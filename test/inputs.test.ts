// Many inputs per run, through the real binary on the real months: globs and templates as patterns,
// a 12-month backfill, Hive-partitioned output with a deterministic {run_id}, and shards whose union
// is one unsharded run row for row (whole inputs, and row groups of one big file).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parse } from "csv-parse/sync";
import { parquetMetadata } from "hyparquet";
import { beforeAll, describe, expect, it } from "vitest";
import { backfillDates, checkInputFields, expandInputs, patternRegex } from "../src/batch/inputs.js";
import { assignShards, fillOutput, inputName, parseShard, planOutputs, runId } from "../src/batch/partition.js";
import { pooled } from "../src/batch/many.js";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SHARED = join(ROOT, "../shared/data");
const hasShared = existsSync(join(SHARED, "green_tripdata_2021-01.parquet"));
const MONTHS: Record<string, number> = { "2021-01": 73908, "2021-02": 61921, "2023-01": 68211, "2023-02": 64809 };
let tmp: string;

function ridepred(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const env = { ...process.env, NO_COLOR: "1", ...opts.env };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? tmp, encoding: "utf8", env, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir (relative path -> sha256), hidden temp files included: none may be left. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const readCsv = (path: string): Record<string, string>[] => parse(readFileSync(path), { columns: true });

beforeAll(() => {
  if (!existsSync(join(ROOT, "dist/cli.js"))) throw new Error("dist/ is missing: run `npm test` (it builds first)");
  tmp = mkdtempSync(join(tmpdir(), "ridepred-inputs-"));
});

describe("input patterns, backfill dates, output names, shards (units)", () => {
  it("a template is a regex whose fields capture their values; a field named twice must agree", () => {
    const re = patternRegex("data/{taxi_type}_tripdata_{year}-{month}.parquet");
    expect(re.exec("data/green_tripdata_2021-02.parquet")?.groups).toEqual({ taxi_type: "green", year: "2021", month: "02" });
    expect(re.test("data/green_tripdata_2021-2.parquet")).toBe(false);
    expect(re.test("data/sub/green_tripdata_2021-02.parquet")).toBe(false); // fields never cross "/"
    const twice = patternRegex("{year}/x_{year}-*.csv");
    expect(twice.test("2021/x_2021-01.csv")).toBe(true);
    expect(twice.test("2021/x_2022-01.csv")).toBe(false);
    expect(patternRegex("a?.c*").test("ab.csv")).toBe(true);
  });

  it("backfill dates step by month or day, shifted by the period like a scheduled run", () => {
    const months = backfillDates("2021-01", "2021-12", "month");
    expect(months.map((d) => `${d.year}-${d.month}`)).toEqual(Array.from({ length: 12 }, (_, i) => `2021-${i + 1}`));
    expect(backfillDates("2021-02-15", "2022-01-02", "previous-month").map((d) => d.month)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(backfillDates("2021-02-27", "2021-03-01", "day").map((d) => d.day)).toEqual([27, 28, 1]);
    expect(() => backfillDates("2021-03", "2021-01", "month")).toThrow(/is after/);
  });

  it("output templates: unknown placeholders are errors; {input} drops the extension; run ids are stable", () => {
    expect(fillOutput("out/taxi_type={taxi_type}/year={year}/{run_id}.parquet", { taxi_type: "green", year: "2021", run_id: "abc" })).toBe(
      "out/taxi_type=green/year=2021/abc.parquet",
    );
    expect(() => fillOutput("out/{yeer}.csv", { year: "2021" })).toThrow(/unknown placeholder \{yeer\}/);
    expect(inputName("s3://b/raw/green_tripdata_2021-02.csv.gz")).toBe("green_tripdata_2021-02");
    expect(inputName("https://h/x/y.parquet?sig=1")).toBe("y");
    const a = runId("data/x.parquet", "sha256:1", { columns: undefined, filter: [1, 60] });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(runId("data/x.parquet", "sha256:1", { filter: [1, 60], columns: undefined })).toBe(a);
    expect(runId("data/x.parquet", "sha256:2", { filter: [1, 60] })).not.toBe(a);
    expect(runId("data/y.parquet", "sha256:1", { filter: [1, 60] })).not.toBe(a);
    expect(() => checkInputFields(["data/{yr}.parquet"], ["out.csv"], {})).toThrow(/unknown placeholder \{yr\}/);
    expect(() => checkInputFields(["data/{taxi}_{year}.parquet"], ["out/{taxi}/x.csv"], {})).not.toThrow();
  });

  it("shards: --shard or the Indexed Job's environment; disjoint shares that cover every input", () => {
    expect(parseShard("1/3")).toEqual({ index: 1, count: 3 });
    expect(parseShard(undefined, { JOB_COMPLETION_INDEX: "2", RIDEPRED_SHARD_COUNT: "3" })).toEqual({ index: 2, count: 3 });
    expect(parseShard(undefined, {})).toBeUndefined();
    expect(() => parseShard("3/3")).toThrow(/0 <= INDEX < COUNT/);
    expect(() => parseShard(undefined, { JOB_COMPLETION_INDEX: "0" })).toThrow(/RIDEPRED_SHARD_COUNT/);
    const inputs = ["a", "b", "c", "d", "e"].map((p) => ({ path: `${p}.parquet`, fields: {} }));
    const work = assignShards(inputs, { index: 0, count: 3 }, () => true);
    expect(work.map((w) => w.shard)).toEqual([0, 1, 2, 0, 1]);
    const split = assignShards(inputs.slice(0, 1), { index: 0, count: 3 }, () => true);
    expect(split.map((w) => w.rowGroups)).toEqual([0, 1, 2].map((index) => ({ index, count: 3 })));
    const values = (w: (typeof work)[number]) => ({ input: inputName(w.input.path), shard: String(w.shard) });
    expect(() => planOutputs("out/x.csv", work, values, { index: 0, count: 3 })).toThrow(/add \{shard\}/);
    expect(() => planOutputs("out/{input}.csv", split, values, { index: 0, count: 3 })).toThrow(/split by row groups: put \{shard\}/);
    expect(planOutputs("out/{input}-{shard}.csv", split, values, { index: 0, count: 3 })).toEqual(["out/a-0.csv", "out/a-1.csv", "out/a-2.csv"]);
    expect(() => planOutputs("out/all.csv", work, values, undefined)).toThrow(/would both write out\/all.csv/);
  });

  it("the run's prediction stats pool each input's exactly", () => {
    const xs = [3, 5, 8, 13, 21, 1, 2];
    const stat = (v: number[]) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      return { scored: v.length, predictions: { mean, std, min: Math.min(...v), max: Math.max(...v) } };
    };
    const all = stat(xs).predictions;
    const p = pooled([stat(xs.slice(0, 3)), stat(xs.slice(3))] as never)!;
    expect(p.mean).toBeCloseTo(all.mean, 12);
    expect(p.std).toBeCloseTo(all.std, 12);
    expect([p.min, p.max]).toEqual([all.min, all.max]);
  });

  it("a local glob expands sorted; a pattern that matches nothing is an error", async () => {
    const dir = mkdtempSync(join(tmp, "glob-"));
    for (const f of ["b_2021-02.csv", "a_2021-01.csv", ".a_2021-03.csv.123.tmp", "notes.txt"]) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(dir, f), "x\n");
    }
    expect((await expandInputs([`${dir}/*.csv`], undefined, {})).map((i) => i.path)).toEqual([`${dir}/a_2021-01.csv`, `${dir}/b_2021-02.csv`]);
    const t = await expandInputs([`${dir}/{name}_{year}-{month}.csv`], undefined, {});
    expect(t.map((i) => i.fields)).toEqual([
      { name: "a", year: "2021", month: "01" },
      { name: "b", year: "2021", month: "02" },
    ]);
    await expect(expandInputs([`${dir}/*.parquet`], undefined, {})).rejects.toThrow(/matches no file/);
  });
});

// Each case runs the CLI several times over real months; a loaded CI machine needs minutes, not 60 s.
const SLOW = 300_000;

describe.skipIf(!hasShared)("the real months in ../shared (skipped: ../shared/data is absent)", { timeout: SLOW }, () => {
  // sha256 of today's CSV output for each real month (the default columns, --on-error skip), recorded
  // from the single-file code path before many-input runs existed: a glob must write the same bytes.
  const TODAY: Record<string, string> = {
    "green_tripdata_2021-01": "57a0dfd59e2cfcc1b3dc2b7538561750dff41a7dbe3d53771f0252af9005f36e",
    "green_tripdata_2021-02": "07bd5c87b1d46ac1dd7e7cca34208eb65db1d9ba41d5c339826b9f6c9dedac56",
    "green_tripdata_2023-01": "9815c7fb3f647db76e524d3fd23691fb4218af9fd084acf9abcf094f6cc8a4a3",
    "green_tripdata_2023-02": "85b19c821c37f5302142d4b4bc27c8a2c190fe64a840defd6f9a3002751eb3ae",
  };

  it("a glob over the real months: one CSV per input through {input}, each byte-identical to today's single-file output; inputs[] sums to the totals", () => {
    const dir = mkdtempSync(join(tmp, "real-glob-"));
    const r = ridepred(["score", join(SHARED, "green_tripdata_*.parquet"), "-o", "out/{input}.csv", "--on-error", "skip", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.inputs.map((i: { input: string }) => i.input)).toEqual(Object.keys(MONTHS).map((m) => join(SHARED, `green_tripdata_${m}.parquet`)));
    expect(s.inputs.map((i: { rows_read: number }) => i.rows_read)).toEqual(Object.values(MONTHS));
    expect(s.rows_read).toBe(Object.values(MONTHS).reduce((a, b) => a + b, 0));
    expect(s.scored + s.filtered + s.rejected).toBe(s.rows_read);
    expect(s.scored).toBe(s.inputs.reduce((a: number, i: { scored: number }) => a + i.scored, 0));
    const files = tree(join(dir, "out"));
    expect(Object.keys(files).sort()).toEqual(Object.keys(TODAY).map((n) => `${n}.csv`));
    for (const [name, hash] of Object.entries(TODAY)) expect(files[`${name}.csv`], name).toBe(hash);
  });

  it("a template as a pattern names Hive partitions from what it matched; a re-run replaces its own files", () => {
    const dir = mkdtempSync(join(tmp, "real-hive-"));
    const args = [
      "score",
      join(SHARED, "{taxi_type}_tripdata_{year}-{month}.parquet"),
      "-o",
      "out/taxi_type={taxi_type}/year={year}/month={month}/{run_id}.parquet",
      "--filter-duration",
      "1..60",
      "--on-error",
      "skip",
      "--json",
    ];
    const r = ridepred(args, { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const first = tree(join(dir, "out"));
    const parts = Object.keys(first).map((p) => p.split("/").slice(0, 3).join("/"));
    expect(parts.sort()).toEqual(Object.keys(MONTHS).map((m) => `taxi_type=green/year=${m.slice(0, 4)}/month=${m.slice(5)}`));
    for (const p of Object.keys(first)) expect(p).toMatch(/\/[0-9a-f]{16}\.parquet$/);
    const again = ridepred(args, { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(tree(join(dir, "out"))).toEqual(first); // same names, same bytes: nothing a reader would count twice
    // Another option is another run: new names beside the old.
    const other = ridepred([...args.slice(0, 4), "--filter-duration", "1..30", "--on-error", "skip"], { cwd: dir });
    expect(other.code, other.stderr).toBe(0);
    expect(Object.keys(tree(join(dir, "out")))).toHaveLength(8);
  });

  describe("a 12-month backfill over files derived from the real months", () => {
    let data: string;
    let bigFile: string;
    beforeAll(async () => {
      data = mkdtempSync(join(tmp, "backfill-data-"));
      const { DuckDBInstance } = await import("@duckdb/node-api");
      const duck = await (await DuckDBInstance.create(":memory:")).connect();
      // 2022-MM: 4,000 rows of a real 2021 month each (DuckDB reads, keeps the columns and types as they are).
      for (let m = 1; m <= 12; m++) {
        const src = join(SHARED, `green_tripdata_2021-0${(m % 2) + 1}.parquet`);
        const file = join(data, `green_tripdata_2022-${String(m).padStart(2, "0")}.parquet`);
        await duck.run(`COPY (SELECT * FROM read_parquet('${src}') LIMIT 4000 OFFSET ${m * 4000}) TO '${file}' (FORMAT parquet)`);
      }
      // One big file of many row groups, for shards of a single input.
      bigFile = join(data, "big.parquet");
      await duck.run(
        `COPY (SELECT * FROM read_parquet(['${join(SHARED, "green_tripdata_2021-01.parquet")}', '${join(SHARED, "green_tripdata_2021-02.parquet")}'])) TO '${bigFile}' (FORMAT parquet, ROW_GROUP_SIZE 10000)`,
      );
    }, 120_000);

    const out = "out/taxi_type={taxi_type}/year={year}/month={month}/{run_id}.csv";
    const backfill = (dir: string, more: string[] = [], env: Record<string, string> = {}) =>
      ridepred(
        ["score", join(data, "green_tripdata_{year}-{month}.parquet"), "--from-date", "2022-01", "--to-date", "2022-12", "--period", "month"]
          .concat(["--set", "taxi_type=green", "-o", out, "--json"])
          .concat(more),
        { cwd: dir, env },
      );

    it("--from-date/--to-date --period month: twelve partitions, 4,000 rows each, counted per input", () => {
      const dir = mkdtempSync(join(tmp, "backfill-"));
      const r = backfill(dir);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s.inputs).toHaveLength(12);
      expect(s.rows_read).toBe(48000);
      const files = Object.keys(tree(join(dir, "out"))).sort();
      expect(files.map((f) => f.split("/").slice(0, 3).join("/"))).toEqual(
        Array.from({ length: 12 }, (_, i) => `taxi_type=green/year=2022/month=${String(i + 1).padStart(2, "0")}`),
      );
      for (const f of files) expect(readCsv(join(dir, "out", f))).toHaveLength(4000);
      // A month missing from the range is a clear error.
      const missing = ridepred(
        [
          "score",
          join(data, "green_tripdata_{year}-{month}.parquet"),
          "--from-date",
          "2022-12",
          "--to-date",
          "2023-01",
          "--period",
          "month",
          "-o",
          "o/{input}.csv",
        ],
        {
          cwd: dir,
        },
      );
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/green_tripdata_2023-01\.parquet: cannot read: no such file/);
    });

    it("shards 0/3, 1/3, 2/3 (flag or Indexed Job environment) write exactly the unsharded run's files", () => {
      const whole = mkdtempSync(join(tmp, "shard-whole-"));
      expect(backfill(whole).code).toBe(0);
      const sharded = mkdtempSync(join(tmp, "shard-parts-"));
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = i === 2 ? backfill(sharded, [], { JOB_COMPLETION_INDEX: "2", RIDEPRED_SHARD_COUNT: "3" }) : backfill(sharded, ["--shard", `${i}/3`]);
        expect(r.code, r.stderr).toBe(0);
        const s = JSON.parse(r.stdout);
        expect(s.shard).toEqual({ index: i, count: 3 });
        counts.push(s.inputs.length);
      }
      expect(counts).toEqual([4, 4, 4]);
      expect(tree(join(sharded, "out"))).toEqual(tree(join(whole, "out")));
      // Without {shard}, {input} or {run_id} shards would overwrite each other: refused.
      const bad = backfill(sharded, ["--shard", "0/3", "-o", "out/{year}.csv"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/add \{shard\}/);
    });

    it("--dry-run: the backfill's outputs, each shard's share (disjoint, together the whole), what the run then writes; nothing read or written", () => {
      type Planned = { input: string; output: string; period: { start: string; end: string }; rows: number };
      const plan = (more: string[] = [], env: Record<string, string> = {}) => {
        const dir = mkdtempSync(join(tmp, "dry-"));
        const r = backfill(dir, ["--dry-run", ...more], env);
        expect(r.code, r.stderr).toBe(0);
        expect(readdirSync(dir)).toEqual([]); // no output, no directory, no temp file
        return { plan: JSON.parse(r.stdout) as { dry_run: true; shard?: unknown; jobs: Planned[]; model: { digest: string } }, stderr: r.stderr };
      };
      const whole = plan();
      expect(whole.stderr).toMatch(/^dry run: 12 inputs, no rows read, nothing written$/m);
      expect(whole.plan.dry_run).toBe(true);
      expect(whole.plan.model.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(whole.plan.jobs.map((j) => j.input)).toEqual(
        Array.from({ length: 12 }, (_, i) => join(data, `green_tripdata_2022-${String(i + 1).padStart(2, "0")}.parquet`)),
      );
      expect(whole.plan.jobs[0]!.period).toEqual({ start: "2022-01-01", end: "2022-02-01" });
      expect(whole.plan.jobs[11]!.period).toEqual({ start: "2022-12-01", end: "2023-01-01" });
      // The real run writes exactly the files the dry run named.
      const dir = mkdtempSync(join(tmp, "dry-then-run-"));
      expect(backfill(dir).code).toBe(0);
      expect(
        Object.keys(tree(join(dir, "out")))
          .map((f) => `out/${f}`)
          .sort(),
      ).toEqual(whole.plan.jobs.map((j) => j.output).sort());
      // Each shard's plan (flag or Indexed Job environment): disjoint shares whose union is the whole plan.
      const shards = [0, 1, 2].map((i) => (i === 2 ? plan([], { JOB_COMPLETION_INDEX: "2", RIDEPRED_SHARD_COUNT: "3" }) : plan(["--shard", `${i}/3`])));
      expect(shards.map((s) => s.plan.shard)).toEqual([0, 1, 2].map((index) => ({ index, count: 3 })));
      expect(shards.map((s) => s.stderr)).toEqual([0, 1, 2].map((i) => `dry run (shard ${i}/3): 4 inputs, no rows read, nothing written\n`));
      const byInput = (a: Planned, b: Planned) => a.input.localeCompare(b.input);
      expect(shards.flatMap((s) => s.plan.jobs).sort(byInput)).toEqual(whole.plan.jobs);
      // Each input is found (its size) and opened (its footer's rows), not read; months missing from the
      // range are all named, exit 2.
      expect(whole.plan.jobs.map((j) => (j as Planned & { bytes: number }).bytes)).toEqual(whole.plan.jobs.map((j) => statSync(j.input).size));
      expect(whole.plan.jobs.map((j) => j.rows)).toEqual(whole.plan.jobs.map(() => 4000));
      const gap = mkdtempSync(join(tmp, "dry-gap-"));
      const args = ["score", join(data, "green_tripdata_{year}-{month}.parquet"), "--from-date", "2022-11", "--to-date", "2023-02", "--period", "month"];
      const r = ridepred([...args, "-o", "out/{input}.csv", "--dry-run"], { cwd: gap });
      expect(r.code).toBe(2);
      expect(r.stdout.split("\n").filter(Boolean)).toEqual([
        `${join(data, "green_tripdata_2022-11.parquet")} -> out/green_tripdata_2022-11.csv (4,000 rows)`,
        `${join(data, "green_tripdata_2022-12.parquet")} -> out/green_tripdata_2022-12.csv (4,000 rows)`,
        `${join(data, "green_tripdata_2023-01.parquet")} -> out/green_tripdata_2023-01.csv (cannot read: no such file)`,
        `${join(data, "green_tripdata_2023-02.parquet")} -> out/green_tripdata_2023-02.csv (cannot read: no such file)`,
      ]);
      expect(r.stderr).toBe(
        `ridepred: ${join(data, "green_tripdata_2023-01.parquet")}: cannot read: no such file\n` +
          `ridepred: ${join(data, "green_tripdata_2023-02.parquet")}: cannot read: no such file\n` +
          "dry run: 4 inputs, 2 of them would fail, no rows read, nothing written\n",
      );
      const json = ridepred([...args, "-o", "out/{input}.csv", "--dry-run", "--json"], { cwd: gap });
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout).jobs.map((j: { error?: string }) => j.error ?? "ok")).toEqual([
        "ok",
        "ok",
        `${join(data, "green_tripdata_2023-01.parquet")}: cannot read: no such file`,
        `${join(data, "green_tripdata_2023-02.parquet")}: cannot read: no such file`,
      ]);
      expect(readdirSync(gap)).toEqual([]);
    });

    it("--dry-run of one big file over shards: one line on stdout per shard, naming its row groups and their rows", () => {
      const dir = mkdtempSync(join(tmp, "dry-big-"));
      const groups = parquetMetadata(new Uint8Array(readFileSync(bigFile)).buffer).row_groups.map((g) => Number(g.num_rows));
      expect(groups.length).toBeGreaterThanOrEqual(3);
      for (let i = 0; i < 3; i++) {
        const r = ridepred(["score", bigFile, "-o", "part-{shard}.csv", "--rejects", "rejects-{shard}.csv", "--shard", `${i}/3`, "--dry-run"], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        const rows = groups.filter((_, g) => g % 3 === i).reduce((a, b) => a + b, 0);
        expect(r.stdout).toBe(`${bigFile} -> part-${i}.csv (${rows.toLocaleString("en-US")} rows; rejects rejects-${i}.csv; row groups g with g % 3 = ${i})\n`);
      }
      expect(readdirSync(dir)).toEqual([]);
    });

    it("one big Parquet file over 3 shards: each reads its row groups; together they are the unsharded rows, ride ids included", () => {
      const dir = mkdtempSync(join(tmp, "shard-big-"));
      const whole = ridepred(["score", bigFile, "-o", "whole.csv"], { cwd: dir });
      expect(whole.code, whole.stderr).toBe(0);
      const rows: Record<string, string>[] = [];
      let read = 0;
      for (let i = 0; i < 3; i++) {
        const r = ridepred(["score", bigFile, "-o", "part-{shard}.csv", "--shard", `${i}/3`, "--json"], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        read += JSON.parse(r.stdout).rows_read;
        rows.push(...readCsv(join(dir, `part-${i}.csv`)));
      }
      const expected = readCsv(join(dir, "whole.csv"));
      expect(read).toBe(MONTHS["2021-01"]! + MONTHS["2021-02"]!);
      const byId = (a: Record<string, string>, b: Record<string, string>) => Number(a.ride_id!.split("_").pop()) - Number(b.ride_id!.split("_").pop());
      expect(rows.sort(byId)).toEqual(expected);
      expect(rows[0]!.ride_id).toBe("big_0");
    });
  });
});

describe.skipIf(!hasShared)("a backfill over a table (skipped: ../shared/data is absent)", { timeout: SLOW }, () => {
  it("duckdb: one job per month, each reading its period through --where, named by the month and {run_id}", async () => {
    const dir = mkdtempSync(join(tmp, "table-backfill-"));
    const db = join(dir, "rides.duckdb");
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const inst = await DuckDBInstance.create(db);
    const conn = await inst.connect();
    const months = ["2021-01", "2021-02"].map((m) => join(SHARED, `green_tripdata_${m}.parquet`));
    await conn.run(`CREATE TABLE rides AS SELECT * FROM read_parquet(['${months[0]}', '${months[1]}'])`);
    const count = async (lo: string, hi: string) =>
      Number(
        (await conn.runAndReadAll(`SELECT count(*) FROM rides WHERE lpep_pickup_datetime >= '${lo}' AND lpep_pickup_datetime < '${hi}'`)).getRowsJS()[0]![0],
      );
    const expected = [await count("2021-01-01", "2021-02-01"), await count("2021-02-01", "2021-03-01")];
    conn.closeSync();
    inst.closeSync(); // DuckDB locks its file: the CLI opens it next
    const r = ridepred(
      ["score", `duckdb:${db}?table=rides`, "--from-date", "2021-01", "--to-date", "2021-02", "--period", "month"]
        .concat(["--where", "lpep_pickup_datetime >= {start} AND lpep_pickup_datetime < {end}", "--ride-id-prefix", "{year}-{month}_"])
        .concat(["-o", "out/month={month}/{run_id}.csv", "--json"]),
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.inputs.map((i: { rows_read: number }) => i.rows_read)).toEqual(expected);
    const files = Object.keys(tree(join(dir, "out"))).sort();
    expect(files.map((f) => f.split("/")[0])).toEqual(["month=01", "month=02"]);
    expect(files[0]!.split("/")[1]).not.toBe(files[1]!.split("/")[1]); // a table's run id includes its period
    const jan = readCsv(join(dir, "out", files[0]!));
    expect(jan).toHaveLength(expected[0]!);
    expect(jan.every((row) => row.ride_id!.startsWith("2021-01_") && row.pickup_datetime!.startsWith("2021-01"))).toBe(true);
  });
});

describe("--dry-run without data", () => {
  it("table locations are printed without their passwords and nothing connects; a Parquet writer thread is not started", () => {
    const url = (t: string) => `postgresql://ridepred:hunter2@127.0.0.1:1/rides?table=${t}`; // port 1: nothing listens
    const r = ridepred(["score", url("trips"), "-o", url("predictions"), "--ride-id-prefix", "t_", "--dry-run", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain("hunter2");
    expect(JSON.parse(r.stdout).jobs[0]).toMatchObject({
      input: "postgresql://ridepred@127.0.0.1:1/rides?table=trips",
      output: "postgresql://ridepred@127.0.0.1:1/rides?table=predictions",
    });
    // A refusal names the location without its password too.
    const typo = ridepred(["score", url("trips"), "-o", url("p_{nope}"), "--ride-id-prefix", "t_", "--dry-run"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("postgresql://ridepred@127.0.0.1:1/rides?table=p_{nope}: unknown placeholder {nope}");
    expect(typo.stdout + typo.stderr).not.toContain("hunter2");
    // RIDEPRED_WRITER_THREAD=on starts the writer before the model loads; a dry run has nothing for it.
    const dir = mkdtempSync(join(tmp, "dry-writer-"));
    const sample = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
    const env = { RIDEPRED_WRITER_THREAD: "on", RIDEPRED_TRACE_WORKER_ENDS: "1" };
    const real = ridepred(["score", sample, "-o", "real.parquet"], { cwd: dir, env });
    expect(real.stderr).toContain("a worker thread ended"); // the trace works here ...
    const dry = ridepred(["score", sample, "-o", "dry.parquet", "--dry-run"], { cwd: dir, env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(`${sample} -> dry.parquet (1,000 rows)\n`);
    expect(dry.stderr).toBe("dry run: 1 input, no rows read, nothing written\n"); // ... and no thread ended in the dry run
    expect(readdirSync(dir)).toEqual(["real.parquet"]);
  });

  it("a plan the run would refuse is refused the same way (exit 2); a --reference the run could not use is named", () => {
    const dir = mkdtempSync(join(tmp, "dry-refused-"));
    const sample = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
    const two = ridepred(["score", sample, join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "-o", "all.csv", "--dry-run"], { cwd: dir });
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/would both write all\.csv/);
    const inDb = ridepred(["score", sample, "-o", "duckdb:x.duckdb?table=p", "--in-database", "--dry-run"], { cwd: dir });
    expect(inDb.code).toBe(2);
    expect(inDb.stderr).toMatch(/--in-database needs a table input/);
    // A directory given as an input: the dry run says what the run says.
    const folder = join(mkdtempSync(join(tmp, "dry-folder-")), "rides.csv");
    mkdirSync(folder);
    for (const args of [[], ["--dry-run"]]) {
      const r = ridepred(["score", folder, "-o", "out.csv", ...args], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`ridepred: ${folder}: is a directory, not a file\n`);
    }
    // One report for several inputs: refused as the run refuses it; one each: named in the plan.
    const data = mkdtempSync(join(tmp, "dry-months-"));
    for (const m of ["01", "02"]) copyFileSync(sample, join(data, `green_tripdata_2021-${m}.parquet`));
    const months = join(data, "green_tripdata_{year}-{month}.parquet");
    const oneReport = ridepred(["score", months, "-o", "out/{input}.csv", "--report", "r.html", "--dry-run"], { cwd: dir });
    expect(oneReport.code).toBe(2);
    expect(oneReport.stderr).toMatch(/--report r\.html: several inputs would write r\.html/);
    expect(two.stdout + inDb.stdout + oneReport.stdout).toBe("");
    // A --reference is checked as the run checks it before its first row: a summary read, a data file
    // opened (its columns), each missing or unusable one named with the run's message.
    const summary = ridepred(["score", sample, "-o", join(data, "scored.csv"), "--stats", "--json"], { cwd: dir });
    writeFileSync(join(data, "ref-2021.json"), summary.stdout);
    const refs = join(data, "ref-{year}.json");
    const each = ridepred(["score", months, "-o", "out/{input}.csv", "--report", "r-{month}.html", "--reference", refs, "--dry-run", "--json"], { cwd: dir });
    expect(each.code, each.stderr).toBe(0);
    expect(JSON.parse(each.stdout).jobs.map((j: { report: string; reference: string }) => [j.report, j.reference])).toEqual([
      ["r-01.html", join(data, "ref-2021.json")],
      ["r-02.html", join(data, "ref-2021.json")],
    ]);
    const renamed = join(data, "renamed.csv");
    writeFileSync(renamed, readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8").replace("PULocationID", "pu_location"));
    for (const reference of ["missing.json", renamed]) {
      const run = ridepred(["score", months, "-o", "out/{input}.csv", "--reference", reference], { cwd: dir });
      expect(run.code).toBe(2);
      const why = run.stderr.split("\n").find((l) => l.startsWith("ridepred: "))!;
      expect(why).toMatch(reference === renamed ? /renamed\.csv: no column for model input PULocationID/ : /^ridepred: --reference missing\.json: cannot read/);
      const dry = ridepred(["score", months, "-o", "out/{input}.csv", "--reference", reference, "--dry-run", "--json"], { cwd: dir });
      expect(dry.code).toBe(2);
      expect(dry.stderr).toBe(`${why}\ndry run: 2 inputs, 2 of them would fail, no rows read, nothing written\n`); // named once
      expect(JSON.parse(dry.stdout).jobs.map((j: { error?: string }) => j.error)).toEqual([1, 2].map(() => why.slice("ridepred: ".length)));
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("--dry-run opens each input as the run would", () => {
  it("an input the run would refuse (not Parquet, empty, a CSV without a model input, no times for --filter-duration) is named with the run's message, exit 2; the others are planned", () => {
    const data = mkdtempSync(join(tmp, "dry-open-"));
    const sample = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
    const csv = readFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), "utf8");
    copyFileSync(sample, join(data, "green_tripdata_2021-01.parquet"));
    writeFileSync(join(data, "green_tripdata_2021-02.parquet"), readFileSync(sample).subarray(0, 3000)); // cut off: no footer
    writeFileSync(join(data, "green_tripdata_2021-03.parquet"), "");
    writeFileSync(join(data, "green_tripdata_2021-04.csv"), csv.replace("PULocationID", "pu_location")); // renamed in the header
    const noTimes = csv
      .split("\n")
      .map((line) => line.split(",").slice(3).join(","))
      .join("\n"); // without VendorID and the two times
    writeFileSync(join(data, "green_tripdata_2021-05.csv"), noTimes);
    copyFileSync(join(ROOT, "examples/green_tripdata_2021-02_sample.csv"), join(data, "green_tripdata_2021-06.csv"));
    const inputs = ["01.parquet", "02.parquet", "03.parquet", "04.csv", "05.csv", "06.csv"].map((f) => join(data, `green_tripdata_2021-${f}`));
    const args = ["score", ...inputs, "-o", "out/{input}.csv", "--filter-duration", "1..60"];
    const dir = mkdtempSync(join(tmp, "dry-open-out-"));
    // What each input's own run says: the dry run must say the same, all at once.
    const runs = inputs.map((input) => ridepred(["score", input, "-o", "one.csv", "--filter-duration", "1..60"], { cwd: dir }));
    expect(runs.map((r) => r.code)).toEqual([0, 2, 2, 2, 2, 0]);
    const refusals = runs.map((r) => r.stderr.split("\n").find((l) => l.startsWith("ridepred: ")));
    expect(refusals[1]).toMatch(/green_tripdata_2021-02\.parquet: not a readable Parquet file \(.*\); truncated or not Parquet\?$/);
    expect(refusals[2]).toBe(`ridepred: ${inputs[2]}: not a readable Parquet file (empty); truncated or not Parquet?`);
    expect(refusals[3]).toMatch(/green_tripdata_2021-04\.csv: no column for model input PULocationID \(tried .*\); name it with --map COLUMN=PULocationID/);
    expect(refusals[4]).toMatch(/green_tripdata_2021-05\.csv: --filter-duration needs pickup and dropoff times/);
    rmSync(join(dir, "one.csv"));

    const dry = ridepred([...args, "--dry-run"], { cwd: dir });
    expect(dry.code).toBe(2);
    expect(dry.stderr).toBe([1, 2, 3, 4].map((i) => `${refusals[i]}\n`).join("") + "dry run: 6 inputs, 4 of them would fail, no rows read, nothing written\n");
    const line = (i: number, note?: string) => `${inputs[i]} -> out/green_tripdata_2021-0${i + 1}.csv${note ? ` (${note})` : ""}`;
    const reason = (i: number) => refusals[i]!.slice(`ridepred: ${inputs[i]}: `.length);
    expect(dry.stdout.split("\n").filter(Boolean)).toEqual([
      line(0, "1,000 rows"),
      line(1, reason(1)),
      line(2, reason(2)),
      line(3, reason(3)),
      line(4, reason(4)),
      line(5),
    ]);
    const json = ridepred([...args, "--dry-run", "--json"], { cwd: dir });
    expect(JSON.parse(json.stdout).jobs.map((j: { rows?: number; error?: string }) => j.error ?? j.rows ?? "ok")).toEqual([
      1000,
      ...[1, 2, 3, 4].map((i) => refusals[i]!.slice("ridepred: ".length)),
      "ok", // a CSV's rows are not known before it is read
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("errors", () => {
  it("two inputs to one output, stdin among several, --from-date alone: usage errors (exit 2)", () => {
    const sample = join(ROOT, "examples/green_tripdata_2021-02_sample.parquet");
    const csv = join(ROOT, "examples/green_tripdata_2021-02_sample.csv");
    const dir = mkdtempSync(join(tmp, "errors-"));
    const same = ridepred(["score", sample, csv, "-o", "out.csv"], { cwd: dir });
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/would both write out\.csv: name each input's output with \{input\}/);
    expect(ridepred(["score", "-", sample], { cwd: dir }).stderr).toMatch(/stdin \(-\) can only be the one input/);
    expect(ridepred(["score", sample, "--from-date", "2021-01"], { cwd: dir }).stderr).toMatch(/--from-date and --to-date go together/);
    expect(readdirSync(dir)).toEqual([]);
    const two = ridepred(["score", sample, csv, "-o", "out/{input}.csv"], { cwd: dir });
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/would both write out\/green_tripdata_2021-02_sample\.csv/);
  });
});
