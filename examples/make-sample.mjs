// Writes examples/green_tripdata_2021-02_sample.{csv,parquet}: 1,000 real rows (every 61st) of the
// validation month, so the README's commands and the tests run without ../shared.
// usage: node examples/make-sample.mjs [../shared/data/green_tripdata_2021-02.parquet]
import { writeFileSync } from "node:fs";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { parquetWriteFile } from "hyparquet-writer";

const src = process.argv[2] ?? new URL("../../shared/data/green_tripdata_2021-02.parquet", import.meta.url).pathname;
const all = await parquetReadObjects({ file: await asyncBufferFromFile(src) });
const rows = all.filter((_, i) => i % 61 === 0).slice(0, 1000);
const cols = Object.keys(rows[0]).filter((c) => c !== "__index_level_0__");
const base = new URL("./green_tripdata_2021-02_sample", import.meta.url).pathname;

const cell = (v) => (v === null || v === undefined ? "" : v instanceof Date ? v.toISOString().slice(0, 19).replace("T", " ") : String(v));
writeFileSync(base + ".csv", [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n") + "\n");

const type = (c) => {
  const v = rows.find((r) => r[c] !== null)?.[c];
  return v instanceof Date ? "TIMESTAMP" : typeof v === "bigint" ? "INT64" : typeof v === "string" ? "STRING" : "DOUBLE";
};
parquetWriteFile({
  filename: base + ".parquet",
  columnData: cols.map((c) => ({ name: c, data: rows.map((r) => r[c]), type: type(c) })),
});
console.error(`wrote ${rows.length} rows, ${cols.length} columns to ${base}.{csv,parquet}`);
