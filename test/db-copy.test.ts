// PostgreSQL's binary COPY codecs (src/io/pg-copy-*.ts), against PostgreSQL's own text formats on a
// real server (test/support/postgres.ts): adversarial values (NULLs, NaN, -0, infinities, subnormals,
// big integers, numeric, timestamps before 2000 and with time zones, quotes, backslashes, tabs,
// newlines, CR, non-ASCII, "\N") written by the binary encoder must be stored exactly as the text COPY
// format stores them, and rows read through the binary decoder must equal the server's text output.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BytesColumn, bytesStrings, gatherBytes } from "../src/columns.js";
import { BinaryBatcher } from "../src/io/pg-copy-binary.js";
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

/** Strings (null: NULL) as a bytes column, the form a table source gives a passed-through text column. */
function bytesOf(cells: readonly (string | null)[]): BytesColumn {
  const parts = cells.map((c) => Buffer.from(c ?? "", "utf8"));
  const offsets = new Int32Array(cells.length + 1);
  for (let r = 0; r < parts.length; r++) offsets[r + 1] = offsets[r]! + parts[r]!.length;
  return { data: Buffer.concat(parts), offsets, nulls: Uint8Array.from(cells, (c) => (c === null ? 1 : 0)) };
}

/**
 * Rows mixing every adversarial value in every column, in four batches (plain, dictionary and generated
 * ids; the fourth also hands ride_id and s to the encoder as bytes, as a table source's pass-through does).
 */
const N = Math.max(TEXTS.length, DOUBLES.length, TIMES.length) * 3;
function batches(): OutBatch[] {
  const n = N;
  const out: OutBatch[] = [];
  for (let b = 0; b < 4; b++) {
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
        : Array.from({ length: n }, (_, r) => `id ${b}\t${r}${r % 3 === 0 ? " été 🚕" : ""}`);
    // The fourth batch: ride_id and s as bytes too (values stay for the text reference, which reads them).
    out.push({ n, values: [ids, t, d, s, zone, raw], ...(b === 3 ? { bytes: [bytesOf(ids as string[]), undefined, undefined, bytesOf(s)] } : {}) });
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
    expect(await fresh.finish()).toEqual({ rowsWritten: 4 * N });
    const expected = await dump("ref");
    expect(expected).toHaveLength(4 * N);
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

  it("ride ids pass through table -> table as bytes: non-ASCII, long and empty ids kept byte for byte; rows equal table -> CSV's", async () => {
    // 40 rows in batches of 7 (--batch-size): rides of varied zones and times, ids the decoder never makes strings of.
    await db.query(`CREATE TABLE ids_src AS SELECT
        (ARRAY['', 'é', 'été 🚕 東京 ', repeat('ü', 40), 'id\twith tab', E'back\\slash'])[1 + g % 6] || g AS ride_id,
        timestamp '2021-02-01 08:00' + g * interval '7 minutes' AS lpep_pickup_datetime,
        timestamp '2021-02-01 08:00' + g * interval '7 minutes' + (g % 13 + 2) * interval '1 minute' AS lpep_dropoff_datetime,
        (g * 37 % 265 + 1)::text AS "PULocationID", (g * 11 % 265 + 1)::text AS "DOLocationID", g * 0.37 AS trip_distance
      FROM generate_series(1, 40) g`);
    const bin = join(__dirname, "../bin/ridepred");
    const dir = mkdtempSync(join(tmpdir(), "ridepred-ids-"));
    const run = (output: string) =>
      spawnSync(process.execPath, [bin, "score", url("ids_src"), "-o", output, "--batch-size", "7"], { cwd: dir, encoding: "utf8" });
    const toTable = run(url("ids_out"));
    expect(toTable.status, toTable.stderr).toBe(0);
    const toCsv = run("ids.csv");
    expect(toCsv.status, toCsv.stderr).toBe(0);
    const hex = (table: string) => db.query(`SELECT encode(convert_to(ride_id, 'UTF8'), 'hex') AS id FROM ${table} ORDER BY 1`);
    expect((await hex("ids_out")).rows).toEqual((await hex("ids_src")).rows);
    const csv: Record<string, string>[] = parse(readFileSync(join(dir, "ids.csv")), { columns: true });
    const table = (await db.query(`SELECT * FROM ids_out`)).rows as Record<string, unknown>[];
    expect(table).toHaveLength(40);
    const byId = new Map(csv.map((r) => [r.ride_id, r]));
    for (const row of table) {
      const want = byId.get(row.ride_id as string)!;
      expect(want, String(row.ride_id)).toBeDefined();
      expect(row.predicted_duration).toBe(Number(want.predicted_duration));
      expect([row.PULocationID, row.DOLocationID, row.model_version]).toEqual([want.PULocationID, want.DOLocationID, want.model_version]);
    }
    // A NULL ride_id cannot be the new table's key: exit 1, as before ids were bytes, and no table is left.
    await db.query("UPDATE ids_src SET ride_id = NULL WHERE ride_id = 'é1'");
    const nullId = run(url("ids_null"));
    expect(nullId.status).toBe(1);
    expect(nullId.stderr).toMatch(/writing table ids_null \(rolled back, nothing written\).*column "ride_id" of relation "ids_null" contains null values/);
    expect((await db.query("SELECT to_regclass('ids_null') AS t")).rows[0].t).toBeNull();
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
    // The text columns again as bytes (a pass-through column): the same text, NULL as NULL.
    const texts = ["tx", "vc", "ch"];
    const asBytes = await openSource(url("adv"), { query: "SELECT * FROM adv ORDER BY k" });
    const cells: Record<string, (string | null)[]> = { tx: [], vc: [], ch: [] };
    for await (const batch of asBytes.batches(texts, 3, { bytes: texts })) {
      for (const nm of texts) {
        expect(batch.columns[nm], nm).toBeUndefined();
        cells[nm]!.push(...bytesStrings(batch.bytes![nm]!));
      }
    }
    await asBytes.close();
    for (const nm of texts) expect(cells[nm], nm).toEqual(ref.map((row) => row[nm]));
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

describe("bytes columns and the COPY decoder's dictionaries (no server)", () => {
  it("gatherBytes keeps rows' bytes and NULLs, stretch by stretch; bytesStrings reads them back", () => {
    const cells = ["a", null, "", "été 🚕", "x".repeat(40), null, "東京", "z"];
    const col = bytesOf(cells);
    expect(bytesStrings(col)).toEqual(cells);
    expect(gatherBytes(col, Int32Array.from(cells.keys()), cells.length)).toBe(col); // every row kept: no copy
    for (const keep of [[0, 1, 2, 3, 4, 5, 6], [1, 2, 4, 5, 7], [3], [], [0, 7], [5, 6, 7]]) {
      const got = gatherBytes(col, Int32Array.from(keep), keep.length);
      expect(bytesStrings(got), keep.join(",")).toEqual(keep.map((r) => cells[r]));
      expect(got.offsets[0]).toBe(0);
    }
  });

  /** Binary COPY tuples of one text column (null: NULL). */
  const tuples = (cells: (string | null)[]) =>
    Buffer.concat(
      cells.map((c) => {
        const body = c === null ? Buffer.alloc(0) : Buffer.from(c, "utf8");
        const head = Buffer.alloc(6);
        head.writeInt16BE(1, 0);
        head.writeInt32BE(c === null ? -1 : body.length, 2);
        return Buffer.concat([head, body]);
      }),
    );

  it("a text column's dictionary is kept across batches: same indices, the same object while nothing is added, a new one when an entry is", () => {
    const batcher = new BinaryBatcher(["text"], 8);
    const zones = ["130", "74", "130", null, "74", "130", "74", "74"];
    const input = [...zones, ...zones.reverse(), "été long entry", ...zones.slice(1)];
    const buf = tuples(input);
    let at = 0;
    const seen: { dictionary: ArrayLike<unknown>; indices: Int32Array }[] = [];
    const got: unknown[] = [];
    while (at < buf.length) {
      at = batcher.tuples(buf, at, buf.length);
      const col = batcher.columns()[0] as { dictionary: ArrayLike<unknown>; indices: Int32Array };
      seen.push({ dictionary: col.dictionary, indices: Int32Array.from(col.indices) });
      for (const i of col.indices) got.push(i < 0 ? null : col.dictionary[i]);
      batcher.reset();
    }
    expect(got).toEqual(input);
    expect(seen).toHaveLength(3);
    // Batch 2 added nothing: the same dictionary object; batch 3 added an entry: a new, longer one,
    // and the first is unchanged (a dictionary never changes once handed out).
    expect(seen[1]!.dictionary).toBe(seen[0]!.dictionary);
    expect(seen[2]!.dictionary).not.toBe(seen[0]!.dictionary);
    expect(Array.from(seen[0]!.dictionary)).toEqual(["130", "74"]);
    expect(Array.from(seen[2]!.dictionary)).toEqual(["130", "74", "été long entry"]);
  });

  it("a mostly distinct text column (ids) is read as plain strings from its second batch on", () => {
    const batcher = new BinaryBatcher(["text"], 4);
    const input = ["a1", "a2", "a3", "a4", "a5", null, "a7", "a8"];
    const buf = tuples(input);
    const first = batcher.tuples(buf, 0, buf.length);
    expect("indices" in (batcher.columns()[0] as object)).toBe(true);
    batcher.reset();
    expect(batcher.tuples(buf, first, buf.length)).toBe(buf.length);
    expect(batcher.columns()[0]).toEqual(["a5", null, "a7", "a8"]);
  });
});

describe("the COPY decoder at every cut of the stream (no server)", () => {
  /** Binary COPY tuples of (bytes id, timestamp, text, float8); null cells are NULL. */
  const rows: [string | null, number | null, string | null, number | null][] = [
    ["é1", 1_000_000, "130", 1.5],
    [null, null, null, null],
    ["x".repeat(50), -5, "74", -0.25],
    ["", 0, "", 1e300],
  ];
  const field = (b: Buffer | null) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    return b === null ? len : Buffer.concat([len, b]);
  };
  const i64 = (us: number) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(us));
    return b;
  };
  const f64 = (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return b;
  };
  const wire = Buffer.concat(
    rows.map(([id, us, zone, d]) =>
      Buffer.concat([
        Buffer.from([0, 4]),
        field(id === null ? null : Buffer.from(id)),
        field(us === null ? null : i64(us)),
        field(zone === null ? null : Buffer.from(zone)),
        field(d === null ? null : f64(d)),
      ]),
    ),
  );

  it("an incomplete tuple is left for the next chunk and read whole from it, wherever the chunk ends", () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const batcher = new BinaryBatcher(["bytes", "timestamp", "text", "float8"], 16);
      const at = batcher.tuples(wire, 0, cut);
      expect(at, `cut ${cut}`).toBeLessThanOrEqual(cut);
      const rest = batcher.tuples(wire.subarray(at), 0, wire.length - at);
      expect(rest, `cut ${cut}`).toBe(wire.length - at);
      const [ids, times, zones, doubles] = batcher.columns() as [BytesColumn, Float64Array, { dictionary: unknown[]; indices: Int32Array }, Float64Array];
      expect(batcher.n).toBe(rows.length);
      expect(bytesStrings(ids), `cut ${cut}`).toEqual(rows.map((r) => r[0]));
      expect(Array.from(times), `cut ${cut}`).toEqual(rows.map((r) => (r[1] === null ? NaN : r[1] / 1000 + 946_684_800_000)));
      expect(
        Array.from(zones.indices, (i) => (i < 0 ? null : zones.dictionary[i])),
        `cut ${cut}`,
      ).toEqual(rows.map((r) => r[2]));
      expect(Array.from(doubles), `cut ${cut}`).toEqual(rows.map((r) => (r[3] === null ? NaN : r[3])));
    }
  });
});
