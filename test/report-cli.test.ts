// `ridepred score --report/--reference` on two real months: 2021-01 scored with --json is the reference
// of 2021-02. The drift figures are checked against golden numbers and recounted from the output files
// themselves (every bin's rows, then PSI by the formula), the exit codes with and without
// --fail-on-drift, the report's size and that it names nothing outside itself.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { beforeAll, describe, expect, it } from "vitest";
import type { DriftSummary } from "../src/report/index.js";

const ROOT = join(__dirname, "..");
const BIN = join(ROOT, "bin/ridepred");
const SHARED = join(ROOT, "../shared/data");
const JAN = join(SHARED, "green_tripdata_2021-01.parquet");
const FEB = join(SHARED, "green_tripdata_2021-02.parquet");
const tmp = mkdtempSync(join(tmpdir(), "ridepred-report-"));

function ridepred(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const column = async (file: string, name: string) =>
  (await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: [name] })).map((r) => r[name] as number);

/** Rows of xs in each bin (previous upper, upper], the last bin open. */
function recount(xs: number[], uppers: (number | null | undefined)[]): number[] {
  const out = uppers.map(() => 0);
  for (const x of xs) {
    const i = uppers.findIndex((u) => u === null || u === undefined || x <= u);
    out[i]!++;
  }
  return out;
}

const psiOf = (ref: number[], cur: number[]) => {
  const r = ref.reduce((a, b) => a + b, 0);
  const c = cur.reduce((a, b) => a + b, 0);
  return ref.reduce((s, n, i) => {
    const p = Math.max(n / r, 1e-4);
    const q = Math.max(cur[i]! / c, 1e-4);
    return s + (q - p) * Math.log(q / p);
  }, 0);
};

describe.skipIf(!existsSync(JAN) || !existsSync(FEB))("score --report/--reference on 2021-01 -> 2021-02 (skipped: ../shared/data is absent)", () => {
  let drift: DriftSummary;
  let html: string;
  beforeAll(() => {
    const jan = ridepred(["score", JAN, "-o", "2021-01.parquet", "--stats", "--json"]);
    expect(jan.code, jan.stderr).toBe(0);
    writeFileSync(join(tmp, "2021-01.json"), jan.stdout);
    const feb = ridepred(["score", FEB, "-o", "2021-02.parquet", "--reference", "2021-01.json", "--report", "2021-02.html", "--json"]);
    expect(feb.code, feb.stderr).toBe(0);
    drift = JSON.parse(feb.stdout).drift;
    html = readFileSync(join(tmp, "2021-02.html"), "utf8");
  }, 120_000);

  it("--json carries the drift figures: PSI per input and for the predictions (golden), none above 0.2", () => {
    expect(drift.reference).toEqual({ source: "2021-01.json", model: { name: "ride-duration", version: "2021-01.1" }, rows: 73908 });
    expect(drift.threshold).toBe(0.2);
    expect(drift.flagged).toEqual([]);
    expect(drift.prediction.drift!.psi).toBeCloseTo(0.0725, 4);
    expect(drift.inputs.PULocationID!.drift!.psi).toBeCloseTo(0.0054, 4);
    expect(drift.inputs.DOLocationID!.drift!.psi).toBeCloseTo(0.0019, 4);
    expect(drift.inputs.trip_distance!.drift!.psi).toBeCloseTo(0.0019, 4);
    // 10 quantile bins of a number; the reference's top 20 categories and the rest
    expect(drift.prediction.drift!.bins).toHaveLength(10);
    expect(drift.inputs.PULocationID!.drift!.bins).toHaveLength(21);
    // the course's validation RMSE of this model on this month, from the error's sum of squares
    const e = drift.error!;
    expect(Math.sqrt(e.sketch.squares / e.count)).toBeCloseTo(7.7587, 4);
    expect(drift.combinations.PU_DO!.count).toBe(61921);
  });

  it("every bin's rows recounted from the two output files give the same counts and PSI", async () => {
    const bins = drift.prediction.drift!.bins;
    const uppers = bins.map((b) => b.upper);
    const ref = recount(await column(join(tmp, "2021-01.parquet"), "predicted_duration"), uppers);
    const cur = recount(await column(join(tmp, "2021-02.parquet"), "predicted_duration"), uppers);
    expect(bins.map((b) => b.reference)).toEqual(ref);
    expect(bins.map((b) => b.current)).toEqual(cur);
    expect(drift.prediction.drift!.psi).toBeCloseTo(psiOf(ref, cur), 12);
    // the reference's bins hold about a tenth of its rows each (edges on 2% buckets)
    for (const n of ref) expect(n / 73908).toBeGreaterThan(0.08);
  });

  it("the report: one file under 1 MB, nothing fetched from elsewhere, the same figures as --json", () => {
    expect(statSync(join(tmp, "2021-02.html")).size).toBeLessThan(1 << 20);
    expect(html).not.toMatch(/https?:\/\/|<link|@import|url\(|\bsrc=/i);
    expect(html).toContain(drift.prediction.drift!.psi.toFixed(4));
    const embedded = JSON.parse(/<script type="application\/json" id="drift">([\s\S]*?)<\/script>/.exec(html)![1]!);
    expect(embedded).toEqual(drift);
  });

  it("--fail-on-drift: exit 0 when nothing is above the threshold, 1 when something is (outputs written all the same)", () => {
    const calm = ridepred(["score", FEB, "-o", "calm.parquet", "--reference", "2021-01.json", "--fail-on-drift"]);
    expect(calm.code, calm.stderr).toBe(0);
    expect(calm.stderr).toContain("drift against 2021-01.json (PSI): predicted_duration 0.0725");
    expect(calm.stderr).toContain("none above 0.2");
    const shifted = ridepred([
      "score",
      FEB,
      "-o",
      "shifted.parquet",
      "--reference",
      "2021-01.json",
      "--drift-threshold",
      "0.05",
      "--fail-on-drift",
      "--report",
      "shifted.html",
      "--json",
    ]);
    expect(shifted.code, shifted.stderr).toBe(1);
    expect(JSON.parse(shifted.stdout).drift.flagged).toEqual(["prediction"]);
    expect(existsSync(join(tmp, "shifted.parquet"))).toBe(true);
    expect(readFileSync(join(tmp, "shifted.html"), "utf8")).toContain('<tr class="flagged" data-column="prediction">');
    // drift reported, not a failure, without --fail-on-drift
    expect(ridepred(["score", FEB, "-o", "noted.parquet", "--reference", "2021-01.json", "--drift-threshold", "0.05"]).code).toBe(0);
  });

  it("a data file as the reference is scored for the purpose and gives the same figures as its --json summary", () => {
    const r = ridepred(["score", FEB, "-o", "viafile.parquet", "--reference", JAN, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout).drift as DriftSummary;
    expect(d.prediction.drift).toEqual(drift.prediction.drift);
    for (const name of Object.keys(drift.inputs)) expect(d.inputs[name]!.drift).toEqual(drift.inputs[name]!.drift);
  });

  it("usage errors exit 2 with the reason", () => {
    const noRef = ridepred(["score", FEB, "-o", "x.parquet", "--fail-on-drift"]);
    expect(noRef.code).toBe(2);
    expect(noRef.stderr).toContain("--fail-on-drift needs --reference FILE");
    writeFileSync(join(tmp, "old.json"), JSON.stringify({ rows_read: 1 }));
    const old = ridepred(["score", FEB, "-o", "y.parquet", "--reference", "old.json"]);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain("--reference old.json: it has no drift statistics");
    expect(existsSync(join(tmp, "y.parquet"))).toBe(false);
    const bad = ridepred(["score", FEB, "-o", "z.parquet", "--reference", "2021-01.json", "--drift-threshold", "x"]);
    expect(bad.code).toBe(2);
  });
});

// Without ../shared: the committed sample, as CSV and as Parquet (the same rides), and copies of it as months.
describe("score --report/--reference on the committed sample", () => {
  const SAMPLE = join(ROOT, "examples/green_tripdata_2021-02_sample");

  it("the same rides read from CSV against their Parquet run's summary: every PSI 0, --fail-on-drift exits 0", () => {
    const ref = ridepred(["score", `${SAMPLE}.parquet`, "-o", "sample.parquet", "--stats", "--json"]);
    expect(ref.code, ref.stderr).toBe(0);
    writeFileSync(join(tmp, "sample.json"), ref.stdout);
    const r = ridepred(["score", `${SAMPLE}.csv`, "-o", "sample.csv", "--reference", "sample.json", "--report", "sample.html", "--fail-on-drift", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout).drift as DriftSummary;
    expect(d.prediction.drift!.psi).toBe(0);
    for (const c of Object.values(d.inputs)) expect(c.drift!.psi).toBe(0);
    expect(d.inputs.PULocationID).toMatchObject({ kind: "category", count: 1000, missing: 0 });
    expect(statSync(join(tmp, "sample.html")).size).toBeLessThan(1 << 20);
  });

  it("a plain --json run gathers no statistics (it does not pay for them) and cannot be a reference; --stats adds them", () => {
    const plain = ridepred(["score", `${SAMPLE}.parquet`, "-o", "plain.parquet", "--json"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).drift).toBeUndefined();
    writeFileSync(join(tmp, "plain.json"), plain.stdout);
    const r = ridepred(["score", `${SAMPLE}.csv`, "-o", "plain.csv", "--reference", "plain.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--reference plain.json: it has no drift statistics (a summary from ridepred score --json with --stats");
    const stats = ridepred(["score", `${SAMPLE}.parquet`, "-o", "plain.parquet", "--stats", "--json"]);
    expect(JSON.parse(stats.stdout).drift.inputs.trip_distance.count).toBe(1000);
  });

  it("several inputs: one report each, named from its period; one name for all is refused before anything is read", () => {
    const dir = mkdtempSync(join(tmp, "months-"));
    for (const m of ["01", "02", "03"]) copyFileSync(`${SAMPLE}.parquet`, join(dir, `green_tripdata_2021-${m}.parquet`));
    const pattern = join(dir, "green_tripdata_{year}-{month}.parquet");
    const r = ridepred(["score", pattern, "-o", join(dir, "out/{year}-{month}.parquet"), "--report", join(dir, "out/{year}-{month}.html"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      readdirSync(join(dir, "out"))
        .filter((f) => f.endsWith(".html"))
        .sort(),
    ).toEqual(["2021-01.html", "2021-02.html", "2021-03.html"]);
    const s = JSON.parse(r.stdout);
    expect(s.inputs.map((i: { drift: DriftSummary }) => i.drift.prediction.count)).toEqual([1000, 1000, 1000]);
    const one = ridepred(["score", pattern, "-o", join(dir, "again/{year}-{month}.parquet"), "--report", join(dir, "again/all.html")]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain("several inputs would write");
    expect(existsSync(join(dir, "again"))).toBe(false);
  });
});
