// CSV (and CSV.gz) as record batches, streaming through csv-parse: quoted fields, CRLF, a BOM.
// A row with the wrong number of fields is reported as a row error, not silently dropped or padded.
import { parse, CsvError } from "csv-parse";
import { RidepredError } from "../errors.js";
import { openBytes } from "./open.js";
import type { BatchSource, ReadError, RecordBatch } from "./types.js";

export async function openCsv(path: string, gzip: boolean): Promise<BatchSource> {
  const input = openBytes(path, gzip);
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true });
  input.stream.on("error", (e) => parser.destroy(e));
  input.stream.pipe(parser);
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<string[]>;
  const label = path === "-" ? "stdin" : path;

  const next = async (): Promise<IteratorResult<string[]>> => {
    try {
      return await records.next();
    } catch (e) {
      throw readError(label, e);
    }
  };
  const first = await next();
  if (first.done) throw new RidepredError(`${label}: empty CSV (no header line)`);
  const names = first.value.map((s) => s.trim());

  async function* batches(wanted: readonly string[], batchSize: number): AsyncGenerator<RecordBatch> {
    const idx = wanted.map((w) => names.indexOf(w));
    const width = names.length;
    for (;;) {
      const cols = wanted.map(() => new Array<unknown>(batchSize));
      const errors: ReadError[] = [];
      let n = 0;
      let done = false;
      while (n < batchSize) {
        const r = await next();
        if (r.done) {
          done = true;
          break;
        }
        const rec = r.value;
        if (rec.length !== width) {
          errors.push({ row: n, field: "$", reason: `has ${rec.length} fields, the header has ${width}` });
          for (let j = 0; j < idx.length; j++) cols[j]![n] = undefined;
        } else {
          for (let j = 0; j < idx.length; j++) cols[j]![n] = rec[idx[j]!];
        }
        n++;
      }
      if (n > 0) {
        const columns: Record<string, ArrayLike<unknown>> = {};
        wanted.forEach((w, j) => {
          cols[j]!.length = n;
          columns[w] = cols[j]!;
        });
        yield { n, columns, errors };
      }
      if (done) return;
    }
  }

  return {
    names,
    timestampColumns: new Set(),
    progress: () => (input.size && !gzip ? input.read() / input.size : undefined),
    batches,
    close: async () => {
      parser.destroy();
      input.stream.destroy();
    },
  };
}

function readError(label: string, e: unknown): RidepredError {
  if (e instanceof RidepredError) return e;
  if (e instanceof CsvError) return new RidepredError(`${label}: not valid CSV: ${e.message}`);
  const err = e as NodeJS.ErrnoException;
  if (err?.code === "Z_DATA_ERROR" || err?.code === "Z_BUF_ERROR") return new RidepredError(`${label}: not valid gzip: ${err.message}`);
  return new RidepredError(`${label}: cannot read: ${err?.message ?? String(e)}`);
}
