// Parquet as record batches with memory independent of the file size, even for the real TLC files
// whose whole month is ONE row group: each needed column chunk is read page by page through a small
// window, and a batch is cut once every column has enough rows. Only the columns the job needs are
// read. hyparquet parses the metadata and headers and decompresses; the common page layouts (levels,
// dictionary indices, plain numbers) are decoded here into reused typed arrays.
import type { AsyncBuffer, CompressionCodec, Compressors, DecodedArray, FileMetaData } from "hyparquet";
// hyparquet's modules this reader uses, not its index: the index loads ~a dozen more (queries, filters,
// bloom filters, the whole-file reader) that a start-up would pay for and never use.
import { parquetMetadataAsync, parquetSchema } from "hyparquet/src/metadata.js";
import { parquetHeader, readPage } from "hyparquet/src/column.js";
import { convert, DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { decompressPage, readDataPage, readDataPageV2 } from "hyparquet/src/datapage.js";
import { getMaxDefinitionLevel, getMaxRepetitionLevel, getTreePath, isFlatColumn } from "hyparquet/src/schema.js";
import { columnLength, isDict, materialize, type Column, type DictColumn } from "../columns.js";
import { RidepredError } from "../errors.js";
import { type Listed, openRange, type RangeSource } from "./range.js";
import { redactLocation } from "./redact.js";
import { type Borrowed, poison, poisoning } from "./borrowed.js";
import { type InPlaceSnappy, snappyUncompressCopy, snappyUncompressView, type Uncompress } from "./snappy-view.js";
import type { BatchSource, RecordBatch } from "./types.js";

type ColumnDecoder = Parameters<typeof readPage>[2];
/** A decoded page: values, or dictionary indices for a dictionary-encoded string page. */
type Page = DecodedArray | DictColumn;

// Timestamps become epoch-ms numbers (naive wall-clock time read as UTC): no Date per value, no zone.
const parsers = {
  ...DEFAULT_PARSERS,
  timestampFromMilliseconds: (v: bigint) => Number(v),
  timestampFromMicroseconds: (v: bigint) => Number(v) / 1000,
  timestampFromNanoseconds: (v: bigint) => Number(v) / 1e6,
};

export interface ParquetReadOptions {
  /** Read only the row groups this accepts (a shard's share of one big file); batches then carry firstRow. */
  rowGroups?: (index: number, count: number) => boolean;
  /**
   * Read the row groups this hands out (their indices in the file), one at a time, until it returns
   * undefined: threads that share a file take its groups as they go (batch/row-groups.ts). It is called
   * for the next group once every batch of the one before was taken. Batches then carry firstRow;
   * pages are decoded on this thread.
   */
  claim?: () => number | undefined | Promise<number | undefined>;
  /** Decode pages on a worker thread (parquet-read-thread.ts): default $RIDEPRED_READER_THREAD, else auto (= off, see below). */
  thread?: "auto" | "on" | "off";
  /** The object as a listing described it (S3): opened without a HEAD (range.ts openRange). */
  listed?: Listed;
}

/**
 * RIDEPRED_READER_THREAD=on|off|auto: whether Parquet pages are decoded on a reader thread. auto decodes
 * them on this thread: on 2 cores, beside the writer thread, the reader thread did not pay in bench/sql
 * (10M rows: slower and more CPU than decoding here, docs/bench-duckdb.md "Parquet -> Parquet"); it stays for machines
 * with a core to spare.
 */
export function readerThreadSetting(): "auto" | "on" | "off" {
  const v = process.env.RIDEPRED_READER_THREAD;
  if (v === undefined || v === "" || v === "auto") return "auto";
  if (v === "on" || v === "off") return v;
  throw new RidepredError(`RIDEPRED_READER_THREAD=${v}: expected on, off or auto`);
}

export async function openParquet(path: string, options: ParquetReadOptions = {}): Promise<BatchSource & { readonly readerThread: boolean }> {
  if (path === "-") throw new RidepredError("Parquet cannot be read from stdin (it needs its footer first): give a file");
  const thread = options.thread ?? readerThreadSetting();
  const fh = await openRange(path, options.listed);
  const label = redactLocation(path);
  const size = fh.size;
  const file: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end = size) {
      const buf = new Uint8Array(end - start);
      const got = await fh.read(buf, start);
      return buf.buffer.slice(0, got) as ArrayBuffer;
    },
  };
  let metadata: FileMetaData;
  // The smallest Parquet file is its magic, a footer length and the magic again; hyparquet would say of
  // an empty or cut-off file only that an offset is out of bounds.
  if (size < 12) {
    await fh.close();
    throw new RidepredError(`${label}: not a readable Parquet file (${size === 0 ? "empty" : `only ${size} bytes`}); truncated or not Parquet?`);
  }
  try {
    // 64 KiB covers most footers in one read (hyparquet's default of 512 KiB would fetch much of a
    // small remote file's data twice); a bigger footer costs one more read.
    metadata = await parquetMetadataAsync(file, { parsers, initialFetchSize: 1 << 16 });
  } catch (e) {
    await fh.close();
    throw new RidepredError(`${label}: not a readable Parquet file (${(e as Error).message}); truncated or not Parquet?`);
  }
  const tree = parquetSchema(metadata);
  const names = tree.children.map((c) => c.element.name);
  const timestampColumns = new Set(
    tree.children
      .filter((c) => {
        const el = c.element;
        return (
          el.converted_type === "TIMESTAMP_MILLIS" ||
          el.converted_type === "TIMESTAMP_MICROS" ||
          el.logical_type?.type === "TIMESTAMP" ||
          (el.type === "INT96" && !el.converted_type)
        );
      })
      .map((c) => c.element.name),
  );
  const groups = metadata.row_groups.map((g, index) => ({ g, index, first: 0 }));
  for (let i = 1; i < groups.length; i++) groups[i]!.first = groups[i - 1]!.first + Number(groups[i - 1]!.g.num_rows);
  const chosen = options.rowGroups ? groups.filter(({ index }) => options.rowGroups!(index, groups.length)) : groups;
  const totalRows = chosen.reduce((sum, { g }) => sum + Number(g.num_rows), 0);
  let rowsDone = 0;
  const useThread = thread === "on" && !options.claim;

  async function* batches(wanted: readonly string[], batchSize: number): AsyncGenerator<Borrowed<RecordBatch>> {
    if (useThread) {
      const { threadedBatches } = await import("./parquet-read-thread.js");
      const groupList = options.rowGroups ? chosen.map(({ index }) => index) : undefined;
      for await (const b of threadedBatches(path, label, wanted, batchSize, groupList)) {
        rowsDone += b.n;
        yield b;
      }
      return;
    }
    const buffers = wanted.map(() => new ColumnBuffers());
    const codecs = new Set<CompressionCodec>();
    for (const { g: rowGroup } of chosen)
      for (const c of rowGroup.columns) if (c.meta_data && wanted.includes(c.meta_data.path_in_schema[0]!)) codecs.add(c.meta_data.codec);
    const compressors = await decompressorsFor(codecs);
    // One array of cursors for the whole run, refilled per row group (openCursors): V8 compiles this
    // generator while the first group's batches run, and a new array at the next group came with a map
    // that code had not seen (a deopt and a recompile of the generator per group).
    const cursors: PageCursor[] = [];
    const numbered = options.claim !== undefined || options.rowGroups !== undefined;
    let c = 0;
    const nextGroup = options.claim ?? (() => chosen[c++]?.index);
    for (let next = await nextGroup(); next !== undefined; next = await nextGroup()) {
      const { g: rowGroup, index: g, first } = groups[next]!;
      openCursors(cursors, rowGroup, g, wanted, buffers, compressors);
      const groupRows = Number(rowGroup.num_rows);
      for (let done = 0; done < groupRows; ) {
        const n = Math.min(batchSize, groupRows - done);
        const columns: Record<string, Column> = {};
        for (let j = 0; j < wanted.length; j++) columns[wanted[j]!] = await cursors[j]!.take(n);
        done += n;
        rowsDone += n;
        yield { n, columns, errors: [], ...(numbered ? { firstRow: first + done - n } : {}) };
      }
    }
  }

  /** The cursors of row group g's wanted columns, in place of the previous group's (whose last batch is done with: their arrays become spares). */
  function openCursors(
    cursors: PageCursor[],
    rowGroup: FileMetaData["row_groups"][number],
    g: number,
    wanted: readonly string[],
    buffers: ColumnBuffers[],
    compressors: Compressors,
  ): void {
    for (const c of cursors) c.release();
    cursors.length = 0;
    for (let j = 0; j < wanted.length; j++) {
      const name = wanted[j]!;
      const chunk = rowGroup.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === name);
      if (!chunk?.meta_data) throw new RidepredError(`${label}: column ${name} is not a flat column of row group ${g}`);
      const schemaPath = getTreePath(tree, chunk.meta_data.path_in_schema);
      if (!isFlatColumn(schemaPath)) throw new RidepredError(`${label}: column ${name} is nested; only flat columns can be scored`);
      const md = chunk.meta_data;
      const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
      const decoder: ColumnDecoder = {
        pathInSchema: md.path_in_schema,
        type: md.type,
        element: schemaPath[schemaPath.length - 1]!.element,
        schemaPath,
        codec: md.codec,
        parsers,
        compressors,
        utf8: true,
      };
      cursors.push(new PageCursor(fh, label, name, start, start + Number(md.total_compressed_size), decoder, buffers[j]!));
    }
  }

  return {
    names,
    totalRows,
    rowGroups: chosen.map(({ index }) => index),
    timestampColumns,
    progress: () => (totalRows ? rowsDone / totalRows : undefined),
    batches,
    close: () => fh.close(),
    /** Whether pages are decoded on a reader thread. */
    readerThread: useThread,
  };
}

/**
 * Decompressors for the codecs the columns read use. hyparquet-compressors' index loads all six (snappy's
 * WASM, zstd, brotli, gzip, lz4), slow at start-up; the usual snappy or uncompressed file needs
 * only hysnappy's WASM snappy or nothing. Any other codec loads the full set.
 */
export async function decompressorsFor(codecs: ReadonlySet<CompressionCodec>): Promise<Compressors> {
  const list = [...codecs];
  if (list.every((c) => c === "UNCOMPRESSED")) return {};
  // Snappy pages are copies hyparquet may keep, from the module whose memory does not grow (snappy-wasm.ts).
  if (list.every((c) => c === "UNCOMPRESSED" || c === "SNAPPY")) return { SNAPPY: snappyUncompressCopy() };
  const all = (await import("hyparquet-compressors")).compressors;
  return { ...all, SNAPPY: snappyUncompressCopy() };
}

/**
 * How a flat column's pages are decoded here directly (no per-value BigInt, no generic assembly):
 * "number" -> Float64Array with NaN for null (DOUBLE, FLOAT, INT32 integers, INT64 timestamps in ms),
 * "string" -> a dictionary column (dictionary-encoded pages) or an array with null for null (UTF8 byte
 * arrays), "int64" -> the same with BigInts (INT64 integers). Levels, indices and plain numbers are
 * decoded here; other encodings and kinds go to hyparquet.
 */
type FastKind = { kind: "number" /** divisor to milliseconds for timestamps, else 1 */; scale: number } | { kind: "string" } | { kind: "int64" } | undefined;

function fastKind(d: ColumnDecoder): FastKind {
  if (getMaxRepetitionLevel(d.schemaPath) !== 0 || getMaxDefinitionLevel(d.schemaPath) > 1) return undefined;
  const el = d.element;
  const ct = el.converted_type;
  const lt = el.logical_type;
  if (d.type === "DOUBLE" || d.type === "FLOAT") return { kind: "number", scale: 1 };
  if (d.type === "INT32" && exactInt32(ct, lt)) return { kind: "number", scale: 1 };
  if (d.type === "INT64") {
    const unit = ct === "TIMESTAMP_MILLIS" ? "MILLIS" : ct === "TIMESTAMP_MICROS" ? "MICROS" : lt?.type === "TIMESTAMP" ? lt.unit : undefined;
    if (unit) return { kind: "number", scale: unit === "MILLIS" ? 1 : unit === "MICROS" ? 1000 : 1e6 };
    // Other INT64 stays BigInt, exactly as stored: dictionary-encoded pages as a dictionary column of BigInts.
    return exactInt64(ct, lt) ? { kind: "int64" } : undefined;
  }
  if (d.type === "BYTE_ARRAY" && (ct === "UTF8" || lt?.type === "STRING")) return { kind: "string" };
  return undefined;
}

/**
 * An INT32 column whose values are the stored integers as they are (hyparquet converts none of these):
 * signed 8, 16 and 32 bits, and unsigned 8 and 16 (stored zero-extended). DuckDB, Spark and pyarrow mark
 * their integer columns INT_32; unsigned 32-bit, dates, times and decimals stay with hyparquet.
 */
function exactInt32(ct: ColumnDecoder["element"]["converted_type"], lt: ColumnDecoder["element"]["logical_type"]): boolean {
  if (lt && (lt.type !== "INTEGER" || (!lt.isSigned && lt.bitWidth === 32))) return false;
  return ct === undefined || ct === "INT_8" || ct === "INT_16" || ct === "INT_32" || ct === "UINT_8" || ct === "UINT_16";
}

/** An INT64 column of signed integers that hyparquet gives as they are stored (BigInt). */
function exactInt64(ct: ColumnDecoder["element"]["converted_type"], lt: ColumnDecoder["element"]["logical_type"]): boolean {
  if (lt && (lt.type !== "INTEGER" || !lt.isSigned)) return false;
  return ct === undefined || ct === "INT_64";
}

/**
 * A column's reusable arrays, kept from one row group's cursor to the next: with a cursor's own, every
 * row group of a large file would allocate its buffers afresh.
 */
class ColumnBuffers {
  window = new Uint8Array(0); // the read buffer a cursor's buf views, when reuse is safe
  defs = new Int32Array(0); // a page's definition levels
  idx = new Int32Array(0); // a page's dictionary indices
  // Decoded pages are views of a spare array: a page's array becomes a spare once the batch that used
  // its last rows is done (batches are valid until the next is requested), so a long run decodes into
  // the same few arrays instead of leaving every page's array to the GC. At most two spares each (a
  // batch usually spans two pages at most; when a batch is larger than a page, the extra arrays are left
  // to the GC), and both come back when a row group ends: pages can be megabytes.
  spareFloats: Float64Array[] = [];
  spareInts: Int32Array[] = [];
  /** The column's snappy decoder: its pages are views of its own memory (a lazy page's bytes stay put while other columns read). */
  snappy: ReturnType<typeof snappyUncompressView> | undefined;
}

/** Reads one column chunk page by page: holds at most one window of bytes and the decoded pages not yet taken. */
class PageCursor {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly maxDef: number;
  /** A data page's values, decompressed for decodeFast (which copies them out before the next page). */
  private readonly inflate: Uncompress;
  /** The same for pages that may become lazy: their bytes stay in the column's own decoder until its next page. */
  private readonly inflateLarge: Uncompress;
  /** inflateLarge's memory, to read a large page into (undefined: not snappy, or hysnappy's own decoder). */
  private readonly inPlace: InPlaceSnappy | undefined;
  private readonly fast: FastKind;
  private numDict: Float64Array | undefined;
  private bufStart = 0; // file offset of buf[0]
  private dictionary: DecodedArray | undefined;
  private pages: (Page | LazyPage)[] = [];
  private offset = 0; // rows already taken from pages[0]
  private available = 0;

  constructor(
    private readonly fh: RangeSource,
    private readonly path: string,
    private readonly column: string,
    private pos: number,
    private readonly end: number,
    private readonly decoder: ColumnDecoder,
    private readonly bufs: ColumnBuffers,
  ) {
    this.fast = fastKind(decoder);
    const { codec, compressors } = decoder;
    this.inflate = codec === "SNAPPY" ? (sharedSnappy ??= snappyUncompressView()) : (bytes, size) => decompressPage(bytes, size, codec, compressors);
    this.inflateLarge = codec === "SNAPPY" ? (bufs.snappy ??= snappyUncompressView()) : this.inflate;
    this.inPlace = codec === "SNAPPY" ? bufs.snappy!.inPlace : undefined;
    this.maxDef = getMaxDefinitionLevel(decoder.schemaPath);
  }

  async take(n: number): Promise<Column> {
    // The previous batch is done with: the pages it used up give their arrays back.
    for (const p of this.retired) this.recycle(p);
    this.retired.length = 0;
    while (this.available < n) {
      if (this.pos >= this.end)
        throw new RidepredError(`${this.path}: column ${this.column} ends early (${this.available} of ${n} rows left): truncated or corrupt file`);
      await this.nextPage();
    }
    this.decodeAhead(n);
    const first = this.pages[0] as Page;
    const out = columnLength(first) - this.offset >= n ? slice(first, this.offset, this.offset + n) : this.across(n);
    this.advance(n);
    this.available -= n;
    return out;
  }

  /**
   * Past the n rows taken: pages used up are retired. One loop for batches within a page and across
   * pages alike, so V8 has seen its every branch (a page ends within a batch every few batches) by the
   * time it compiles take: a batch ending exactly on a page's last row (a row group's last) then
   * deoptimized it.
   */
  private advance(n: number): void {
    for (let left = n; left > 0; ) {
      const p = this.pages[0] as Page;
      const m = Math.min(left, columnLength(p) - this.offset);
      left -= m;
      this.offset += m;
      if (this.offset === columnLength(p)) {
        this.retired.push(this.pages.shift() as Page);
        this.offset = 0;
      }
    }
  }

  /** The next n rows when they span pages (all decoded), copied: a dictionary column if every page they come from is one. */
  private across(n: number): Column {
    const first = this.pages[0] as Page;
    let allDict = true;
    for (let i = 0, k = -this.offset; k < n; i++) {
      const p = this.pages[i] as Page;
      allDict &&= isDict(p) && p.dictionary === (first as DictColumn).dictionary;
      k += columnLength(p);
    }
    const indices = allDict ? new Int32Array(n) : undefined;
    const arr: { [i: number]: unknown; length: number } | undefined = allDict
      ? undefined
      : first instanceof Float64Array
        ? new Float64Array(n)
        : new Array<unknown>(n);
    for (let i = 0, k = 0, from = this.offset; k < n; i++, from = 0) {
      const p = this.pages[i] as Page;
      const m = Math.min(n - k, columnLength(p) - from);
      if (indices) indices.set((p as DictColumn).indices.subarray(from, from + m), k);
      else if (arr instanceof Float64Array && p instanceof Float64Array) arr.set(p.subarray(from, from + m), k);
      else {
        const cells = materialize(p);
        for (let t = 0; t < m; t++) arr![k + t] = cells[from + t];
      }
      k += m;
    }
    return indices ? { dictionary: (first as DictColumn).dictionary, indices } : arr!;
  }

  /** Decode rows of lazy pages until the pages at the front hold the next n rows decoded, in order. */
  private decodeAhead(n: number): void {
    for (let i = 0, have = -this.offset; have < n; i++) {
      const p = this.pages[i]!;
      if (!(p instanceof LazyPage)) {
        have += columnLength(p);
        continue;
      }
      const m = Math.min(p.left, n - have);
      const rows = this.decodeLazy(p, m);
      if (p.left === 0) this.pages[i] = rows;
      else this.pages.splice(i, 0, rows);
      have += m;
    }
  }

  /** The next m rows of a lazy page, as a page of their own. */
  private decodeLazy(p: LazyPage, m: number): Page {
    try {
      let rows: Page;
      if (p.plain) {
        rows = this.floats(m);
        plainNumbers(new DataView(p.plain.buffer, p.plain.byteOffset + p.next * p.width, m * p.width), p.type, p.scale, rows, m);
      } else if (p.dictionary) {
        const idx = this.ints(m);
        p.hybrid!.read(idx, 0, m);
        const bad = firstOutOfRange(idx, m, p.dictionary.length);
        if (bad >= 0) throw outOfRange(idx[bad]!, p.dictionary.length);
        rows = { dictionary: p.dictionary, indices: idx };
      } else {
        if (this.bufs.idx.length < m) this.bufs.idx = new Int32Array(m);
        const idx = this.bufs.idx;
        p.hybrid!.read(idx, 0, m);
        rows = this.floats(m);
        const bad = lookUp(idx, p.numDict!, rows, m);
        if (bad >= 0) throw outOfRange(idx[bad]!, p.numDict!.length);
      }
      p.next += m;
      p.left -= m;
      return rows;
    } catch (e) {
      throw this.corrupt(e, p.at);
    }
  }

  /**
   * A large snappy v1 data page (one decodeFast may keep lazy) that the window does not hold whole: read
   * straight into its column's decoder's memory and decompressed there; undefined for any other page.
   * Through the window such a page (DuckDB writes a column chunk's values as one page of megabytes) grew
   * the window to its size, was read into it and copied out of it into the decoder: a second pass over
   * megabytes no cache holds. What the window already holds of it is copied from there, not read again.
   */
  private async readLarge(header: ReturnType<typeof parquetHeader>, headerLength: number): Promise<Uint8Array | undefined> {
    const n = header.compressed_page_size;
    const inPlace = this.inPlace;
    if (!inPlace || !this.fast || header.type !== "DATA_PAGE" || !((header.data_page_header?.num_values ?? 0) >= LAZY_ROWS)) return undefined;
    const at = this.pos + headerLength;
    const held = this.bufStart + this.buf.length - at; // this page's bytes the window holds (it holds the header)
    if (held >= n) return undefined;
    const size = Number(header.uncompressed_page_size);
    let input: Uint8Array;
    try {
      input = inPlace.input(n, size); // room for the page as its header states it: a size no memory can hold fails here
    } catch (e) {
      throw this.corrupt(e);
    }
    input.set(this.buf.subarray(at - this.bufStart));
    const got = held + (await this.fh.read(input.subarray(held), at + held));
    if (got < n) throw new RidepredError(`${this.path}: column ${this.column}: unexpected end of file: truncated`);
    try {
      return inPlace.uncompressInput(n, size);
    } catch (e) {
      throw this.corrupt(e);
    }
  }

  /**
   * Make file bytes [pos, pos+len) available in buf. Pages before pos are decoded; the window is reused
   * when nothing decoded can still view it (decompressed pages, or values the fast path copied out),
   * else a fresh one is read: a long run would otherwise leave a window per read for the GC to find.
   */
  private async ensure(len: number): Promise<void> {
    const have = this.bufStart + this.buf.length - this.pos;
    if (this.pos >= this.bufStart && have >= len) return;
    const size = Math.min(Math.max(len, this.fh.window), this.end - this.pos);
    if (size < len) throw new RidepredError(`${this.path}: column ${this.column}: page runs past its column chunk: corrupt file`);
    let buf: Uint8Array;
    if (this.fast !== undefined || this.decoder.codec !== "UNCOMPRESSED") {
      if (this.bufs.window.length < size) this.bufs.window = new Uint8Array(size);
      buf = this.bufs.window.subarray(0, size);
    } else buf = new Uint8Array(size);
    const bytesRead = await this.fh.read(buf, this.pos);
    if (bytesRead < len) throw new RidepredError(`${this.path}: column ${this.column}: unexpected end of file: truncated`);
    this.buf = buf;
    this.bufStart = this.pos;
  }

  private async nextPage(): Promise<void> {
    // A lazy page views bytes that reading the next page overwrites (the window, the column's snappy
    // memory): its last rows are decoded first.
    const last = this.pages.length - 1;
    const lazy = this.pages[last];
    if (lazy instanceof LazyPage) this.pages[last] = this.decodeLazy(lazy, lazy.left);
    // Page headers are small thrift structs; 64 KiB covers any with statistics, retry bigger if not.
    let headerBytes = Math.min(1 << 16, this.end - this.pos);
    let header: ReturnType<typeof parquetHeader>;
    let reader: { view: DataView; offset: number };
    for (;;) {
      await this.ensure(headerBytes);
      const at = this.pos - this.bufStart;
      reader = { view: new DataView(this.buf.buffer, this.buf.byteOffset + at, this.buf.length - at), offset: 0 };
      try {
        header = parquetHeader(reader);
        break;
      } catch (e) {
        if (headerBytes >= this.end - this.pos) throw this.corrupt(e);
        headerBytes = Math.min(headerBytes * 4, this.end - this.pos);
      }
    }
    const total = reader.offset + header.compressed_page_size;
    if (!(header.compressed_page_size >= 0) || this.pos + total > this.end) throw this.corrupt(new Error("page size out of range"));
    const inflated = await this.readLarge(header, reader.offset);
    if (!inflated) await this.ensure(total);
    let result: ReturnType<typeof readPage> | { data: Page | LazyPage };
    try {
      result = inflated ? { data: this.decodeFast(NO_BYTES, header, inflated) } : this.decodeHeld(header, reader.offset, total);
    } catch (e) {
      throw this.corrupt(e);
    }
    this.pos += total;
    if (header.type === "DICTIONARY_PAGE") {
      if (this.fast?.kind === "number") this.dictionary = this.numDict = result.data as Float64Array;
      else if (result.data) this.dictionary = convert(result.data as DecodedArray, this.decoder);
    } else if (result.data) {
      const rows = rowsOf(result.data);
      if (rows) {
        this.pages.push(result.data);
        this.available += rows;
      }
    }
  }

  /** The page at pos, header and all (total bytes), from the window. */
  private decodeHeld(header: ReturnType<typeof parquetHeader>, headerLength: number, total: number): ReturnType<typeof readPage> | { data: Page | LazyPage } {
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - this.bufStart, total);
    const compressed = () => new Uint8Array(view.buffer, view.byteOffset + headerLength, header.compressed_page_size);
    if (this.fast && (header.type === "DATA_PAGE" || header.type === "DATA_PAGE_V2")) return { data: this.decodeFast(compressed(), header) };
    if (this.fast?.kind === "number" && header.type === "DICTIONARY_PAGE") return { data: this.numberDictionary(compressed(), header, this.fast.scale) };
    return readPage({ view, offset: headerLength }, header, this.decoder, this.dictionary, undefined, 0);
  }

  /**
   * One flat data page: a Float64Array (NaN = null), a dictionary column (-1 = null) or a string array
   * (null = null); a large page without nulls of dictionary indices or PLAIN numbers is kept as a LazyPage.
   */
  private decodeFast(compressed: Uint8Array, header: ReturnType<typeof parquetHeader>, inflated?: Uint8Array): Page | LazyPage {
    const fast = this.fast!;
    const d = this.decoder;
    // Levels and indices decode into reused typed arrays (hyparquet makes a JS array of each, per page:
    // garbage in proportion to the rows, much of it reaching the old generation).
    let body: Uint8Array;
    let pos = 0;
    let encoding: string;
    let numValues: number;
    let defEnd = 0;
    let defStart = 0;
    let defBytes: Uint8Array;
    if (header.type === "DATA_PAGE") {
      const daph = header.data_page_header!;
      encoding = daph.encoding;
      numValues = daph.num_values;
      body = inflated ?? this.inflated(compressed, Number(header.uncompressed_page_size), numValues);
      defBytes = body;
      if (this.maxDef > 0) {
        if (body.length < 4) throw new Error("page too short for its definition levels");
        const len = body[0]! | (body[1]! << 8) | (body[2]! << 16) | (body[3]! << 24);
        defStart = 4;
        defEnd = 4 + len;
        pos = defEnd;
      }
    } else {
      const daph2 = header.data_page_header_v2!;
      encoding = daph2.encoding;
      numValues = daph2.num_values;
      const repLen = daph2.repetition_levels_byte_length;
      const defLen = daph2.definition_levels_byte_length;
      defBytes = compressed;
      defStart = repLen;
      defEnd = repLen + defLen;
      const values = compressed.subarray(defEnd);
      const size = Number(header.uncompressed_page_size) - defEnd;
      body = daph2.is_compressed === false ? values : this.inflated(values, size, numValues);
    }
    if (defEnd > defBytes.length) throw new Error("definition levels run past the page");
    if (this.bufs.defs.length < numValues) this.bufs.defs = new Int32Array(numValues);
    const defs = this.bufs.defs;
    let present = numValues;
    if (this.maxDef > 0 && !oneRunOfOnes(defBytes, defStart, defEnd, numValues)) {
      readHybrid(defBytes, defStart, defEnd, 1, defs, numValues);
      present = 0;
      for (let i = 0; i < numValues; i++) present += defs[i]!;
    }
    const hasNulls = present !== numValues;
    const dict = encoding === "RLE_DICTIONARY" || encoding === "PLAIN_DICTIONARY";
    if (dict) {
      if (!this.dictionary) throw new Error("dictionary-encoded page without a dictionary");
      if (pos >= body.length && present > 0) throw new Error("dictionary page data is empty");
      const width = present > 0 ? body[pos]! : 0;
      if (width > 24) throw new Error(`dictionary index bit width ${width}`);
      if (!hasNulls && numValues >= LAZY_ROWS) {
        const indices = body.subarray(pos + 1); // valid until this column's next page is read (nextPage)
        const lazy = new LazyPage(this.pos, numValues);
        lazy.hybrid = new HybridReader(indices, 0, indices.length, width, numValues);
        if (fast.kind !== "number") lazy.dictionary = this.dictionary;
        else lazy.numDict = this.numDict;
        return lazy;
      }
      // Without nulls a string page's indices are decoded straight into the array the page keeps.
      const direct = fast.kind !== "number" && !hasNulls;
      if (!direct && this.bufs.idx.length < present) this.bufs.idx = new Int32Array(present);
      const idx = direct ? this.ints(numValues) : this.bufs.idx;
      if (present > 0) readHybrid(body, pos + 1, body.length, width, idx, present);
      const size = this.dictionary.length;
      if (fast.kind !== "number") {
        const bad = firstOutOfRange(idx, present, size);
        if (bad >= 0) throw outOfRange(idx[bad]!, size);
        // Stays dictionary-encoded: an index per row (-1 for null) into the chunk's dictionary.
        if (direct) return { dictionary: this.dictionary, indices: idx };
        const indices = this.ints(numValues);
        for (let i = 0, k = 0; i < numValues; i++) indices[i] = defs[i] === 0 ? -1 : idx[k++]!;
        return { dictionary: this.dictionary, indices };
      }
      // Numbers: the range check in the same pass as the look-up.
      const out = this.floats(numValues);
      const bad = hasNulls ? lookUpWithNulls(idx, defs, this.numDict!, out, numValues) : lookUp(idx, this.numDict!, out, numValues);
      if (bad >= 0) throw outOfRange(idx[bad]!, size);
      return out;
    }
    if (encoding !== "PLAIN" || fast.kind !== "number") return this.decodeGeneric(header, compressed, body, numValues, hasNulls ? defs : undefined);
    // PLAIN numbers, read straight from the page bytes.
    const type = d.type;
    const width = plainWidth(type);
    if (pos + present * width > body.length) throw new Error("values run past the page");
    if (!hasNulls && numValues >= LAZY_ROWS) {
      const lazy = new LazyPage(this.pos, numValues);
      lazy.plain = body.subarray(pos, pos + numValues * width); // valid until this column's next page is read (nextPage)
      lazy.type = type;
      lazy.width = width;
      lazy.scale = fast.scale;
      return lazy;
    }
    const dv = new DataView(body.buffer, body.byteOffset + pos, present * width);
    const out = this.floats(numValues);
    const scale = fast.scale;
    if (!hasNulls) {
      plainNumbers(dv, type, scale, out, numValues);
      return out;
    }
    for (let i = 0, k = 0; i < numValues; i++) {
      if (hasNulls && defs[i] === 0) {
        out[i] = NaN;
        continue;
      }
      const at = k++ * width;
      if (type === "DOUBLE") out[i] = dv.getFloat64(at, true);
      else if (type === "FLOAT") out[i] = dv.getFloat32(at, true);
      else if (type === "INT32") out[i] = dv.getInt32(at, true);
      // INT64 timestamps as two 32-bit halves, no BigInt: exact below 2^53 (any real timestamp).
      else out[i] = (dv.getInt32(at + 4, true) * 4294967296 + dv.getUint32(at, true)) / scale;
    }
    return out;
  }

  /**
   * A number column's dictionary page, straight into a Float64Array (timestamps in ms) as PLAIN pages are
   * read: hyparquet's reader makes a BigInt of each INT64 entry, then an array of numbers from those.
   */
  private numberDictionary(compressed: Uint8Array, header: ReturnType<typeof parquetHeader>, scale: number): Float64Array {
    const n = header.dictionary_page_header?.num_values;
    if (n === undefined) throw new Error("parquet dictionary page header is undefined");
    const body = this.inflated(compressed, Number(header.uncompressed_page_size), 0);
    const type = this.decoder.type;
    const width = plainWidth(type);
    if (!(n >= 0) || n * width > body.length) throw new Error(`dictionary page too short for its ${n} values`);
    const out = new Float64Array(n);
    plainNumbers(new DataView(body.buffer, body.byteOffset, n * width), type, scale, out, n);
    return out;
  }

  private inflated(bytes: Uint8Array, size: number, numValues: number): Uint8Array {
    if (this.decoder.codec === "UNCOMPRESSED") return bytes;
    // Pages that will not be lazy share one decoder, whose memory stays in cache from page to page.
    return (numValues >= LAZY_ROWS ? this.inflateLarge : this.inflate)(bytes, size); // of the header's size: checkedSnappy and hyparquet's decompressPage check it
  }

  /**
   * Encodings the fast path does not decode itself (plain strings, delta, byte-stream-split): hyparquet's.
   * A v1 page is handed over already decompressed; hyparquet's v2 reader decompresses for itself.
   */
  private decodeGeneric(
    header: ReturnType<typeof parquetHeader>,
    compressed: Uint8Array,
    body: Uint8Array,
    numValues: number,
    defs: Int32Array | undefined,
  ): Page {
    const d = this.decoder;
    const page = header.type === "DATA_PAGE" ? readDataPage(body, header.data_page_header!, d) : readDataPageV2(compressed, header, d);
    const values = (this.fast!.kind === "string" ? convert(page.dataPage, d) : page.dataPage) as ArrayLike<unknown>;
    if (this.fast!.kind !== "number") {
      const out = new Array<unknown>(numValues);
      for (let i = 0, k = 0; i < numValues; i++) out[i] = defs && defs[i] === 0 ? null : values[k++];
      return out;
    }
    const out = new Float64Array(numValues);
    const scale = this.fast!.scale;
    for (let i = 0, k = 0; i < numValues; i++) out[i] = defs && defs[i] === 0 ? NaN : Number(values[k++] as number | bigint) / scale;
    return out;
  }

  private retired: Page[] = [];

  // New arrays get 1/8 to spare: a chunk's pages differ by a few rows (262,141 then 262,145), and a spare
  // one row short would be dropped for a fresh megabyte-sized array on nearly every page.
  private floats(n: number): Float64Array {
    const a = this.bufs.spareFloats.pop();
    return (a && a.length >= n ? a : new Float64Array(n + (n >>> 3))).subarray(0, n);
  }

  private ints(n: number): Int32Array {
    const a = this.bufs.spareInts.pop();
    return (a && a.length >= n ? a : new Int32Array(n + (n >>> 3))).subarray(0, n);
  }

  /** Only arrays this cursor made (whole-buffer views) come back here. */
  private recycle(p: Page): void {
    const { spareFloats, spareInts } = this.bufs;
    if (poisoning()) {
      // Poisoned and never reused, so whatever still holds it keeps reading the poison (src/io/borrowed.ts).
      if (p instanceof Float64Array) poison(p);
      else if (isDict(p)) poison(p.indices);
      return;
    }
    if (p instanceof Float64Array) {
      if (spareFloats.length < 2) spareFloats.push(new Float64Array(p.buffer));
    } else if (isDict(p) && spareInts.length < 2) spareInts.push(new Int32Array(p.indices.buffer));
  }

  /** The chunk is read and its last batch done with: every page's array may be reused. */
  release(): void {
    for (const p of this.retired) this.recycle(p);
    for (const p of this.pages) if (!(p instanceof LazyPage)) this.recycle(p);
    this.retired.length = 0;
    this.pages.length = 0;
  }

  /** A page that cannot be decoded; at: the page's place in the file (default: the page being read). */
  private corrupt(e: unknown, at = this.pos): RidepredError {
    return new RidepredError(
      `${this.path}: column ${this.column}: cannot decode page at byte ${at} (${(e as Error)?.message ?? e}): corrupt or truncated file`,
    );
  }
}

const NO_BYTES = new Uint8Array(0);

/** The snappy decoder of this thread's pages that are not lazy. */
let sharedSnappy: Uncompress | undefined;

/** Data pages of this many rows or more, without nulls, are decoded a batch at a time (LazyPage). */
const LAZY_ROWS = 1 << 18;

/**
 * A large data page without nulls whose rows are decoded as they are taken: its dictionary indices
 * (unpacked by a resumable HybridReader, then checked or looked up) or PLAIN numbers, from the page's
 * bytes as read or decompressed, which stay valid until the column's next page is read. Decoding a page of a million rows at once held up the batches (and, behind them,
 * the writer thread) for as long; this spreads that work over the batches that use the rows.
 */
class LazyPage {
  next = 0; // rows decoded so far
  // Dictionary indices: the reader and a string dictionary or the numbers of a numeric one.
  hybrid: HybridReader | undefined;
  dictionary: DecodedArray | undefined;
  numDict: Float64Array | undefined;
  // PLAIN numbers: their bytes and physical type.
  plain: Uint8Array | undefined;
  type = "";
  width = 0;
  scale = 1;

  constructor(
    /** Where the page is in the file (errors name it). */
    readonly at: number,
    /** Rows not yet decoded. */
    public left: number,
  ) {}
}

const rowsOf = (p: Page | LazyPage) => (p instanceof LazyPage ? p.left : columnLength(p));

const outOfRange = (index: number, size: number) => new Error(`dictionary index ${index} out of range (${size} entries)`);

// The per-value loops of decodeFast, each in a function of its own: small enough for V8 to optimize
// on their own (inside decodeFast they ran at a fraction of the speed).

/** The first k < n with idx[k] >= size, or -1. */
function firstOutOfRange(idx: Int32Array, n: number, size: number): number {
  for (let k = 0; k < n; k++) if (idx[k]! >= size) return k;
  return -1;
}

/** out[i] = dict[idx[i]] for i < n; the first i whose index is out of range, or -1. */
function lookUp(idx: Int32Array, dict: Float64Array, out: Float64Array, n: number): number {
  const size = dict.length;
  for (let i = 0; i < n; i++) {
    const j = idx[i]!;
    if (j >= size) return i;
    out[i] = dict[j]!;
  }
  return -1;
}

/** The same with nulls (defs[i] === 0: NaN), idx holding the present values only; the first bad k, or -1. */
function lookUpWithNulls(idx: Int32Array, defs: Int32Array, dict: Float64Array, out: Float64Array, n: number): number {
  const size = dict.length;
  for (let i = 0, k = 0; i < n; i++) {
    if (defs[i] === 0) {
      out[i] = NaN;
      continue;
    }
    const j = idx[k]!;
    if (j >= size) return k;
    out[i] = dict[j]!;
    k++;
  }
  return -1;
}

/** Bytes per PLAIN value of a number column's physical type (DOUBLE and INT64: 8; FLOAT and INT32: 4). */
const plainWidth = (type: string) => (type === "DOUBLE" || type === "INT64" ? 8 : 4);

/** out[0..n) from n PLAIN values without nulls: one loop per physical type, nothing decided per value. */
function plainNumbers(dv: DataView, type: string, scale: number, out: Float64Array, n: number): void {
  if (type === "DOUBLE") for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
  else if (type === "FLOAT") for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (type === "INT32") for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
  // INT64 timestamps as two 32-bit halves, no BigInt: exact below 2^53 (any real timestamp).
  else for (let i = 0; i < n; i++) out[i] = (dv.getInt32(i * 8 + 4, true) * 4294967296 + dv.getUint32(i * 8, true)) / scale;
}

/** Whether levels bytes[pos..end) open with one RLE run of 1s covering all n values (a column without nulls). */
export function oneRunOfOnes(bytes: Uint8Array, pos: number, end: number, n: number): boolean {
  let header = 0;
  for (let shift = 0; pos < end && shift <= 28; shift += 7) {
    const byte = bytes[pos++]!;
    header += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return header % 2 === 0 && header / 2 >= n && pos < end && bytes[pos] === 1;
  }
  return false;
}

/**
 * Parquet's RLE / bit-packing hybrid: count values of `width` bits (<= 24) from bytes[pos..end) into out.
 * Throws when the data ends early rather than inventing zeros.
 */
export function readHybrid(bytes: Uint8Array, pos: number, end: number, width: number, out: Int32Array, count: number): void {
  new HybridReader(bytes, pos, end, width, count).read(out, 0, count);
}

/**
 * The hybrid decoder, resumable: read() continues where the previous call stopped, so a large page's
 * indices are unpacked a batch at a time (LazyPage). A bit-packed run's values come out 8 at a time; a
 * group that a call needs only part of is unpacked whole into `carry`, and the rest of it is handed out
 * by the next call. A bit-packed run gives all of its groups' values, padding included, as far as they
 * are asked for.
 */
export class HybridReader {
  private rleLeft = 0; // values left in the current RLE run
  private rleValue = 0;
  private groupsLeft = 0; // groups of 8 not yet unpacked in the current bit-packed run
  private readonly carry = new Int32Array(8);
  private carryAt = 8; // carry[carryAt..8): values of a group unpacked but not yet handed out
  private done = 0; // values handed out so far

  constructor(
    private readonly bytes: Uint8Array,
    private pos: number,
    private readonly end: number,
    private readonly width: number,
    /** Values the data holds (for the error when it ends early). */
    private readonly total: number,
  ) {}

  /** The next count values into out[k..k + count). */
  read(out: Int32Array, k: number, count: number): void {
    const { bytes, width, carry } = this;
    const from = k;
    const stop = k + count;
    while (k < stop) {
      if (this.carryAt < 8) {
        const m = Math.min(8 - this.carryAt, stop - k);
        for (let i = 0; i < m; i++) out[k + i] = carry[this.carryAt + i]!;
        this.carryAt += m;
        k += m;
      } else if (this.rleLeft > 0) {
        const m = Math.min(this.rleLeft, stop - k);
        out.fill(this.rleValue, k, k + m);
        this.rleLeft -= m;
        k += m;
      } else if (this.groupsLeft > 0) {
        // Whole groups of 8 that fit the output, by the width's unrolled unpacker; a group needed only in
        // part is unpacked into carry.
        const whole = Math.min(this.groupsLeft, Math.floor((stop - k) / 8));
        if (whole > 0) {
          if (width > 0) unpackerFor(width)(bytes, this.pos, out, k, whole);
          else out.fill(0, k, k + whole * 8);
          k += whole * 8;
          this.pos += whole * width;
          this.groupsLeft -= whole;
        } else {
          if (width > 0) unpackerFor(width)(bytes, this.pos, carry, 0, 1);
          else carry.fill(0);
          this.pos += width;
          this.groupsLeft--;
          this.carryAt = 0;
        }
      } else this.runHeader(this.done + (k - from));
    }
    this.done += count;
  }

  /** The next run's header (done: values handed out before it, for the error). */
  private runHeader(done: number): void {
    const { bytes, end, width } = this;
    let pos = this.pos;
    if (pos >= end) throw new Error(`RLE/bit-packed data ends after ${done} of ${this.total} values`);
    let header = 0;
    let shift = 0;
    let byte: number;
    do {
      if (pos >= end || shift > 28) throw new Error("bad RLE/bit-packed run header");
      byte = bytes[pos++]!;
      header += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    if (header % 2 === 0) {
      const valueBytes = (width + 7) >>> 3;
      if (pos + valueBytes > end) throw new Error("RLE run value past the end of its data");
      let v = 0;
      for (let i = 0; i < valueBytes; i++) v |= bytes[pos++]! << (8 * i);
      this.rleValue = v;
      this.rleLeft = header / 2;
    } else {
      const groups = (header - 1) / 2;
      if (pos + groups * width > end) throw new Error("bit-packed run past the end of its data");
      this.groupsLeft = groups;
    }
    this.pos = pos;
  }
}

/** Unpack `groups` whole groups of 8 values from bytes[pos..pos + groups * width) into out[k..k + groups * 8). */
type Unpack = (bytes: Uint8Array, pos: number, out: Int32Array, k: number, groups: number) => void;
const unpackers: (Unpack | undefined)[] = [];

/**
 * The bit-unpacker for one width (1..24), made once: the 8 values of a group as constant byte reads,
 * shifts and masks, unrolled (dictionary indices are most of a page's work; a loop that computes each
 * value's byte and shift, or reads a 32-bit word through a DataView, takes several times as long). It
 * reads only the group's own bytes.
 */
export function unpackerFor(width: number): Unpack {
  const known = unpackers[width];
  if (known) return known;
  const mask = 0xffffffff >>> (32 - width);
  const lines: string[] = [];
  for (let i = 0; i < 8; i++) {
    const bit = i * width;
    const byte = bit >>> 3;
    const shift = bit & 7;
    const terms: string[] = [];
    for (let b = 0; b < (shift + width + 7) >>> 3; b++) terms.push(b === 0 ? `b[p + ${byte}]` : `(b[p + ${byte + b}] << ${8 * b})`);
    lines.push(`o[k + ${i}] = ((${terms.join(" | ")}) >>> ${shift}) & ${mask};`);
  }
  const body = `for (const end = k + g * 8; k < end; k += 8, p += ${width}) {\n${lines.join("\n")}\n}`;
  const made = new Function("b", "p", "o", "k", "g", body) as Unpack;
  unpackers[width] = made;
  return made;
}

function slice(a: Page, start: number, end: number): Column {
  if (isDict(a)) return start === 0 && end === a.indices.length ? a : { dictionary: a.dictionary, indices: a.indices.subarray(start, end) };
  if (start === 0 && end === a.length) return a;
  return Array.isArray(a) ? a.slice(start, end) : (a as Float64Array).subarray(start, end);
}
