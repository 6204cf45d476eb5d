// Parquet -> Parquet with the row groups scored on several threads at once (src/batch/row-groups.ts),
// against the same run on one thread (RIDEPRED_ROW_GROUP_THREADS=off), through the real binary on the
// real months cut into 14 row groups (of ~10,000 rows): the same rows in the same order (ride ids included), the same
// counts, the same first error, the same rows set aside; shards; one output row group per input group;
// and without the setting the pipeline stays. The parts' assembly itself is checked
// directly: empty parts add nothing, the file reads back as written.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parquetAssembler } from "../src/io/parquet-parts.js";
import { parquetSink } from "../src/io/parquet-write.js";
import type { ParquetPart, PartMemory } from "../src/io/types.js";
import { BIN, SHARED, hasShared } from "./support/paths.js";

let tmp: string;
let big: string; // 2021-01 and 2021-02, 135,829 rows in row groups of 10,000
let bad: string; // the same with trip_distance missing at row 120,005 and PULocationID at row 130,007 (0-based)

function ridepred(args: string[], mode: "on" | "off" | undefined, cwd = tmp) {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", RIDEPRED_ROW_GROUP_THREADS: mode };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const rows = async (file: string) => (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Record<string, unknown>[];
const groupRows = async (file: string) => (await parquetMetadataAsync(await asyncBufferFromFile(file))).row_groups.map((g) => Number(g.num_rows));

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "ridepred-rowgroups-"));
  if (!hasShared) return;
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const duck = await (await DuckDBInstance.create(":memory:")).connect();
  const months = `['${join(SHARED, "green_tripdata_2021-01.parquet")}', '${join(SHARED, "green_tripdata_2021-02.parquet")}']`;
  big = join(tmp, "big.parquet");
  await duck.run(`COPY (SELECT * FROM read_parquet(${months})) TO '${big}' (FORMAT parquet, ROW_GROUP_SIZE 10000)`);
  bad = join(tmp, "bad.parquet");
  await duck.run(
    `COPY (SELECT * EXCLUDE (n) REPLACE (CASE WHEN n = 120005 THEN NULL ELSE trip_distance END AS trip_distance,
                                         CASE WHEN n = 130007 THEN NULL ELSE PULocationID END AS PULocationID)
           FROM (SELECT *, row_number() OVER () - 1 AS n FROM read_parquet(${months})) ORDER BY n)
     TO '${bad}' (FORMAT parquet, ROW_GROUP_SIZE 10000)`,
  );
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!hasShared)("row groups on threads of their own against one thread (skipped: ../shared/data is absent)", { timeout: 120_000 }, () => {
  it("the same rows in the same order, ride ids included; the same counts; one output row group per input group", async () => {
    expect(await groupRows(big)).toHaveLength(14);
    const one = ridepred(["score", big, "-o", "one.parquet", "--threads", "2", "--json"], "off");
    expect(one.code, one.stderr).toBe(0);
    const expected = await rows(join(tmp, "one.parquet"));
    const a = JSON.parse(one.stdout);
    for (const threads of ["2", "3"]) {
      const out = `threads-${threads}.parquet`;
      const r = ridepred(["score", big, "-o", out, "--threads", threads, "--json"], "on");
      expect(r.code, r.stderr).toBe(0);
      expect(await rows(join(tmp, out))).toEqual(expected);
      const b = JSON.parse(r.stdout);
      for (const k of ["rows_read", "scored", "filtered", "rejected", "rows_written", "rejected_by_field"]) expect(b[k], k).toEqual(a[k]);
      // Pooled per thread rather than batch by batch: equal up to the last bits.
      for (const k of ["mean", "std"]) expect(b.predictions[k]).toBeCloseTo(a.predictions[k], 10);
      for (const k of ["min", "max"]) expect(b.predictions[k]).toBe(a.predictions[k]);
      expect(await groupRows(join(tmp, out))).toEqual(await groupRows(big));
    }
    expect(expected[0]!.ride_id).toBe("big_0");
    expect(expected).toHaveLength(135829);
    // Whichever thread takes which group, the bytes are the same.
    const again = ridepred(["score", big, "-o", "again.parquet", "--threads", "2"], "on");
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(tmp, "again.parquet")).equals(readFileSync(join(tmp, "threads-2.parquet")))).toBe(true);
  });

  it("--on-error fail: the first bad row in the file stops the run (exit 1), as on one thread; nothing is left behind", () => {
    const dir = mkdtempSync(join(tmp, "fail-"));
    const results = (["off", "on"] as const).map((mode) => ridepred(["score", bad, "-o", "out.parquet", "--threads", "2"], mode, dir));
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("row 120006: trip_distance: is required but missing");
    }
    expect(results[1]!.stderr).toBe(results[0]!.stderr);
    expect(readdirSync(dir)).toEqual([]); // no output, no temp file
  });

  it("--on-error skip: the same rows set aside, counted by field; the rest written in order", async () => {
    const out = (mode: "on" | "off") => {
      const r = ridepred(["score", bad, "-o", `skip-${mode}.parquet`, "--threads", "2", "--on-error", "skip", "--json"], mode);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const [a, b] = [out("off"), out("on")];
    expect(b.rejected_by_field).toEqual({ trip_distance: 1, PULocationID: 1 });
    expect(b.rejected_by_field).toEqual(a.rejected_by_field);
    expect([b.scored, b.rejected]).toEqual([a.scored, 2]);
    expect(await rows(join(tmp, "skip-on.parquet"))).toEqual(await rows(join(tmp, "skip-off.parquet")));
  });

  it("a shard's row groups (--shard 1/3): the same rows and ids either way", async () => {
    for (const mode of ["off", "on"] as const) {
      const r = ridepred(["score", big, "-o", `shard-${mode}-{shard}.parquet`, "--threads", "2", "--shard", "1/3"], mode);
      expect(r.code, r.stderr).toBe(0);
    }
    const on = await rows(join(tmp, "shard-on-1.parquet"));
    expect(on).toEqual(await rows(join(tmp, "shard-off-1.parquet")));
    const groups = await groupRows(big);
    expect(await groupRows(join(tmp, "shard-on-1.parquet"))).toEqual(groups.filter((_, g) => g % 3 === 1));
    expect(on[0]!.ride_id).toBe(`big_${groups[0]}`); // group 1's first row
  });

  it("by default the run reads and predicts on one thread, encodes on another, and writes row groups of 131,072 rows and more", async () => {
    const r = ridepred(["score", big, "-o", "default.parquet", "--threads", "2"], undefined);
    expect(r.code, r.stderr).toBe(0);
    expect(await groupRows(join(tmp, "default.parquet"))).toEqual([131252, 4577]);
    const bad = ridepred(["score", big, "-o", "x.parquet"], "sometimes" as never);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("RIDEPRED_ROW_GROUP_THREADS=sometimes: expected on or off");
  });
});

describe("parts assembled into one file", () => {
  const columns = [
    { name: "zone", kind: "string" as const },
    { name: "x", kind: "double" as const },
  ];
  const batch = (from: number, n: number) => ({
    n,
    values: [Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `z${(from + i) % 30}`)), Float64Array.from({ length: n }, (_, i) => (from + i) / 4)],
  });

  it("row groups go out one by one and move to where they land; an empty part adds none; the file reads back as written", async () => {
    const parts: ParquetPart[] = [];
    const lasts: boolean[] = [];
    const memory: PartMemory = {
      spare: [],
      onPart: (p, last) => {
        parts.push(p);
        lasts.push(last);
      },
    };
    const sink = parquetSink(join(tmp, "unused.parquet"), columns, { part: memory, rowGroupRows: 1000 });
    await sink.write(batch(0, 1500));
    memory.cut!();
    memory.cut!(); // a group of nothing
    await sink.write(batch(1500, 700));
    await sink.write(batch(2200, 900));
    await sink.finish(); // the rest is a part too
    expect(parts.map((p) => p.rows)).toEqual([1500, 0, 0, 1600, 0]);
    expect(lasts).toEqual([false, true, true, false, true]);
    expect(readdirSync(tmp)).not.toContain("unused.parquet");
    const file = join(tmp, "assembled.parquet");
    const assembler = parquetAssembler(file);
    for (const p of parts) assembler.append(p);
    expect(assembler.finish()).toBe(3100);
    expect(await groupRows(file)).toEqual([1500, 1600]);
    const back = await rows(file);
    const want = [batch(0, 1500), batch(1500, 700), batch(2200, 900)].flatMap((b) =>
      Array.from({ length: b.n }, (_, i) => ({ zone: (b.values[0] as (string | null)[])[i], x: (b.values[1] as Float64Array)[i] })),
    );
    expect(back).toEqual(want);
  });

  it("a part whose columns differ is refused; abort leaves no file", () => {
    const file = join(tmp, "refused.parquet");
    const assembler = parquetAssembler(file);
    const part = (type: number): ParquetPart => ({ rows: 1, blocks: [], rowGroups: [], schema: [{ struct: [[1, type]] }] });
    assembler.append(part(5));
    expect(() => assembler.append(part(6))).toThrow(/internal: the parts disagree on the output's column types/);
    assembler.abort();
    expect(readdirSync(tmp).filter((f) => f.includes("refused"))).toEqual([]);
  });
});
