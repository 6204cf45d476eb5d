// `ridepred score --in-database`: when the source and the output table are in the same PostgreSQL
// database (or the same DuckDB file), the model runs inside the engine as the SQL `export sql` writes
// (src/sql/), and no row leaves it. The run is the same job as a normal one, in three statements:
//   1. a temporary table holds every source row's output columns, computed by the exported query the
//      way the batch pipeline computes them (coerced inputs, times as the readers read them, duration,
//      diff), with its filter status and reject reason;
//   2. counts, reject reasons by field and the prediction's statistics are read back (a few numbers);
//   3. the scored rows are merged into the target with the same --if-exists modes, in one transaction
//      (table-merge.ts): a failing or killed run leaves the target as it was.
import { resolve } from "node:path";
import { RidepredError } from "../errors.js";
import { resolveColumns, triedNames } from "../io/aliases.js";
import { openSource, redactLocation } from "../io/index.js";
import { checkTarget, describeTarget, mergeStaged, type TableSession } from "../io/table-merge.js";
import { fillSql } from "../io/table-sql.js";
import { parseTableUrl, qualified, quoteIdent, type TableLocation } from "../io/table-url.js";
import type { OutColumn } from "../io/types.js";
import { outputsOf } from "../runtime/outputs.js";
import { exportSql } from "../sql/script.js";
import { type ColumnPlan, planColumns } from "./columns.js";
import type { ScoreJob, ScoreSummary } from "./score.js";

/** Why --in-database cannot run this job (exit 2), or undefined when it can. */
export function inDatabaseRefusal(job: Pick<ScoreJob, "input" | "output" | "rejects">): string | undefined {
  const src = parseTableUrl(job.input);
  const out = parseTableUrl(job.output);
  if (!src || !out)
    return `--in-database needs a table input and a table output (postgresql:// or duckdb:), got ${redactLocation(job.input)} -> ${redactLocation(job.output)}`;
  if (!sameDatabase(src, out))
    return `--in-database needs the input and the output in the same database: ${redactLocation(job.input)} and ${redactLocation(job.output)} are not (score without --in-database to move the rows)`;
  if (job.rejects !== undefined) return "--in-database keeps rejected rows in the database: --rejects cannot apply (the summary counts them by field)";
  return undefined;
}

function sameDatabase(a: TableLocation, b: TableLocation): boolean {
  if (a.engine === "duckdb" && b.engine === "duckdb") return resolve(a.path) === resolve(b.path);
  if (a.engine === "postgresql" && b.engine === "postgresql") return a.host === b.host && a.port === b.port && a.database === b.database && a.user === b.user;
  return false;
}

interface Engine {
  dialect: "postgres" | "duckdb";
  session: TableSession;
  close(): Promise<void>;
  /** A typed time column as the batch readers give it: epoch ms as float64. */
  millis(col: string): string;
  /** The same time as the table sinks write it. */
  written(col: string): string;
}

async function connect(loc: TableLocation): Promise<Engine> {
  if (loc.engine === "postgresql") {
    const { pgConnect } = await import("../io/pg-connect.js");
    const { pgSession } = await import("../io/pg-write.js");
    const client = await pgConnect(loc);
    // JIT-compiling a tree model's CASE expressions can take minutes where running them takes seconds.
    await client.query("SET jit = off");
    return {
      dialect: "postgres",
      session: pgSession(client, loc),
      close: () => client.end().catch(() => {}),
      // pg-read: int64 microseconds since 2000-01-01 / 1000 + that day's epoch ms.
      millis: (c) => `(CAST(EXTRACT(EPOCH FROM CAST(${c} AS timestamp)) * 1000000 - 946684800000000 AS bigint)::float8 / 1000::float8 + 946684800000::float8)`,
      // pg-write: whole milliseconds.
      written: (c) => `date_trunc('milliseconds', CAST(${c} AS timestamp))`,
    };
  }
  const { duckdbConnect } = await import("../io/duckdb-connect.js");
  const { duckdbSession } = await import("../io/duckdb-write.js");
  const conn = await duckdbConnect(loc);
  const millis = (c: string) => `(epoch_us(CAST(${c} AS TIMESTAMP)) / 1000.0)::DOUBLE`;
  return {
    dialect: "duckdb",
    session: duckdbSession(conn, loc),
    close: async () => conn.closeSync(),
    millis,
    // duckdb-write: epoch ms staged as a double, made a timestamp again from its microseconds.
    written: (c) => `make_timestamp(CAST(round(${millis(c)} * 1000) AS BIGINT))`,
  };
}

export async function scoreInDatabase(job: ScoreJob): Promise<ScoreSummary> {
  const t0 = performance.now();
  const refusal = inDatabaseRefusal(job);
  if (refusal) throw new RidepredError(refusal);
  const src = parseTableUrl(job.input)!;
  const out = parseTableUrl(job.output)!;
  if (!out.table) throw new RidepredError(`${out.label}: name the output table (?table=...)`);
  const label = redactLocation(job.input);
  // The source as the batch readers see it (names, typed times, checked column types), then let go.
  const source = await openSource(job.input, { where: job.where, query: job.query, period: job.period });
  const names = source.names;
  const timestamps = source.timestampColumns;
  const artifact = job.predictor.artifact;
  const inputs = job.predictor.inputs;
  const found = resolveColumns(names, [...inputs.map((i) => i.name), "pickup_datetime", "dropoff_datetime", "ride_id"], job.map);
  try {
    for (const inp of inputs) {
      const col = found[inp.name];
      if (col === undefined && inp.required && inp.default === undefined)
        throw new RidepredError(
          `${label}: no column for model input ${inp.name} (tried ${triedNames(inp.name).join(", ")}); name it with --map COLUMN=${inp.name}. Columns: ${names.join(", ")}`,
        );
      if (col !== undefined) source.checkColumn?.(col, inp.type === "category" ? "category" : "number");
    }
  } finally {
    await source.close();
  }
  const pickup = found.pickup_datetime;
  const dropoff = found.dropoff_datetime;
  for (const col of [pickup, dropoff])
    if (col !== undefined && !timestamps.has(col))
      throw new RidepredError(
        `${label}: --in-database reads times as the engine stores them: column ${col} is not a date or timestamp (score without --in-database)`,
      );
  if (job.filterDuration && (!pickup || !dropoff)) throw new RidepredError(`${label}: --filter-duration needs pickup and dropoff times (use --map)`);
  if (found.ride_id === undefined)
    throw new RidepredError(
      `${label}: --in-database needs a ride_id column (or --map COLUMN=ride_id, e.g. the table's primary key): ids numbered by row need the rows read in order`,
    );
  const outputs = outputsOf(artifact);
  const columns = planColumns(job.columns, inputs, { pickup: !!pickup, dropoff: !!dropoff, raw: (n) => names.includes(n) }, outputs);
  for (const c of columns) if (c.source === "raw" && timestamps.has(c.name)) c.kind = "timestamp";
  const outColumns: OutColumn[] = columns.map((c) => ({ name: c.name, kind: c.kind }));

  const engine = await connect(out);
  try {
    const target = await describeTarget(engine.session, out.table, "ride_id").catch((e) => {
      throw engine.session.fail(e, `looking up table ${out.table!.name}`);
    });
    const mode = checkTarget(out.label, { table: out.table, columns: outColumns, key: "ride_id", period: job.period, target, mode: job.ifExists });
    const stage = quoteIdent(`ridepred_run_${process.pid}`);
    const statements = stageStatements(job, engine, src, { found, columns, names, stage });
    for (const sql of statements)
      await engine.session.run(sql).catch((e) => {
        throw engine.session.fail(e, "scoring inside the database (nothing written)", 1);
      });
    const tally = await readTally(engine.session, stage, job.onError === "fail", label);
    const scored = `(SELECT ${outColumns.map((c) => quoteIdent(c.name)).join(", ")} FROM ${stage} WHERE NOT ridepred_filtered AND ridepred_reject IS NULL) AS ridepred_scored`;
    const rowsWritten = await mergeStaged(engine.session, {
      table: out.table,
      columns: outColumns,
      stage: scored,
      mode,
      key: "ride_id",
      period: job.period,
      target,
    });
    const seconds = (performance.now() - t0) / 1000;
    return {
      input: label,
      output: redactLocation(job.output),
      model: { name: job.predictor.name, version: job.predictor.version },
      rows_read: tally.rowsRead,
      scored: tally.scored,
      filtered: tally.filtered,
      rejected: tally.rejected,
      rows_written: rowsWritten,
      rejected_by_field: tally.byField,
      predictions: tally.predictions,
      seconds,
      rows_per_second: seconds > 0 ? tally.rowsRead / seconds : 0,
    };
  } finally {
    await engine.close();
  }
}

interface StagePlan {
  found: Record<string, string | undefined>;
  columns: ColumnPlan[];
  names: readonly string[];
  stage: string;
}

/** The helper tables and the temporary table of every source row's output columns, filter status and reject reason. */
function stageStatements(job: ScoreJob, engine: Engine, src: TableLocation, p: StagePlan): string[] {
  const { found, columns } = p;
  const inputs = job.predictor.inputs;
  // The source: the table or --query, --where applied, a NULL column for each optional input it lacks.
  const from = job.query !== undefined ? `(${fillSql(job.query, job.period, "--query")}) AS q` : qualified(src.table!);
  const where = job.where !== undefined ? ` WHERE (${fillSql(job.where, job.period, "--where")})` : "";
  const absent = inputs.filter((i) => found[i.name] === undefined).map((i) => `, CAST(NULL AS TEXT) AS ${quoteIdent(i.name)}`);
  const table = `(SELECT *${absent.join("")} FROM ${from}${where}) AS ridepred_source`;
  const map: Record<string, string> = { [found.ride_id!]: "ride_id" };
  for (const i of inputs) if (found[i.name] !== undefined && found[i.name] !== i.name) map[found[i.name]!] = i.name;
  // The view's extra columns: inputs as the model saw them, the time columns and passed-through columns as they are.
  const extra = new Set<string>();
  for (const c of columns) {
    if (c.source === "input" || c.source === "raw") extra.add(c.name);
  }
  const pick = found.pickup_datetime;
  const drop = found.dropoff_datetime;
  if (pick) extra.add(pick);
  if (drop) extra.add(drop);
  let exported: { setup: string[]; query: string };
  try {
    exported = exportSql(job.predictor.artifact, {
      dialect: engine.dialect,
      table,
      view: `ridepred_run_${process.pid}`,
      map,
      columns: [...extra],
      temporary: true,
    });
  } catch (e) {
    if (e instanceof RidepredError) throw new RidepredError(`--in-database: ${e.message.replace(/^export sql: /, "")}`);
    throw e;
  }
  const col = (name: string) => `p.${quoteIdent(name)}`;
  const prediction = col(outputsOf(job.predictor.artifact).predictedColumn);
  const duration = pick && drop ? `((${engine.millis(col(drop))} - ${engine.millis(col(pick))}) / 60000::DOUBLE PRECISION)` : undefined;
  const select = columns.map((c) => `${outExpr(c, engine, col, prediction, duration, found)} AS ${quoteIdent(c.name)}`);
  const [lo, hi] = job.filterDuration ?? [];
  const filtered = job.filterDuration ? `NOT COALESCE(${duration} >= ${lo}::DOUBLE PRECISION AND ${duration} <= ${hi}::DOUBLE PRECISION, FALSE)` : "FALSE";
  select.push(
    "CAST(p.ride_id AS TEXT) AS ridepred_id",
    `${prediction} AS ridepred_prediction`,
    `${filtered} AS ridepred_filtered`,
    "p.reject_reason AS ridepred_reject",
  );
  return [...exported.setup, `CREATE TEMPORARY TABLE ${p.stage} AS\nSELECT\n  ${select.join(",\n  ")}\nFROM (\n${exported.query}\n) AS p`];
}

/** One output column from the exported query's row `p`, as the batch pipeline writes it to a table. */
function outExpr(
  c: ColumnPlan,
  e: Engine,
  col: (name: string) => string,
  prediction: string,
  duration: string | undefined,
  found: Record<string, string | undefined>,
): string {
  if (c.source === "prediction") return `CAST(${prediction} AS DOUBLE PRECISION)`;
  if (c.source === "input") return c.kind === "double" ? `CAST(${col(c.name)} AS DOUBLE PRECISION)` : `CAST(${col(c.name)} AS TEXT)`;
  if (c.source === "raw") return c.kind === "timestamp" ? e.written(col(c.name)) : `CAST(${col(c.name)} AS TEXT)`;
  switch (c.name) {
    case "ride_id":
      return "CAST(p.ride_id AS TEXT)";
    case "pickup_datetime":
      return e.written(col(found.pickup_datetime!));
    case "dropoff_datetime":
      return e.written(col(found.dropoff_datetime!));
    case "actual_duration":
      return duration!;
    case "diff":
      return `(${duration} - ${prediction})`;
    case "model_version":
      return "CAST(p.model_version AS TEXT)";
  }
  throw new RidepredError(`--in-database: output column ${c.name} cannot be computed inside the database`);
}

interface InDbTally {
  rowsRead: number;
  scored: number;
  filtered: number;
  rejected: number;
  byField: Record<string, number>;
  predictions: ScoreSummary["predictions"];
}

/** The run's counts and statistics, read from the staged rows; under --on-error fail, a rejected row ends the run (exit 1, nothing written). */
async function readTally(s: TableSession, stage: string, failOnReject: boolean, label: string): Promise<InDbTally> {
  const scoredRow = "(NOT ridepred_filtered AND ridepred_reject IS NULL)";
  const [t] = await s.rows<Record<string, unknown>>(
    `SELECT count(*) AS n,
       sum(CASE WHEN ridepred_filtered THEN 1 ELSE 0 END) AS filtered,
       sum(CASE WHEN ${scoredRow} THEN 1 ELSE 0 END) AS scored,
       avg(CASE WHEN ${scoredRow} THEN ridepred_prediction END) AS mean,
       stddev_pop(CASE WHEN ${scoredRow} THEN ridepred_prediction END) AS std,
       min(CASE WHEN ${scoredRow} THEN ridepred_prediction END) AS min,
       max(CASE WHEN ${scoredRow} THEN ridepred_prediction END) AS max
     FROM ${stage}`,
  );
  const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
  const rejectedRows = `FROM ${stage} WHERE NOT ridepred_filtered AND ridepred_reject IS NOT NULL`;
  if (failOnReject) {
    const [first] = await s.rows<{ ride_id: string; reason: string }>(
      `SELECT ridepred_id AS ride_id, ridepred_reject AS reason ${rejectedRows} ORDER BY 1 LIMIT 1`,
    );
    if (first)
      throw new RidepredError(`${label}: ride_id ${first.ride_id}: ${first.reason} (--on-error skip counts such rows and scores the rest; nothing written)`, 1);
  }
  const byField: Record<string, number> = {};
  for (const r of await s.rows<{ field: string; n: unknown }>(
    `SELECT split_part(ridepred_reject, ': ', 1) AS field, count(*) AS n ${rejectedRows} GROUP BY 1 ORDER BY 1`,
  ))
    byField[r.field] = num(r.n);
  const rowsRead = num(t!.n);
  const scored = num(t!.scored);
  const filtered = num(t!.filtered);
  return {
    rowsRead,
    scored,
    filtered,
    rejected: rowsRead - scored - filtered,
    byField,
    predictions: scored ? { mean: num(t!.mean), std: num(t!.std), min: num(t!.min), max: num(t!.max) } : null,
  };
}
