// JSON Lines as record batches: one object per line; a line that is not a JSON object is a row error.
// Lines are cut from the decoded text with indexOf, each character searched once however the chunks
// fall; a line longer than maxLine ends the run (exit 2) instead of growing without bound.
import { StringDecoder } from "node:string_decoder";
import { RidepredError } from "../errors.js";
import { openInputBytes } from "./open.js";
import { redactLocation } from "./redact.js";
import { type BatchSource, DEFAULT_MAX_RECORD, type ReadError, type RecordBatch } from "./types.js";

export async function openJsonl(path: string, maxLine = DEFAULT_MAX_RECORD): Promise<BatchSource> {
  const input = await openInputBytes(path, false);
  const label = path === "-" ? "stdin" : redactLocation(path);
  const lines = lineReader(input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>, label, maxLine);

  /** The next line that is not blank, with its 1-based row (non-blank lines) for errors. */
  let rows = 0;
  const nextLine = async (): Promise<string | undefined> => {
    for (;;) {
      const line = await lines.next(rows + 1);
      if (line === undefined) return undefined;
      if (line.trim() !== "") {
        rows++;
        return line;
      }
    }
  };
  // The first object names the columns; later lines may omit keys (missing values) or add others.
  const firstLine = await nextLine();
  const first = firstLine === undefined ? undefined : parseObject(firstLine);
  const names = first && !("error" in first) ? Object.keys(first.value) : [];

  async function* batches(wanted: readonly string[], batchSize: number): AsyncGenerator<RecordBatch> {
    let pending: string | undefined = firstLine;
    for (;;) {
      const cols = wanted.map(() => [] as unknown[]);
      const errors: ReadError[] = [];
      let n = 0;
      while (n < batchSize) {
        const line = pending ?? (await nextLine());
        pending = undefined;
        if (line === undefined) break;
        const r = parseObject(line);
        if ("error" in r) {
          errors.push({ row: n, field: "$", reason: r.error });
          for (const c of cols) c.push(undefined);
        } else {
          for (let j = 0; j < wanted.length; j++) cols[j]!.push(r.value[wanted[j]!]);
        }
        n++;
      }
      if (n === 0) return;
      const columns: Record<string, ArrayLike<unknown>> = {};
      for (const [j, w] of wanted.entries()) columns[w] = cols[j]!;
      yield { n, columns, errors };
      if (n < batchSize) return;
    }
  }

  return {
    names,
    timestampColumns: new Set(),
    progress: () => (input.size ? input.read() / input.size : undefined),
    batches,
    close: async () => {
      input.stream.destroy();
    },
  };
}

/**
 * Lines of a byte stream (LF or CRLF; the last may lack its line end). `row` names the line being read
 * in the error a too-long line raises.
 */
function lineReader(chunks: AsyncIterator<Buffer>, label: string, maxLine: number) {
  const decoder = new StringDecoder("utf8");
  let text = "";
  let pos = 0;
  let ended = false;
  const queue: string[] = []; // pieces of a line that spans chunks, and their length
  let queued = 0;
  const tooLong = (row: number) => new RidepredError(`${label}: row ${row} is longer than --max-record-bytes (${maxLine}): not JSON Lines?`);
  const cut = (line: string) => (line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line);
  return {
    async next(row: number): Promise<string | undefined> {
      for (;;) {
        const lf = text.indexOf("\n", pos);
        if (lf >= 0) {
          if (queued + lf - pos >= maxLine) throw tooLong(row);
          let line = text.slice(pos, lf);
          pos = lf + 1;
          if (queue.length) {
            line = queue.join("") + line;
            queue.length = queued = 0;
          }
          return cut(line);
        }
        if (pos < text.length) {
          queue.push(text.slice(pos));
          queued += text.length - pos;
          if (queued > maxLine) throw tooLong(row);
        }
        text = "";
        pos = 0;
        if (ended) {
          if (!queue.length) return undefined;
          const line = queue.join("");
          queue.length = queued = 0;
          return cut(line);
        }
        let r: IteratorResult<Buffer>;
        try {
          r = await chunks.next();
        } catch (e) {
          throw new RidepredError(`${label}: cannot read: ${(e as Error).message}`);
        }
        if (r.done) {
          ended = true;
          text = decoder.end();
        } else text = decoder.write(r.value);
      }
    },
  };
}

function parseObject(line: string): { value: Record<string, unknown> } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { error: "not a JSON object" };
  return { value: v as Record<string, unknown> };
}
