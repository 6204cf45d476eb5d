// A safe pickle reader: interprets the pickle opcodes (protocols 0-5) as data, never as code.
// Globals are resolved through an explicit allow-list; REDUCE/NEWOBJ/BUILD only ever build inert
// descriptions (PyObject) or call the allow-list's pure decoders (numpy arrays, dtypes, scalars).
// Anything else stops the read with an error that names the module.class and the byte offset.

/** A Python value as read from a pickle. Lists and tuples are arrays; dicts are Maps (keys need not be strings). */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | Map<PyValue, PyValue> | PyGlobal | PyObject | Decoded;

/** A reference to a class or function, as named by GLOBAL / STACK_GLOBAL. */
export interface PyGlobal {
  readonly $global: string; // "module.name"
}

/** An instance of an allowed class: its constructor arguments and its __setstate__ state, never executed. */
export interface PyObject {
  readonly $class: string;
  args: PyValue[];
  state: PyValue;
  /** Items appended (APPENDS) or set (SETITEMS) onto the object, for list/dict subclasses. */
  items?: PyValue[];
}

/** A value an allow-list decoder produced (numpy arrays, dtypes...): opaque to the VM. */
export interface Decoded {
  readonly $decoded: string;
}

/** What the allow-list says a global is. */
export type GlobalRule =
  | { kind: "class" } // becomes a PyObject when called / NEWOBJ'd; BUILD sets its state
  | { kind: "function"; call: (args: PyValue[], ctx: CallContext) => PyValue } // pure decoder
  // build may return a value that replaces the object on the stack (joblib's array wrappers do).
  | { kind: "build"; call: (args: PyValue[], ctx: CallContext) => PyValue; build: (obj: PyValue, state: PyValue, ctx: CallContext) => PyValue | void };

export interface CallContext {
  fail(message: string): never;
  /** Charge bytes against the allocation budget. */
  allocate(bytes: number): void;
  /** Consume n raw bytes that follow the current opcode in the file (joblib writes array data inline). */
  readInline(n: number): Uint8Array;
  /** Read a complete pickle embedded at the current position (joblib's object arrays) and continue after it. */
  readNestedPickle(): PyValue;
  /** Audit mode: values are placeholders, only the globals matter. */
  readonly auditing: boolean;
}

export interface Limits {
  maxBytes: number;
  maxMemo: number;
  maxStack: number;
  maxAlloc: number;
  maxDepth: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxBytes: 512 * 1024 * 1024,
  maxMemo: 5_000_000,
  maxStack: 5_000_000,
  // A budget, not a measurement: 8 bytes per value on the stack, 8 per decoded array element, raw bytes.
  // 1 GiB keeps a hostile file well inside Node's default heap; real models use a small fraction.
  maxAlloc: 1024 * 1024 * 1024,
  maxDepth: 2000,
};

export class PickleError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`byte ${offset}: ${message}`);
    this.name = "PickleError";
  }
}

export interface UnpickleOptions {
  resolve: (module: string, name: string) => GlobalRule | undefined;
  limits?: Partial<Limits>;
  /** Called for every global the stream names, allowed or not (for audits). */
  onGlobal?: (qualified: string, allowed: boolean, offset: number) => void;
  /** Out-of-band buffers for protocol 5 NEXT_BUFFER. */
  buffers?: Uint8Array[];
  /** Keep reading past a refused global (audit mode): returns the globals, not a value. */
  auditOnly?: boolean;
  /** How many pickles this one is nested in (joblib's object arrays embed whole pickles). */
  nesting?: number;
}

export interface UnpickleResult {
  value: PyValue;
  protocol: number;
  /** Offset just past STOP (joblib embeds pickles and raw arrays in one file). */
  end: number;
  /** Bytes charged against the allocation budget. */
  allocated: number;
}

const MARK = Symbol("mark");
type Slot = PyValue | typeof MARK;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

export function isPyObject(v: unknown): v is PyObject {
  return typeof v === "object" && v !== null && "$class" in v;
}
export function isPyGlobal(v: unknown): v is PyGlobal {
  return typeof v === "object" && v !== null && "$global" in v;
}

/** Read one pickle from `data` starting at `start`. Throws PickleError for anything refused or malformed. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions, start = 0): UnpickleResult {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (data.length > limits.maxBytes) throw new PickleError(`file is ${data.length} bytes, over the ${limits.maxBytes}-byte limit`, 0);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;
  let opStart = start;
  let protocol = 0;
  let stack: Slot[] = [];
  const metastack: Slot[][] = [];
  // The memo is dense (MEMOIZE numbers it 0, 1, 2...): an array beats a Map here.
  const memo: (PyValue | undefined)[] = [];
  let memoCount = 0;
  let allocated = 0;
  const buffers = opts.buffers ?? [];
  let nextBuffer = 0;

  const fail = (message: string): never => {
    throw new PickleError(message, opStart);
  };
  const ctx: CallContext = {
    fail,
    auditing: opts.auditOnly === true,
    allocate(bytes) {
      allocated += bytes;
      if (allocated > limits.maxAlloc) fail(`allocation limit of ${limits.maxAlloc} bytes exceeded`);
    },
    readInline(n) {
      if (!Number.isSafeInteger(n) || n < 0) fail(`inline data length ${n} is invalid`);
      if (pos + n > data.length) fail(`truncated: ${n} bytes of inline data declared at byte ${pos}, file ends at ${data.length}`);
      pos += n;
      return data.subarray(pos - n, pos);
    },
    readNestedPickle() {
      if ((opts.nesting ?? 0) >= 4) fail("pickles nested inside pickles more than 4 deep");
      // The nested stream shares this file's budget: what it allocates counts against ours.
      const inner = unpickle(data, { ...opts, nesting: (opts.nesting ?? 0) + 1, limits: { ...limits, maxAlloc: limits.maxAlloc - allocated } }, pos);
      allocated += inner.allocated;
      pos = inner.end;
      return inner.value;
    },
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > data.length) fail(`truncated: needs ${n} more bytes at byte ${pos}, file ends at ${data.length}`);
  };
  const u8 = () => (need(1), data[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is absurd`);
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n);
    ctx.allocate(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = () => {
    const end = data.indexOf(10, pos);
    if (end < 0) fail("truncated: a text argument has no end of line");
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const str = (n: number) => {
    const b = bytes(n);
    // Most strings in a model (feature names, attribute names) are short ASCII: skip TextDecoder.
    if (n <= 64) {
      let ascii = true;
      for (let i = 0; i < n; i++)
        if (b[i]! >= 0x80) {
          ascii = false;
          break;
        }
      if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
    }
    try {
      return utf8.decode(b);
    } catch {
      return fail("invalid UTF-8 in a string");
    }
  };

  const push = (v: PyValue) => {
    if (stack.length >= limits.maxStack) fail(`stack limit of ${limits.maxStack} exceeded`);
    allocated += 8;
    if (allocated > limits.maxAlloc) fail(`allocation limit of ${limits.maxAlloc} bytes exceeded`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail("stack underflow (malformed pickle)");
    const v = stack.pop()!;
    if (v === MARK) fail("unexpected MARK (malformed pickle)");
    return v as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail("stack underflow (malformed pickle)");
    const v = stack[stack.length - 1]!;
    if (v === MARK) fail("unexpected MARK (malformed pickle)");
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const items = stack as PyValue[];
    if (metastack.length === 0) fail("no MARK to pop to (malformed pickle)");
    stack = metastack.pop()!;
    return items;
  };
  const memoPut = (i: number, v: PyValue) => {
    if (memo[i] === undefined) {
      if (memoCount >= limits.maxMemo || i > 4 * limits.maxMemo) fail(`memo limit of ${limits.maxMemo} entries exceeded`);
      memoCount++;
    }
    memo[i] = v;
  };
  const memoGet = (i: number) => {
    const v = memo[i];
    if (v === undefined) fail(`memo entry ${i} was never stored`);
    return v!;
  };

  const resolveGlobal = (module2: string, name: string): PyGlobal => {
    // Protocols 0-2 write Python 2 module names (fix_imports); read them as Python 3 does.
    const module = PY2_MODULES[module2] ?? module2;
    const q = `${module}.${name}`;
    const rule = opts.resolve(module, name);
    opts.onGlobal?.(q, rule !== undefined, opStart);
    if (!rule && !opts.auditOnly) {
      if (module === "sklearn" || module.startsWith("sklearn.")) {
        fail(
          `refused global ${q}: a scikit-learn class ridepred does not import (it reads a DictVectorizer followed by a linear or tree regressor); nothing was executed`,
        );
      }
      fail(`refused global ${q}: not on ridepred's allow-list (a pickle that names it could run code; nothing was executed)`);
    }
    return { $global: q };
  };

  const call = (callable: PyValue, args: PyValue, how: string): PyValue => {
    if (!isPyGlobal(callable)) fail(`${how} on a ${describe(callable)}: only allow-listed globals can be called`);
    if (!Array.isArray(args)) fail(`${how} arguments must be a tuple`);
    const g = callable as PyGlobal;
    const [module, name] = splitQualified(g.$global);
    const rule = opts.resolve(module, name);
    if (!rule) {
      if (opts.auditOnly) return { $class: g.$global, args: [], state: null };
      fail(`refused global ${g.$global}`);
    }
    if (rule!.kind === "class") return { $class: g.$global, args: args as PyValue[], state: null };
    return rule!.call(args as PyValue[], ctx);
  };

  const setItems = (target: PyValue, kv: PyValue[]) => {
    if (kv.length % 2) fail("SETITEMS with an odd number of items");
    // Loops, not push(...items): a spread of millions of items overflows the call stack.
    if (target instanceof Map) {
      for (let i = 0; i < kv.length; i += 2) target.set(hashKey(kv[i]!, fail), kv[i + 1]!);
    } else if (isPyObject(target)) {
      const items = (target.items ??= []);
      for (const it of kv) items.push(it);
    } else fail(`SETITEM on a ${describe(target)}`);
  };
  const appendItems = (target: PyValue, items: PyValue[]) => {
    if (Array.isArray(target)) {
      for (const it of items) target.push(it);
    } else if (isPyObject(target)) {
      const list = (target.items ??= []);
      for (const it of items) list.push(it);
    } else fail(`APPEND on a ${describe(target)}`);
  };

  for (;;) {
    opStart = pos;
    if (pos >= data.length) fail(pos === start ? "empty file: not a pickle" : "truncated: the pickle ends without STOP");
    const op = data[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        protocol = u8();
        if (protocol > 5) fail(`pickle protocol ${protocol} is newer than 5`);
        break;
      case 0x95: // FRAME: a length prefix only, the opcodes follow inline
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || metastack.length) {
          if (!opts.auditOnly) fail("malformed pickle: STOP with a stack that is not one value");
        }
        return { value: opts.auditOnly ? null : pop(), protocol, end: pos, allocated };
      case 0x28: // MARK
        if (metastack.length >= limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth}`);
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) fail("stack underflow (malformed pickle)");
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x49: {
        // INT (text); "01"/"00" are protocol 0's booleans
        const s = line().trim();
        if (s === "01") push(true);
        else if (s === "00") push(false);
        else push(parseIntText(s, fail));
        break;
      }
      case 0x4c: // LONG (text, trailing L)
        push(parseIntText(line().trim().replace(/L$/, ""), fail));
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail("negative LONG4 length");
        push(decodeLong(bytes(n)));
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const s = line().trim();
        // Python writes repr(float): also "inf", "-inf" and "nan", which Number() does not parse.
        const v = /^[+-]?inf$/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : /^[+-]?nan$/i.test(s) ? NaN : Number(s);
        if (s === "" || (Number.isNaN(v) && !/nan$/i.test(s))) fail(`bad FLOAT ${JSON.stringify(s)}`);
        push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x53: // STRING (protocol 0 quoted repr): Python 2 str, read as latin-1 text
        push(unquote(line(), fail));
        break;
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail("negative BINSTRING length");
        push(latin1.decode(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(latin1.decode(bytes(u8())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a, b) => String.fromCodePoint(parseInt(a ?? b, 16))));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(u8()));
        break;
      case 0x58: // BINUNICODE
        push(str(u32()));
        break;
      case 0x8d: // BINUNICODE8
        push(str(u64()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8()));
        break;
      case 0x42: // BINBYTES
        push(bytes(u32()));
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()));
        break;
      case 0x96: // BYTEARRAY8
        push(bytes(u64()).slice());
        break;
      case 0x97: // NEXT_BUFFER
        if (nextBuffer >= buffers.length) fail("the pickle asks for an out-of-band buffer (protocol 5) but none was supplied with it");
        push(buffers[nextBuffer++]!);
        break;
      case 0x98: // READONLY_BUFFER
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map<PyValue, PyValue>();
        setItems(m, popMark());
        push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET
        push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!Array.isArray(s)) fail(`ADDITEMS on a ${describe(s)}`);
        for (const it of items) (s as PyValue[]).push(it);
        break;
      }
      case 0x91: // FROZENSET
        push(popMark());
        break;
      case 0x67: // GET
        push(memoGet(parseIntStrict(line(), fail)));
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x70: // PUT
        memoPut(parseIntStrict(line(), fail), top());
        break;
      case 0x71: // BINPUT
        memoPut(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memoCount, top());
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        push(call(callable, args, "REDUCE"));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        push(call(cls, args, "NEWOBJ"));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs: allowed classes take none that matter before BUILD
        const args = pop();
        const cls = pop();
        push(call(cls, args, "NEWOBJ_EX"));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state), done as data
        const state = pop();
        const obj = top();
        const replaced = build(obj, state);
        if (replaced !== undefined) stack[stack.length - 1] = replaced;
        break;
      }
      case 0x69: // INST
      case 0x6f: // OBJ
        fail(`opcode ${op === 0x69 ? "INST" : "OBJ"} (old-style instance creation) is refused: it calls a class with arbitrary arguments`);
        break;
      case 0x82:
      case 0x83:
      case 0x84: // EXT1/2/4
        fail("extension-registry opcodes (EXT1/EXT2/EXT4) are refused: they name globals indirectly");
        break;
      case 0x50: // PERSID
      case 0x51: // BINPERSID
        fail("persistent ids (PERSID/BINPERSID) are refused: they reference objects outside the file");
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")}: not a pickle, or a corrupted one`);
    }
  }

  function build(obj: PyValue, state: PyValue): PyValue | void {
    if (isPyObject(obj)) {
      const [module, name] = splitQualified(obj.$class);
      const rule = opts.resolve(module, name);
      if (rule?.kind === "build") return rule.build(obj, state, ctx);
      obj.state = state;
      return;
    }
    if (typeof obj === "object" && obj !== null && "$decoded" in obj) {
      const [module, name] = splitQualified((obj as Decoded).$decoded);
      const rule = opts.resolve(module, name);
      if (rule?.kind === "build") return rule.build(obj, state, ctx);
    }
    if (opts.auditOnly) return;
    fail(`BUILD on a ${describe(obj)}: only instances of allow-listed classes take a state`);
  }
}

/** Python 2 module names that Python 3 maps back when unpickling (the parts of _compat_pickle that matter). */
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  commands: "subprocess",
  exceptions: "builtins",
  cPickle: "pickle",
  UserDict: "collections",
};

export function splitQualified(q: string): [string, string] {
  const i = q.lastIndexOf(".");
  return [q.slice(0, i), q.slice(i + 1)];
}

export function describe(v: PyValue | undefined): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "list/tuple";
  if (v instanceof Map) return "dict";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "object") {
    if ("$class" in v) return v.$class + " instance";
    if ("$global" in v) return v.$global;
    if ("$decoded" in v) return v.$decoded;
  }
  return typeof v;
}

/** Dict keys: strings, numbers and None keep identity by value; anything else is refused. */
function hashKey(k: PyValue, fail: (m: string) => never): PyValue {
  if (k === null || typeof k === "string" || typeof k === "number" || typeof k === "boolean") return k;
  if (typeof k === "bigint") return Number.isSafeInteger(Number(k)) ? Number(k) : k.toString();
  if (Array.isArray(k)) {
    // Tuple keys: flat tuples of scalars only (a nested or self-referencing key is not a model's).
    if (!k.every((x) => x === null || ["string", "number", "boolean", "bigint"].includes(typeof x)))
      return fail("unsupported dict key: a tuple holding containers");
    return JSON.stringify(k, (_, x) => (typeof x === "bigint" ? x.toString() : x));
  }
  return fail(`unsupported dict key type ${describe(k)}`);
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[+-]?\d+$/.test(s)) fail(`bad integer ${JSON.stringify(s)}`);
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntStrict(s: string, fail: (m: string) => never): number {
  const v = parseIntText(s.trim(), fail);
  if (typeof v !== "number" || v < 0) fail(`bad memo index ${s}`);
  return v as number;
}

function unquote(s: string, fail: (m: string) => never): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) fail("STRING argument is not quoted");
  return s
    .slice(1, -1)
    .replace(/\\x([0-9a-fA-F]{2})|\\(['"\\nrt])/g, (_, h, c) =>
      h ? String.fromCharCode(parseInt(h, 16)) : (({ n: "\n", r: "\r", t: "\t" } as Record<string, string>)[c] ?? c),
    );
}
