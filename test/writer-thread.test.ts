// The Parquet writer thread started early (src/batch/writer-thread.ts, src/io/parquet-writer-start.ts):
// when a command starts it before opening anything, that a sink takes it once, and that one nobody
// takes neither keeps a run alive nor changes its output.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, describe, expect, it } from "vitest";
import { useWriterThread, writerEarly } from "../src/batch/writer-thread.js";
import { startWriterEarly } from "../src/io/parquet-writer-start.js";

const ROOT = join(__dirname, "..");
const GREEN = join(ROOT, "../shared/data/green_tripdata_2021-02.parquet");
const tmp = mkdtempSync(join(tmpdir(), "ridepred-writer-thread-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A file of `bytes` bytes (sparse: only its size matters to the rule). */
function sized(name: string, bytes: number): string {
  const path = join(tmp, name);
  writeFileSync(path, "");
  truncateSync(path, bytes);
  return path;
}

describe("writerEarly: the writer thread starts before the run only when the run will want it", () => {
  const big = sized("big.parquet", 16 << 20);
  const bigCsv = sized("big.csv", 80 << 20);
  const smallCsv = sized("small.csv", 70 << 20);
  const base = { inputFormat: undefined, outputFormat: undefined, writerThread: "auto" as const, rowGroupThreads: false };
  const cases: [string, Parameters<typeof writerEarly>[0], boolean][] = [
    ["a big Parquet file to Parquet", { ...base, inputs: [big], output: "out.parquet" }, true],
    ["a big CSV file to Parquet, templates in the name", { ...base, inputs: [bigCsv], output: "out/{year}/{run_id}.parquet" }, true],
    ["a CSV file below the size", { ...base, inputs: [smallCsv], output: "out.parquet" }, false],
    ["the real month (~65k rows)", { ...base, inputs: [GREEN], output: "out.parquet" }, false],
    ["the real month with RIDEPRED_WRITER_THREAD=on", { ...base, inputs: [GREEN], output: "out.parquet", writerThread: "on" }, true],
    ["a big file with RIDEPRED_WRITER_THREAD=off", { ...base, inputs: [big], output: "out.parquet", writerThread: "off" }, false],
    ["a big file to CSV", { ...base, inputs: [big], output: "out.csv" }, false],
    ["a big file to stdout", { ...base, inputs: [big], output: "-" }, false],
    ["stdin to Parquet (may be long)", { ...base, inputs: ["-"], inputFormat: "csv", output: "out.parquet" }, true],
    ["a table to Parquet", { ...base, inputs: ["postgresql://u@127.0.0.1/db?table=rides"], output: "out.parquet" }, true],
    ["a table to a table", { ...base, inputs: ["postgresql://u@127.0.0.1/db?table=rides"], output: "duckdb:x.db?table=p" }, false],
    ["two inputs (each job decides)", { ...base, inputs: [big, big], output: "{input}.parquet" }, false],
    ["a glob (not a file yet)", { ...base, inputs: [join(tmp, "*.parquet")], output: "{input}.parquet" }, false],
    ["Parquet with row-group threads (no writer thread)", { ...base, inputs: [big], output: "out.parquet", rowGroupThreads: true }, false],
    ["CSV with row-group threads (they are for Parquet input)", { ...base, inputs: [bigCsv], output: "out.parquet", rowGroupThreads: true }, true],
    ["an output format it does not know (the run reports it)", { ...base, inputs: [big], output: "out.xlsx" }, false],
  ];
  for (const [name, run, started] of cases) {
    it(name, async () => {
      const early = writerEarly(run);
      try {
        expect(early !== undefined).toBe(started);
      } finally {
        early?.end();
      }
    });
  }

  it("the same rule as the opened input's: rows when they are known, the size otherwise", () => {
    const job = { input: big, outputFormat: "parquet", writerThread: "auto" as const };
    expect(useWriterThread(job, 750_000)).toBe(true);
    expect(useWriterThread(job, 749_999)).toBe(false);
    expect(useWriterThread({ ...job, input: bigCsv }, undefined)).toBe(true);
    expect(useWriterThread({ ...job, input: smallCsv }, undefined)).toBe(false);
    // 72 MiB, the README's figure, to the byte
    expect(useWriterThread({ ...job, input: sized("edge.csv", 72 << 20) }, undefined)).toBe(true);
    expect(useWriterThread({ ...job, input: sized("below.csv", (72 << 20) - 1) }, undefined)).toBe(false);
    expect(useWriterThread({ ...job, outputFormat: "csv" }, 10_000_000)).toBe(false);
  });
});

describe("an early writer thread", () => {
  it("is handed out once; afterwards a sink starts its own", async () => {
    const early = startWriterEarly();
    const worker = early.take();
    expect(worker).toBeDefined();
    expect(early.take()).toBeUndefined();
    early.end(); // taken: not the early holder's to stop
    expect(worker!.threadId).toBeGreaterThan(0);
    const exit = new Promise((resolve) => worker!.once("exit", resolve));
    await worker!.terminate();
    await exit;
  });

  it("untaken, keeps no process alive", () => {
    const script = `import { startWriterEarly } from ${JSON.stringify(join(ROOT, "dist/io/parquet-writer-start.js"))}; startWriterEarly();`;
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it("started for a big Parquet file of few rows, then not used: the run ends, its output the same as with the thread off", async () => {
    // ~20 MB of incompressible text beside 65k real rows: big enough to start the thread, too few rows to use it.
    const padded = join(tmp, "padded.parquet");
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    try {
      await duck.run(
        `COPY (SELECT *, md5(random()::VARCHAR) || md5(random()::VARCHAR) || md5(random()::VARCHAR) || md5(random()::VARCHAR)
           || md5(random()::VARCHAR) || md5(random()::VARCHAR) || md5(random()::VARCHAR) || md5(random()::VARCHAR)
           || md5(random()::VARCHAR) || md5(random()::VARCHAR) AS pad
         FROM read_parquet('${GREEN}')) TO '${padded}' (FORMAT parquet, COMPRESSION uncompressed)`,
      );
    } finally {
      duck.closeSync();
    }
    const big = writerEarly({ inputs: [padded], output: "x.parquet", writerThread: "auto", rowGroupThreads: false });
    expect(big).toBeDefined();
    big!.end();
    const run = (name: string, thread: string) => {
      const out = join(tmp, name);
      const r = spawnSync(process.execPath, [join(ROOT, "bin/ridepred"), "score", padded, "-o", out, "--json"], {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", RIDEPRED_WRITER_THREAD: thread },
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).rows_written).toBeGreaterThan(60_000);
      return readFileSync(out);
    };
    expect(run("auto.parquet", "auto").equals(run("off.parquet", "off"))).toBe(true);
  });
});
