// PostgreSQL's binary COPY codecs (src/io/pg-copy-*.ts), against PostgreSQL's own text formats on a
// real server (test/support/postgres.ts): adversarial values (NULLs, NaN, -0, infinities, subnormals,
// big integers, numeric, timestamps before 2000 and with time zones, quotes, backslashes, tabs,
// newlines, CR, non-ASCII, "\N") written by the binary encoder must be stored exactly as the text COPY
// format stores them, and rows read through the binary decoder must equal the server's text output.
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatTimestamp } from "../src/io/timestamp.js";
import { openSink, openSource } from "../src/io/index.js";
import type { OutBatch, OutColumn } from "../src/io/types.js";
import { type PgCluster, postgresMissing, startPostgres } from "./support/postgres.js";

const missing = postgresMissing();
if (missing) console.warn(`skipping PostgreSQL COPY codec tests: ${missing}`);

const MS = (s: string) => Date.parse(`${s}Z`);
const TEXTS = [
  "plain",
  "",
  'it\'s "quoted"',
  "back\\slash",
  "\\N",
  "tab\there",
  "new\nline",
  "carriage\rreturn",
  "\t\n\r\\ all",
  "été 🚕 東京",
  "x".repeat(300),
  "ü".repeat(100),
];
const DOUBLES = [0, 1.5, -2.25, 0.1 + 0.2, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-310, 123456789.12345679, 2 ** 53 + 2, NaN];
const TIMES = [
  MS("2021-02-01T00:00:00"),
  MS("1999-12-31T23:59:59.999"),
  MS("2000-01-01T00:00:00"),
  MS("1970-01-01T00:00:00"),
  MS("1901-12-13T20:45:52.5"),
  MS("0001-01-01T00:00:00"),
  MS("9999-12-31T23:59:59.999"),
  MS("2021-02-01T10:00:00") + 0.75, // fractional ms: whole ms kept, as text printed them
  NaN,
];

const COLUMNS: OutColumn[] = [
  { name: "ride_id", kind: "string" },
  { name: "t", kind: "timestamp" },
  { name: "d", kind: "double" },
  { name: "s", kind: "string" },
  { name: "zone", kind: "string" },
  { name: "raw", kind: "raw" },
];

/** Rows mixing every adversarial value in every column, in three batches (plain, dictionary and generated ids). */
const N = Math.max(TEXTS.length, DOUBLES.length, TIMES.length) * 3;
function batches(): OutBatch[] {
  const n = N;
  const out: OutBatch[] = [];
  for (let b = 0; b < 3; b++) {
    const t = new Float64Array(n);
    const d = new Float64Array(n);
    const s: (string | null)[] = [];
    const raw: unknown[] = [];
    const indices = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      t[r] = TIMES[(r + b) % TIMES.length]!;
      d[r] = DOUBLES[(r + 2 * b) % DOUBLES.length]!;
      s.push(r % 7 === 3 ? null : TEXTS[(r + b) % TEXTS.length]!);
      raw.push([7, "a\tb", null, Number.NaN, 2.5, new Date(MS("2021-02-03T04:05:06.007")), { k: "v\n" }, true][r % 8]);
      indices[r] = r % 7 === 6 ? -1 : r % 5;
    }
    // Entries up to 8 bytes with their length word ("", ids) and longer ones are written differently.
    const zone = { dictionary: ["130", "N\\A", '"q"', "", "zone été 🚕"], indices };
    const ids =
      b === 1
        ? { prefix: "trips_é_", numbers: Float64Array.from({ length: n }, (_, r) => r * 1_000_003) }
        : Array.from({ length: n }, (_, r) => `id ${b}\t${r}`);
    out.push({ n, values: [ids, t, d, s, zone, raw] });
  }
  return out;
}

/** The text COPY format the sink wrote before the binary encoder (the reference). */
function copyText(batch: OutBatch, columns: OutColumn[]): string {
  const esc = (s: string) => s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
  const cell = (kind: string, v: unknown): string => {
    if (v === null || v === undefined || (typeof v === "number" && v !== v)) return "\\N";
    if (kind === "double") return String(v);
    if (kind === "timestamp") return formatTimestamp(v as number);
    if (v instanceof Date) return formatTimestamp(v.getTime());
    return esc(typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v));
  };
  const cols = batch.values.map((v) => {
    if ("prefix" in v) return Array.from(v.numbers, (k) => v.prefix + k);
    if ("indices" in v) return Array.from(v.indices, (i) => (i < 0 ? null : v.dictionary[i]));
    return Array.from(v as ArrayLike<unknown>);
  });
  let text = "";
  for (let r = 0; r < batch.n; r++) text += `${cols.map((c, j) => cell(columns[j]!.kind, c[r])).join("\t")}\n`;
  return text;
}

describe.skipIf(missing !== undefined)("PostgreSQL binary COPY codecs", { timeout: 120_000 }, () => {
  let pgc: PgCluster;
  let db: pg.Client;
  const url = (table: string) => `${pgc.url}?table=${table}`;
  /** Every cell as PostgreSQL prints it, doubles by their bits (text shows -0 and 0 alike in comparisons). */
  const dump = async (table: string) =>
    (await db.query(`SELECT ride_id, t::text AS t, encode(float8send(d), 'hex') AS d, s, zone, raw FROM ${table} ORDER BY ride_id COLLATE "C"`)).rows;

  beforeAll(async () => {
    pgc = await startPostgres();
    db = await pgc.client();
  }, 120_000);
  afterAll(async () => {
    await db?.end();
    await pgc?.stop();
  });

  it("the binary encoder stores what the text format stores, into a new table and through the staging table", async () => {
    const defs = `ride_id text PRIMARY KEY, t timestamp, d double precision, s text, zone text, raw text`;
    await db.query(`CREATE TABLE ref (${defs})`);
    const copy = db.query(copyFrom("COPY ref FROM STDIN"));
    await new Promise<void>((resolve, reject) => {
      copy.on("error", reject).on("finish", resolve);
      copy.end(
        batches()
          .map((b) => copyText(b, COLUMNS))
          .join(""),
      );
    });
    // -0 is the one double text could not keep; the reference has none, so the comparison is exact.
    const fresh = await openSink(url("fresh"), COLUMNS, { key: "ride_id" });
    for (const b of batches()) await fresh.write(b);
    expect(await fresh.finish()).toEqual({ rowsWritten: 3 * N });
    const expected = await dump("ref");
    expect(expected).toHaveLength(3 * N);
    expect(await dump("fresh")).toEqual(expected);
    // An existing table: rows go through the temporary staging table and the upsert.
    await db.query(`CREATE TABLE existing (${defs})`);
    const again = await openSink(url("existing"), COLUMNS, { key: "ride_id" });
    for (const b of batches()) await again.write(b);
    await again.finish();
    expect(await dump("existing")).toEqual(expected);
  });

  it("keeps -0 and infinite times, which the text format lost or refused", async () => {
    const sink = await openSink(url("edges"), COLUMNS, { key: "ride_id" });
    await sink.write({
      n: 3,
      values: [
        ["a", "b", "c"],
        Float64Array.of(Infinity, -Infinity, 0),
        Float64Array.of(-0, Infinity, -Infinity),
        [null, null, null],
        [null, null, null],
        [null, null, null],
      ],
    });
    await sink.finish();
    const rows = (await db.query("SELECT ride_id, t::text AS t, encode(float8send(d), 'hex') AS d, d::text AS dt FROM edges ORDER BY ride_id")).rows;
    expect(rows).toEqual([
      { ride_id: "a", t: "infinity", d: "8000000000000000", dt: "-0" },
      { ride_id: "b", t: "-infinity", d: "7ff0000000000000", dt: "Infinity" },
      { ride_id: "c", t: "1970-01-01 00:00:00", d: "fff0000000000000", dt: "-Infinity" },
    ]);
  });

  it("a ride_id twice in a new table: exit 1 naming it, and no table is left", async () => {
    const sink = await openSink(url("dup"), COLUMNS, { key: "ride_id" });
    await sink.write({ n: 3, values: [["x", "y", "x"], new Float64Array(3), new Float64Array(3), ["", "", ""], ["", "", ""], ["", "", ""]] });
    await expect(sink.finish()).rejects.toThrow(/ride_id x appears 2 times in this run: nothing written to table dup/);
    expect((await db.query("SELECT to_regclass('dup') AS t")).rows[0].t).toBeNull();
  });

  it("the binary decoder reads what the server prints as text", async () => {
    await db.query("SET timezone = 'America/New_York'");
    await db.query(`CREATE TABLE adv (k int PRIMARY KEY, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision, num numeric,
      ts timestamp, tz timestamptz, dt date, tx text, vc varchar(40), ch char(3))`);
    await db.query(`INSERT INTO adv VALUES
      (1, -32768, -2147483648, -9223372036854775808, 'NaN', 'NaN', 'NaN', '2021-02-01 10:00:00.123456', '2021-02-01 10:00:00+05:30', '2021-02-01', 'a\tb', 'q"q', 'x'),
      (2, 32767, 2147483647, 9223372036854775807, '-0', '-0', '-0', '1999-12-31 23:59:59.999999', '2021-03-14 07:30:00+00', '1999-12-31', E'new\\nline\\r', E'back\\\\slash', 'ab '),
      (3, 0, 0, 9007199254740993, 'Infinity', 'Infinity', '123456789012345678901234.5', '1970-01-01 00:00:00', '2021-11-07 05:30:00+00', '1970-01-01', 'été 🚕', '\\N', '\\N'),
      (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (5, 1, 1, -9007199254740993, '0.1', '-Infinity', '0.1', '1901-12-13 20:45:52.000001', '1969-07-20 20:17:40-04', '0001-01-01', '', '', ''),
      (6, -1, -1, 1, '3.4028235e38', '5e-324', '-0.000000000000000000001', '9999-12-31 23:59:59.999999', '2000-01-01 00:00:00+14', '9999-12-31', 'x', 'y', 'z'),
      (7, 2, 2, 2, '1', '1', '1', 'infinity', '-infinity', 'infinity', 'x', 'y', 'z')`);
    const names = ["i2", "i4", "i8", "f4", "f8", "num", "ts", "tz", "dt", "tx", "vc", "ch"];
    // The text reference: the same casts the reader puts in its SELECT, printed by the server.
    // (format('%s') prints with the type's output function: char(n) keeps its padding, as the reader does.)
    const casts = ["i2", "i4", "i8", "f4::float8", "f8", "num::float8", "ts", "tz::timestamp", "dt::timestamp", "tx", "vc", "ch"];
    const ref = (
      await db.query(
        `SELECT ${casts.map((c, j) => `CASE WHEN ${c} IS NULL THEN NULL ELSE format('%s', ${c}) END AS ${names[j]}`).join(", ")} FROM adv ORDER BY k`,
      )
    ).rows;
    await db.query(`ALTER DATABASE ${pgc.database} SET timezone = 'America/New_York'`);
    const source = await openSource(url("adv"), { query: "SELECT * FROM adv ORDER BY k" });
    const got: Record<string, unknown>[] = [];
    for await (const batch of source.batches(names, 4)) {
      const cols = names.map((nm) => {
        const c = batch.columns[nm]!;
        return "indices" in c ? Array.from(c.indices, (i) => (i < 0 ? null : c.dictionary[i])) : Array.from(c as ArrayLike<unknown>);
      });
      for (let r = 0; r < batch.n; r++) got.push(Object.fromEntries(names.map((nm, j) => [nm, cols[j]![r]])));
    }
    await source.close();
    expect(got).toHaveLength(ref.length);
    /** A printed timestamp as Unix ms (microseconds as the fraction). */
    const ms = (text: string) => {
      const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))?$/.exec(text)!;
      return Date.parse(`${m[1]}T${m[2]}Z`) + Number((m[3] ?? "").padEnd(6, "0")) / 1000;
    };
    for (let r = 0; r < ref.length; r++)
      for (const nm of names) {
        const want = ref[r]![nm] as string | null;
        const have = got[r]![nm];
        const at = `row ${r + 1} ${nm}`;
        if (["tx", "vc", "ch"].includes(nm)) expect(have, at).toBe(want);
        else if (want === null) expect(have, at).toBeNaN();
        else if (want === "infinity" || want === "-infinity") expect(have, at).toBe(want === "infinity" ? Infinity : -Infinity);
        else if (["ts", "tz", "dt"].includes(nm)) {
          // Within a microsecond, or the last bit of a double of ms far from 1970 (year 9999: 1/32 ms).
          const tolerance = Math.max(0.0005, Math.abs(ms(want)) * 2 ** -52);
          expect(Math.abs((have as number) - ms(want)), `${at}: ${have} vs ${want}`).toBeLessThanOrEqual(tolerance);
        } else expect(Object.is(have, Number(want)), `${at}: ${have} vs ${want}`).toBe(true);
      }
  });
});
