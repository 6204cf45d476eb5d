// One Parquet file assembled from parts that other threads encoded in memory (ParquetSinkOptions.part):
// each part's row groups are written in the order given, their offsets moved to where they land, and one
// footer closes the file. The file appears under its name only when finish() succeeds, like any other sink's.
import { closeSync } from "node:fs";
import { RidepredError } from "../errors.js";
import { fileFooter, MAGIC, moveRowGroups, writeAll } from "./parquet-write.js";
import { tempTarget } from "./sink.js";
import { encodeStruct, list, struct, type ThriftStruct } from "./thrift.js";
import type { ParquetPart } from "./types.js";

export interface ParquetAssembler {
  /** Write the part's row groups next. */
  append(part: ParquetPart): void;
  /** Write the footer and move the file under its name; returns the rows it holds. */
  finish(): number;
  /** Remove the temp file. */
  abort(): void;
}

export function parquetAssembler(path: string): ParquetAssembler {
  const target = tempTarget(path);
  const fd = target.fd;
  let offset = 0;
  let closed = false;
  const write = (b: Uint8Array) => {
    writeAll(fd, path, b);
    offset += b.length;
  };
  const close = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  write(MAGIC);
  const rowGroups: ThriftStruct[] = [];
  let schema: ThriftStruct[] | undefined;
  let schemaBytes: Uint8Array | undefined;
  let rows = 0;

  return {
    append(part) {
      // An empty part's column types are guesses (no values seen): it adds no row group and no schema.
      if (part.rows === 0) {
        schema ??= part.schema;
        return;
      }
      const bytes = encodeStruct(struct([1, list("struct", part.schema)]));
      if (schemaBytes === undefined) {
        schema = part.schema;
        schemaBytes = bytes;
      } else if (Buffer.compare(bytes, schemaBytes) !== 0) throw new RidepredError(`${path}: internal: the parts disagree on the output's column types`, 1);
      rowGroups.push(...moveRowGroups(part.rowGroups, offset));
      for (const b of part.blocks) write(b);
      rows += part.rows;
    },
    finish() {
      if (schema === undefined) throw new RidepredError(`${path}: internal: no part to assemble`, 1);
      write(fileFooter(schema, rows, rowGroups));
      close();
      target.commit();
      return rows;
    },
    abort() {
      close();
      target.discard();
    },
  };
}
