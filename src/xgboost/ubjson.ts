// Universal Binary JSON (ubjson.org, draft 12) as XGBoost writes it (save_model("m.ubj"), and the pickled
// memory snapshot since 1.6): big-endian numbers, object keys as a length then UTF-8 bytes, and optimized
// arrays ("[$d#L<n>" float32, "[$l#L<n>" int32, "[$U#L<n>" uint8 ...) for the tree arrays.
// Typed arrays come back as typed arrays; every count is checked against the bytes left before anything
// is allocated, and nesting is bounded, so a hostile file is refused, never a crash or a giant allocation.

export class UbjsonError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = "UbjsonError";
  }
}

export type Ubj = null | boolean | number | string | Ubj[] | TypedList | { [key: string]: Ubj };
export type TypedList = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Int32Array | number[];

/** XGBoost documents nest about 8 deep; 64 leaves room and keeps recursion shallow. */
const MAX_DEPTH = 64;

const SIZE: Record<string, number> = { i: 1, U: 1, I: 2, l: 4, L: 8, d: 4, D: 8, C: 1, T: 0, F: 0, Z: 0 };
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function parseUbjson(bytes: Uint8Array): Ubj {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const fail = (m: string, at = pos): never => {
    throw new UbjsonError(m, at);
  };
  const need = (n: number) => {
    if (n > bytes.length - pos) fail(`truncated: ${n} bytes needed, ${bytes.length - pos} left`);
  };
  const marker = (): string => (need(1), String.fromCharCode(bytes[pos++]!));

  function scalar(t: string): number | boolean | null | string {
    const at = pos;
    switch (t) {
      case "Z":
        return null;
      case "T":
        return true;
      case "F":
        return false;
      case "i":
        return (need(1), view.getInt8(pos++));
      case "U":
        return (need(1), bytes[pos++]!);
      case "I":
        return (need(2), (pos += 2), view.getInt16(at, false));
      case "l":
        return (need(4), (pos += 4), view.getInt32(at, false));
      case "L": {
        need(8);
        pos += 8;
        const v = view.getBigInt64(at, false);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail("int64 outside the safe integer range", at);
        return Number(v);
      }
      case "d":
        return (need(4), (pos += 4), view.getFloat32(at, false));
      case "D":
        return (need(8), (pos += 8), view.getFloat64(at, false));
      case "C":
        return (need(1), String.fromCharCode(bytes[pos++]!));
      case "S":
      case "H":
        return text();
    }
    return fail(`unknown type marker ${JSON.stringify(t)}`, at - 1);
  }

  /** A length (an integer value with its own marker) then that many UTF-8 bytes. */
  function text(): string {
    const n = count(marker());
    need(n);
    const at = pos;
    pos += n;
    try {
      return utf8.decode(bytes.subarray(at, pos));
    } catch {
      return fail("string is not valid UTF-8", at);
    }
  }

  function count(t: string): number {
    if (!"iUIlL".includes(t)) fail(`a length must be an integer, got marker ${JSON.stringify(t)}`, pos - 1);
    const n = scalar(t) as number;
    if (n < 0) fail(`negative length ${n}`);
    return n;
  }

  function typedArray(t: string, n: number): TypedList {
    const size = SIZE[t];
    if (size === undefined || size === 0) {
      if (t === "S" || t === "H" || t === "[" || t === "{") return fail(`arrays of ${t} with a $ type are not supported`);
      return fail(`unknown element type ${JSON.stringify(t)}`);
    }
    need(n * size);
    const at = pos;
    pos += n * size;
    const get = (f: (o: number) => number) => {
      const out = t === "d" ? new Float32Array(n) : t === "D" ? new Float64Array(n) : t === "l" ? new Int32Array(n) : new Array<number>(n);
      for (let k = 0; k < n; k++) out[k] = f(at + k * size);
      return out;
    };
    switch (t) {
      case "U":
        return bytes.slice(at, at + n);
      case "i":
        return Int8Array.from(bytes.subarray(at, at + n), (b) => (b << 24) >> 24);
      case "I":
        return Int16Array.from(get((o) => view.getInt16(o, false)));
      case "l":
        return get((o) => view.getInt32(o, false));
      case "L":
        return get((o) => {
          const v = view.getBigInt64(o, false);
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail("int64 outside the safe integer range", o);
          return Number(v);
        });
      case "d":
        return get((o) => view.getFloat32(o, false));
      case "D":
        return get((o) => view.getFloat64(o, false));
    }
    return get((o) => bytes[o]!); // "C"
  }

  function value(t: string, depth: number): Ubj {
    if (t === "[" || t === "{") {
      if (depth >= MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
      return t === "[" ? array(depth + 1) : object(depth + 1);
    }
    return scalar(t);
  }

  /** "$T" and "#n" headers of an optimized container, if present. */
  function header(): { type?: string; n?: number } {
    let type: string | undefined;
    if (bytes[pos] === 0x24 /* $ */) {
      pos++;
      type = marker();
      if (bytes[pos] !== 0x23 /* # */) fail("a $ type must be followed by a # count");
    }
    if (bytes[pos] === 0x23) {
      pos++;
      return { type, n: count(marker()) };
    }
    return { type };
  }

  function array(depth: number): Ubj[] | TypedList {
    const { type, n } = header();
    if (type !== undefined && type !== "[" && type !== "{") return typedArray(type, n!);
    const out: Ubj[] = [];
    if (n !== undefined) {
      need(n); // each element takes at least its marker byte
      for (let k = 0; k < n; k++) out.push(value(type ?? marker(), depth));
      return out;
    }
    for (;;) {
      const t = marker();
      if (t === "]") return out;
      if (t !== "N") out.push(value(t, depth));
    }
  }

  function object(depth: number): { [key: string]: Ubj } {
    const { type, n } = header();
    const out: { [key: string]: Ubj } = Object.create(null);
    const put = (k: string, v: Ubj) => {
      out[k] = v;
    };
    if (n !== undefined) {
      need(n);
      for (let k = 0; k < n; k++) put(text(), value(type ?? marker(), depth));
      return out;
    }
    for (;;) {
      need(1);
      if (bytes[pos] === 0x7d /* } */) {
        pos++;
        return out;
      }
      if (bytes[pos] === 0x4e /* N */) {
        pos++;
        continue;
      }
      const key = text();
      put(key, value(marker(), depth));
    }
  }

  const root = value(marker(), 0);
  while (pos < bytes.length && bytes[pos] === 0x4e) pos++;
  if (pos !== bytes.length) fail(`${bytes.length - pos} bytes after the document`);
  return root;
}
