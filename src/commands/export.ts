// `ridepred export sql`: the model as one SQL script for an engine (see src/sql/).
import { Command, Option } from "commander";
import { RidepredError } from "../errors.js";
import { keyValue } from "./options.js";

// Listed here (not imported from src/sql) so that `ridepred --help` loads none of the exporter.
const DIALECTS = ["duckdb", "postgres", "mysql", "spark", "bigquery", "snowflake", "trino"];

interface SqlOpts {
  model?: string;
  dialect: string;
  table: string;
  view?: string;
  map: Record<string, string>;
  output: string;
  maxBytes?: string;
  columns?: string;
  trees: "auto" | "case" | "nodes";
  json?: boolean;
}

export function exportCommand(): Command {
  const sql = new Command("sql")
    .description("write the model as one SQL script: helper tables and a view scoring every row of a table, inside the database")
    .argument("[model]", "model.json (default: the bundled model)")
    .option("--model <file>", "model.json (same as the argument)")
    .addOption(new Option("--dialect <engine>", "the SQL engine").choices(DIALECTS).makeOptionMandatory())
    .requiredOption("--table <source>", "the table or view holding the rides (schema.table allowed), or a table expression such as read_parquet('x.parquet')")
    .option("--view <name>", "the view to create; helper tables are named <view>_weights ...", "ride_predictions")
    .option("--map <column=input>", "read model input (or ride_id) INPUT from source column COLUMN (repeatable)", keyValue("--map"), {})
    .option("--columns <list>", "more view columns, comma-separated: model inputs (as the model saw them) or source columns (as they are)")
    .option("-o, --output <file>", "write the script here (default stdout)", "-")
    .option("--max-bytes <n>", "refuse a view query larger than this many bytes (default 8388608), besides the engine's own limit")
    .addOption(
      new Option("--trees <form>", "trees as nested CASE expressions, as a node table walked by WITH RECURSIVE, or auto: CASE unless over --max-bytes")
        .choices(["auto", "case", "nodes"])
        .default("auto"),
    )
    .option("--json", "print a summary as JSON (stdout, or stderr when the script goes to stdout)")
    .action(async (model: string | undefined, opts: SqlOpts) => {
      process.exitCode = await run(model ?? opts.model, opts);
    });
  return new Command("export").description("export the model to run elsewhere: `export sql` for SQL engines").addCommand(sql.exitOverride());
}

async function run(path: string | undefined, opts: SqlOpts): Promise<number> {
  const { loadModel } = await import("../runtime/load.js");
  const { exportSql, DEFAULT_MAX_BYTES } = await import("../sql/script.js");
  const { writeFileAtomic } = await import("../artifact/io.js");
  const { thousands } = await import("../term.js");
  const maxBytes = opts.maxBytes === undefined ? DEFAULT_MAX_BYTES : Number(opts.maxBytes);
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RidepredError(`--max-bytes ${opts.maxBytes}: expected a positive integer`);
  const { artifact } = loadModel(path);
  const r = exportSql(artifact, {
    dialect: opts.dialect as never,
    table: opts.table,
    view: opts.view,
    map: opts.map,
    maxBytes,
    trees: opts.trees,
    columns: opts.columns
      ?.split(",")
      .map((c) => c.trim())
      .filter(Boolean),
  });
  if (opts.output === "-") process.stdout.write(r.sql);
  else writeFileAtomic(opts.output, r.sql);
  const summary = { ...r, sql: undefined, output: opts.output, model: { name: artifact.name, version: artifact.version } };
  if (opts.json) (opts.output === "-" ? process.stderr : process.stdout).write(`${JSON.stringify(summary, null, 2)}\n`);
  else
    process.stderr.write(
      `export sql: ${artifact.name} ${artifact.version} for ${r.dialect}: view ${r.view}${r.helperTables.length ? ` and ${r.helperTables.join(", ")}` : ""}, ${thousands(r.bytes)} bytes (view query ${thousands(r.viewBytes)})${opts.output === "-" ? "" : ` -> ${opts.output}`}\n`,
    );
  return 0;
}
