// bench/score: `ridepred score` against the course's batch job (pandas + scikit-learn under Debian's
// /usr/bin/python3, CSV in and out since Debian has no pyarrow), on real TLC rows from ../shared repeated
// to N rows, measured in the same run. Prints, per run, wall-clock rows/s (the whole command: start-up,
// model load, reading, scoring, writing), the job's own rows/s from --json, the ratio to the reference,
// and peak RSS (from /usr/bin/time); then checks the three targets and that both sides predicted the
// same numbers (and that ridepred's Parquet output holds the same rows as its CSV output, via DuckDB).
// Then (bench/score-duckdb.mjs) DuckDB running the same model as SQL on the same CSV and Parquet files,
// same threads, alternated with ridepred round after round: ridepred's speed ratio to it for CSV -> CSV,
// CSV -> Parquet and Parquet -> Parquet (and, without a target, Parquet -> Parquet from the same rows as
// DuckDB writes them: integer ids), and the outputs compared row by row.
// usage: npm run build && node bench/score.mjs [--rows 1000000] [--rounds 3] [--threads 2] [--dir /tmp/ridepred-bench]
//          [--no-reference] [--only pandas|duckdb] [--keep-ca-certs]
//   ~2 minutes at 1M rows on 2 cores; the targets are stated for --rows 10000000 (~15 minutes, most of it
//   the reference; pandas needs ~7 GB there). Under flock /tmp/ridepred-bench.lock when others bench too.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { arg, column, fmt } from "./lib/harness.mjs";
import { makeData, makeIdsParquet } from "./score-data.mjs";

const rows = Number(arg("--rows", 1_000_000));
const dir = arg("--dir", "/tmp/ridepred-bench");
const withReference = !process.argv.includes("--no-reference");
const rounds = Number(arg("--rounds", 3));
const threads = Number(arg("--threads", 2));
const only = arg("--only", undefined);
const keepCaCerts = process.argv.includes("--keep-ca-certs"); // ridepred's DuckDB-part runs keep NODE_EXTRA_CA_CERTS
if (only !== undefined && only !== "pandas" && only !== "duckdb") throw new Error(`--only ${only}: expected pandas or duckdb`);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin/ridepred");
const python = "/usr/bin/python3";

if (!existsSync(join(root, "../shared/data/green_tripdata_2021-01.parquet"))) {
  console.log("bench/score: skipped, ../shared/data (real TLC months) is absent");
  process.exit(0);
}
console.error(`preparing ${rows.toLocaleString("en-US")} real rows in ${dir} ...`);
const { csvPath, pqPath } = await makeData(rows, dir);
const idsPath = only === "pandas" ? undefined : await makeIdsParquet(csvPath, dir, rows);

if (only === "duckdb") {
  const { duckdbBench } = await import("./score-duckdb.mjs");
  const { ok } = await duckdbBench({ root, rows, rounds, threads, csvPath, pqPath, idsPath, dir, keepCaCerts });
  if (!ok) process.exitCode = 1;
  process.exit();
}

/** Run a command under /usr/bin/time: wall seconds, peak RSS in MB, and the --json summary if it printed one. */
function measure(label, cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "RSS_KB=%M", cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr}`);
  const kb = Number(/RSS_KB=(\d+)/.exec(r.stderr)?.[1]);
  let job;
  try {
    job = JSON.parse(r.stdout).rows_per_second;
  } catch {}
  return { label, seconds, rss: kb / 1024, rate: rows / seconds, job };
}

const results = [];
// Every timed run writes a file that does not exist yet (one name per round; all removed at the end):
// replacing a previous ~300 MB output frees its blocks inside the timed command (seen here: 0.2-0.9 s on
// ext4 with discard), which is the disk's cost of the old file, not the job's.
const out = (name, round) => join(dir, `out.${name}.r${round}`);
const outRef = join(dir, "out.reference.csv");
for (const f of [outRef]) rmSync(f, { force: true });
const common = ["--filter-duration", "1..60", "--json"]; // the course job's filter, so both sides do the same work

let ref;
if (withReference && existsSync(python)) {
  ref = measure("reference: pandas + scikit-learn, CSV -> CSV", python, [
    join(root, "bench/score_reference.py"),
    join(root, "models/ride-duration.bin"),
    csvPath,
    outRef,
  ]);
  results.push(ref);
}
// ridepred's runs go round after round; each keeps its fastest round (other load on a shared machine only
// ever slows a run down) and the highest peak RSS of all its rounds (memory is not flattered).
const runs = [
  ["ridepred score CSV -> CSV", (r) => [bin, "score", csvPath, "-o", out("csv", r) + ".csv", ...common], {}],
  ["ridepred score Parquet -> Parquet", (r) => [bin, "score", pqPath, "-o", out("pq", r) + ".parquet", ...common], {}],
  // the same job with the Parquet encoder on the main thread: what the second core is worth
  [
    "ridepred Parquet -> Parquet, RIDEPRED_WRITER_THREAD=off",
    (r) => [bin, "score", pqPath, "-o", out("pq-main", r) + ".parquet", ...common],
    { RIDEPRED_WRITER_THREAD: "off" },
  ],
];
const outputs = [];
for (let round = 0; round < rounds; round++) for (const [, args] of runs) outputs.push(args(round).at(-4));
for (const f of outputs) rmSync(f, { force: true });
const best = runs.map(() => undefined);
for (let round = 0; round < rounds; round++) {
  runs.forEach(([label, args, env], i) => {
    const m = measure(label, process.execPath, args(round), env);
    const b = best[i];
    best[i] =
      !b || m.seconds < b.seconds ? { ...m, rss: Math.max(m.rss, b?.rss ?? 0), rounds: round + 1 } : { ...b, rss: Math.max(m.rss, b.rss), rounds: round + 1 };
  });
}
const [csv, pq] = best;
const outCsv = out("csv", rounds - 1) + ".csv";
const outPq = out("pq", rounds - 1) + ".parquet";
results.push(...best);

console.log(
  `\nbench/score: ${fmt(rows)} real TLC rows (green 2021-01, 2021-02, 2023-01 repeated), filter 1..60 min, ${cpus().length} cores, same machine, same run; ridepred: fastest of ${rounds} rounds, highest RSS of them`,
);
console.log("| run | seconds | rows/s (wall) | rows/s (job) | vs reference | peak RSS |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of results) {
  const ratio = ref ? `${(r.rate / ref.rate).toFixed(2)}x` : "-";
  console.log(`| ${r.label} | ${r.seconds.toFixed(2)} | ${fmt(r.rate)} | ${r.job ? fmt(r.job) : "-"} | ${ratio} | ${r.rss.toFixed(0)} MB |`);
}
console.log("rows/s (wall) is the whole command; rows/s (job) is ridepred's own --json figure, without start-up and model load.");
if (ref) console.log("(the reference cannot read or write Parquet without pyarrow: the Parquet ratio is against its CSV run)");

const verdict = (ok) => (ok ? "met" : "NOT met");
const peak = Math.max(...results.filter((r) => r !== ref).map((r) => r.rss));
console.log(`\ntargets (${fmt(rows)} rows):`);
console.log(`- Parquet -> Parquet >= 2,000,000 rows/s: ${fmt(pq.rate)} wall, ${fmt(pq.job)} job: ${verdict(pq.rate >= 2e6)} (wall)`);
if (ref) console.log(`- CSV -> CSV >= 2x the reference: ${(csv.rate / ref.rate).toFixed(2)}x: ${verdict(csv.rate / ref.rate >= 2)}`);
console.log(
  `- peak RSS < 200 MB at 10,000,000 rows: ${peak.toFixed(0)} MB at ${fmt(rows)} rows: ${rows >= 10_000_000 ? verdict(peak < 200) : "(run with --rows 10000000 to check)"}`,
);

if (ref) {
  const [a, b] = [await column(outCsv, "predicted_duration"), await column(outRef, "predicted_duration")];
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  console.log(`check: ${fmt(a.length)} vs ${fmt(b.length)} predictions, max |ridepred - scikit-learn| = ${worst.toExponential(2)}`);
  if (a.length !== b.length || worst > 1e-9) process.exitCode = 1;
}
// ridepred's Parquet output against its CSV output, through an independent reader.
try {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const db = await (await DuckDBInstance.create(":memory:")).connect();
  const sql = `SELECT count(*) AS n, count(*) FILTER (WHERE c.ride_id IS NULL OR p.predicted_duration <> c.predicted_duration OR p.PULocationID <> c.PULocationID) AS differ
    FROM read_parquet('${outPq}') p LEFT JOIN read_csv('${outCsv}', types={'PULocationID': 'VARCHAR', 'predicted_duration': 'DOUBLE'}) c USING (ride_id)`;
  const [{ n, differ }] = (await db.runAndReadAll(sql)).getRowObjects();
  console.log(`check: Parquet output ${fmt(Number(n))} rows, ${fmt(Number(differ))} differing from the CSV output (DuckDB)`);
  if (Number(differ) !== 0) process.exitCode = 1;
} catch (e) {
  console.log(`check: Parquet output not compared (${e.message})`);
}
for (const f of [...outputs, outRef]) rmSync(f, { force: true });
if (only !== "pandas") {
  const { duckdbBench } = await import("./score-duckdb.mjs");
  const { ok } = await duckdbBench({ root, rows, rounds, threads, csvPath, pqPath, idsPath, dir, keepCaCerts });
  if (!ok) process.exitCode = 1;
}
