// bench/sql: the exported model scored inside DuckDB against `ridepred score`, on the same N real rows
// (../shared's green months repeated, as Parquet), the same number of threads, in one run. Three timings,
// each the whole job from Parquet in to Parquet out (ride_id, predicted_duration, model_version):
//   export   `ridepred export sql --dialect duckdb` run in DuckDB, then COPY (SELECT ... FROM the view) TO parquet
//   hand     DuckDB's own best plan for the same arithmetic: a hand-written LEFT JOIN on the same weights
//            table (no input checks, no category rule), COPY TO parquet
//   ridepred `ridepred score IN.parquet -o OUT.parquet --columns ride_id,predicted_duration,model_version`
//            (pages decoded on the main thread), and the same with RIDEPRED_READER_THREAD=on (pages decoded
//            on a reader thread), its output compared byte for byte
// The two DuckDB outputs are then compared with ridepred's, prediction by prediction.
// usage: npm run build && flock /tmp/ridepred-bench.lock node bench/sql.mjs [--rows 10000000] [--threads 2] [--rounds 3] [--dir /tmp/ridepred-bench-sql]
//
// With --in-database (default 1M rows): `ridepred score` DuckDB table -> table in the same file, the normal
// way (rows read out, scored, appended back) against --in-database (the exported query run as SQL inside
// DuckDB), both --if-exists replace, best of --rounds each, interleaved; the two tables are then compared
// row for row (EXCEPT ALL both ways).
//
// With --big-forest PATH (a scikit-learn pickle, e.g. bench/trees/train.py's forest.bin, the course's
// RandomForest recipe): exported with the default --max-bytes (its CASE form is over 8 MiB, so it becomes a
// node table), run in DuckDB over --rows real rides (default 2,000), every prediction compared with ridepred's.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const rows = Number(arg("--rows", 10_000_000));
const threads = Number(arg("--threads", 2));
const rounds = Number(arg("--rounds", 3));
const dir = arg("--dir", "/tmp/ridepred-bench-sql");
const root = fileURLToPath(new URL("..", import.meta.url));
const shared = join(root, "../shared/data");
const bin = join(root, "bin/ridepred");
const months = ["green_tripdata_2021-01.parquet", "green_tripdata_2021-02.parquet"].map((f) => join(shared, f));
if (!months.every(existsSync)) {
  console.log("bench/sql: skipped, ../shared/data (real TLC months) is absent");
  process.exit(0);
}

const { DuckDBInstance } = await import("@duckdb/node-api");
if (process.argv.includes("--big-forest")) {
  await bigForest(arg("--big-forest"), process.argv.includes("--rows") ? rows : 2000);
  process.exit(process.exitCode ?? 0);
}
if (process.argv.includes("--in-database")) {
  await inDatabaseBench(process.argv.includes("--rows") ? rows : 1_000_000);
  process.exit(process.exitCode ?? 0);
}
const { readArtifact } = await import(join(root, "dist/artifact/io.js"));
const { exportSql } = await import(join(root, "dist/sql/script.js"));
const fmt = (x) => Math.round(x).toLocaleString("en-US");

mkdirSync(dir, { recursive: true });
const input = join(dir, `green_${rows}.parquet`);
const db = await (await DuckDBInstance.create(":memory:", { threads: String(threads) })).connect();
if (!existsSync(input)) {
  console.error(`preparing ${fmt(rows)} real rows in ${input} ...`);
  const src = `read_parquet([${months.map((m) => `'${m}'`).join(", ")}])`;
  const n = Number((await db.runAndReadAll(`SELECT count(*) FROM ${src}`)).getRows()[0][0]);
  await db.run(
    `COPY (SELECT lpep_pickup_datetime, lpep_dropoff_datetime, PULocationID, DOLocationID, trip_distance, fare_amount, total_amount
       FROM ${src}, range(${Math.ceil(rows / n)}) LIMIT ${rows}) TO '${input}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)`,
  );
}

const artifact = readArtifact(join(root, "models/ride-duration.json"));
// DuckDB numbers the rows of the file itself: the id column needs no window over 10M rows.
const table = `read_parquet('${input}', file_row_number = true)`;
const { sql, bytes } = exportSql(artifact, { dialect: "duckdb", table, map: { file_row_number: "ride_id" } });
await db.run(sql);
const est = artifact.estimator;
const trip = artifact.features.vectorizer.feature_names.indexOf("trip_distance");
const hand = `SELECT r.file_row_number AS ride_id, (COALESCE(w.coef, 0) + r.trip_distance * ${est.coef[trip]}e0) + ${est.intercept}e0 AS predicted_duration, '${artifact.version}' AS model_version
  FROM ${table} r LEFT JOIN ride_predictions_weights w ON w.field = 0 AND w.value = r.PULocationID || '_' || r.DOLocationID`;

const out = (name) => join(dir, `${name}.parquet`);
// Wall seconds and CPU seconds (user + sys: DuckDB's threads run in this process, ridepred's in its own,
// measured by /usr/bin/time). On a loaded machine wall time is noise; CPU time much less so.
async function duck(name, query) {
  rmSync(out(name), { force: true });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await db.run(`COPY (${query}) TO '${out(name)}' (FORMAT parquet)`);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}
function ridepred(name = "ridepred", extraEnv = {}) {
  rmSync(out(name), { force: true });
  const t0 = performance.now();
  const r = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "CPU=%U+%S",
      process.execPath,
      bin,
      "score",
      input,
      "-o",
      out(name),
      "--columns",
      "ride_id,predicted_duration,model_version",
      "--threads",
      String(threads),
    ],
    {
      encoding: "utf8",
      env: { ...process.env, UV_THREADPOOL_SIZE: String(threads), ...extraEnv },
    },
  );
  if (r.status !== 0) throw new Error(`ridepred score failed: ${r.stderr}`);
  const [user, sys] = (/CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr) ?? [0, NaN, NaN]).slice(1).map(Number);
  return { wall: (performance.now() - t0) / 1000, cpu: user + sys };
}

console.log(`bench/sql: ${fmt(rows)} rows, ${threads} threads, ${rounds} rounds; exported script ${fmt(bytes)} bytes; load average ${loadavg()[0].toFixed(2)}`);
const best = { export: Infinity, hand: Infinity, ridepred: Infinity, readerOn: Infinity };
const cpu = { export: Infinity, hand: Infinity, ridepred: Infinity, readerOn: Infinity };
const show = (x) => `${x.wall.toFixed(2)} s (CPU ${x.cpu.toFixed(2)} s)`;
for (let i = 0; i < rounds; i++) {
  const e = await duck("export", "SELECT ride_id, predicted_duration, model_version FROM ride_predictions");
  const h = await duck("hand", hand);
  const p = ridepred();
  const o = ridepred("reader-on", { RIDEPRED_READER_THREAD: "on" });
  console.log(`round ${i + 1}: export ${show(e)}, hand-written join ${show(h)}, ridepred score ${show(p)}, ridepred score (reader thread on) ${show(o)}`);
  for (const [k, x] of [
    ["export", e],
    ["hand", h],
    ["ridepred", p],
    ["readerOn", o],
  ]) {
    best[k] = Math.min(best[k], x.wall);
    cpu[k] = Math.min(cpu[k], x.cpu);
  }
}
for (const [k, s] of Object.entries(best)) console.log(`best ${k}: ${s.toFixed(2)} s, ${fmt(rows / s)} rows/s; least CPU ${cpu[k].toFixed(2)} s`);
console.log(
  `export / hand-written: ${(best.export / best.hand).toFixed(2)}x; export / ridepred: ${(best.export / best.ridepred).toFixed(2)}x (CPU: ${(cpu.export / cpu.ridepred).toFixed(2)}x)` +
    `; reader thread on / default: ${(best.readerOn / best.ridepred).toFixed(2)}x (CPU ${(cpu.readerOn / cpu.ridepred).toFixed(2)}x)`,
);
if (!readFileSync(out("ridepred")).equals(readFileSync(out("reader-on")))) {
  console.log("check: ridepred's output differs with the reader thread on");
  process.exitCode = 1;
}

// Same predictions: ride ids: ridepred writes "<file>_<row>", DuckDB the row number (both 0-based).
const check = await db.runAndReadAll(`SELECT count(*) AS n,
    count(*) FILTER (WHERE e.predicted_duration IS DISTINCT FROM r.predicted_duration) AS export_differ,
    count(*) FILTER (WHERE h.predicted_duration IS DISTINCT FROM r.predicted_duration) AS hand_differ
  FROM (SELECT CAST(regexp_extract(ride_id, '([0-9]+)$', 1) AS BIGINT) AS id, predicted_duration FROM '${out("ridepred")}') r
  LEFT JOIN '${out("export")}' e ON e.ride_id = r.id LEFT JOIN '${out("hand")}' h ON h.ride_id = r.id`);
const [n, exportDiffer, handDiffer] = check.getRows()[0].map(Number);
console.log(`check: ${fmt(n)} rows; export differs from ridepred on ${fmt(exportDiffer)}, hand-written on ${fmt(handDiffer)}`);
if (exportDiffer !== 0) process.exitCode = 1;

async function inDatabaseBench(n) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `rides_${n}.duckdb`);
  const fmt = (x) => Math.round(x).toLocaleString("en-US");
  if (!existsSync(file)) {
    console.error(`preparing ${fmt(n)} real rows in ${file} ...`);
    const inst = await DuckDBInstance.create(file);
    const c = await inst.connect();
    const src = `read_parquet([${months.map((m) => `'${m}'`).join(", ")}])`;
    const total = Number((await c.runAndReadAll(`SELECT count(*) FROM ${src}`)).getRows()[0][0]);
    await c.run(
      `CREATE TABLE rides AS SELECT 'r' || (row_number() OVER ()) AS ride_id, lpep_pickup_datetime, lpep_dropoff_datetime, PULocationID, DOLocationID, trip_distance
       FROM ${src}, range(${Math.ceil(n / total)}) LIMIT ${n}`,
    );
    c.closeSync();
    inst.closeSync();
  }
  const loc = (t) => `duckdb:${file}?table=${t}`;
  const run = (name, extra) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, "score", loc("rides"), "-o", loc(name), "--if-exists", "replace", "--threads", String(threads), ...extra], {
      encoding: "utf8",
      env: { ...process.env, UV_THREADPOOL_SIZE: String(threads) },
    });
    if (r.status !== 0) throw new Error(`ridepred score failed: ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  };
  console.log(`bench/sql --in-database: ${fmt(n)} rows in ${file}, ${threads} threads, ${rounds} rounds (DuckDB table -> table, same file)`);
  const best = { normal: Infinity, inDatabase: Infinity };
  for (let i = 0; i < rounds; i++) {
    const a = run("p_normal", []);
    const b = run("p_in_db", ["--in-database"]);
    console.log(`round ${i + 1}: score ${a.toFixed(2)} s, score --in-database ${b.toFixed(2)} s`);
    best.normal = Math.min(best.normal, a);
    best.inDatabase = Math.min(best.inDatabase, b);
  }
  for (const [k, s] of Object.entries(best)) console.log(`best ${k}: ${s.toFixed(2)} s, ${fmt(n / s)} rows/s`);
  console.log(`in-database / normal: ${(best.inDatabase / best.normal).toFixed(2)}x`);
  const inst = await DuckDBInstance.create(file);
  const c = await inst.connect();
  const count = async (sql) => Number((await c.runAndReadAll(sql)).getRows()[0][0]);
  const rowsOut = await count("SELECT count(*) FROM p_in_db");
  const missing = await count("SELECT count(*) FROM (SELECT * FROM p_normal EXCEPT ALL SELECT * FROM p_in_db)");
  const extra = await count("SELECT count(*) FROM (SELECT * FROM p_in_db EXCEPT ALL SELECT * FROM p_normal)");
  c.closeSync();
  inst.closeSync();
  console.log(`check: ${fmt(rowsOut)} rows; ${fmt(missing)} of the normal run's rows missing from the in-database table, ${fmt(extra)} extra`);
  if (missing !== 0 || extra !== 0) process.exitCode = 1;
}

async function bigForest(path, n) {
  const { importSource } = await import(join(root, "dist/sklearn/source.js"));
  const { exportSql } = await import(join(root, "dist/sql/script.js"));
  const { compile } = await import(join(root, "dist/runtime/predictor.js"));
  const a = await importSource(path);
  const r = exportSql(a, { dialect: "duckdb", table: "rides", view: "forest" });
  const caseBytes = exportSql(a, { dialect: "duckdb", table: "rides", view: "forest", trees: "case", maxBytes: Number.MAX_SAFE_INTEGER }).viewBytes;
  console.log(
    `bench/sql --big-forest: ${a.estimator.sklearn_class}, ${r.estimator.trees} trees, ${r.estimator.nodes} nodes; CASE form ${caseBytes} bytes -> ${r.estimator.form} form: script ${r.bytes} bytes, view ${r.viewBytes} bytes`,
  );
  const c = await (await DuckDBInstance.create(":memory:", { threads: String(threads) })).connect();
  await c.run(
    `CREATE TABLE rides AS SELECT 'r' || row_number() OVER () AS ride_id, PULocationID, DOLocationID, trip_distance FROM read_parquet('${months[1]}') LIMIT ${n}`,
  );
  const t0 = performance.now();
  await c.run(r.sql);
  const t1 = performance.now();
  const got = (await c.runAndReadAll("SELECT ride_id, predicted_duration FROM forest")).getRowObjectsJS();
  const t2 = performance.now();
  const data = (await c.runAndReadAll("SELECT ride_id, PULocationID, DOLocationID, trip_distance FROM rides")).getRows();
  const { predictions } = compile(a).predictColumns(
    { PULocationID: data.map((x) => x[1]), DOLocationID: data.map((x) => x[2]), trip_distance: data.map((x) => x[3]) },
    data.length,
  );
  const want = new Map(data.map((x, i) => [x[0], predictions[i]]));
  const same = got.filter((g) => Object.is(g.predicted_duration, want.get(g.ride_id))).length;
  console.log(
    `${got.length} rides: ${same} predictions bit-identical to ridepred's; script ${((t1 - t0) / 1000).toFixed(1)} s, query ${((t2 - t1) / 1000).toFixed(1)} s`,
  );
  if (same !== got.length || got.length !== n) process.exitCode = 1;
}
