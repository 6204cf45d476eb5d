// bench/score: `ridepred score` against the course's batch job (pandas + scikit-learn under Debian's
// /usr/bin/python3, CSV in and out since Debian has no pyarrow), on real TLC rows from ../shared repeated
// to N rows, measured in the same run. Prints rows/s, the ratio, and peak RSS (from /usr/bin/time) for
// CSV->CSV and Parquet->Parquet, and checks that both sides predicted the same numbers.
// usage: npm run build && node bench/score.mjs [--rows 1000000] [--dir /tmp/ridepred-bench] [--no-reference]
//   about 2 minutes at the default 1M rows on 2 cores; --rows 10000000 for the memory target (takes longer).
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeData } from "./score-data.mjs";

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const rows = Number(arg("--rows", 1_000_000));
const dir = arg("--dir", "/tmp/ridepred-bench");
const withReference = !process.argv.includes("--no-reference");
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin/ridepred");
const python = "/usr/bin/python3";

if (!existsSync(join(root, "../shared/data/green_tripdata_2021-01.parquet"))) {
  console.log("bench/score: skipped, ../shared/data (real TLC months) is absent");
  process.exit(0);
}
console.error(`preparing ${rows.toLocaleString("en-US")} real rows in ${dir} ...`);
const { csvPath, pqPath } = await makeData(rows, dir);

/** Run a command under /usr/bin/time: wall seconds and peak RSS in MB. */
function measure(label, cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "RSS_KB=%M", cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr}`);
  const kb = Number(/RSS_KB=(\d+)/.exec(r.stderr)?.[1]);
  return { label, seconds, rss: kb / 1024, rate: rows / seconds };
}

/** Column `name` of a CSV file as numbers (simple split: the bench outputs have no quoted fields). */
async function column(path, name) {
  const out = [];
  let idx = -1;
  for await (const line of createInterface({ input: createReadStream(path) })) {
    if (idx < 0) idx = line.split(",").indexOf(name);
    else out.push(Number(line.split(",")[idx]));
  }
  return out;
}

const results = [];
const outCsv = join(dir, "out.ridepred.csv");
const outPq = join(dir, "out.ridepred.parquet");
const outRef = join(dir, "out.reference.csv");
const common = ["--filter-duration", "1..60"]; // the course job's filter, so both sides do the same work

let ref;
if (withReference && existsSync(python)) {
  ref = measure("reference: pandas + scikit-learn, CSV -> CSV", python, [join(root, "bench/score_reference.py"), join(root, "models/ride-duration.bin"), csvPath, outRef]);
  results.push(ref);
}
const csv = measure("ridepred score CSV -> CSV", process.execPath, [bin, "score", csvPath, "-o", outCsv, ...common]);
results.push(csv);
const pq = measure("ridepred score Parquet -> Parquet", process.execPath, [bin, "score", pqPath, "-o", outPq, ...common]);
results.push(pq);
// Live heap stays ~20 MB; peak RSS is mostly V8 letting garbage pile up. A heap cap trades nothing measurable.
const capped = { NODE_OPTIONS: "--max-old-space-size=128" };
results.push(measure("ridepred CSV -> CSV, NODE_OPTIONS=--max-old-space-size=128", process.execPath, [bin, "score", csvPath, "-o", outCsv, ...common], capped));
results.push(measure("ridepred Parquet -> Parquet, NODE_OPTIONS=--max-old-space-size=128", process.execPath, [bin, "score", pqPath, "-o", outPq, ...common], capped));
results.push(measure("ridepred Parquet -> Parquet, --compression none", process.execPath, [bin, "score", pqPath, "-o", outPq, "--compression", "none", ...common]));

console.log(`\nbench/score: ${rows.toLocaleString("en-US")} real TLC rows (green 2021-01, 2021-02, 2023-01 repeated), filter 1..60 min, same machine, same run`);
console.log("| run | seconds | rows/s | vs reference | peak RSS |");
console.log("|---|---:|---:|---:|---:|");
for (const r of results) {
  const ratio = ref ? `${(r.rate / ref.rate).toFixed(2)}x` : "-";
  console.log(`| ${r.label} | ${r.seconds.toFixed(2)} | ${Math.round(r.rate).toLocaleString("en-US")} | ${ratio} | ${r.rss.toFixed(0)} MB |`);
}
if (ref) console.log("(the reference cannot read or write Parquet without pyarrow: the Parquet ratio is against its CSV run)");

if (ref) {
  const [a, b] = [await column(outCsv, "predicted_duration"), await column(outRef, "predicted_duration")];
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  console.log(`check: ${a.length.toLocaleString("en-US")} vs ${b.length.toLocaleString("en-US")} predictions, max |ridepred - scikit-learn| = ${worst.toExponential(2)}`);
  if (a.length !== b.length || worst > 1e-9) process.exitCode = 1;
}
for (const f of [outCsv, outPq, outRef]) rmSync(f, { force: true });
