// JSON Lines as record batches: one object per line; a line that is not a JSON object is a row error.
import { createInterface } from "node:readline";
import { RidepredError } from "../errors.js";
import { openInputBytes } from "./open.js";
import type { BatchSource, ReadError, RecordBatch } from "./types.js";

export async function openJsonl(path: string): Promise<BatchSource> {
  const input = await openInputBytes(path, false);
  const label = path === "-" ? "stdin" : path;
  const lines = createInterface({ input: input.stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
  input.stream.on("error", () => {}); // surfaced through the line iterator

  const nextLine = async (): Promise<string | undefined> => {
    for (;;) {
      let r: IteratorResult<string>;
      try {
        r = await lines.next();
      } catch (e) {
        throw new RidepredError(`${label}: cannot read: ${(e as Error).message}`);
      }
      if (r.done) return undefined;
      if (r.value.trim() !== "") return r.value;
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
      wanted.forEach((w, j) => (columns[w] = cols[j]!));
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
