// One column chunk's pages, as the Parquet writer collects them for a row group, and the chunk's codec.
// Parquet names one codec per column chunk, so it is chosen from all of the chunk's pages, its dictionary
// page included: snappy, unless snappy shrinks them by less than 1/8 in all (random doubles), in which
// case they are stored uncompressed (same file size within a few percent, nothing to decompress).
// Each page is kept in whichever form pays for that page alone; when the chunk is written, the pages kept
// in the other form than the chunk's are converted. They are few: e.g. a ride_id chunk whose first page
// is dictionary indices of unique strings (incompressible) before the dictionary is dropped, and whose
// other pages are PLAIN strings that snappy shrinks to a fifth.
// Snappy is slow on what it cannot compress (several times slower than on ids), so a page is first tried
// on a sample, its first SAMPLE_BYTES: a page whose sample does not pay is kept raw and counted at the
// sample's ratio; any other page is compressed whole. Once a data page's sample did not pay, the chunk's
// later data pages of the same encoding are kept raw without a sample, counted at that ratio (a column
// of random doubles or of dictionary indices is no more compressible on its tenth page than its first);
// a page of another encoding (a dictionary given up for PLAIN) is tried again.
import { snappyUncompressCopy } from "./snappy-view.js";
import { append, type Bytes, bytes } from "./parquet-bytes.js";

export type ParquetCodec = "SNAPPY" | "UNCOMPRESSED";

/** Raw snappy of src[0..n), by the writer's own compressor (see newSnappyCompressor). */
export type Compress = (src: Uint8Array, n: number) => Uint8Array;

/** A page's header, given its body's size uncompressed and as stored (compressed or not). */
export type PageHeader = (rawBytes: number, storedBytes: number) => Uint8Array;

/** What a chunk's pages came to when written. */
export interface WrittenChunk {
  codec: ParquetCodec;
  /** Bytes of the dictionary page (0: none); the data pages follow it. */
  dictionaryBytes: number;
  /** Headers + bodies as written, and as they would be uncompressed (the column chunk's metadata). */
  compressed: number;
  uncompressed: number;
}

interface Page {
  at: number; // where its header starts in the list's bytes
  headerBytes: number;
  rawBytes: number; // the body, uncompressed
  storedBytes: number; // the body as stored
  packed: boolean; // stored snappy-compressed
  header: PageHeader;
}

/** Snappy pays for a body of n bytes that it compresses to z bytes: it saves at least 1/8. */
const pays = (z: number, n: number) => z <= n - (n >>> 3);

/** Bytes of a page that snappy is tried on first (a 16th of a 8,192-double page). */
export const SAMPLE_BYTES = 4096;

let uncompress: ((input: Uint8Array, outputLength: number) => Uint8Array) | undefined;

/** Pages in the order they are written, each stored as it pays for itself. */
class PageList {
  readonly buf: Bytes;
  readonly pages: Page[] = [];

  constructor(size: number) {
    this.buf = bytes(size);
  }

  /** Add a page: its body, and the body compressed (undefined: kept raw). */
  add(body: Bytes, header: PageHeader, z: Uint8Array | undefined): void {
    const packed = z !== undefined && pays(z.length, body.n);
    const stored = packed ? z : body.b;
    const storedBytes = packed ? z.length : body.n;
    const h = header(body.n, storedBytes);
    this.pages.push({ at: this.buf.n, headerBytes: h.length, rawBytes: body.n, storedBytes, packed, header });
    append(this.buf, h);
    append(this.buf, stored, storedBytes);
  }

  /** Write every page, packed or not: as stored where the form agrees, converted where it does not. */
  writeAs(packed: boolean, compress: Compress, write: (b: Uint8Array, len?: number) => void, sizes: WrittenChunk): void {
    const { b } = this.buf;
    if (this.pages.every((p) => p.packed === packed)) {
      write(b, this.buf.n);
      for (const p of this.pages) {
        sizes.compressed += p.headerBytes + p.storedBytes;
        sizes.uncompressed += p.headerBytes + p.rawBytes;
      }
      return;
    }
    for (const p of this.pages) {
      const body = b.subarray(p.at + p.headerBytes, p.at + p.headerBytes + p.storedBytes);
      let payload = body;
      let h = b.subarray(p.at, p.at + p.headerBytes);
      if (p.packed !== packed) {
        payload = packed ? compress(body, body.length) : (uncompress ??= snappyUncompressCopy())(body, p.rawBytes);
        h = p.header(p.rawBytes, payload.length);
      }
      write(h);
      write(payload);
      sizes.compressed += h.length + payload.length;
      sizes.uncompressed += h.length + p.rawBytes;
    }
  }

  clear(): void {
    this.buf.n = 0;
    this.pages.length = 0;
  }
}

/** A column chunk's dictionary page (if any) and data pages, until the row group is written. */
export class ChunkPages {
  private readonly data = new PageList(1 << 16);
  private readonly dictionary = new PageList(16);
  private rawBytes = 0; // every body, uncompressed
  private packedBytes = 0; // every body, snappy-compressed
  private rawEncoding = -1; // data pages of this encoding are kept raw without a sample (-1: none)
  private rawRatio = 1; // ... and counted at this ratio
  private lastRatio = 1; // the ratio of the last sample that did not pay

  constructor(
    private readonly codec: ParquetCodec,
    private readonly compress: Compress,
  ) {}

  /** A data page of this encoding (a Parquet encoding number). */
  addData(body: Bytes, header: PageHeader, encoding: number): void {
    if (this.codec === "SNAPPY" && encoding === this.rawEncoding) {
      // Its encoding's last sample did not pay: kept raw, counted at that sample's ratio.
      this.rawBytes += body.n;
      this.packedBytes += Math.ceil(body.n * this.rawRatio);
      this.data.add(body, header, undefined);
      return;
    }
    const z = this.measure(body);
    if (this.codec === "SNAPPY" && z === undefined) {
      this.rawEncoding = encoding;
      this.rawRatio = this.lastRatio;
    }
    this.data.add(body, header, z);
  }

  addDictionary(body: Bytes, header: PageHeader): void {
    this.dictionary.add(body, header, this.measure(body));
  }

  /** The chunk's codec, decided from all its pages; the pages written in it (dictionary first); then empty again. */
  write(write: (b: Uint8Array, len?: number) => void): WrittenChunk {
    const codec: ParquetCodec = this.codec === "SNAPPY" && pays(this.packedBytes, this.rawBytes) ? "SNAPPY" : "UNCOMPRESSED";
    const packed = codec === "SNAPPY";
    const sizes: WrittenChunk = { codec, dictionaryBytes: 0, compressed: 0, uncompressed: 0 };
    this.dictionary.writeAs(packed, this.compress, write, sizes);
    sizes.dictionaryBytes = sizes.compressed;
    this.data.writeAs(packed, this.compress, write, sizes);
    this.data.clear();
    this.dictionary.clear();
    this.rawBytes = this.packedBytes = 0;
    this.rawEncoding = -1;
    return sizes;
  }

  /** The body compressed, if it may pay (undefined: kept raw); its size, or an estimate, counted for the chunk. */
  private measure(body: Bytes): Uint8Array | undefined {
    if (this.codec !== "SNAPPY") return undefined;
    this.rawBytes += body.n;
    if (body.n > SAMPLE_BYTES) {
      const sample = this.compress(body.b, SAMPLE_BYTES).length;
      if (!pays(sample, SAMPLE_BYTES)) {
        this.lastRatio = sample / SAMPLE_BYTES;
        this.packedBytes += Math.ceil(body.n * this.lastRatio);
        return undefined;
      }
    }
    const z = this.compress(body.b, body.n);
    this.packedBytes += z.length;
    return z;
  }
}
