// bench/trees: tree ensembles scored by `ridepred score` against scikit-learn's own whole job (pandas,
// DictVectorizer, predict) on the same real rows, at equal threads, in the same run; predictions must
// agree to the last bit. Models: the course's web-service-mlflow RandomForest recipe (100 trees, depth 20)
// and a GradientBoosting pipeline, trained by bench/trees/train.py on green 2021-01.
// usage: npm run build && node bench/trees.mjs [--rows 1000000] [--models forest,boosting] [--dir /tmp/ridepred-bench]
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { arg, column, fmt, run } from "./lib/harness.mjs";
import { makeData } from "./score-data.mjs";

const rows = Number(arg("--rows", 1_000_000));
const dir = arg("--dir", "/tmp/ridepred-bench");
const models = arg("--models", "forest,boosting").split(",");
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin/ridepred");
const python = "/usr/bin/python3";
const modelDir = join(root, ".bench/trees");

if (!existsSync(join(root, "../shared/data/green_tripdata_2021-01.parquet")) || !existsSync(python)) {
  console.log("bench/trees: skipped, needs ../shared/data and /usr/bin/python3 with scikit-learn");
  process.exit(0);
}
console.error("training the bench models if absent (bench/trees/train.py) ...");
run(python, [join(root, "bench/trees/train.py"), join(root, "../shared/data"), modelDir]);
const { csvPath } = await makeData(rows, dir);

const lines = [];
for (const name of models) {
  const pkl = join(modelDir, `${name}.bin`);
  const json = join(modelDir, `${name}.json`);
  if (!existsSync(json)) run(process.execPath, [bin, "import", pkl, "-o", json]);
  for (const threads of [1, 2]) {
    const refOut = join(dir, `trees.${name}.ref${threads}.csv`);
    const ours = join(dir, `trees.${name}.ours${threads}.csv`);
    rmSync(refOut, { force: true });
    rmSync(ours, { force: true });
    const ref = run(python, [join(root, "bench/trees/reference.py"), pkl, csvPath, refOut, String(threads)]).seconds;
    const args = [bin, "score", csvPath, "--model", json, "-o", ours, "--filter-duration", "1..60"];
    const t = run(process.execPath, args, { RIDEPRED_THREADS: String(threads) }).seconds;
    const [a, b] = [await column(ours, "predicted_duration"), await column(refOut, "predicted_duration")];
    let same = a.length === b.length;
    let worst = 0;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] !== b[i]) same = false;
      worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-12));
    }
    // scikit-learn's forest on n_jobs > 1 threads adds the trees in the order the threads finish, so its
    // own last bits move; ridepred's rows always sum in tree order (the n_jobs=1 result).
    const verdict = same ? "yes" : `no: worst relative ${worst.toExponential(1)}`;
    lines.push(`| ${name} | ${threads} | ${ref.toFixed(2)} | ${t.toFixed(2)} | ${(ref / t).toFixed(2)}x | ${verdict} (${fmt(a.length)}) |`);
    rmSync(refOut, { force: true });
    rmSync(ours, { force: true });
  }
}
console.log(`\nbench/trees: ${fmt(rows)} real rows, CSV -> CSV, filter 1..60, whole command vs whole job, same run`);
console.log("| model | threads | scikit-learn s | ridepred s | ratio | same predictions (rows) |");
console.log("|---|---:|---:|---:|---:|---|");
for (const l of lines) console.log(l);
