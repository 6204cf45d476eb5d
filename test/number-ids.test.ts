// Zone ids stored as integers (Parquet INT32, INT_32 as DuckDB, Spark and pyarrow mark them, INT_16):
// the predictor takes them as dictionary columns (src/runtime/number-ids.ts) and score writes them as a
// dictionary of the batch's ids. INT64 ids arrive from the reader as a dictionary column of BigInts. Both must be invisible: the same bits, the same errors and the same
// output bytes as the same rows with the ids stored as strings.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import { NumberIds } from "../src/runtime/number-ids.js";
import { loadModel } from "../src/runtime/load.js";
import { BIN, ROOT } from "./support/paths.js";

const GREEN = join(ROOT, "../shared/data/green_tripdata_2021-02.parquet");

describe("NumberIds", () => {
  it("small whole numbers become a dictionary column (NaN: index -1) whose dictionary changes only by being replaced", () => {
    const ids = new NumberIds();
    const a = ids.encode(Float64Array.from([130, 7, NaN, 130, 0, -0]), 6)!;
    expect(Array.from(a.indices)).toEqual([0, 1, -1, 0, 2, 2]);
    expect(a.dictionary).toEqual([130, 7, 0]);
    const first = a.dictionary;
    // No new id: the same dictionary (stages keep what they derived from it).
    const b = ids.encode(Float64Array.from([7, 7, 130]), 3)!;
    expect(b.dictionary).toBe(first);
    expect(Array.from(b.indices)).toEqual([1, 1, 0]);
    // A new id: a new dictionary; the one handed out before is unchanged.
    const c = ids.encode(Float64Array.from([4095, 130]), 2)!;
    expect(c.dictionary).not.toBe(first);
    expect(first).toEqual([130, 7, 0]);
    expect(c.dictionary).toEqual([130, 7, 0, 4095]);
    expect(Array.from(c.indices)).toEqual([3, 0]);
    // Anything else leaves the column as it is; ids met before the bad value are kept, consistently.
    for (const bad of [4096, -1, 1.5, Infinity, -Infinity]) expect(ids.encode(Float64Array.from([12, bad]), 2), String(bad)).toBeUndefined();
    const d = ids.encode(Float64Array.from([12, 7]), 2)!;
    expect(d.dictionary).toEqual([130, 7, 0, 4095, 12]);
    expect(Array.from(d.indices)).toEqual([4, 1]);
  });

  it.skipIf(!existsSync(GREEN))("the predictor gives ids as numbers the bits and errors of the same ids as strings", async () => {
    const { predictor } = loadModel();
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(GREEN), columns: ["PULocationID", "DOLocationID", "trip_distance"] });
    const n = 5000;
    const pu = Float64Array.from(rows.slice(0, n), (r, i) => (i % 211 === 5 ? NaN : Number(r.PULocationID)));
    const dro = Float64Array.from(rows.slice(0, n), (r) => Number(r.DOLocationID));
    const dist = Float64Array.from(rows.slice(0, n), (r) => Number(r.trip_distance ?? NaN));
    const asText = (x: Float64Array) => Array.from(x, (v) => (Number.isNaN(v) ? null : String(v)));
    for (const size of [n, 700]) {
      for (let at = 0; at < n; at += size) {
        const m = Math.min(size, n - at);
        const cut = (x: Float64Array) => x.slice(at, at + m);
        const numbers = predictor.predictColumns({ PULocationID: cut(pu), DOLocationID: cut(dro), trip_distance: cut(dist) }, m);
        const got = { predictions: numbers.predictions.slice(0, m), errors: numbers.errors };
        const strings = predictor.predictColumns({ PULocationID: asText(cut(pu)), DOLocationID: asText(cut(dro)), trip_distance: Array.from(cut(dist)) }, m);
        expect(got.errors).toEqual(strings.errors);
        for (let r = 0; r < m; r++) expect(Object.is(got.predictions[r], strings.predictions[r]), `row ${at + r}`).toBe(true);
      }
    }
    expect(predictor.predictColumns({ PULocationID: pu, DOLocationID: dro, trip_distance: dist }, n).errors.length).toBeGreaterThan(20);
  });

  it.skipIf(!existsSync(GREEN))("score: ids stored as VARCHAR, INTEGER, SMALLINT, BIGINT or DOUBLE give the same CSV bytes and Parquet values", async () => {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const dir = mkdtempSync(join(tmpdir(), "ridepred-number-ids-"));
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    // Three row groups, some ids missing (rejected) and some rides filtered.
    const rows = `SELECT * REPLACE (CASE WHEN row_number() OVER () % 503 = 0 THEN NULL ELSE PULocationID END AS PULocationID) FROM read_parquet('${GREEN}')`;
    const outputs: Record<string, { csv: string; rej: string; pq: unknown[] }> = {};
    for (const type of ["VARCHAR", "INTEGER", "SMALLINT", "BIGINT", "DOUBLE"]) {
      const file = join(dir, `${type}.parquet`);
      await duck.run(
        `COPY (SELECT * REPLACE (PULocationID::${type} AS PULocationID, DOLocationID::${type} AS DOLocationID) FROM (${rows})) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 25000)`,
      );
      const common = ["--ride-id-prefix", "g", "--filter-duration", "1..60", "--on-error", "skip", "--batch-size", "4000"];
      for (const out of [`${type}.csv`, `${type}.parquet.out`]) {
        const args = ["score", file, "-o", join(dir, out), "--rejects", join(dir, `${out}.rej.csv`), ...common];
        if (out.endsWith(".out")) args.push("--output-format", "parquet");
        const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/rejected by field: PULocationID 1\d\d /);
      }
      outputs[type] = {
        csv: readFileSync(join(dir, `${type}.csv`), "utf8"),
        rej: readFileSync(join(dir, `${type}.csv.rej.csv`), "utf8"),
        pq: await parquetReadObjects({ file: await asyncBufferFromFile(join(dir, `${type}.parquet.out`)) }),
      };
    }
    const { csv, rej, pq } = outputs.VARCHAR!;
    expect(csv.split("\n").length).toBeGreaterThan(60_000);
    for (const type of ["INTEGER", "SMALLINT", "BIGINT", "DOUBLE"]) {
      expect(outputs[type]!.csv === csv, `${type}: CSV bytes`).toBe(true);
      expect(outputs[type]!.pq, `${type}: Parquet rows`).toEqual(pq);
      // The rejects hold the values as read: "130" as text, 130 as a number (the same in CSV).
      expect(outputs[type]!.rej === rej, `${type}: rejects`).toBe(true);
    }
  });
});
