// Parquet output: a lean writer for flat, nullable columns, streamed row group by row group to a temp
// file that is renamed only on success. Each sink batch becomes one data page (v1) per column, encoded
// straight from the batch's typed arrays into reused buffers: no boxed value, BigInt or string per cell.
//   doubles     DOUBLE, dictionary-encoded (RLE_DICTIONARY) while values repeat (parquet-double-dict.ts), else PLAIN
//   timestamps  INT64 TIMESTAMP(MICROS, not adjusted to UTC), like pandas writes naive datetimes;
//               DELTA_BINARY_PACKED (PLAIN for a page where that would be larger: times far apart)
//   strings     BYTE_ARRAY UTF8, dictionary-encoded (RLE_DICTIONARY) until the dictionary stops paying, then PLAIN
//   ride ids    BYTE_ARRAY UTF8, DELTA_BYTE_ARRAY, from prefix + row number (parquet-delta.ts)
// Compression: snappy per column chunk, or none where it does not pay, decided from all of the chunk's
// pages (parquet-pages.ts).
// Statistics: null counts everywhere, min/max for doubles and timestamps (what readers prune on).
import { closeSync, openSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { RidepredError } from "../errors.js";
import { VERSION } from "../version.js";
import { type Bytes, bytes, packerFor, packGroups, reserve, varintAt } from "./parquet-bytes.js";
import { DoubleDictionary } from "./parquet-double-dict.js";
import { deltaIds, deltaPacked64, deltaPackedSafe, deltaScratch, type DeltaScratch, SAFE_INT64 } from "./parquet-delta.js";
import { ChunkPages, type ParquetCodec, type WrittenChunk } from "./parquet-pages.js";
import { adoptTemp, tempTarget } from "./sink.js";
import { newSnappyCompressor } from "./snappy.js";
import { encodeStruct, i64, list, struct, type ThriftList, type ThriftStruct, type ThriftValue } from "./thrift.js";
import { isDict, materialize, smallId, type Column, type DictColumn } from "../columns.js";
import { isGeneratedIds, type ColumnKind, type OutBatch, type OutColumn, type OutValues, type PartMemory, type Sink } from "./types.js";

export type { ParquetCodec };

export interface ParquetSinkOptions {
  /** Rows per row group (default 131,072): what the writer holds in memory, compressed, before writing. */
  rowGroupRows?: number;
  codec?: ParquetCodec;
  /** The temp file to write, already created (by the thread that handed this writer its work). */
  temp?: string;
  /**
   * Write parts of a file that another thread assembles (parquet-parts.ts), in memory (blocks taken from
   * part.spare first), with no file: row groups only, handed over one by one, a part ending at each part.cut().
   */
  part?: PartMemory;
}

// Parquet enum values (parquet.thrift).
const TYPE = { BOOLEAN: 0, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const ENC = { PLAIN: 0, RLE: 3, DELTA_BINARY_PACKED: 5, DELTA_BYTE_ARRAY: 7, RLE_DICTIONARY: 8 } as const;
const CODEC = { UNCOMPRESSED: 0, SNAPPY: 1 } as const;
const PAGE = { DATA: 0, DICTIONARY: 2 } as const;
const OPTIONAL = 1;
const CONVERTED = { UTF8: 0, TIMESTAMP_MICROS: 10 } as const;

export const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

/** Write b[0..len) to fd whole; a failure names the output. */
export function writeAll(fd: number, path: string, b: Uint8Array, len = b.length): void {
  let done = 0;
  try {
    while (done < len) done += writeSync(fd, b, done, len - done);
  } catch (e) {
    throw new RidepredError(`${path}: cannot write: ${(e as Error).message}`);
  }
}
const DICT_MAX_ENTRIES = 1 << 16; // keeps index bit widths <= 16
const DICT_MAX_BYTES = 1 << 20; // pyarrow's dictionary page limit
const LITTLE_ENDIAN = endianness() === "LE";

type Physical = "DOUBLE" | "TIMESTAMP" | "INT64" | "BOOLEAN" | "STRING";

/** One column's chunk of the current row group. */
interface Chunk {
  name: string;
  physical: Physical;
  pages: ChunkPages; // the dictionary page and the data pages, until the row group is written
  values: number;
  nulls: number;
  min: number;
  max: number;
  encodings: Set<number>;
  // Dictionary state (strings): value -> index, and the PLAIN-encoded values so far.
  dict: Map<string, number> | undefined;
  intDict: Int32Array; // small integer id -> dictionary index, -1 unknown
  mapFrom: ArrayLike<unknown> | undefined; // the input dictionary `map` translates
  map: Int32Array | undefined;
  dictValues: Bytes;
  dictOff: boolean; // stopped paying: the rest of the chunk is PLAIN
  doubles: DoubleDictionary | undefined; // doubles' dictionary
}

export function parquetSink(path: string, columns: readonly OutColumn[], options: ParquetSinkOptions = {}): Sink {
  if (path === "-") throw new RidepredError("Parquet cannot be written to stdout: give a file name");
  const rowGroupRows = options.rowGroupRows ?? 1 << 17;
  const codec = options.codec ?? "SNAPPY";
  // A part is kept in memory, its offsets counting from its own first byte; a file starts with the magic.
  const target = options.part ? undefined : options.temp === undefined ? tempTarget(path) : adoptTemp(path, options.temp, openTemp(path, options.temp));
  let memory = options.part ? partBlocks(options.part) : undefined;
  let offset = 0;
  const write = (b: Uint8Array, len = b.length) => {
    if (memory) memory.append(b, len);
    else writeAll(target!.fd, path, b, len);
    offset += len;
  };
  if (target) write(MAGIC);

  let chunks: Chunk[] | undefined;
  const rowGroups: ThriftStruct[] = [];
  let groupRows = 0;
  let totalRows = 0;
  const scratch = newScratch();
  const snappy = newSnappyCompressor();

  const flush = () => {
    if (!chunks || groupRows === 0) return;
    const start = offset;
    const metas: ThriftStruct[] = [];
    let uncompressed = 0;
    for (const c of chunks) {
      const chunkStart = offset;
      if (c.dict && c.dict.size > 0) addDictionaryPage(c, c.dict.size);
      else if (c.doubles && c.doubles.size > 0) {
        c.dictValues.n = 0;
        appendLE(c.dictValues, c.doubles.values(), c.doubles.size);
        addDictionaryPage(c, c.doubles.size);
      }
      const written = c.pages.write(write);
      uncompressed += written.uncompressed;
      metas.push(columnChunk(c, chunkStart, written));
      resetChunk(c);
    }
    rowGroups.push(struct([1, list("struct", metas)], [2, i64(uncompressed)], [3, i64(groupRows)], [5, i64(start)], [6, i64(offset - start)]));
    totalRows += groupRows;
    if (options.part) emit(groupRows, false);
    groupRows = 0;
  };
  // Before any batch a column's physical type is a guess from its kind (no values seen).
  const noValues = () => columns.map((c) => newChunk(c.name, physicalOf(c.kind, [], 0), new ChunkPages(codec, snappy)));
  const schemaNow = () => schema(chunks ?? noValues());

  // Parts: each row group goes to onPart as soon as it is written, in blocks of its own, its offsets
  // counting from 0; a part ends (an empty last piece) where the thread that writes parts cuts it.
  let uncut = false;
  const emit = (rows: number, last: boolean) => {
    options.part!.onPart({ rows, blocks: memory!.blocks(), schema: schemaNow(), rowGroups: rowGroups.splice(0) }, last);
    memory = partBlocks(options.part!);
    offset = 0;
    uncut = !last;
  };
  if (options.part)
    options.part.cut = () => {
      flush();
      emit(0, true);
    };

  let closed = false;
  const close = () => {
    if (!closed && target) closeSync(target.fd);
    closed = true;
  };

  return {
    async write(batch: OutBatch) {
      if (batch.n === 0) return;
      // Dictionary columns stay encoded only where the writer keeps a dictionary too (strings).
      const values = batch.values.map((v, j) =>
        !isGeneratedIds(v) && isDict(v) && columns[j]!.kind !== "string" && columns[j]!.kind !== "raw" ? materialize(v) : v,
      );
      batch = { n: batch.n, values };
      chunks ??= columns.map((c, j) => newChunk(c.name, physicalOf(c.kind, batch.values[j]!, batch.n), new ChunkPages(codec, snappy)));
      for (let j = 0; j < chunks.length; j++) writeDataPage(chunks[j]!, batch.values[j]!, batch.n, scratch);
      groupRows += batch.n;
      if (groupRows >= rowGroupRows) flush();
    },
    async finish() {
      chunks ??= noValues();
      flush();
      if (options.part) {
        if (uncut) emit(0, true);
        return { rowsWritten: totalRows };
      }
      write(fileFooter(schema(chunks), totalRows, rowGroups));
      close();
      target!.commit();
    },
    async abort() {
      close();
      target?.discard();
    },
  };
}

const PART_BLOCK = 1 << 20;

/** A part's bytes in blocks of PART_BLOCK, spare ones first: no block is copied as the part grows. */
function partBlocks(memory: PartMemory) {
  const full: Uint8Array[] = [];
  let block: Uint8Array | undefined;
  let used = 0;
  return {
    append(b: Uint8Array, len: number) {
      for (let at = 0; at < len; ) {
        if (!block || used === block.length) {
          if (block) full.push(block);
          block = new Uint8Array(memory.spare.pop() ?? new SharedArrayBuffer(PART_BLOCK));
          used = 0;
        }
        const n = Math.min(len - at, block.length - used);
        block.set(b.subarray(at, at + n), used);
        used += n;
        at += n;
      }
    },
    blocks: (): Uint8Array[] => (block ? [...full, block.subarray(0, used)] : full),
  };
}

/** The file's end: FileMetaData, its length and the magic. */
export function fileFooter(schema: ThriftStruct[], rows: number, rowGroups: ThriftStruct[]): Uint8Array {
  const footer = encodeStruct(
    struct(
      [1, 2],
      [2, list("struct", schema)],
      [3, i64(rows)],
      [4, list("struct", rowGroups)],
      [6, `ridepred version ${VERSION}`],
      // TYPE_ORDER for every column: min/max follow the physical type's order.
      [
        7,
        list(
          "struct",
          schema.slice(1).map(() => struct([1, struct()])),
        ),
      ],
    ),
  );
  const out = new Uint8Array(footer.length + 8);
  out.set(footer);
  new DataView(out.buffer).setUint32(footer.length, footer.length, true);
  out.set(MAGIC, footer.length + 4);
  return out;
}

/**
 * Row groups moved by `delta` bytes: the offsets RowGroup.file_offset,
 * ColumnChunk.file_offset and ColumnMetaData's data and dictionary page offsets, as columnChunk() and
 * flush() lay them out.
 */
export function moveRowGroups(rowGroups: readonly ThriftStruct[], delta: number): ThriftStruct[] {
  const by = BigInt(delta);
  /** s with `by` added to its i64 fields `ids`, and `inner` applied to its other fields. */
  const move = (s: ThriftStruct, ids: readonly number[], inner = (_id: number, v: ThriftValue) => v): ThriftStruct =>
    struct(...s.struct.map(([id, v]): [number, ThriftValue | undefined] => [id, v === undefined ? v : ids.includes(id) ? (v as bigint) + by : inner(id, v)]));
  // ColumnMetaData: data_page_offset (9), dictionary_page_offset (11).
  const meta = (m: ThriftValue) => move(m as ThriftStruct, [9, 11]);
  // ColumnChunk: file_offset (2); its meta_data (3).
  const chunk = (c: ThriftValue) => move(c as ThriftStruct, [2], (id, v) => (id === 3 ? meta(v) : v));
  // RowGroup: file_offset (5); its columns (1).
  return rowGroups.map((g) => move(g, [5], (id, v) => (id === 1 ? list("struct", (v as ThriftList).list.map(chunk)) : v)));
}

/** Open a temp file made by another thread, never creating it (it is gone if a signal removed it). */
function openTemp(path: string, tmp: string): number {
  try {
    return openSync(tmp, "r+");
  } catch (e) {
    throw new RidepredError(`${path}: cannot write: ${(e as Error).message}`);
  }
}

function newChunk(name: string, physical: Physical, pages: ChunkPages): Chunk {
  return {
    name,
    physical,
    pages,
    values: 0,
    nulls: 0,
    min: Infinity,
    max: -Infinity,
    encodings: new Set(),
    dict: physical === "STRING" ? new Map() : undefined,
    intDict: new Int32Array(physical === "STRING" ? 4096 : 0).fill(-1),
    mapFrom: undefined,
    map: undefined,
    dictValues: bytes(physical === "STRING" ? 1 << 12 : 16),
    dictOff: false,
    doubles: physical === "DOUBLE" ? new DoubleDictionary() : undefined,
  };
}

function resetChunk(c: Chunk): void {
  c.values = c.nulls = 0;
  c.min = Infinity;
  c.max = -Infinity;
  c.encodings.clear();
  c.dict?.clear();
  c.intDict.fill(-1);
  c.mapFrom = c.map = undefined;
  c.dictValues.n = 0;
  c.dictOff = false;
  c.doubles?.reset();
}

/** A column's physical type: from its kind, or for passed-through columns from the first value present. */
function physicalOf(kind: ColumnKind, column: OutValues, n: number): Physical {
  if (kind === "double") return "DOUBLE";
  if (kind === "timestamp") return "TIMESTAMP";
  if (kind === "string" || isGeneratedIds(column)) return "STRING";
  const values = isDict(column) ? column.dictionary : column;
  if (isDict(column)) n = values.length;
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (v === null || v === undefined || (typeof v === "number" && v !== v)) continue;
    if (typeof v === "number") return "DOUBLE";
    if (typeof v === "bigint") return "INT64";
    if (typeof v === "boolean") return "BOOLEAN";
    return "STRING";
  }
  return "STRING";
}

function schema(chunks: Chunk[]): ThriftStruct[] {
  const out = [struct([4, "schema"], [5, chunks.length])];
  for (const c of chunks) {
    if (c.physical === "DOUBLE") out.push(struct([1, TYPE.DOUBLE], [3, OPTIONAL], [4, c.name]));
    else if (c.physical === "INT64") out.push(struct([1, TYPE.INT64], [3, OPTIONAL], [4, c.name]));
    else if (c.physical === "BOOLEAN") out.push(struct([1, TYPE.BOOLEAN], [3, OPTIONAL], [4, c.name]));
    else if (c.physical === "TIMESTAMP") {
      // LogicalType.TIMESTAMP(isAdjustedToUTC=false, unit=MICROS)
      const logical = struct([8, struct([1, false], [2, struct([2, struct()])])]);
      out.push(struct([1, TYPE.INT64], [3, OPTIONAL], [4, c.name], [6, CONVERTED.TIMESTAMP_MICROS], [10, logical]));
    } else out.push(struct([1, TYPE.BYTE_ARRAY], [3, OPTIONAL], [4, c.name], [6, CONVERTED.UTF8], [10, struct([1, struct()])]));
  }
  return out;
}

function columnChunk(c: Chunk, chunkStart: number, written: WrittenChunk): ThriftStruct {
  const type = c.physical === "DOUBLE" ? TYPE.DOUBLE : c.physical === "STRING" ? TYPE.BYTE_ARRAY : c.physical === "BOOLEAN" ? TYPE.BOOLEAN : TYPE.INT64;
  let minMax: [Uint8Array, Uint8Array] | undefined;
  if (c.min <= c.max && (c.physical === "DOUBLE" || c.physical === "TIMESTAMP")) {
    const enc = (x: number) => {
      const b = new Uint8Array(8);
      const v = new DataView(b.buffer);
      if (c.physical === "DOUBLE") v.setFloat64(0, x, true);
      else v.setBigInt64(0, BigInt(x), true);
      return b;
    };
    minMax = [enc(c.min), enc(c.max)];
  }
  const stats = struct([3, i64(c.nulls)], [5, minMax?.[1]], [6, minMax?.[0]]);
  const meta = struct(
    [1, type],
    [
      2,
      list(
        "i32",
        [...c.encodings].sort((a, b) => a - b),
      ),
    ],
    [3, list("string", [c.name])],
    [4, CODEC[written.codec]],
    [5, i64(c.values)],
    [6, i64(written.uncompressed)],
    [7, i64(written.compressed)],
    [9, i64(chunkStart + written.dictionaryBytes)],
    [11, written.dictionaryBytes > 0 ? i64(chunkStart) : undefined],
    [12, stats],
  );
  return struct([2, i64(chunkStart)], [3, meta]);
}

/** Reused per-sink work buffers. */
interface Scratch {
  body: Bytes; // the uncompressed page
  f64: Float64Array;
  i32: Int32Array;
  levels: Uint8Array;
  /** The dictionary indices scanDictColumn put in i32, OR-ed (their bit width is the page's). */
  top: number;
  /** A timestamp page's least and greatest microseconds. */
  min: number;
  max: number;
  delta: DeltaScratch;
}

function newScratch(): Scratch {
  return {
    body: bytes(1 << 17),
    f64: new Float64Array(8192),
    i32: new Int32Array(16384),
    levels: new Uint8Array(8192),
    top: 0,
    min: 0,
    max: 0,
    delta: deltaScratch(),
  };
}

function isNull(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === "number" && v !== v);
}

/** Encode n values of one column as a data page and append it to the chunk. */
function writeDataPage(c: Chunk, values: OutValues, n: number, s: Scratch): void {
  if (s.levels.length < n) s.levels = new Uint8Array(n);
  const dictionary = c.physical === "STRING" && !isGeneratedIds(values) && useDictionary(c);
  // One pass over the common column shapes finds definition levels (1 = present, 0 = null), the null
  // count and what the value encoding needs (statistics, converted values, dictionary indices).
  const typed = values instanceof Float64Array;
  let nulls: number;
  if (typed && c.physical === "DOUBLE") nulls = scanDoubles(c, values, n, s);
  else if (typed && c.physical === "TIMESTAMP") nulls = scanTimestamps(c, values, n, s);
  else if (dictionary && !isGeneratedIds(values) && isDict(values)) nulls = scanDictColumn(c, values, n, s);
  else nulls = definitionLevels(values, n, s.levels);

  const body = s.body;
  body.n = 0;
  reserve(body, 4);
  body.n = 4;
  if (nulls === 0) rleRun(body, n, 1, 1);
  else hybrid(body, s.levels, n, 1);
  putU32(body.b, 0, body.n - 4);

  let encoding: number = ENC.PLAIN;
  switch (c.physical) {
    case "DOUBLE":
      encoding = doubleData(c, typed ? (nulls === 0 ? values : s.f64) : presentDoubles(c, values as ArrayLike<unknown>, n, nulls, s), n - nulls, s);
      break;
    case "TIMESTAMP":
      if (!typed) encodeTimestamps(c, values as ArrayLike<unknown>, n, s);
      encoding = timestampData(body, s, n - nulls);
      break;
    case "INT64":
      encodeInt64(materialize(values as Column), n, s);
      break;
    case "BOOLEAN":
      encodeBooleans(materialize(values as Column), n, s);
      break;
    case "STRING":
      if (isGeneratedIds(values)) {
        deltaIds(values, n, body, s.delta);
        encoding = ENC.DELTA_BYTE_ARRAY;
      } else if (dictionary) {
        if (isDict(values)) indexData(body, s.i32, n - nulls, s.top);
        else encodeIndices(c, values, n, s);
        encoding = ENC.RLE_DICTIONARY;
      } else encodeStrings(materialize(values), n, body);
      break;
  }
  c.values += n;
  c.nulls += nulls;
  c.encodings.add(ENC.RLE).add(encoding);
  if (encoding === ENC.RLE_DICTIONARY) c.encodings.add(ENC.PLAIN); // the dictionary page
  c.pages.addData(
    body,
    (raw, stored) => encodeStruct(struct([1, PAGE.DATA], [2, raw], [3, stored], [5, struct([1, n], [2, encoding], [3, ENC.RLE], [4, ENC.RLE])])),
    encoding,
  );
}

/** Definition levels of any column into levels[0..n); returns the null count (generated ids are never null). */
function definitionLevels(values: OutValues, n: number, levels: Uint8Array): number {
  let nulls = 0;
  if (isGeneratedIds(values)) return 0;
  if (isDict(values)) {
    const { dictionary, indices } = values;
    const presentAt = Uint8Array.from({ length: dictionary.length }, (_, j) => (isNull(dictionary[j]) ? 0 : 1));
    for (let r = 0; r < n; r++) {
      const j = indices[r]!;
      const present = j >= 0 ? presentAt[j]! : 0;
      levels[r] = present;
      nulls += 1 - present;
    }
    return nulls;
  }
  for (let r = 0; r < n; r++) {
    const present = isNull(values[r]) ? 0 : 1;
    levels[r] = present;
    nulls += 1 - present;
  }
  return nulls;
}

/** Doubles (NaN = null): null count, min/max; with nulls, levels and the present values packed into s.f64. */
function scanDoubles(c: Chunk, values: Float64Array, n: number, s: Scratch): number {
  // Most pages: Math.min/max, which V8 compiles without a branch per value. They differ from the
  // statistics' rule (nulls skipped; the first value strictly below or above the others wins) only with
  // a NaN present (they return NaN) or -0 against 0 at an end: such pages take the loop below.
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = 0; r < n; r++) {
    const v = values[r]!;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === lo && lo !== 0 && hi !== 0) {
    if (lo < c.min) c.min = lo;
    if (hi > c.max) c.max = hi;
    return 0;
  }
  let nulls = 0;
  let min = c.min;
  let max = c.max;
  // Levels are needed only with nulls (a page without any is one RLE run): they are made afterwards if so.
  for (let r = 0; r < n; r++) {
    const v = values[r]!;
    if (v !== v) nulls++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  c.min = min;
  c.max = max;
  if (nulls > 0) {
    if (s.f64.length < n) s.f64 = new Float64Array(n);
    const levels = s.levels;
    let k = 0;
    for (let r = 0; r < n; r++) {
      const v = values[r]!;
      levels[r] = v === v ? 1 : 0;
      if (v === v) s.f64[k++] = v;
    }
  }
  return nulls;
}

/** Epoch milliseconds (NaN = null) -> null count, min/max, INT64 microseconds of the present values in s.f64 (exact below 2^53 us); with nulls, levels. */
function scanTimestamps(c: Chunk, values: Float64Array, n: number, s: Scratch): number {
  if (s.f64.length < n) s.f64 = new Float64Array(n);
  const micros = s.f64;
  let k = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let r = 0; r < n; r++) {
    const v = values[r]!;
    if (v !== v) continue;
    const us = Math.round(v * 1000);
    min = Math.min(min, us); // (-0 and 0 are the same INT64)
    max = Math.max(max, us);
    micros[k++] = us;
  }
  pageRange(c, s, min, max);
  if (k < n) for (let r = 0; r < n; r++) s.levels[r] = values[r] === values[r] ? 1 : 0;
  return n - k;
}

/** A timestamp page's least and greatest microseconds: the page's (s.min, s.max) and the chunk's statistics. */
function pageRange(c: Chunk, s: Scratch, min: number, max: number): void {
  s.min = min;
  s.max = max;
  if (min < c.min) c.min = min;
  if (max > c.max) c.max = max;
}

/** The chunk's dictionary page: its PLAIN-encoded values are the page body as they stand. */
function addDictionaryPage(c: Chunk, count: number): void {
  c.pages.addDictionary(c.dictValues, (raw, stored) =>
    encodeStruct(struct([1, PAGE.DICTIONARY], [2, raw], [3, stored], [7, struct([1, count], [2, ENC.PLAIN])])),
  );
}

/** A page's k present doubles: through the chunk's dictionary while it lasts, else PLAIN. Returns the encoding. */
function doubleData(c: Chunk, src: Float64Array, k: number, s: Scratch): number {
  const dictionary = c.doubles!;
  if (k > 0 && !dictionary.off) {
    if (s.i32.length < k) s.i32 = new Int32Array(k);
    const top = dictionary.indices(src, k, s.i32);
    if (top >= 0) {
      indexData(s.body, s.i32, k, top);
      return ENC.RLE_DICTIONARY;
    }
  }
  appendLE(s.body, src, k);
  return ENC.PLAIN;
}

/** Doubles of any column shape: the present values (packed in s.f64 unless they are values itself), and their range. */
function presentDoubles(c: Chunk, values: ArrayLike<unknown>, n: number, nulls: number, s: Scratch): Float64Array {
  let src: Float64Array;
  let k = 0;
  if (values instanceof Float64Array && nulls === 0) {
    src = values;
    k = n;
  } else {
    if (s.f64.length < n) s.f64 = new Float64Array(n);
    src = s.f64;
    for (let r = 0; r < n; r++) {
      const v = values[r];
      if (!isNull(v)) src[k++] = typeof v === "number" ? v : Number(v);
    }
  }
  let min = c.min;
  let max = c.max;
  for (let i = 0; i < k; i++) {
    const v = src[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  c.min = min;
  c.max = max;
  return src;
}

/** Append count elements of a typed array as little-endian bytes (a plain copy on little-endian machines). */
function appendLE(body: Bytes, a: Float64Array | Int32Array, count: number): void {
  const size = a.BYTES_PER_ELEMENT;
  reserve(body, count * size);
  if (LITTLE_ENDIAN) body.b.set(new Uint8Array(a.buffer, a.byteOffset, count * size), body.n);
  else {
    const dv = new DataView(body.b.buffer, body.n);
    for (let i = 0; i < count; i++) {
      if (a instanceof Float64Array) dv.setFloat64(i * 8, a[i]!, true);
      else dv.setInt32(i * 4, a[i]!, true);
    }
  }
  body.n += count * size;
}

/**
 * A timestamp page's k values (s.f64's microseconds) as DELTA_BINARY_PACKED: times in row order are close
 * (real pickups: ~33 bits a value where PLAIN takes 64 and snappy saves ~28% of those at a high CPU
 * price). PLAIN where the deltas would take more room. Returns the encoding.
 */
function timestampData(body: Bytes, s: Scratch, k: number): number {
  const at = body.n;
  const safe = s.min > -SAFE_INT64 && s.max < SAFE_INT64;
  if (safe && deltaPackedSafe(body, s.f64, k, s.delta) <= 8 * k) return ENC.DELTA_BINARY_PACKED;
  body.n = at;
  // As two 32-bit halves: the low word (wrapped to int32 as stored), the high word.
  if (s.i32.length < 2 * k) s.i32 = new Int32Array(2 * k);
  const halves = s.i32;
  const micros = s.f64;
  for (let i = 0; i < k; i++) {
    const us = micros[i]!;
    const hi = Math.floor(us / 4294967296);
    halves[2 * i] = us - hi * 4294967296;
    halves[2 * i + 1] = hi;
  }
  if (!safe && deltaPacked64(body, halves, k, s.delta) <= 8 * k) return ENC.DELTA_BINARY_PACKED;
  body.n = at;
  appendLE(body, halves, 2 * k);
  return ENC.PLAIN;
}

/** Epoch milliseconds -> INT64 microseconds of the present values in s.f64 (exact below 2^53 us), and their range. */
function encodeTimestamps(c: Chunk, values: ArrayLike<unknown>, n: number, s: Scratch): void {
  if (s.f64.length < n) s.f64 = new Float64Array(n);
  const micros = s.f64;
  let k = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let r = 0; r < n; r++) {
    const v = values[r] as number;
    if (isNull(v)) continue;
    const us = Math.round(v * 1000);
    if (us < min) min = us;
    if (us > max) max = us;
    micros[k++] = us;
  }
  pageRange(c, s, min, max);
}

function encodeInt64(values: ArrayLike<unknown>, n: number, s: Scratch): void {
  const body = s.body;
  reserve(body, n * 8);
  const dv = new DataView(body.b.buffer, body.b.byteOffset);
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (isNull(v)) continue;
    dv.setBigInt64(body.n, typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v))), true);
    body.n += 8;
  }
}

function encodeBooleans(values: ArrayLike<unknown>, n: number, s: Scratch): void {
  const body = s.body;
  reserve(body, (n >>> 3) + 1);
  let k = 0;
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (isNull(v)) continue;
    const byte = body.n + (k >>> 3);
    if ((k & 7) === 0) body.b[byte] = 0;
    if (v) body.b[byte]! |= 1 << (k & 7);
    k++;
  }
  body.n += (k + 7) >>> 3;
}

// ---- strings ----

/** Append s as UTF-8 (no length prefix) at buf.n; ASCII is copied char by char, the rest via TextEncoder. */
const encoder = new TextEncoder();
function putUtf8(buf: Bytes, s: string): void {
  reserve(buf, s.length * 3);
  const b = buf.b;
  let at = buf.n;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch > 127) {
      at += encoder.encodeInto(s.slice(i), b.subarray(at)).written;
      break;
    }
    b[at++] = ch;
  }
  buf.n = at;
}

/** PLAIN BYTE_ARRAY: 4-byte little-endian length, then the bytes. */
function putString(buf: Bytes, s: string): void {
  reserve(buf, 4 + s.length * 3);
  const at = buf.n;
  buf.n += 4;
  putUtf8(buf, s);
  putU32(buf.b, at, buf.n - at - 4);
}

/** v as 4 little-endian bytes at b[at]. */
function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : String(v);
}

function encodeStrings(values: ArrayLike<unknown>, n: number, body: Bytes): void {
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (!isNull(v)) putString(body, text(v));
  }
}

/** Keep the dictionary while it stays small and values repeat; unique values (ids) switch it off. */
function useDictionary(c: Chunk): boolean {
  if (c.dictOff) return false;
  const size = c.dict!.size;
  if (size >= DICT_MAX_ENTRIES || c.dictValues.n >= DICT_MAX_BYTES || (c.values >= 1024 && size > c.values / 2)) c.dictOff = true;
  return !c.dictOff;
}

function encodeIndices(c: Chunk, values: ArrayLike<unknown>, n: number, s: Scratch): void {
  if (s.i32.length < n) s.i32 = new Int32Array(n);
  const idx = s.i32;
  const ints = c.intDict;
  let k = 0;
  let top = 0;
  let last: unknown;
  let lastIndex = -1;
  for (let r = 0; r < n; r++) {
    const v = values[r];
    if (v === last) {
      if (lastIndex >= 0) idx[k++] = lastIndex;
      continue;
    }
    if (isNull(v)) continue;
    const str = text(v);
    // Zone ids and the like: a small canonical integer indexes a table; the rest goes through the Map.
    const id = smallId(str);
    let i = id >= 0 ? ints[id]! : -1;
    if (i < 0) {
      i = dictIndex(c, str);
      if (id >= 0) ints[id] = i;
    }
    if (i > top) top = i;
    idx[k++] = i;
    last = v;
    lastIndex = i;
  }
  indexData(s.body, idx, k, top);
}

/**
 * A dictionary column: each of its entries is looked up once, rows map through an index table. One
 * pass gives the null count (null entries and index -1 are nulls) and the chunk dictionary's indices
 * of the present rows in s.i32 (OR-ed in s.top); levels only if there are nulls.
 */
function scanDictColumn(c: Chunk, col: DictColumn, n: number, s: Scratch): number {
  // Batches of one row group share a dictionary; on the writer thread each arrives as a fresh copy, so
  // equal entries count as the same dictionary.
  if (c.mapFrom !== col.dictionary && sameEntries(c.mapFrom, col.dictionary)) c.mapFrom = col.dictionary;
  if (c.mapFrom !== col.dictionary) {
    // Entry j of the column's dictionary -> index in this chunk's dictionary (-1: null entry).
    const m = col.dictionary.length;
    const map = new Int32Array(m);
    const entries = col.dictionary;
    map.fill(-1);
    for (let j = 0; j < m; j++) {
      const v = entries[j];
      if (isNull(v)) continue;
      map[j] = dictIndex(c, text(v));
    }
    c.mapFrom = col.dictionary;
    c.map = map;
  }
  if (s.i32.length < n) s.i32 = new Int32Array(n);
  const idx = s.i32;
  const map = c.map!;
  const indices = col.indices;
  if (map.length === 1 && map[0] === 0 && allZero(indices, n)) {
    // A constant column (model_version): every row is the chunk's entry 0, which indexData writes as one run.
    if (n < 8) idx.fill(0, 0, n);
    s.top = 0;
    return 0;
  }
  let k = 0;
  let top = 0; // the indices OR-ed: the same highest bit as their largest, which is all indexData needs
  for (let r = 0; r < n; r++) {
    const j = indices[r]!;
    const i = j < 0 ? -1 : map[j]!;
    if (i < 0) continue;
    top |= i;
    idx[k++] = i;
  }
  s.top = top;
  if (k < n) for (let r = 0; r < n; r++) s.levels[r] = indices[r]! < 0 || map[indices[r]!]! < 0 ? 0 : 1;
  return n - k;
}

/** Whether a[0..n) are all 0 (their OR is 0: no other value, -1 included, has no bit set). */
function allZero(a: Int32Array, n: number): boolean {
  let or = 0;
  for (let r = 0; r < n; r++) or |= a[r]!;
  return or === 0;
}

/** The chunk dictionary's index of str, adding it if new. */
function dictIndex(c: Chunk, str: string): number {
  let i = c.dict!.get(str);
  if (i === undefined) {
    i = c.dict!.size;
    c.dict!.set(str, i);
    putString(c.dictValues, str);
  }
  return i;
}

/** RLE_DICTIONARY page data: the indices' bit width, then the indices. */
function indexData(body: Bytes, idx: Int32Array, k: number, top: number): void {
  const width = Math.max(1, 32 - Math.clz32(top));
  reserve(body, 1);
  body.b[body.n++] = width;
  // Indices all 0 (their OR): one run, as hybrid makes it, without looking at them again.
  if (top === 0 && k >= 8) rleRun(body, k, 0, width);
  else hybrid(body, idx, k, width);
}

function sameEntries(a: ArrayLike<unknown> | undefined, b: ArrayLike<unknown>): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
  return true;
}

// ---- RLE / bit-packing hybrid ----

function varint(buf: Bytes, v: number): void {
  reserve(buf, 5);
  buf.n = varintAt(buf.b, buf.n, v);
}

function rleRun(buf: Bytes, count: number, value: number, width: number): void {
  varint(buf, count * 2);
  const w = (width + 7) >>> 3;
  reserve(buf, w);
  for (let i = 0; i < w; i++) buf.b[buf.n++] = (value >>> (8 * i)) & 0xff;
}

/** Runs of 8+ equal values as RLE runs, everything else bit-packed in groups of 8 (width <= 24). */
export function hybrid(buf: Bytes, v: Int32Array | Uint8Array, k: number, width: number): void {
  let i = 0;
  while (i < k) {
    const run = runLength(v, i, k);
    if (run >= 8) {
      rleRun(buf, run, v[i]!, width);
      i += run;
      continue;
    }
    // Groups of 8 until one that opens a run of 8 (the last group is padded with zeros).
    const start = i;
    do i += 8;
    while (i < k && runLength(v, i, Math.min(i + 8, k)) < 8);
    const end = Math.min(i, k);
    const groups = (end - start + 7) >>> 3;
    varint(buf, (groups << 1) | 1);
    reserve(buf, groups * width);
    buf.n = v instanceof Int32Array ? packIndices(buf.b, buf.n, v, start, end, width) : packGroups(buf.b, buf.n, v, start, end, width);
    i = end;
  }
}

/** packGroups for dictionary indices: whole groups by the width's unrolled packer, a last partial group padded. */
function packIndices(b: Uint8Array, at: number, v: Int32Array, start: number, end: number, width: number): number {
  const whole = (end - start) >>> 3;
  at = packerFor(width)(b, at, v, start, whole, 0);
  const rest = start + whole * 8;
  return rest < end ? packGroups(b, at, v, rest, end, width) : at;
}

/** How many values from v[i] on (before k) equal v[i]. */
function runLength(v: Int32Array | Uint8Array, i: number, k: number): number {
  const x = v[i];
  let j = i + 1;
  while (j < k && v[j] === x) j++;
  return j - i;
}
