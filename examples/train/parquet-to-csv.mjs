// Debian's Python has no Parquet reader (no pyarrow), so training reads the TLC months through hyparquet.
// usage: node parquet-to-csv.mjs FILE.parquet [COLUMN ...] > out.csv   (timestamps written as naive local time)
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";

const [file, ...wanted] = process.argv.slice(2);
if (!file) {
  console.error("usage: node parquet-to-csv.mjs FILE.parquet [COLUMN ...]");
  process.exit(2);
}
const rows = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: wanted.length ? wanted : undefined });
const cols = wanted.length ? wanted : Object.keys(rows[0] ?? {});
const cell = (v) => (v === null || v === undefined ? "" : v instanceof Date ? v.toISOString().slice(0, 19).replace("T", " ") : String(v));
const out = [cols.join(",")];
for (const r of rows) out.push(cols.map((c) => cell(r[c])).join(","));
process.stdout.write(out.join("\n") + "\n");
