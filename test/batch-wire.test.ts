// A batch's crossing to a writer thread (src/io/batch-wire.ts): numeric columns go through shared
// memory, column j at its own place in it. A column built there in the first place (Sink.columnMemory)
// crosses without a copy; one built elsewhere is copied; one built at another column's place is refused.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromWire, toWire, wireBytes, wireColumns } from "../src/io/batch-wire.js";
import type { OutColumn, Sink } from "../src/io/types.js";

const ROOT = join(__dirname, "..");
const tmp = mkdtempSync(join(tmpdir(), "ridepred-wire-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const N = 1000;
const minutes = Float64Array.from({ length: N }, (_, r) => 1 + (r % 59) + r / 1e4);
const zones = Int32Array.from({ length: N }, (_, r) => r % 3);
const ZONES = ["7", "42", "132"];

describe("toWire / fromWire", () => {
  it("columns built elsewhere are copied in; the worker's view holds the same values", () => {
    const memory = new SharedArrayBuffer(wireBytes(3, N));
    const wire = toWire([minutes, { dictionary: ZONES, indices: zones }, ["a", "b"]], N, memory, [undefined, undefined, undefined]);
    expect(wire.map((w) => w.t)).toEqual(["f64", "dict", "cells"]);
    const batch = fromWire(N, memory, wire, []);
    expect(Array.from(batch.values[0] as Float64Array)).toEqual(Array.from(minutes));
    expect(batch.values[1]).toEqual({ dictionary: ZONES, indices: zones });
    const mine = Float64Array.from(minutes);
    const copy = fromWire(N, memory, toWire([mine], N, memory, [undefined]), []).values[0] as Float64Array;
    mine[0] = 99; // the worker's copy does not change with the caller's array
    expect(copy[0]).toBe(minutes[0]);
  });

  it("columns built in the batch's memory stay where they are: the worker reads the very bytes written", () => {
    const memory = new SharedArrayBuffer(wireBytes(2, N));
    const at = wireColumns(memory, N);
    const built = at.f64(0);
    built.set(minutes);
    const indices = at.i32(1);
    indices.set(zones);
    const batch = fromWire(N, memory, toWire([built, { dictionary: ZONES, indices }], N, memory, [undefined, undefined]), []);
    const seen = batch.values[0] as Float64Array;
    expect(Array.from(seen)).toEqual(Array.from(minutes));
    built[5] = -1; // one memory, not a copy of it
    expect(seen[5]).toBe(-1);
    expect(seen.byteOffset).toBe(built.byteOffset);
  });

  it("a column built at another column's place is refused, not copied over its neighbour", () => {
    const memory = new SharedArrayBuffer(wireBytes(2, N));
    const at = wireColumns(memory, N);
    expect(() => toWire([minutes, at.f64(0)], N, memory, [undefined, undefined])).toThrow(
      "internal: column 1 was built at byte 0 of the batch's memory, not at its own 8000",
    );
  });
});

describe("the Parquet writer thread's memory (Sink.columnMemory)", () => {
  const columns: OutColumn[] = [
    { name: "actual_duration", kind: "double" },
    { name: "PULocationID", kind: "string" },
    { name: "model_version", kind: "string" },
  ];
  /** A file of five batches, each built in the sink's memory or in arrays of its own. */
  const write = async (name: string, inPlace: boolean) => {
    const { threadedParquetSink } = (await import(join(ROOT, "dist/io/parquet-thread.js"))) as {
      threadedParquetSink: (path: string, columns: readonly OutColumn[]) => Sink;
    };
    const path = join(tmp, name);
    const sink = threadedParquetSink(path, columns);
    for (let b = 0; b < 5; b++) {
      const n = N - 100 * b;
      const memory = inPlace ? sink.columnMemory!(n) : undefined;
      const f64 = memory ? memory.f64(0) : new Float64Array(n);
      const i32 = memory ? memory.i32(1) : new Int32Array(n);
      for (let r = 0; r < n; r++) {
        f64[r] = minutes[r]! + b;
        i32[r] = zones[(r + b) % N]!;
      }
      await sink.write({ n, values: [f64, { dictionary: ZONES, indices: i32 }, Array(n).fill("v1")] });
    }
    await sink.finish();
    return readFileSync(path);
  };

  it("batches built in it give the same file as batches built elsewhere and copied", async () => {
    const copied = await write("copied.parquet", false);
    const inPlace = await write("in-place.parquet", true);
    expect(inPlace.length).toBeGreaterThan(1000);
    expect(inPlace.equals(copied)).toBe(true);
  });
});
