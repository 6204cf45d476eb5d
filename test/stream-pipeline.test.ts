// The shared loop's delivery order with read-ahead (src/stream/pipeline.ts), on an in-memory source and
// sink that record every call: what the broker adapters rely on (write before ack, acks in read order, a
// batch written only after the previous one was acked), and what a failure leaves unacked. The brokers'
// own tests (stream-brokers, stream-redis, stream-kafka) run the same loop against real servers.
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/runtime/load.js";
import { eventBatchTransform } from "../src/stream/event.js";
import { runPipeline } from "../src/stream/pipeline.js";
import type { Message, Sink, Source } from "../src/stream/types.js";

const { predictor } = loadModel();
const transform = eventBatchTransform(predictor);
const event = (i: number) => JSON.stringify({ ride: { PULocationID: 43, DOLocationID: 151, trip_distance: 1 + i / 100 }, ride_id: i });
const tick = () => new Promise((r) => setTimeout(r, 1));

/** N messages served `max` at a time; every call is logged in order; writes take a few ms, like a broker. */
function fixture(n: number, o: { readAhead: boolean; failWriteOf?: number }) {
  const log: string[] = [];
  const acked: string[] = [];
  let pos = 0;
  let reading = 0;
  let maxReading = 0;
  const source: Source = {
    readAhead: o.readAhead,
    async next(max) {
      reading++;
      maxReading = Math.max(maxReading, reading);
      await tick();
      reading--;
      if (pos >= n) return null;
      const out: Message[] = [];
      for (; pos < n && out.length < max; pos++) out.push({ id: String(pos), data: pos === 3 ? "{oops" : event(pos) });
      log.push(`read ${out[0]!.id}`);
      return out;
    },
    async ack(ids) {
      await tick();
      log.push(`ack ${ids[0]}`);
      acked.push(...ids);
    },
    async close() {},
  };
  const written: string[] = [];
  let writing = 0;
  const sink: Sink = {
    async write(outputs) {
      expect(writing).toBe(0); // one write in flight at a time
      writing++;
      log.push(`write ${outputs[0]!.id}`);
      await tick();
      await tick();
      writing--;
      if (outputs.some((x) => Number(x.id) === o.failWriteOf)) throw new Error("broker went away");
      written.push(...outputs.map((x) => x.id));
    },
    async deadLetter(letters) {
      log.push(`dead ${letters[0]!.id}`);
      written.push(...letters.map((l) => l.id));
    },
    async close() {},
  };
  return { source, sink, log, acked, written, maxReading: () => maxReading };
}

describe("the shared stream loop", () => {
  for (const readAhead of [false, true]) {
    it(`${readAhead ? "reading ahead" : "one batch at a time"}: every message written then acked, once, in order; batches never overlap on the wire`, async () => {
      const f = fixture(1000, { readAhead });
      const stats = await runPipeline(f.source, f.sink, transform, { batch: 100, signal: new AbortController().signal });
      expect(stats).toMatchObject({ events: 1000, predictions: 999, dead_lettered: 1 });
      expect(f.acked).toStrictEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
      expect(new Set(f.written).size).toBe(1000);
      // Per batch: write (and dead letters) strictly before its ack, and the next write only after that ack.
      const wire = f.log.filter((l) => !l.startsWith("read"));
      const expected: string[] = [];
      for (let b = 0; b < 1000; b += 100) expected.push(`write ${b}`, ...(b === 0 ? ["dead 3"] : []), `ack ${b}`);
      expect(wire).toStrictEqual(expected);
      // Read-ahead: the next batch is read while one is written, so reads come before the previous ack.
      const reads = f.log.map((l, i) => [l, i] as const);
      const readBeforeAck = reads.filter(([l, i]) => l === "read 200" && i < f.log.indexOf("ack 100")).length;
      expect(readBeforeAck).toBe(readAhead ? 1 : 0);
      expect(f.maxReading()).toBe(1); // still at most one read outstanding
    });
  }

  it("a failed write acks nothing of it nor of the batch read ahead (both delivered again); earlier batches stay acked", async () => {
    const f = fixture(1000, { readAhead: true, failWriteOf: 250 });
    await expect(runPipeline(f.source, f.sink, transform, { batch: 100, signal: new AbortController().signal })).rejects.toThrow("broker went away");
    expect(f.acked).toStrictEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    expect(f.log).toContain("read 300"); // read ahead, never written nor acked
    expect(f.log).not.toContain("write 300");
  });

  it("a stop request finishes the batches already read (written and acked) and reads no more", async () => {
    const f = fixture(1000, { readAhead: true });
    const stop = new AbortController();
    const stats = await runPipeline(f.source, f.sink, transform, {
      batch: 100,
      signal: stop.signal,
      onBatch: (s) => {
        if (s.events === 300) stop.abort();
      },
    });
    const read = f.log.filter((l) => l.startsWith("read")).length;
    expect(stats.events).toBe(read * 100);
    expect(f.acked.length).toBe(read * 100);
    expect(read).toBeLessThanOrEqual(5);
  });
});
