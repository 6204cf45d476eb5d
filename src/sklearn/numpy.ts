// NumPy's pickle layouts, decoded as data: dtypes (numpy.dtype + __setstate__), arrays
// (multiarray._reconstruct + __setstate__, or numeric._frombuffer under protocol 5) and scalars
// (multiarray.scalar). Both byte orders, structured dtypes, Fortran order, object arrays.

import type { CallContext, Decoded, GlobalRule, PyValue } from "./pickle.js";
import { describe, isPyGlobal } from "./pickle.js";

export interface Field {
  name: string;
  dtype: DType;
  offset: number;
}

export interface DType extends Decoded {
  readonly $decoded: "numpy.dtype";
  /** NumPy kind letter: f float, i int, u uint, b bool, O object, U unicode, S bytes, V void/structured. */
  kind: string;
  itemsize: number;
  /** "<" little, ">" big, "|" not applicable, "=" native (little here). */
  byteorder: string;
  fields?: Field[];
  subarray?: { dtype: DType; shape: number[] };
}

/** Column data of a structured array: one array per field. */
export interface Records {
  [field: string]: ArrayData;
}
export type ArrayData = number[] | PyValue[] | Records;

export interface NdArray extends Decoded {
  readonly $decoded: "numpy.ndarray";
  shape: number[];
  dtype: DType | null;
  /** Flattened in C order. Numbers for numeric/bool dtypes, Python values for object arrays, columns for structured. */
  data: ArrayData;
}

export const isDType = (v: unknown): v is DType => typeof v === "object" && v !== null && (v as Decoded).$decoded === "numpy.dtype";
export const isNdArray = (v: unknown): v is NdArray => typeof v === "object" && v !== null && (v as Decoded).$decoded === "numpy.ndarray";

const NUMERIC = new Set(["f", "i", "u", "b"]);

/** Parse a typestr such as "f8", "<i4", "U20", "V56", "O8" into a dtype (state may refine it). */
export function parseTypestr(s: string, ctx: CallContext): DType {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(s);
  if (!m) return ctx.fail(`unsupported numpy dtype ${JSON.stringify(s)}`);
  let kind = m[2]!;
  let size = m[3] ? Number(m[3]) : 0;
  // Single-letter type codes (numpy's char codes) as older pickles may write them.
  const codes: Record<string, [string, number]> = {
    d: ["f", 8],
    f: ["f", 4],
    e: ["f", 2],
    q: ["i", 8],
    l: ["i", 8],
    i: ["i", 4],
    h: ["i", 2],
    b: ["i", 1],
    Q: ["u", 8],
    L: ["u", 8],
    I: ["u", 4],
    H: ["u", 2],
    B: ["u", 1],
    "?": ["b", 1],
  };
  if (!m[3] && codes[kind]) [kind, size] = codes[kind]!;
  if (kind === "O") size = 8;
  if (kind === "b" && !size) size = 1;
  if (!"fiubOUSV".includes(kind)) ctx.fail(`unsupported numpy dtype kind ${JSON.stringify(kind)} in ${JSON.stringify(s)}`);
  if (NUMERIC.has(kind) && ![1, 2, 4, 8].includes(size)) ctx.fail(`unsupported numpy dtype ${JSON.stringify(s)}`);
  return { $decoded: "numpy.dtype", kind, itemsize: size, byteorder: m[1] || (size > 1 && NUMERIC.has(kind) ? "<" : "|") };
}

/** dtype.__setstate__: (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]). */
export function setDTypeState(dt: DType, state: PyValue, ctx: CallContext): undefined {
  if (!Array.isArray(state)) ctx.fail(`numpy dtype state must be a tuple, got ${describe(state)}`);
  const s = state.length >= 8 ? state : [null, ...state]; // version 0/1 states lack the leading version
  const [, byteorder, subarray, names, fields, elsize] = s;
  if (typeof byteorder === "string") dt.byteorder = byteorder === "=" ? "<" : byteorder;
  if (typeof elsize === "number" && elsize > 0) dt.itemsize = elsize;
  if (Array.isArray(subarray) && subarray.length === 2 && isDType(subarray[0])) {
    const shape = subarray[1];
    dt.subarray = { dtype: subarray[0], shape: Array.isArray(shape) ? (shape as number[]) : [shape as number] };
  }
  if (Array.isArray(names) && fields instanceof Map) {
    dt.fields = names.map((n) => {
      const f = fields.get(n as string);
      if (!Array.isArray(f) || !isDType(f[0]) || typeof f[1] !== "number") return ctx.fail(`numpy structured dtype field ${String(n)} is malformed`);
      return { name: String(n), dtype: f[0], offset: f[1] };
    });
    for (const f of dt.fields) {
      if (f.offset < 0 || f.offset + f.dtype.itemsize > dt.itemsize) ctx.fail(`numpy structured dtype field ${f.name} lies outside its record`);
    }
    nestingOf(dt, 0, ctx);
  }
}

/** Structured dtypes nest a few levels at most; a dtype that contains itself (via the memo) is hostile. */
function nestingOf(dt: DType, depth: number, ctx: CallContext): void {
  if (depth > 8) ctx.fail("numpy structured dtype nests more than 8 levels deep (or contains itself)");
  for (const f of dt.fields ?? []) nestingOf(f.dtype, depth + 1, ctx);
  if (dt.subarray) nestingOf(dt.subarray.dtype, depth + 1, ctx);
}

function shapeOf(v: PyValue, ctx: CallContext): number[] {
  const dims = Array.isArray(v) ? v : [v];
  return dims.map((d) => {
    const n = typeof d === "bigint" ? Number(d) : d;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      return ctx.fail(
        `numpy array shape [${dims.map((x) => (typeof x === "number" || typeof x === "bigint" ? String(x) : describe(x))).join(",")}] is invalid`,
      );
    }
    return n;
  });
}

function count(shape: number[], ctx: CallContext): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > 2 ** 40) ctx.fail(`numpy array shape [${shape}] is absurdly large`);
  }
  return n;
}

const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** ndarray.__setstate__: (version, shape, dtype, is_fortran, rawdata) (version omitted in very old pickles). */
export function setArrayState(arr: NdArray, state: PyValue, ctx: CallContext): undefined {
  if (!Array.isArray(state)) ctx.fail(`numpy array state must be a tuple, got ${describe(state)}`);
  const s = state.length === 5 ? state : [1, ...state];
  const [, shapeV, dtype, fortran, raw] = s;
  if (!isDType(dtype)) ctx.fail(`numpy array state has no dtype (got ${describe(dtype ?? null)})`);
  fillArray(arr, shapeOf(shapeV!, ctx), dtype, fortran === true, raw ?? null, ctx);
}

export function fillArray(arr: NdArray, shape: number[], dtype: DType, fortran: boolean, raw: PyValue, ctx: CallContext): void {
  const n = count(shape, ctx);
  arr.shape = shape;
  arr.dtype = dtype;
  if (dtype.kind === "O") {
    if (!Array.isArray(raw)) ctx.fail(`numpy object array data must be a list, got ${describe(raw)}`);
    if (raw.length !== n) ctx.fail(`numpy object array has ${raw.length} items but its shape [${shape}] says ${n}`);
    arr.data = fortran ? toCOrder(raw, shape) : raw;
    return;
  }
  const bytes = typeof raw === "string" ? latin1Bytes(raw) : raw;
  if (!(bytes instanceof Uint8Array)) ctx.fail(`numpy array data must be bytes, got ${describe(raw)}`);
  const expected = n * dtype.itemsize;
  if (bytes.length !== expected) {
    ctx.fail(`numpy array data is ${bytes.length} bytes but shape [${shape}] of ${dtypeName(dtype)} needs ${expected}`);
  }
  ctx.allocate(n * 8 * Math.max(1, dtype.fields?.length ?? 1));
  if ((dtype.kind === "U" || dtype.kind === "S") && !dtype.fields) {
    // Fixed-width text (np.unique of a list of str gives "<U6" classes_): UTF-32 or bytes, NUL-padded.
    arr.data = fortran && shape.length > 1 ? reorderData(texts(bytes, dtype, n), shape) : texts(bytes, dtype, n);
    return;
  }
  const flat = decodeElements(bytes, dtype, n, ctx);
  arr.data = fortran && shape.length > 1 ? reorderData(flat, shape) : flat;
}

/** n fixed-width strings: "U" is UTF-32 in the dtype's byte order, "S" bytes (latin-1); trailing NULs dropped. */
function texts(bytes: Uint8Array, dt: DType, n: number): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dt.byteorder !== ">";
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let s = "";
    if (dt.kind === "U") {
      for (let o = i * dt.itemsize; o < (i + 1) * dt.itemsize; o += 4) {
        const cp = view.getUint32(o, le);
        if (cp === 0) break;
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
      }
    } else
      for (let o = i * dt.itemsize; o < (i + 1) * dt.itemsize; o++) {
        if (bytes[o] === 0) break;
        s += String.fromCharCode(bytes[o]!);
      }
    out[i] = s;
  }
  return out;
}

export function dtypeName(dt: DType): string {
  if (dt.fields) return `struct{${dt.fields.map((f) => `${f.name}:${dtypeName(f.dtype)}`).join(",")}}`;
  return `${dt.byteorder === "|" ? "" : dt.byteorder}${dt.kind}${dt.itemsize}`;
}

function decodeElements(bytes: Uint8Array, dt: DType, n: number, ctx: CallContext): ArrayData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dt.fields) {
    const cols: Records = {};
    for (const f of dt.fields) {
      if (f.dtype.fields || f.dtype.subarray) {
        // Nested records: copy the field out, then decode it as its own array.
        const sub = new Uint8Array(n * f.dtype.itemsize);
        for (let i = 0; i < n; i++) sub.set(bytes.subarray(i * dt.itemsize + f.offset, i * dt.itemsize + f.offset + f.dtype.itemsize), i * f.dtype.itemsize);
        cols[f.name] = decodeElements(sub, f.dtype, n, ctx);
      } else cols[f.name] = readStrided(view, f.dtype, n, f.offset, dt.itemsize, ctx);
    }
    return cols;
  }
  return readStrided(view, dt, n, 0, dt.itemsize, ctx);
}

/** n elements of a numeric dtype, the first at `offset`, one every `stride` bytes (a record's field, or packed). */
function readStrided(view: DataView, dt: DType, n: number, offset: number, stride: number, ctx: CallContext): number[] {
  const out: number[] = new Array(n);
  const read = reader(dt, view, dt.byteorder !== ">", ctx);
  for (let i = 0, o = offset; i < n; i++, o += stride) out[i] = read(o);
  return out;
}

function reader(dt: DType, v: DataView, le: boolean, ctx: CallContext): (off: number) => number {
  const k = dt.kind + dt.itemsize;
  // 64-bit integers as two 32-bit halves: exact below 2**53, no BigInt per element.
  const [lo, hi] = le ? [0, 4] : [4, 0];
  switch (k) {
    case "f8":
      return (o) => v.getFloat64(o, le);
    case "f4":
      return (o) => v.getFloat32(o, le);
    case "f2":
      return (o) => half(v.getUint16(o, le));
    case "i8":
      return (o) => v.getInt32(o + hi, le) * 4294967296 + v.getUint32(o + lo, le);
    case "i4":
      return (o) => v.getInt32(o, le);
    case "i2":
      return (o) => v.getInt16(o, le);
    case "i1":
      return (o) => v.getInt8(o);
    case "u8":
      return (o) => v.getUint32(o + hi, le) * 4294967296 + v.getUint32(o + lo, le);
    case "u4":
      return (o) => v.getUint32(o, le);
    case "u2":
      return (o) => v.getUint16(o, le);
    case "u1":
    case "b1":
      return (o) => v.getUint8(o);
  }
  return ctx.fail(`numpy dtype ${dtypeName(dt)} cannot be read as numbers`);
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function toCOrder(raw: PyValue[], shape: number[]): PyValue[] {
  return shape.length > 1 ? (reorderData(raw as number[], shape) as PyValue[]) : raw;
}

/** Fortran-ordered flat data to C order. */
function reorderData(flat: ArrayData, shape: number[]): ArrayData {
  if (!Array.isArray(flat)) return flat;
  const n = flat.length;
  const out = new Array(n);
  const nd = shape.length;
  const idx = new Array(nd).fill(0);
  for (let f = 0; f < n; f++) {
    // f walks Fortran order: first index fastest
    let c = 0;
    for (let d = 0; d < nd; d++) c = c * shape[d]! + idx[d]!;
    out[c] = flat[f];
    for (let d = 0; d < nd; d++) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function emptyArray(): NdArray {
  return { $decoded: "numpy.ndarray", shape: [0], dtype: null, data: [] };
}

/** Decode one element of a numpy scalar: multiarray.scalar(dtype, bytes). */
function scalar(args: PyValue[], ctx: CallContext): PyValue {
  const [dt, raw] = args;
  if (!isDType(dt)) return ctx.fail("numpy scalar without a dtype");
  if (dt.kind === "O") return raw ?? null;
  const bytes = typeof raw === "string" ? latin1Bytes(raw) : raw;
  if (!(bytes instanceof Uint8Array) || bytes.length !== dt.itemsize)
    return ctx.fail(`numpy scalar of ${dtypeName(dt)} has ${describe(raw ?? null)} data of the wrong size`);
  const v = decodeElements(bytes, dt, 1, ctx);
  return Array.isArray(v) ? (v[0] as PyValue) : ctx.fail("structured numpy scalars are not supported");
}

/** numeric._frombuffer(buffer, dtype, shape, order): protocol 5's array layout. */
function frombuffer(args: PyValue[], ctx: CallContext): PyValue {
  const [buf, dt, shape, order] = args;
  if (!isDType(dt)) return ctx.fail("numpy _frombuffer without a dtype");
  const arr = emptyArray();
  fillArray(arr, shapeOf(shape ?? null, ctx), dt, order === "F", buf ?? null, ctx);
  return arr;
}

/** The numpy globals a scikit-learn pickle names, under numpy 1.x (numpy.core) and 2.x (numpy._core). */
export function numpyRules(): Map<string, GlobalRule> {
  const rules = new Map<string, GlobalRule>();
  const reconstruct: GlobalRule = {
    kind: "build",
    call: (args, ctx) => {
      if (!isPyGlobal(args[0]) || !/^numpy\.(ndarray|matrix|ma\.core\.MaskedArray)$/.test(args[0].$global)) {
        ctx.fail(`numpy _reconstruct of ${describe(args[0] ?? null)}: only numpy.ndarray is supported`);
      }
      return emptyArray();
    },
    build: (obj, state, ctx) => setArrayState(obj as NdArray, state, ctx),
  };
  const dtype: GlobalRule = {
    kind: "build",
    call: (args, ctx) => {
      const t = args[0];
      if (typeof t !== "string") return ctx.fail(`numpy dtype from ${describe(t ?? null)} is not supported`);
      return parseTypestr(t, ctx);
    },
    build: (obj, state, ctx) => setDTypeState(obj as DType, state, ctx),
  };
  for (const core of ["numpy.core", "numpy._core"]) {
    rules.set(`${core}.multiarray._reconstruct`, reconstruct);
    rules.set(`${core}.multiarray.scalar`, { kind: "function", call: scalar });
    rules.set(`${core}.numeric._frombuffer`, { kind: "function", call: frombuffer });
  }
  rules.set("numpy.dtype", dtype);
  // Arrays come from _reconstruct or _frombuffer; the ndarray rule is what BUILD applies to them.
  rules.set("numpy.ndarray", {
    kind: "build",
    call: (_args, ctx) => ctx.fail("numpy.ndarray called directly is not a layout numpy writes"),
    build: (obj, state, ctx) => setArrayState(obj as NdArray, state, ctx),
  });
  // Scalar type objects appear as values (DictVectorizer.dtype = numpy.float64), never called.
  for (const t of ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool_", "object_", "str_"]) {
    rules.set(`numpy.${t}`, { kind: "class" });
  }
  return rules;
}

/** Numbers of a numeric array (flattened, C order); refuses anything else. */
export function numbersOf(v: PyValue, what: string, fail: (m: string) => never): number[] {
  if (typeof v === "number") return [v];
  if (isNdArray(v) && Array.isArray(v.data) && v.dtype && v.dtype.kind !== "O" && !v.dtype.fields) return v.data as number[];
  if (isNdArray(v) && Array.isArray(v.data) && v.data.every((x) => typeof x === "number")) return v.data as number[];
  if (Array.isArray(v) && v.every((x) => typeof x === "number")) return v as number[];
  return fail(`${what} must be a numeric array, got ${isNdArray(v) && v.dtype ? dtypeName(v.dtype) + " array" : describe(v)}`);
}
