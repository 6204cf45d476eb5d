// bench/import: import the bundled 13k-feature pickle (read + unpickle + build + digest), against
// Python's own pickle.load of the same file under Debian's scikit-learn, measured in the same run.
// usage: npm run build && node bench/import.mjs [file.pkl] [iterations]
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { importPickleFile } from "../dist/sklearn/import.js";
import { compile } from "../dist/runtime/predictor.js";

const file = process.argv[2] ?? fileURLToPath(new URL("../models/ride-duration.bin", import.meta.url));
const n = Number(process.argv[3] ?? 30);

const times = [];
let features = 0;
for (let i = 0; i < n + 3; i++) {
  const t0 = process.hrtime.bigint();
  const a = importPickleFile(file);
  compile(a);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (i >= 3)
    times.push(ms); // the first runs include JIT warm-up; reported separately below
  else if (i === 0) console.log(`ridepred import, first (cold) run: ${ms.toFixed(1)} ms`);
  features = a.features.vectorizer.feature_names.length;
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(
  `ridepred import + compile of ${file.split("/").pop()} (${features} features): median ${median.toFixed(2)} ms, p90 ${times[Math.floor(times.length * 0.9)].toFixed(2)} ms over ${n} runs`,
);

const py = "/usr/bin/python3";
if (existsSync(py)) {
  const script = `
import pickle, time, sys
f = sys.argv[1]; ts = []
for i in range(${n} + 3):
    t0 = time.perf_counter()
    with open(f, "rb") as fh: dv, m = pickle.load(fh)
    ts.append((time.perf_counter() - t0) * 1000)
ts = sorted(ts[3:]); print(ts[len(ts)//2])`;
  try {
    const ref = Number(execFileSync(py, ["-c", script, file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    console.log(`reference: Python pickle.load (scikit-learn installed, runs the pickle's code): median ${ref.toFixed(2)} ms`);
    console.log(`ratio ridepred / pickle.load: ${(median / ref).toFixed(2)}x`);
  } catch {
    console.log("reference skipped: /usr/bin/python3 has no scikit-learn (apt-get install python3-sklearn)");
  }
} else console.log("reference skipped: no /usr/bin/python3");
