// The fast path's readers in isolation: the head state machine resumes where it stopped (a head in any
// number of pieces reads as the head in one), and the pending-bytes buffer copies each byte in once (a
// client dripping bytes costs linear work; the old reader re-copied everything buffered on every read).
import { describe, expect, it } from "vitest";
import { DECLINE, Head, NEED_MORE } from "../src/serve/http1-head.js";
import { Pending } from "../src/serve/http1-pending.js";

const BODY = '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}';
const VALID = `POST /predict?v=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-Request-Id: r-1\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
const head = () => new Head(16 * 1024, 2000, 256 * 1024);

describe("fast path: the head reader", () => {
  it("reads a head in two pieces, split anywhere, exactly as in one", () => {
    const b = Buffer.from(VALID, "latin1");
    const whole = head();
    const bodyStart = whole.read(b, 0, b.length);
    expect(bodyStart).toBe(VALID.indexOf("\r\n\r\n") + 4);
    expect([whole.length, whole.requestId, whole.target]).toEqual([BODY.length, "r-1", "/predict?v=1"]);
    for (let k = 0; k < bodyStart; k++) {
      const h = head();
      expect(h.read(b, 0, k), `split at ${k}`).toBe(NEED_MORE);
      expect(h.read(b, 0, b.length), `split at ${k}`).toBe(bodyStart);
      expect([h.length, h.requestId, h.target]).toEqual([whole.length, whole.requestId, whole.target]);
    }
  });

  it("declines at the first byte that leaves the accepted form, however the head was split", () => {
    for (const bad of [
      "POST /predict HTTP/1.1\r\nHost : a\r\n",
      "POST /predict HTTP/1.1\r\nContent-Length: 5\t\r\n",
      "POST /predict HTTP/9.9\r\n",
      "POST /pre\tdict",
    ]) {
      const b = Buffer.from(bad, "latin1");
      for (let k = 0; k <= b.length; k++) {
        const h = head();
        const first = h.read(b, 0, k);
        expect(first === NEED_MORE || first === DECLINE, JSON.stringify(bad)).toBe(true);
        if (first === NEED_MORE) expect(h.read(b, 0, b.length), `${JSON.stringify(bad)} split at ${k}`).toBe(DECLINE);
      }
    }
  });

  it("reads a head one byte at a time in linear time", () => {
    const long = Buffer.from(`POST /predict HTTP/1.1\r\nX-Long: ${"v".repeat(15_000)}\r\n`, "latin1");
    const h = head();
    const t0 = performance.now();
    let waiting = 0;
    for (let k = 1; k <= long.length; k++) if (h.read(long, 0, k) === NEED_MORE) waiting++;
    expect(waiting).toBe(long.length);
    expect(performance.now() - t0).toBeLessThan(2000); // re-reading from the start each time: ~10^8 byte steps
    expect(h.at).toBe(long.length);
  });
});

describe("fast path: pending bytes", () => {
  it("keeps every byte in order through growth and consumption", () => {
    const p = new Pending();
    const all = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    let read = 0;
    for (let i = 0; i < all.length; i += 7) {
      p.append(all, i, Math.min(i + 7, all.length));
      if (i % 3 === 0) {
        expect(p.buf.subarray(p.start, p.start + 1)[0]).toBe(all[read]);
        p.start++;
        read++;
      }
    }
    expect(Buffer.compare(p.buf.subarray(p.start, p.end), all.subarray(read))).toBe(0);
  });

  it("a megabyte dripped one byte at a time costs linear work", () => {
    const p = new Pending();
    const byte = Buffer.from("x");
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) p.append(byte, 0, 1);
    expect(p.size).toBe(1_000_000);
    expect(performance.now() - t0).toBeLessThan(3000); // copying all buffered bytes per append: ~5 * 10^11 byte copies
    expect(p.buf.length).toBeLessThan(4 * 1_000_000);
  });
});
