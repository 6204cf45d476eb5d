// bench/fuzz: a longer mutation fuzz of every committed sklearn fixture (pickle, joblib plain/zlib/gzip, hand-made)
// and XGBoost booster (legacy binary, JSON, UBJSON; test/fixtures/xgboost)
// than the test suite's. Each mutant must import into a valid, predicting artifact or be refused with a
// RidepredError; anything else, or a case that stalls for 10 s (watchdog), is a defect and exit 1.
// Throughput is reported beside the reference measured in the same run: importing the unmutated files.
// usage: npm run build && node bench/fuzz.mjs [--seconds 120] [--seed 1]
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const DIR = fileURLToPath(new URL("../test/fixtures/sklearn/", import.meta.url));

if (isMainThread) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const seconds = arg("--seconds", 120);
  const seed = arg("--seed", 1);
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { seconds, seed } });
  let last = Date.now();
  let lastCase = null;
  const watchdog = setInterval(() => {
    if (Date.now() - last > 10_000) {
      console.error(`DEFECT: no progress for 10 s; stalled on ${JSON.stringify(lastCase)} (replay with --seed ${seed})`);
      worker.terminate();
      process.exitCode = 1;
      clearInterval(watchdog);
    }
  }, 1000);
  worker.on("message", (m) => {
    last = Date.now();
    if (m.type === "case") lastCase = m.case;
    else if (m.type === "report") {
      clearInterval(watchdog);
      const r = m.report;
      console.log(`fuzz: ${r.cases} mutants of ${r.files} fixtures in ${r.seconds.toFixed(1)} s (seed ${seed})`);
      console.log(`  imported ${r.imported}, refused ${r.refused}, defects ${r.defects.length}; slowest case ${r.slowest.toFixed(1)} ms`);
      console.log(
        `  ${(r.cases / r.seconds).toFixed(0)} mutants/s vs reference ${r.refPerSec.toFixed(0)} clean imports/s in the same run (ratio ${(r.cases / r.seconds / r.refPerSec).toFixed(2)}: refusals stop early)`,
      );
      for (const d of r.defects.slice(0, 20)) console.log(`  DEFECT ${d}`);
      process.exitCode = r.defects.length ? 1 : 0;
    }
  });
  worker.on("error", (e) => {
    clearInterval(watchdog);
    console.error(`DEFECT: the fuzzer itself crashed: ${e.stack ?? e}`);
    process.exitCode = 1;
  });
} else {
  const { mutate, rng, runCase } = await import("./fuzz-lib.mjs");
  const { importPickleBytes } = await import("../dist/sklearn/import.js");
  const { importBoosterBytes } = await import("../dist/xgboost/import.js");
  const { validateArtifact } = await import("../dist/artifact/validate.js");
  const { compile } = await import("../dist/runtime/predictor.js");
  const { InputError, RidepredError } = await import("../dist/errors.js");
  const ridepred = { validateArtifact, compile, InputError, RidepredError };
  // XGBoost boosters in every format, imported behind their DictVectorizer.
  const XGB = fileURLToPath(new URL("../test/fixtures/xgboost/", import.meta.url));
  const boosters = readdirSync(XGB)
    .filter((f) => /\.(xgb|json|ubj)$/.test(f) && !f.endsWith(".expected.json") && f !== "rides.json" && f !== "course-run.expected.json")
    .map((f) => XGB + f);
  const { seconds, seed } = workerData;
  const valid = (f) => /\.(pkl|joblib|joblib\.z|joblib\.gz)$/.test(f) && !/^(lz4|xz)\./.test(f);
  const files = [
    ...readdirSync(DIR).filter(valid),
    ...readdirSync(DIR + "handmade")
      .filter(valid)
      .map((f) => "handmade/" + f),
  ];
  const sources = [...files.map((f) => readFileSync(DIR + f)), ...boosters.map((f) => readFileSync(f))];
  files.push(...boosters.map((f) => f.slice(XGB.length - "xgboost/".length)));
  const isBooster = (k) => k >= files.length - boosters.length;
  const importer = (k) => (isBooster(k) ? (b) => importBoosterBytes("fuzz", b, { preprocessor: XGB + "dv.b" }) : (b) => importPickleBytes("fuzz.pkl", b));
  const rides = JSON.parse(readFileSync(DIR + "rides.json", "utf8")).slice(0, 5);

  // Reference: clean imports of the same files, same process, before the fuzz.
  let refN = 0;
  const refStart = performance.now();
  while (performance.now() - refStart < Math.min(5000, seconds * 100)) {
    const k = refN++ % sources.length;
    importer(k)(sources[k]);
  }
  const refPerSec = refN / ((performance.now() - refStart) / 1000);

  const rand = rng(seed);
  const report = { cases: 0, files: files.length, imported: 0, refused: 0, defects: [], slowest: 0, seconds: 0, refPerSec };
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const i = report.cases++;
    const k = Math.floor(rand() * sources.length);
    let bytes = mutate(sources[k], rand, sources[(k + 1) % sources.length]);
    if (rand() < 0.3) bytes = mutate(bytes, rand, sources[k]);
    if (i % 50 === 0) parentPort.postMessage({ type: "case", case: { index: i, file: files[k] } });
    const r = runCase(importer(k), bytes, rides, ridepred);
    report.slowest = Math.max(report.slowest, r.ms);
    if (r.outcome === "defect") report.defects.push(`case ${i} (${files[k]}): ${r.message}`);
    else report[r.outcome]++;
  }
  report.seconds = (performance.now() - t0) / 1000;
  parentPort.postMessage({ type: "report", report });
}
