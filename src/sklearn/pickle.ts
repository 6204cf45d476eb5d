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
  | { kind: "build"; call: (args: PyValue[], ctx: CallContext) => PyValue; build: (obj: PyValue, state: PyValue, ctx: CallContext) => PyValue | undefined };

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
  return new Unpickler(data, opts, limits, start).run();
}

/**
 * The pickle machine, in named stages a reader can take one at a time: the input (ByteInput: the operands
 * that follow an opcode), the stack with its MARKs and the memo (push/pop/popMark, memoPut/memoGet, all
 * bounded by the limits), globals and calls (resolveGlobal, call, build: only what the allow-list names),
 * and the opcodes in groups (scalar, text, container, memo, object; refused ones last).
 */
class Unpickler {
  private readonly in: ByteInput;
  private protocol = 0;
  private stack: Slot[] = [];
  private readonly metastack: Slot[][] = [];
  // The memo is dense (MEMOIZE numbers it 0, 1, 2...): an array beats a Map here.
  private readonly memo: (PyValue | undefined)[] = [];
  private memoCount = 0;
  private allocated = 0;
  private nextBuffer = 0;
  private readonly ctx: CallContext;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
    private readonly limits: Limits,
    private readonly start: number,
  ) {
    this.in = new ByteInput(
      data,
      start,
      (m) => this.fail(m),
      (n) => this.allocate(n),
    );
    this.ctx = {
      fail: (m) => this.fail(m),
      auditing: opts.auditOnly === true,
      allocate: (n) => this.allocate(n),
      readInline: (n) => this.in.inline(n),
      readNestedPickle: () => this.nested(),
    };
  }

  fail(message: string): never {
    throw new PickleError(message, this.in.opStart);
  }

  private allocate(bytes: number): void {
    this.allocated += bytes;
    if (this.allocated > this.limits.maxAlloc) this.fail(`allocation limit of ${this.limits.maxAlloc} bytes exceeded`);
  }

  /** A complete pickle embedded at the current position (joblib's object arrays), sharing this file's budget. */
  private nested(): PyValue {
    const { opts, limits } = this;
    if ((opts.nesting ?? 0) >= 4) this.fail("pickles nested inside pickles more than 4 deep");
    const inner = unpickle(
      this.data,
      { ...opts, nesting: (opts.nesting ?? 0) + 1, limits: { ...limits, maxAlloc: limits.maxAlloc - this.allocated } },
      this.in.pos,
    );
    this.allocated += inner.allocated;
    this.in.pos = inner.end;
    return inner.value;
  }

  /** Opcodes until STOP. */
  run(): UnpickleResult {
    const { data, in: inp } = this;
    for (;;) {
      inp.opStart = inp.pos;
      if (inp.pos >= data.length) this.fail(inp.pos === this.start ? "empty file: not a pickle" : "truncated: the pickle ends without STOP");
      const op = data[inp.pos++]!;
      if (op === 0x2e) return this.stop(); // STOP
      if (!(this.stackOp(op) || this.scalarOp(op) || this.textOp(op) || this.containerOp(op) || this.memoOp(op) || this.objectOp(op))) this.refuse(op);
    }
  }

  private stop(): UnpickleResult {
    if (this.stack.length !== 1 || this.metastack.length) {
      if (!this.opts.auditOnly) this.fail("malformed pickle: STOP with a stack that is not one value");
    }
    return { value: this.opts.auditOnly ? null : this.pop(), protocol: this.protocol, end: this.in.pos, allocated: this.allocated };
  }

  // --- the stack and its MARKs ---

  private push(v: PyValue): void {
    if (this.stack.length >= this.limits.maxStack) this.fail(`stack limit of ${this.limits.maxStack} exceeded`);
    this.allocate(8);
    this.stack.push(v);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow (malformed pickle)");
    const v = this.stack.pop()!;
    if (v === MARK) this.fail("unexpected MARK (malformed pickle)");
    return v as PyValue;
  }

  private top(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow (malformed pickle)");
    const v = this.stack[this.stack.length - 1]!;
    if (v === MARK) this.fail("unexpected MARK (malformed pickle)");
    return v as PyValue;
  }

  private popMark(): PyValue[] {
    const items = this.stack as PyValue[];
    if (this.metastack.length === 0) this.fail("no MARK to pop to (malformed pickle)");
    this.stack = this.metastack.pop()!;
    return items;
  }

  /** MARK, POP, POP_MARK, DUP, PROTO, FRAME. */
  private stackOp(op: number): boolean {
    switch (op) {
      case 0x80: // PROTO
        this.protocol = this.in.u8();
        if (this.protocol > 5) this.fail(`pickle protocol ${this.protocol} is newer than 5`);
        return true;
      case 0x95: // FRAME: a length prefix only, the opcodes follow inline
        this.in.u64();
        return true;
      case 0x28: // MARK
        if (this.metastack.length >= this.limits.maxDepth) this.fail(`nesting deeper than ${this.limits.maxDepth}`);
        this.metastack.push(this.stack);
        this.stack = [];
        return true;
      case 0x30: // POP
        if (this.stack.length === 0) this.fail("stack underflow (malformed pickle)");
        this.stack.pop();
        return true;
      case 0x31: // POP_MARK
        this.popMark();
        return true;
      case 0x32: // DUP
        this.push(this.top());
        return true;
    }
    return false;
  }

  // --- values: None, booleans, numbers, bytes, out-of-band buffers ---

  private scalarOp(op: number): boolean {
    const inp = this.in;
    const fail = (m: string) => this.fail(m);
    switch (op) {
      case 0x4e: // NONE
        this.push(null);
        return true;
      case 0x88: // NEWTRUE
        this.push(true);
        return true;
      case 0x89: // NEWFALSE
        this.push(false);
        return true;
      case 0x49: {
        // INT (text); "01"/"00" are protocol 0's booleans
        const s = inp.line().trim();
        this.push(s === "01" ? true : s === "00" ? false : parseIntText(s, fail));
        return true;
      }
      case 0x4c: // LONG (text, trailing L)
        this.push(parseIntText(inp.line().trim().replace(/L$/, ""), fail));
        return true;
      case 0x4a: // BININT
        this.push(inp.i32());
        return true;
      case 0x4b: // BININT1
        this.push(inp.u8());
        return true;
      case 0x4d: // BININT2
        this.push(inp.u16());
        return true;
      case 0x8a: // LONG1
        this.push(decodeLong(inp.bytes(inp.u8())));
        return true;
      case 0x8b: {
        // LONG4
        const n = inp.i32();
        if (n < 0) this.fail("negative LONG4 length");
        this.push(decodeLong(inp.bytes(n)));
        return true;
      }
      case 0x46: {
        // FLOAT (text). Python writes repr(float): also "inf", "-inf" and "nan", which Number() does not parse.
        const s = inp.line().trim();
        const v = /^[+-]?inf$/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : /^[+-]?nan$/i.test(s) ? NaN : Number(s);
        if (s === "" || (Number.isNaN(v) && !/nan$/i.test(s))) this.fail(`bad FLOAT ${JSON.stringify(s)}`);
        this.push(v);
        return true;
      }
      case 0x47: // BINFLOAT (big-endian)
        this.push(inp.f64be());
        return true;
      case 0x43: // SHORT_BINBYTES
        this.push(inp.bytes(inp.u8()));
        return true;
      case 0x42: // BINBYTES
        this.push(inp.bytes(inp.u32()));
        return true;
      case 0x8e: // BINBYTES8
        this.push(inp.bytes(inp.u64()));
        return true;
      case 0x96: // BYTEARRAY8
        this.push(inp.bytes(inp.u64()).slice());
        return true;
      case 0x97: {
        // NEXT_BUFFER
        const buffers = this.opts.buffers ?? [];
        if (this.nextBuffer >= buffers.length) this.fail("the pickle asks for an out-of-band buffer (protocol 5) but none was supplied with it");
        this.push(buffers[this.nextBuffer++]!);
        return true;
      }
      case 0x98: // READONLY_BUFFER
        return true;
    }
    return false;
  }

  /** Strings: Python 2 str as latin-1, unicode as UTF-8 (or raw-unicode-escape text in protocol 0). */
  private textOp(op: number): boolean {
    const inp = this.in;
    switch (op) {
      case 0x53: // STRING (protocol 0 quoted repr): Python 2 str, read as latin-1 text
        this.push(unquote(inp.line(), (m) => this.fail(m)));
        return true;
      case 0x54: {
        // BINSTRING
        const n = inp.i32();
        if (n < 0) this.fail("negative BINSTRING length");
        this.push(latin1.decode(inp.bytes(n)));
        return true;
      }
      case 0x55: // SHORT_BINSTRING
        this.push(latin1.decode(inp.bytes(inp.u8())));
        return true;
      case 0x56: // UNICODE (raw-unicode-escape text)
        this.push(inp.line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a, b) => String.fromCodePoint(parseInt(a ?? b, 16))));
        return true;
      case 0x8c: // SHORT_BINUNICODE
        this.push(inp.str(inp.u8()));
        return true;
      case 0x58: // BINUNICODE
        this.push(inp.str(inp.u32()));
        return true;
      case 0x8d: // BINUNICODE8
        this.push(inp.str(inp.u64()));
        return true;
    }
    return false;
  }

  // --- containers: lists, tuples, dicts, sets ---

  private containerOp(op: number): boolean {
    switch (op) {
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
      case 0x8f: // EMPTY_SET
        this.push([]);
        return true;
      case 0x61: {
        // APPEND
        const v = this.pop();
        this.appendItems(this.top(), [v]);
        return true;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        this.appendItems(this.top(), items);
        return true;
      }
      case 0x6c: // LIST
      case 0x74: // TUPLE
      case 0x91: // FROZENSET
        this.push(this.popMark());
        return true;
      case 0x85: // TUPLE1
        this.push([this.pop()]);
        return true;
      case 0x86: {
        // TUPLE2
        const b = this.pop();
        this.push([this.pop(), b]);
        return true;
      }
      case 0x87: {
        // TUPLE3
        const c = this.pop();
        const b = this.pop();
        this.push([this.pop(), b, c]);
        return true;
      }
      case 0x7d: // EMPTY_DICT
        this.push(new Map());
        return true;
      case 0x64: {
        // DICT
        const m = new Map<PyValue, PyValue>();
        this.setItems(m, this.popMark());
        this.push(m);
        return true;
      }
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        this.setItems(this.top(), [k, v]);
        return true;
      }
      case 0x75: {
        // SETITEMS
        const kv = this.popMark();
        this.setItems(this.top(), kv);
        return true;
      }
      case 0x90: {
        // ADDITEMS
        const items = this.popMark();
        const s = this.top();
        if (!Array.isArray(s)) this.fail(`ADDITEMS on a ${describe(s)}`);
        for (const it of items) (s as PyValue[]).push(it);
        return true;
      }
    }
    return false;
  }

  private setItems(target: PyValue, kv: PyValue[]): void {
    if (kv.length % 2) this.fail("SETITEMS with an odd number of items");
    // Loops, not push(...items): a spread of millions of items overflows the call stack.
    if (target instanceof Map) {
      for (let i = 0; i < kv.length; i += 2)
        target.set(
          hashKey(kv[i]!, (m) => this.fail(m)),
          kv[i + 1]!,
        );
    } else if (isPyObject(target)) {
      const items = (target.items ??= []);
      for (const it of kv) items.push(it);
    } else this.fail(`SETITEM on a ${describe(target)}`);
  }

  private appendItems(target: PyValue, items: PyValue[]): void {
    if (Array.isArray(target)) {
      for (const it of items) target.push(it);
    } else if (isPyObject(target)) {
      const list = (target.items ??= []);
      for (const it of items) list.push(it);
    } else this.fail(`APPEND on a ${describe(target)}`);
  }

  // --- the memo ---

  private memoOp(op: number): boolean {
    const inp = this.in;
    const index = () => parseIntStrict(inp.line(), (m) => this.fail(m));
    switch (op) {
      case 0x67: // GET
        this.push(this.memoGet(index()));
        return true;
      case 0x68: // BINGET
        this.push(this.memoGet(inp.u8()));
        return true;
      case 0x6a: // LONG_BINGET
        this.push(this.memoGet(inp.u32()));
        return true;
      case 0x70: // PUT
        this.memoPut(index(), this.top());
        return true;
      case 0x71: // BINPUT
        this.memoPut(inp.u8(), this.top());
        return true;
      case 0x72: // LONG_BINPUT
        this.memoPut(inp.u32(), this.top());
        return true;
      case 0x94: // MEMOIZE
        this.memoPut(this.memoCount, this.top());
        return true;
    }
    return false;
  }

  private memoPut(i: number, v: PyValue): void {
    if (this.memo[i] === undefined) {
      if (this.memoCount >= this.limits.maxMemo || i > 4 * this.limits.maxMemo) this.fail(`memo limit of ${this.limits.maxMemo} entries exceeded`);
      this.memoCount++;
    }
    this.memo[i] = v;
  }

  private memoGet(i: number): PyValue {
    const v = this.memo[i];
    if (v === undefined) this.fail(`memo entry ${i} was never stored`);
    return v!;
  }

  // --- globals, calls and BUILD: only what the allow-list names, as data ---

  private objectOp(op: number): boolean {
    switch (op) {
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = this.in.line();
        const name = this.in.line();
        this.push(this.resolveGlobal(module, name));
        return true;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== "string" || typeof name !== "string") this.fail("STACK_GLOBAL needs two strings");
        this.push(this.resolveGlobal(module as string, name as string));
        return true;
      }
      case 0x52: {
        // REDUCE
        const args = this.pop();
        const callable = this.pop();
        this.push(this.call(callable, args, "REDUCE"));
        return true;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = this.pop();
        const cls = this.pop();
        this.push(this.call(cls, args, "NEWOBJ"));
        return true;
      }
      case 0x92: {
        // NEWOBJ_EX
        this.pop(); // kwargs: allowed classes take none that matter before BUILD
        const args = this.pop();
        const cls = this.pop();
        this.push(this.call(cls, args, "NEWOBJ_EX"));
        return true;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state), done as data
        const state = this.pop();
        const replaced = this.build(this.top(), state);
        if (replaced !== undefined) this.stack[this.stack.length - 1] = replaced;
        return true;
      }
    }
    return false;
  }

  private resolveGlobal(module2: string, name: string): PyGlobal {
    // Protocols 0-2 write Python 2 module names (fix_imports); read them as Python 3 does.
    const module = PY2_MODULES[module2] ?? module2;
    const q = `${module}.${name}`;
    const rule = this.opts.resolve(module, name);
    this.opts.onGlobal?.(q, rule !== undefined, this.in.opStart);
    if (!rule && !this.opts.auditOnly) {
      if (module === "sklearn" || module.startsWith("sklearn.")) {
        this.fail(
          `refused global ${q}: a scikit-learn class ridepred does not import (it reads a DictVectorizer followed by a linear or tree regressor); nothing was executed`,
        );
      }
      this.fail(`refused global ${q}: not on ridepred's allow-list (a pickle that names it could run code; nothing was executed)`);
    }
    return { $global: q };
  }

  private call(callable: PyValue, args: PyValue, how: string): PyValue {
    if (!isPyGlobal(callable)) this.fail(`${how} on a ${describe(callable)}: only allow-listed globals can be called`);
    if (!Array.isArray(args)) this.fail(`${how} arguments must be a tuple`);
    const g = callable as PyGlobal;
    const [module, name] = splitQualified(g.$global);
    const rule = this.opts.resolve(module, name);
    if (!rule) {
      if (this.opts.auditOnly) return { $class: g.$global, args: [], state: null };
      this.fail(`refused global ${g.$global}`);
    }
    if (rule!.kind === "class") return { $class: g.$global, args: args as PyValue[], state: null };
    return rule!.call(args as PyValue[], this.ctx);
  }

  private build(obj: PyValue, state: PyValue): PyValue | undefined {
    if (isPyObject(obj)) {
      const [module, name] = splitQualified(obj.$class);
      const rule = this.opts.resolve(module, name);
      if (rule?.kind === "build") return rule.build(obj, state, this.ctx);
      obj.state = state;
      return;
    }
    if (typeof obj === "object" && obj !== null && "$decoded" in obj) {
      const [module, name] = splitQualified((obj as Decoded).$decoded);
      const rule = this.opts.resolve(module, name);
      if (rule?.kind === "build") return rule.build(obj, state, this.ctx);
    }
    if (this.opts.auditOnly) return;
    this.fail(`BUILD on a ${describe(obj)}: only instances of allow-listed classes take a state`);
  }

  /** Opcodes that would run or reach outside the file, and bytes that are not opcodes. */
  private refuse(op: number): never {
    switch (op) {
      case 0x69: // INST
      case 0x6f: // OBJ
        return this.fail(`opcode ${op === 0x69 ? "INST" : "OBJ"} (old-style instance creation) is refused: it calls a class with arbitrary arguments`);
      case 0x82:
      case 0x83:
      case 0x84: // EXT1/2/4
        return this.fail("extension-registry opcodes (EXT1/EXT2/EXT4) are refused: they name globals indirectly");
      case 0x50: // PERSID
      case 0x51: // BINPERSID
        return this.fail("persistent ids (PERSID/BINPERSID) are refused: they reference objects outside the file");
    }
    return this.fail(`unknown opcode 0x${op.toString(16).padStart(2, "0")}: not a pickle, or a corrupted one`);
  }
}

/** The bytes after an opcode: fixed-width little-endian operands, lengths checked against the file, text lines. */
class ByteInput {
  pos: number;
  /** Where the current opcode began: the offset errors name. */
  opStart: number;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    start: number,
    private readonly fail: (m: string) => never,
    private readonly allocate: (n: number) => void,
  ) {
    this.pos = start;
    this.opStart = start;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.data.length) this.fail(`truncated: needs ${n} more bytes at byte ${this.pos}, file ends at ${this.data.length}`);
  }

  u8(): number {
    this.need(1);
    return this.data[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    this.pos += 2;
    return this.view.getUint16(this.pos - 2, true);
  }

  u32(): number {
    this.need(4);
    this.pos += 4;
    return this.view.getUint32(this.pos - 4, true);
  }

  i32(): number {
    this.need(4);
    this.pos += 4;
    return this.view.getInt32(this.pos - 4, true);
  }

  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} is absurd`);
    return Number(v);
  }

  f64be(): number {
    this.need(8);
    this.pos += 8;
    return this.view.getFloat64(this.pos - 8, false);
  }

  /** n bytes, charged against the allocation budget (a view into the file, not a copy). */
  bytes(n: number): Uint8Array {
    this.need(n);
    this.allocate(n);
    this.pos += n;
    return this.data.subarray(this.pos - n, this.pos);
  }

  /** Raw bytes an allow-list decoder consumes (joblib writes array data inline after its wrapper). */
  inline(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`inline data length ${n} is invalid`);
    if (this.pos + n > this.data.length) this.fail(`truncated: ${n} bytes of inline data declared at byte ${this.pos}, file ends at ${this.data.length}`);
    this.pos += n;
    return this.data.subarray(this.pos - n, this.pos);
  }

  /** Protocol 0's text operands: up to the next newline, as latin-1. */
  line(): string {
    const end = this.data.indexOf(10, this.pos);
    if (end < 0) this.fail("truncated: a text argument has no end of line");
    const s = latin1.decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  /** n bytes of UTF-8. Most strings in a model (feature names, attribute names) are short ASCII: no TextDecoder. */
  str(n: number): string {
    const b = this.bytes(n);
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
      return this.fail("invalid UTF-8 in a string");
    }
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
