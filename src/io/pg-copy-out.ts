// COPY ... TO STDOUT as a stream of the copied bytes, with less work per row than pg-copy-streams' own
// parser. PostgreSQL sends every row as its own CopyData message (a 5-byte header, then the row), and
// that parser made a Buffer per message, kept a list of them and concatenated the list per socket read:
// a million rows were a million small Buffers. Here the socket's bytes are compacted in place: each
// message's payload is moved down over the headers before it, and one view of the compacted bytes is
// pushed per socket read. pg-copy-streams still hooks the connection, catches an ErrorResponse and
// hands what follows CopyDone back to pg; only its per-chunk parse is replaced.
import { to as copyTo } from "pg-copy-streams";

const COPY_DATA = 0x64; // d
const ERROR_RESPONSE = 0x45; // E
/** Messages that may come between CopyData messages and are skipped; any other one ends the copy. */
const INTERSPERSED = new Set([0x48 /* CopyOutResponse */, 0x53 /* ParameterStatus */, 0x4e /* NoticeResponse */, 0x41 /* NotificationResponse */]);

/** The internals of pg-copy-streams' CopyStreamQuery (7.x) this parser works with. */
interface CopyToInternals {
  _buffer: { push(b: Buffer): void };
  _detach(): void;
  _cleanup(): void;
  push(chunk: Buffer | null): boolean;
  _parse(chunk: Buffer): boolean | undefined;
}

/** A pg Submittable streaming the COPY's payload bytes (the binary or text COPY data, without framing). */
export function copyOut(sql: string): ReturnType<typeof copyTo> {
  const stream = copyTo(sql);
  const s = stream as unknown as CopyToInternals;
  /** Bytes of the current message's body still to come in later chunks. */
  let remaining = 0;
  /** Whether that body is CopyData (kept) or another message's (skipped). */
  let keep = false;
  /** The start of a message header cut by the end of a chunk. */
  let head: Buffer | undefined;
  s._parse = (chunk: Buffer) => {
    const buf = head ? Buffer.concat([head, chunk]) : chunk;
    head = undefined;
    let i = 0;
    let w = 0;
    let done = false;
    if (remaining > 0) {
      const n = Math.min(remaining, buf.length);
      if (keep) w = n;
      i = n;
      remaining -= n;
    }
    while (i < buf.length) {
      if (buf.length - i < 5) {
        head = Buffer.from(buf.subarray(i));
        break;
      }
      const code = buf[i]!;
      if (code === ERROR_RESPONSE) {
        // The rows before the error in this read are delivered first (compaction only wrote below i);
        // then pg parses the error (and what follows) and fails the query; the stream reports it.
        if (w > 0) s.push(buf.subarray(0, w));
        s._buffer.push(buf.subarray(i));
        s._detach();
        return undefined;
      }
      const len = buf.readUInt32BE(i + 1) - 4;
      i += 5;
      const n = Math.min(len, buf.length - i);
      if (code === COPY_DATA) {
        if (w !== i) buf.copyWithin(w, i, i + n);
        w += n;
      }
      i += n;
      if (n < len) {
        remaining = len - n;
        keep = code === COPY_DATA;
        break;
      }
      if (code !== COPY_DATA && !INTERSPERSED.has(code)) {
        // CopyDone (or whatever ends copy-out mode): the rest is pg's (CommandComplete, ReadyForQuery).
        done = true;
        s._buffer.push(buf.subarray(i));
        break;
      }
    }
    const drained = w > 0 ? s.push(buf.subarray(0, w)) : true;
    if (done) {
      s._detach();
      s.push(null);
      s._cleanup();
    }
    return drained;
  };
  return stream;
}
