// A streaming CSV scanner (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes, CRLF)
// that materializes only the wanted fields (csv-cells.ts parses the ones read as numbers, times or ids). The hot path is hand-written (csv-parse was several times
// slower): a record without a quote is split with indexOf, and only a record that holds a quote goes
// through the character-by-character state machine. The tests check it against csv-parse on the same inputs.
// A record cut off by the end of the text read so far is not rescanned chunk after chunk: the reader
// feeds the following chunks to RecordEnd, which finds where the record ends in one pass over each.

/** Where the scanner puts the wanted fields (CsvCells; a worker's ChunkCells). */
export interface CellSink {
  /** Row `row` holds s[a, b). */
  put(row: number, s: string, a: number, b: number): void;
  /** Row `row` holds v (a quoted field's value). */
  putValue(row: number, v: string): void;
  /** Row `row` has no values (a row error). */
  clear(row: number): void;
}

export interface ScanTarget {
  /** Field index -> slot in `cols`, or -1 for a field nobody needs. */
  slots: Int32Array;
  cols: CellSink[];
  /** Number of fields the header has; a record with another count is a row error (unless `header`). */
  width: number;
  /** Scanning the header itself: any field count is fine. */
  header?: boolean;
  /** Longest record, in characters (line end included); a longer one throws RecordTooLong. */
  maxRecord: number;
}

export interface ScanResult {
  /** Offset after the last complete record consumed. */
  pos: number;
  /** Records stored (rows n .. n+rows-1 of the columns). */
  rows: number;
}

export interface RowProblem {
  row: number;
  reason: string;
}

/**
 * Scan complete records from s[pos..] into rows n, n+1, ... until `max` rows or the end of complete
 * input (`final` says no more text follows). Problems (field count, stray quote) are pushed, the row kept
 * with undefined values. Throws on a quote that never closes at the end of the input.
 */
export function scanRecords(s: string, pos: number, final: boolean, t: ScanTarget, n: number, max: number, problems: RowProblem[]): ScanResult {
  const len = s.length;
  const { slots, cols, width } = t;
  let rows = 0;
  let nextQuote = s.indexOf('"', pos);
  if (nextQuote < 0) nextQuote = len;
  while (rows < max && pos < len) {
    let eol = s.indexOf("\n", pos);
    if (eol < 0) {
      if (!final) break;
      eol = len;
    }
    if (nextQuote < pos) {
      nextQuote = s.indexOf('"', pos);
      if (nextQuote < 0) nextQuote = len;
    }
    const row = n + rows;
    if (nextQuote >= eol) {
      // Fast path: no quote in this line.
      let end = eol;
      if (end > pos && s.charCodeAt(end - 1) === 13) end--;
      if (end === pos) {
        pos = eol + 1; // empty line
        continue;
      }
      if (eol - pos >= t.maxRecord) throw new RecordTooLong(row);
      let f = 0;
      let a = pos;
      for (;;) {
        let b = s.indexOf(",", a);
        if (b < 0 || b > end) b = end;
        if (f < width) {
          const slot = slots[f]!;
          if (slot >= 0) cols[slot]!.put(row, s, a, b);
        }
        f++;
        if (b === end) break;
        a = b + 1;
      }
      if (f !== width && !t.header) badRow(t, row, `has ${f} fields, the header has ${width}`, problems);
      pos = eol + 1;
      rows++;
      continue;
    }
    // Slow path: a quoted field somewhere in this record.
    const r = scanQuoted(s, pos, final, t, row, problems);
    if (r < 0) break; // incomplete: wait for more text
    if (r - pos > t.maxRecord) throw new RecordTooLong(row);
    pos = r;
    rows++;
  }
  return { pos: Math.min(pos, len), rows };
}

function badRow(t: ScanTarget, row: number, reason: string, problems: RowProblem[]): void {
  for (const c of t.cols) c.clear(row);
  problems.push({ row, reason });
}

/** One record that contains quotes. Returns the offset after it, or -1 if the text ends mid-record. */
function scanQuoted(s: string, pos: number, final: boolean, t: ScanTarget, row: number, problems: RowProblem[]): number {
  const len = s.length;
  const { slots, cols, width } = t;
  let f = 0;
  let i = pos;
  let stray = false;
  for (;;) {
    // one field starting at i
    let value: string;
    if (i < len && s.charCodeAt(i) === 34) {
      let a = i + 1;
      let doubled = false;
      for (;;) {
        const q = s.indexOf('"', a);
        if (q < 0) {
          if (!final) return -1;
          throw new UnclosedQuote(row);
        }
        if (q + 1 < len && s.charCodeAt(q + 1) === 34) {
          doubled = true;
          a = q + 2;
          continue;
        }
        if (q + 1 >= len && !final) return -1; // cannot tell "" from " yet
        // One slice for the whole field, not one piece per doubled quote.
        value = doubled ? s.slice(i + 1, q).replaceAll('""', '"') : s.slice(i + 1, q);
        i = q + 1;
        break;
      }
      // after the closing quote: a separator, a line end, or the end
      let j = i;
      while (j < len && s.charCodeAt(j) !== 44 && s.charCodeAt(j) !== 10 && s.charCodeAt(j) !== 13) j++;
      if (j > i) {
        stray = true;
        i = j;
      }
    } else {
      let j = i;
      while (j < len) {
        const c = s.charCodeAt(j);
        if (c === 44 || c === 10 || c === 13) break;
        if (c === 34) stray = true;
        j++;
      }
      value = s.slice(i, j);
      i = j;
    }
    if (f < width) {
      const slot = slots[f]!;
      if (slot >= 0) cols[slot]!.putValue(row, value);
    }
    f++;
    if (i >= len) {
      if (!final) return -1;
      break;
    }
    const c = s.charCodeAt(i);
    if (c === 44) {
      i++;
      continue;
    }
    if (c === 13) i++;
    if (i < len && s.charCodeAt(i) === 10) i++;
    else if (i >= len && !final) return -1;
    break;
  }
  if (stray) badRow(t, row, "has a quote inside an unquoted field or after a closing quote", problems);
  else if (f !== width && !t.header) badRow(t, row, `has ${f} fields, the header has ${width}`, problems);
  return i;
}

export class UnclosedQuote extends Error {
  constructor(readonly row: number) {
    super(`a quoted field opened in data row ${row + 1} of the batch is never closed`);
  }
}

export class RecordTooLong extends Error {
  constructor(readonly row: number) {
    super(`data row ${row + 1} of the batch is longer than the record limit`);
  }
}

// RecordEnd's states, at the position it has reached.
const FIELD_START = 0; // at the start of a field: a quote here opens a quoted field
const UNQUOTED = 1; // inside an unquoted field (a quote here is stray: it opens nothing)
const QUOTED = 2; // inside a quoted field: only a quote can end it
const AFTER_QUOTE = 3; // just after a quote in a quoted field: a second quote is an escaped one

/**
 * Where a record ends, found from the record's start by reading its text in pieces (chunks as they
 * arrive), with scanRecords' quoting rules, whatever the pieces: outside quotes it jumps from quote to
 * quote (indexOf), inside from quote to quote too. The end it reports is the first line feed outside a
 * quoted field: the record scanRecords reads ends there or earlier (a bare CR also ends a quoted
 * record), so once it is found scanRecords completes at least one record. Each search starts where the
 * last one stopped: linear in the text.
 */
export class RecordEnd {
  private state = FIELD_START;

  /** Offset just past the line feed that ends the record within s, or -1 if s ends before it. */
  feed(s: string): number {
    const len = s.length;
    let i = 0;
    let lf = -1; // next '\n' at or after i (len: none), found once and reused while ahead
    let quote = -1; // next '"' at or after i, likewise
    while (i < len) {
      if (this.state === QUOTED) {
        const q = s.indexOf('"', i);
        if (q < 0) return -1;
        i = q + 1;
        this.state = AFTER_QUOTE;
        continue;
      }
      if (this.state === AFTER_QUOTE) {
        const c = s.charCodeAt(i);
        if (c === 34) {
          this.state = QUOTED; // the second of a doubled quote
          i++;
          continue;
        }
        this.state = c === 44 ? FIELD_START : UNQUOTED; // the field closed (anything but a comma or line end is stray)
        if (c === 44 || c === 10) i++;
        if (c === 10) return this.done(i);
        continue;
      }
      // Outside quotes only a line feed (the end) or a quote opening a field matter.
      if (lf < i) lf = indexOr(s, "\n", i, len);
      if (quote < i) quote = indexOr(s, '"', i, len);
      if (lf < quote) return this.done(lf + 1);
      if (quote === len) {
        this.state = s.charCodeAt(len - 1) === 44 ? FIELD_START : UNQUOTED;
        return -1;
      }
      const opens = quote === i ? this.state === FIELD_START : s.charCodeAt(quote - 1) === 44;
      this.state = opens ? QUOTED : UNQUOTED;
      i = quote + 1;
    }
    return -1;
  }

  private done(at: number): number {
    this.state = FIELD_START;
    return at;
  }
}

function indexOr(s: string, what: string, from: number, none: number): number {
  const at = s.indexOf(what, from);
  return at < 0 ? none : at;
}
