// src/io/pg-copy-out.ts replaces pg-copy-streams' per-chunk parser (_parse) and calls its _buffer,
// _detach and _cleanup. The database tests check the rows it reads from a real server; these cases pin
// the internals it relies on, so a pg-copy-streams upgrade that renames or stops calling them fails here
// instead of silently falling back to the slower parser (or breaking the connection hand-back). They
// drive the stream as pg does: a connection whose socket has one 'data' listener (pg's), which the copy
// stream takes over and hands back at CopyDone or an ErrorResponse.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { copyOut } from "../src/io/pg-copy-out.js";

const message = (code: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(code, 0, "latin1");
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};

function connection() {
  const stream = new PassThrough();
  const handedBack: Buffer[] = [];
  stream.on("data", (b: Buffer) => handedBack.push(b)); // pg's own listener
  return { conn: { stream, query: () => {} }, stream, handedBack };
}

async function run(wire: Buffer, cuts: number[]) {
  const { conn, stream, handedBack } = connection();
  const copy = copyOut("COPY t TO STDOUT") as unknown as NodeJS.ReadableStream & { submit(c: unknown): void; _parse(b: Buffer): unknown };
  const installed = copy._parse;
  let parses = 0;
  copy._parse = (b: Buffer) => {
    parses++;
    return installed(b);
  };
  const got: Buffer[] = [];
  copy.on("data", (b: Buffer) => got.push(Buffer.from(b)));
  const ended = new Promise<void>((resolve) => copy.on("end", () => resolve()));
  copy.submit(conn);
  let at = 0;
  for (const c of [...cuts, wire.length]) {
    stream.write(Buffer.from(wire.subarray(at, c))); // a copy: the parser compacts the socket's bytes in place
    at = c;
    await new Promise((r) => setImmediate(r));
  }
  return { got: Buffer.concat(got), handedBack: Buffer.concat(handedBack), parses, ended };
}

describe("pg-copy-streams internals used by pg-copy-out", () => {
  const rows = [Buffer.from("1\tgreen\n"), Buffer.from("2\tyellow\n"), Buffer.alloc(3000, 0x61)];
  const tail = Buffer.concat([message("C", Buffer.from("COPY 3\0")), message("Z", Buffer.from("I"))]);
  const wire = Buffer.concat([
    message("H", Buffer.from([0, 0, 0])), // CopyOutResponse, skipped
    ...rows.map((r) => message("d", r)),
    message("c", Buffer.alloc(0)), // CopyDone
    tail,
  ]);

  it("its _parse is what the stream calls; CopyData payloads come out unframed, whatever the socket's cuts", async () => {
    for (const cuts of [[], [1, 2, 3, 4, 5, 6], [9, 14, 20, 1000], Array.from({ length: 60 }, (_, i) => i * 53 + 7)]) {
      const r = await run(wire, cuts);
      await r.ended;
      expect(r.parses).toBeGreaterThan(0);
      expect(r.got).toEqual(Buffer.concat(rows));
      expect(r.handedBack).toEqual(tail); // what follows CopyDone is pg's again (_detach)
    }
  });

  it("an ErrorResponse and what follows go back to pg's listener (pg then fails the query)", async () => {
    const error = message("E", Buffer.from("SERROR\0Mdivision by zero\0\0"));
    const r = await run(Buffer.concat([message("d", rows[0]!), error, tail]), [7]);
    expect(r.parses).toBeGreaterThan(0);
    expect(r.handedBack).toEqual(Buffer.concat([error, tail]));
  });

  it("CopyData bytes in the same socket read as an ErrorResponse come out before pg gets the error, at every cut", async () => {
    const error = message("E", Buffer.from("SERROR\0Mdivision by zero\0\0"));
    const data = Buffer.concat([message("d", rows[0]!), message("d", rows[1]!)]);
    const wire = Buffer.concat([data, error, tail]);
    // One read holding everything; then every single cut inside the rows, so the error's read starts with
    // the end of a row (or a whole one, or a cut header) before the error.
    for (const cuts of [[], ...Array.from({ length: data.length + 4 }, (_, c) => [c + 1])]) {
      const r = await run(wire, cuts);
      expect(r.got, `cut at ${cuts}`).toEqual(Buffer.concat([rows[0]!, rows[1]!]));
      expect(r.handedBack, `cut at ${cuts}`).toEqual(Buffer.concat([error, tail]));
    }
  });
});
