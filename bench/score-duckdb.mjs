// bench/score, DuckDB part: `ridepred score` against DuckDB running the same model as SQL on the same
// files, the same number of threads, in the same run. DuckDB's query is the one a user would write: the
// weights table that `ridepred export sql --dialect duckdb` creates, then read_csv/read_parquet, a LEFT
// JOIN on PU_DO, the course's 1..60 minute filter and COPY TO. Both sides write the same seven columns
// (pickup_datetime, PULocationID, DOLocationID, actual_duration, predicted_duration, diff, model_version;
// DuckDB cannot number a CSV file's rows without a window over all of them, so no ride_id). Each pair
// runs alternately, round after round (load on a shared machine weighs on both alike); each keeps its
// fastest round. DuckDB is timed in-process (its COPY alone), ridepred as the whole command (start-up,
// model load included). Then every output is checked against DuckDB's: the same rows, value for value.
// Where /proc/stat exists, each run and the sitting print the share of the CPU the host took (steal).
// Each timed run starts after a `sync` (outside its time): a sitting writes ~2 GB of outputs a round,
// and without it the kernel writes the earlier runs' files back while a later run is timed (1-2.3 GB
// dirty throughout a sitting here), on whichever side happens to run then.
// NODE_EXTRA_CA_CERTS is left out of ridepred's environment (the jobs read and write local files, no
// TLS): node parses every certificate it names as it starts (OpenSSL 3, nodejs/node#40524), and where it
// names the whole system bundle that is ~0.1 s on each start, none of it ridepred's. The bench says so
// and prints what it costs node's start in the sitting; --keep-ca-certs runs ridepred with it.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";

export const SEVEN = ["pickup_datetime", "PULocationID", "DOLocationID", "actual_duration", "predicted_duration", "diff", "model_version"];

/**
 * CPU time the host took from this virtual machine so far (steal, in clock ticks, from /proc/stat's
 * first line), or undefined where there is none to read. On a shared VM it moves the ratios more than
 * anything else, so each run and the whole sitting print it.
 */
function stealTicks() {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/);
    const steal = Number(cpu[8]);
    return cpu[0] === "cpu" && Number.isFinite(steal) ? steal : undefined;
  } catch {
    return undefined;
  }
}

/** Steal between two stealTicks() readings over `seconds` of wall time, as a share of all CPUs' time ("" if unknown). */
function stealShare(before, after, seconds) {
  if (before === undefined || after === undefined || !(seconds > 0)) return "";
  return `${(((after - before) / 100 / (seconds * cpus().length)) * 100).toFixed(1)}%`;
}

/** Write back every dirty page (the earlier runs' outputs) before a timed run; nothing where there is no `sync`. */
function flushWrites() {
  spawnSync("sync");
}

/** Seconds one `node -e 0` takes in env (the caller alternates and takes medians). */
function nodeStart(env) {
  const t0 = performance.now();
  spawnSync(process.execPath, ["-e", "0"], { env });
  return (performance.now() - t0) / 1000;
}

/**
 * ridepred's environment: UV's pool as large as the threads, and, unless kept, without NODE_EXTRA_CA_CERTS;
 * when that was set, a line saying so, with node's start-up both ways (medians of 5, alternated).
 */
function ridepredEnv(threads, keepCaCerts) {
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(threads) };
  if (env.NODE_EXTRA_CA_CERTS === undefined || keepCaCerts) return { env, note: "" };
  const { NODE_EXTRA_CA_CERTS: certs, ...without } = env;
  const withIt = [];
  const withoutIt = [];
  for (let i = 0; i < 5; i++) {
    withIt.push(nodeStart(env));
    withoutIt.push(nodeStart(without));
  }
  const median = (xs) => xs.sort((a, b) => a - b)[2].toFixed(3);
  const note = `NODE_EXTRA_CA_CERTS=${certs} is left out of ridepred's runs (local files, no TLS; --keep-ca-certs keeps it): node starts in ${median(withIt)} s with it, ${median(withoutIt)} s without (medians of 5)`;
  return { env: without, note };
}

/**
 * The model as DuckDB SQL over `source` (a read_csv/read_parquet call): the weights join and the filter.
 * With `intIds` (a source storing zone ids as integers) the ids are written as text, as ridepred writes
 * a category input (as the model saw it).
 */
function duckQuery(artifact, source, intIds = false) {
  const est = artifact.estimator;
  const trip = artifact.features.vectorizer.feature_names.indexOf("trip_distance");
  const actual = "(epoch_ms(r.lpep_dropoff_datetime) - epoch_ms(r.lpep_pickup_datetime)) / 60000::DOUBLE";
  // ridepred's arithmetic order: (0 + PU_DO weight) + distance * coef, then + intercept; diff = actual - predicted.
  const predicted = `(COALESCE(w.coef, 0) + r.trip_distance * ${est.coef[trip]}e0) + ${est.intercept}e0`;
  const ids = intIds ? "r.PULocationID::VARCHAR AS PULocationID, r.DOLocationID::VARCHAR AS DOLocationID" : "r.PULocationID, r.DOLocationID";
  return `SELECT r.lpep_pickup_datetime AS pickup_datetime, ${ids}, ${actual} AS actual_duration,
      ${predicted} AS predicted_duration, ${actual} - (${predicted}) AS diff, '${artifact.version}' AS model_version
    FROM ${source} r LEFT JOIN ride_predictions_weights w ON w.field = 0 AND w.value = r.PULocationID || '_' || r.DOLocationID
    WHERE ${actual} BETWEEN 1 AND 60`;
}

/**
 * Run the pairs (CSV -> CSV, CSV -> Parquet, Parquet -> Parquet, and from idsPath when given) `rounds` times each; print the
 * table and the ratios (DuckDB seconds / ridepred seconds: above 1 ridepred is faster) and check the outputs.
 * Returns { ratios, ok }.
 */
export async function duckdbBench({ root, rows, rounds, threads, csvPath, pqPath, idsPath, dir, keepCaCerts = false }) {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const { readArtifact } = await import(join(root, "dist/artifact/io.js"));
  const { exportSql } = await import(join(root, "dist/sql/script.js"));
  const bin = join(root, "bin/ridepred");
  const artifact = readArtifact(join(root, "models/ride-duration.json"));
  const db = await (await DuckDBInstance.create(":memory:", { threads: String(threads) })).connect();
  await db.run(`SET threads = ${threads}`);
  // The export script creates the weights table (and a view we do not use: the plain join is DuckDB's faster plan).
  await db.run(exportSql(artifact, { dialect: "duckdb", table: `read_parquet('${pqPath}', file_row_number = true)`, map: { file_row_number: "ride_id" } }).sql);
  const sources = {
    csv: `read_csv('${csvPath}', types = {'PULocationID': 'VARCHAR', 'DOLocationID': 'VARCHAR'})`,
    parquet: `read_parquet('${pqPath}')`,
    ids: `read_parquet('${idsPath}')`,
  };
  const inputs = { csv: csvPath, parquet: pqPath, ids: idsPath };
  const pairs = [
    { name: "CSV -> CSV", from: "csv", to: "csv" },
    { name: "CSV -> Parquet", from: "csv", to: "parquet" },
    { name: "Parquet -> Parquet", from: "parquet", to: "parquet" },
    // The same rows as DuckDB writes them (integer ids, times in one page per column chunk): no target, shown beside.
    ...(idsPath ? [{ name: "Parquet (integer ids, DuckDB's layout) -> Parquet", from: "ids", to: "parquet" }] : []),
  ];
  const out = (who, p, round) => join(dir, `duck-bench.${who}.${p.from}-${p.to}.r${round}.${p.to}`);
  const timeDuck = async (p, round) => {
    const file = out("duckdb", p, round);
    rmSync(file, { force: true });
    flushWrites();
    const t0 = performance.now();
    await db.run(`COPY (${duckQuery(artifact, sources[p.from], p.from === "ids")}) TO '${file}' (FORMAT ${p.to === "csv" ? "csv, HEADER" : "parquet"})`);
    return (performance.now() - t0) / 1000;
  };
  const { env, note } = ridepredEnv(threads, keepCaCerts);
  if (note) console.error(note);
  const timeRidepred = (p, round) => {
    const file = out("ridepred", p, round);
    rmSync(file, { force: true });
    const input = inputs[p.from];
    flushWrites();
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [bin, "score", input, "-o", file, "--columns", SEVEN.join(","), "--filter-duration", "1..60", "--threads", String(threads)],
      { encoding: "utf8", env },
    );
    if (r.status !== 0) throw new Error(`ridepred score ${p.name} failed (${r.status}): ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  };

  const best = pairs.map(() => ({ duckdb: Infinity, ridepred: Infinity }));
  const sitting = { steal: stealTicks(), t0: performance.now() };
  for (let round = 0; round < rounds; round++) {
    for (const [i, p] of pairs.entries()) {
      // Alternate who goes first, so neither always runs on a warmer cache.
      const order = round % 2 === 0 ? ["duckdb", "ridepred"] : ["ridepred", "duckdb"];
      const t = {};
      const steal = {};
      for (const who of order) {
        const s0 = stealTicks();
        t[who] = who === "duckdb" ? await timeDuck(p, round) : timeRidepred(p, round);
        steal[who] = stealShare(s0, stealTicks(), t[who]);
      }
      const took = (who) => (steal[who] ? ` (host took ${steal[who]})` : "");
      console.error(`round ${round + 1} ${p.name}: DuckDB ${t.duckdb.toFixed(2)} s${took("duckdb")}, ridepred ${t.ridepred.toFixed(2)} s${took("ridepred")}`);
      best[i].duckdb = Math.min(best[i].duckdb, t.duckdb);
      best[i].ridepred = Math.min(best[i].ridepred, t.ridepred);
    }
  }

  const fmt = (x) => Math.round(x).toLocaleString("en-US");
  const hostTook = stealShare(sitting.steal, stealTicks(), (performance.now() - sitting.t0) / 1000);
  console.log(`\nbench/score vs DuckDB: ${fmt(rows)} rows, ${threads} threads, fastest of ${rounds} alternated rounds, same run`);
  if (hostTook) console.log(`the host took ${hostTook} of this machine's CPU time during the timed runs (steal, /proc/stat)`);
  if (note) console.log(note);
  console.log("| job | DuckDB s | ridepred s | ridepred rows/s | ridepred / DuckDB speed | target |");
  console.log("|---|---:|---:|---:|---:|---|");
  const ratios = {};
  const targets = { "CSV -> CSV": 1.0, "CSV -> Parquet": 1.0, "Parquet -> Parquet": 1.5 };
  for (const [i, p] of pairs.entries()) {
    const b = best[i];
    const ratio = b.duckdb / b.ridepred;
    ratios[p.name] = ratio;
    const goal = targets[p.name];
    const verdict = goal === undefined ? "(none)" : `>= ${goal.toFixed(1)}x ${ratio >= goal ? "met" : "NOT met"}`;
    console.log(`| ${p.name} | ${b.duckdb.toFixed(2)} | ${b.ridepred.toFixed(2)} | ${fmt(rows / b.ridepred)} | ${ratio.toFixed(2)}x | ${verdict} |`);
  }

  // The last round's outputs against DuckDB's.
  let ok = true;
  const last = rounds - 1;
  const read = (file, to) => (to === "csv" ? `read_csv('${file}', types = {'PULocationID': 'VARCHAR', 'DOLocationID': 'VARCHAR'})` : `read_parquet('${file}')`);
  for (const p of pairs) {
    const a = read(out("ridepred", p, last), p.to);
    const d = read(out("duckdb", p, last), p.to);
    // The same rows, as multisets (DuckDB's threads may write its rows in another order): rows of one side the other lacks.
    const [[n, m, differ]] = (
      await db.runAndReadAll(`SELECT (SELECT count(*) FROM ${a}), (SELECT count(*) FROM ${d}),
        (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${d})) + (SELECT count(*) FROM (SELECT * FROM ${d} EXCEPT ALL SELECT * FROM ${a}))`)
    ).getRows();
    console.log(`check ${p.name}: ridepred ${fmt(Number(n))} rows, DuckDB ${fmt(Number(m))} rows, ${fmt(Number(differ))} rows differ`);
    if (Number(n) !== Number(m) || Number(differ) !== 0) ok = false;
  }
  if (!process.argv.includes("--keep"))
    for (const p of pairs) for (let r = 0; r < rounds; r++) for (const who of ["duckdb", "ridepred"]) rmSync(out(who, p, r), { force: true });
  return { ratios, ok };
}
