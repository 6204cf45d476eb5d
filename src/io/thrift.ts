// Thrift compact protocol, write side only: just what Parquet page headers and the file footer need.
// A struct is a list of [field id, value] in increasing id order; the value's JS shape picks the type.

export type ThriftValue = boolean | number | bigint | string | Uint8Array | ThriftStruct | ThriftList;
/** Fields in increasing id order; undefined values are skipped (optional fields not set). */
export type ThriftStruct = { struct: [number, ThriftValue | undefined][] };
export type ThriftList = { list: ThriftValue[]; type: ListType };
export type ListType = "i32" | "string" | "struct";

const T = { TRUE: 1, FALSE: 2, I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;
const LIST_TYPE = { i32: T.I32, string: T.BINARY, struct: T.STRUCT } as const;

export const struct = (...fields: [number, ThriftValue | undefined][]): ThriftStruct => ({ struct: fields });
export const list = (type: ListType, items: ThriftValue[]): ThriftList => ({ list: items, type });
/** i64 fields (sizes, offsets, counts) are given as bigint so the type is explicit. */
export const i64 = (n: number): bigint => BigInt(n);

const encoder = new TextEncoder();

/** Serialize a struct; returns a fresh byte array. */
export function encodeStruct(s: ThriftStruct): Uint8Array {
  const out: number[] = [];
  writeStruct(out, s);
  return Uint8Array.from(out);
}

function writeStruct(out: number[], s: ThriftStruct): void {
  let last = 0;
  for (const [id, v] of s.struct) {
    if (v === undefined) continue;
    const type = typeOf(v);
    const delta = id - last;
    if (delta > 0 && delta <= 15) out.push((delta << 4) | type);
    else {
      out.push(type);
      varint(out, zigzag32(id));
    }
    last = id;
    if (typeof v !== "boolean") writeValue(out, v);
  }
  out.push(0); // stop
}

function typeOf(v: ThriftValue): number {
  if (typeof v === "boolean") return v ? T.TRUE : T.FALSE;
  if (typeof v === "number") return T.I32;
  if (typeof v === "bigint") return T.I64;
  if (typeof v === "string" || v instanceof Uint8Array) return T.BINARY;
  return "list" in v ? T.LIST : T.STRUCT;
}

function writeValue(out: number[], v: Exclude<ThriftValue, boolean>): void {
  if (typeof v === "number") varint(out, zigzag32(v));
  else if (typeof v === "bigint") varint64(out, (v << 1n) ^ (v >> 63n));
  else if (typeof v === "string" || v instanceof Uint8Array) {
    const bytes = typeof v === "string" ? encoder.encode(v) : v;
    varint(out, bytes.length);
    for (const b of bytes) out.push(b);
  } else if ("list" in v) {
    const n = v.list.length;
    const et = LIST_TYPE[v.type];
    if (n < 15) out.push((n << 4) | et);
    else {
      out.push(0xf0 | et);
      varint(out, n);
    }
    for (const item of v.list) writeValue(out, item as Exclude<ThriftValue, boolean>);
  } else writeStruct(out, v);
}

function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

function varint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

function varint64(out: number[], n: bigint): void {
  while (n > 0x7fn) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
}
