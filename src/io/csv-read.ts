// CSV (and CSV.gz) as record batches, streaming: quoted fields, CRLF, a BOM. A row with the wrong
// number of fields or a stray quote is reported as a row error, never dropped or padded silently.
import { StringDecoder } from "node:string_decoder";
import { RidepredError } from "../errors.js";
import { scanRecords, UnclosedQuote, type RowProblem, type ScanTarget } from "./csv-scan.js";
import { openInputBytes } from "./open.js";
import type { BatchSource, RecordBatch } from "./types.js";

const MAX_HEADER = 4096;

export async function openCsv(path: string, gzip: boolean, chunkSize?: number): Promise<BatchSource> {
  const input = await openInputBytes(path, gzip, chunkSize);
  const label = path === "-" ? "stdin" : path;
  const chunks = input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const decoder = new StringDecoder("utf8");
  let text = "";
  let pos = 0;
  let ended = false;

  /** Append the next chunk of input to the text not yet consumed; false at the end. */
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    let r: IteratorResult<Buffer>;
    try {
      r = await chunks.next();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err?.code?.startsWith("Z_")) throw new RidepredError(`${label}: not valid gzip: ${err.message}`);
      throw new RidepredError(`${label}: cannot read: ${err?.message ?? e}`);
    }
    const rest = text.slice(pos);
    pos = 0;
    if (r.done) {
      ended = true;
      text = rest + decoder.end();
      return text.length > 0;
    }
    text = rest + decoder.write(r.value);
    return true;
  };

  // Header: the first record, every field kept.
  const header: ScanTarget = {
    slots: Int32Array.from({ length: MAX_HEADER }, (_, i) => i),
    cols: Array.from({ length: MAX_HEADER }, () => []),
    width: MAX_HEADER,
    header: true,
  };
  for (;;) {
    const got = await more();
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const r = scanRecords(text, pos, ended, header, 0, 1, []);
    pos = r.pos;
    if (r.rows === 1) break;
    if (!got) throw new RidepredError(`${label}: empty CSV (no header line)`);
  }
  const names: string[] = [];
  for (let k = 0; k < MAX_HEADER && header.cols[k]![0] !== undefined; k++) names.push(String(header.cols[k]![0]).trim());

  let rowsDone = 0;
  async function* batches(wanted: readonly string[], batchSize: number): AsyncGenerator<RecordBatch> {
    const slots = new Int32Array(names.length).fill(-1);
    wanted.forEach((w, j) => {
      const k = names.indexOf(w);
      if (k >= 0) slots[k] = j;
    });
    for (;;) {
      const cols: unknown[][] = wanted.map(() => new Array<unknown>(batchSize));
      const target: ScanTarget = { slots, cols, width: names.length };
      const problems: RowProblem[] = [];
      let n = 0;
      while (n < batchSize) {
        let r;
        try {
          r = scanRecords(text, pos, ended, target, n, batchSize - n, problems);
        } catch (e) {
          if (e instanceof UnclosedQuote)
            throw new RidepredError(`${label}: not valid CSV: the quoted field opened in row ${rowsDone + e.row + 1} is never closed`);
          throw e;
        }
        pos = r.pos;
        n += r.rows;
        if (n < batchSize && !(await more())) break;
      }
      if (n > 0) {
        for (const c of cols) c.length = n;
        const columns: Record<string, ArrayLike<unknown>> = {};
        wanted.forEach((w, j) => (columns[w] = cols[j]!));
        rowsDone += n;
        yield { n, columns, errors: problems.map((p) => ({ row: p.row, field: "$", reason: p.reason })) };
      }
      if (n < batchSize) return;
    }
  }

  return {
    names,
    timestampColumns: new Set(),
    progress: () => (input.size ? input.read() / input.size : undefined), // compressed bytes for .gz: still the share done
    batches,
    close: async () => {
      input.stream.destroy();
    },
  };
}
