// bench/score-data: real TLC rows from ../shared repeated to N rows, as CSV (every column, like a
// TLC CSV export) and as Parquet (one row group per million rows; the real monthly files are one
// big row group). Timestamps are shifted by whole weeks per repetition so rows stay realistic.
// makeIdsParquet: the same rows as DuckDB writes them (what a user's own export looks like, and the
// TLC's files from 2023 on store ids the same way): INT64 zone ids in dictionary pages, PLAIN times in
// one page per column chunk, row groups of a million rows.
// usage: node bench/score-data.mjs ROWS OUTDIR
import { createWriteStream, existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { ParquetWriter } from "hyparquet-writer";
import { fileWriter } from "hyparquet-writer/src/node.js";

const shared = new URL("../../shared/data/", import.meta.url).pathname;
const months = ["green_tripdata_2021-01.parquet", "green_tripdata_2021-02.parquet", "green_tripdata_2023-01.parquet"].map((f) => join(shared, f));
const cols = [
  "VendorID",
  "lpep_pickup_datetime",
  "lpep_dropoff_datetime",
  "store_and_fwd_flag",
  "RatecodeID",
  "PULocationID",
  "DOLocationID",
  "passenger_count",
  "trip_distance",
  "fare_amount",
  "extra",
  "mta_tax",
  "tip_amount",
  "tolls_amount",
  "improvement_surcharge",
  "total_amount",
  "payment_type",
  "trip_type",
  "congestion_surcharge",
];

export async function makeData(rows, dir) {
  mkdirSync(dir, { recursive: true });
  const csvPath = join(dir, `green_${rows}.csv`);
  const pqPath = join(dir, `green_${rows}.parquet`);
  if (existsSync(csvPath) && existsSync(pqPath)) return { csvPath, pqPath };
  if (!months.every(existsSync)) throw new Error(`bench/score needs the real TLC months in ${shared}`);
  const real = [];
  for (const m of months) {
    for (const r of await parquetReadObjects({ file: await asyncBufferFromFile(m), columns: cols })) {
      // ids as strings, as the cleaned 2021 files store them
      real.push({ ...r, PULocationID: String(r.PULocationID), DOLocationID: String(r.DOLocationID), VendorID: r.VendorID == null ? null : Number(r.VendorID) });
    }
  }
  const week = 7 * 86400000;
  const cell = (v) => (v === null || v === undefined ? "" : v instanceof Date ? v.toISOString().slice(0, 19).replace("T", " ") : String(v));
  const rowAt = (i) => {
    const r = real[i % real.length];
    const shift = Math.floor(i / real.length) * week;
    return {
      ...r,
      lpep_pickup_datetime: new Date(r.lpep_pickup_datetime.getTime() + shift),
      lpep_dropoff_datetime: new Date(r.lpep_dropoff_datetime.getTime() + shift),
    };
  };

  const csv = createWriteStream(csvPath);
  const write = (s) => (csv.write(s) ? Promise.resolve() : new Promise((res) => csv.once("drain", res)));
  await write(cols.join(",") + "\n");
  const group = 1_000_000;
  const types = {
    VendorID: "DOUBLE",
    lpep_pickup_datetime: "TIMESTAMP",
    lpep_dropoff_datetime: "TIMESTAMP",
    store_and_fwd_flag: "STRING",
    PULocationID: "STRING",
    DOLocationID: "STRING",
  };
  const schema = [{ name: "root", num_children: cols.length }];
  for (const c of cols) {
    const t = types[c] ?? "DOUBLE";
    schema.push(
      t === "STRING"
        ? { name: c, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" }
        : t === "TIMESTAMP"
          ? {
              name: c,
              type: "INT64",
              converted_type: "TIMESTAMP_MICROS",
              logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" },
              repetition_type: "OPTIONAL",
            }
          : { name: c, type: "DOUBLE", repetition_type: "OPTIONAL" },
    );
  }
  const pq = new ParquetWriter({ writer: fileWriter(pqPath), schema });
  for (let start = 0; start < rows; start += group) {
    const n = Math.min(group, rows - start);
    const data = cols.map(() => new Array(n));
    const lines = [];
    for (let i = 0; i < n; i++) {
      const r = rowAt(start + i);
      lines.push(cols.map((c) => cell(r[c])).join(","));
      if (lines.length === 50000) {
        await write(lines.join("\n") + "\n");
        lines.length = 0;
      }
      cols.forEach((c, j) => {
        const v = r[c];
        data[j][i] = v instanceof Date ? BigInt(v.getTime()) * 1000n : (v ?? null);
      });
    }
    if (lines.length) await write(lines.join("\n") + "\n");
    await pq.write({ columnData: cols.map((c, j) => ({ name: c, data: data[j] })), rowGroupSize: n });
  }
  await pq.finish();
  await new Promise((res) => csv.end(res));
  return { csvPath, pqPath };
}

/** The CSV's rows as a Parquet file DuckDB writes, ids read as BIGINT; made once, beside the others. */
export async function makeIdsParquet(csvPath, dir, rows) {
  const idsPath = join(dir, `green_${rows}.ids.parquet`);
  if (existsSync(idsPath)) return idsPath;
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const db = await (await DuckDBInstance.create(":memory:")).connect();
  const tmp = `${idsPath}.tmp`;
  await db.run(
    `COPY (SELECT * FROM read_csv('${csvPath}', types = {'PULocationID': 'BIGINT', 'DOLocationID': 'BIGINT'})) TO '${tmp}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)`,
  );
  renameSync(tmp, idsPath);
  return idsPath;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  console.log(await makeData(rows, process.argv[3] ?? "/tmp/ridepred-bench"));
}
