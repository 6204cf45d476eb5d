// bench/csv-hostile: the 200 MB case of test/csv-hostile.test.ts. A valid CSV of real sample rows and the
// same file with one unclosed quote in row 3 (the rest of the file inside that field), each scored by
// `ridepred score` with --max-record-bytes above the file's size (so only the scan's linearity helps),
// then the hostile one with the default limit. Reports wall time, peak RSS and the hostile/valid ratio.
// usage: node bench/csv-hostile.mjs [MB=200] [DIR=/tmp/ridepred-bench]   (run under flock /tmp/ridepred-bench.lock)
import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const mb = Number(process.argv[2] ?? 200);
const dir = process.argv[3] ?? "/tmp/ridepred-bench";
const root = new URL("..", import.meta.url).pathname;
const bin = join(root, "bin/ridepred");
mkdirSync(dir, { recursive: true });

async function write(path, hostile) {
  if (existsSync(path)) return;
  const [header, ...rows] = readFileSync(join(root, "examples/green_tripdata_2021-02_sample.csv"), "utf8").trimEnd().split("\n");
  const out = createWriteStream(path);
  const put = (s) => (out.write(s) ? undefined : new Promise((r) => out.once("drain", r)));
  await put(header + "\n");
  let size = header.length + 1;
  for (let i = 0; size < mb << 20; i++) {
    let row = rows[i % rows.length];
    if (hostile && i === 2) row = row.replace(/^((?:[^,]*,){5})/, '$1"'); // PULocationID of row 3 opens a quote
    size += row.length + 1;
    await put(row + "\n");
  }
  await new Promise((r) => out.end(r));
}

// Peak RSS of the child, reported by the child itself at exit.
const rss = `data:text/javascript,process.on("exit",()=>process.stderr.write("maxrss "+process.resourceUsage().maxRSS+"\\n"))`;
function run(file, limit) {
  const t0 = performance.now();
  const args = ["--import", rss, bin, "score", file, "-o", join(dir, "hostile-out.csv"), ...(limit ? ["--max-record-bytes", String(limit)] : [])];
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  const seconds = (performance.now() - t0) / 1000;
  const kb = Number(/maxrss (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  const msg = r.stderr.split("\n").find((l) => l.startsWith("ridepred:")) ?? "";
  return { seconds, rssMB: kb / 1024, code: r.status, msg };
}

const valid = join(dir, `csv-valid-${mb}mb.csv`);
const hostile = join(dir, `csv-hostile-${mb}mb.csv`);
await write(valid, false);
await write(hostile, true);
const big = 2 * (mb << 20);
const v = run(valid, big);
const h = run(hostile, big);
const d = run(hostile, 0);
console.log(`valid ${mb} MB:                         ${v.seconds.toFixed(2)} s, peak RSS ${v.rssMB.toFixed(0)} MB, exit ${v.code}`);
console.log(`unclosed quote, limit above the size:  ${h.seconds.toFixed(2)} s, peak RSS ${h.rssMB.toFixed(0)} MB, exit ${h.code}: ${h.msg}`);
console.log(`unclosed quote, default limit (1 MiB): ${d.seconds.toFixed(2)} s, peak RSS ${d.rssMB.toFixed(0)} MB, exit ${d.code}: ${d.msg}`);
console.log(`hostile / valid time: ${(h.seconds / v.seconds).toFixed(2)}`);
