/**
 * A restricted unpickler: reads Python pickle streams (protocols 0–5, the opcodes data needs) without running any
 * Python and without calling anything the caller did not hand it.
 *
 * GLOBAL / STACK_GLOBAL names are checked against an allow-list the moment they are read:
 *  - `functions`: JS implementations that REDUCE / NEWOBJ call (torch's tensor rebuild, OrderedDict, …);
 *  - `dataClasses`: classes recorded as inert `PyObject`s (class name, constructor args, BUILD state), never
 *    constructed — what a checkpoint's config (omegaconf) or tokenizer pickles into;
 * anything else (`os.system`, `builtins.eval`, `subprocess.Popen`, …) is a `ForbiddenGlobalError`. Opcodes that
 * instantiate classes outside that path (INST, OBJ), the extension registry and out-of-band buffers are refused.
 * Values: None → null, bool, int → number (bigint beyond 2^53), float, str, bytes → Uint8Array, list and tuple →
 * arrays, dict → Map, set → Set.
 */
import { ForbiddenGlobalError, PickleFormatError, UnsupportedOpcodeError } from '../errors';

/** A Python global the allow-list admitted, as a value (a class or function reference). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of an allowed data class: recorded, never constructed. */
export class PyObject {
  /** The BUILD state (usually the instance `__dict__` or a `__getstate__` value). */
  state: unknown = undefined;
  /** Items a dict subclass received through SETITEM(S). */
  readonly dictItems = new Map<unknown, unknown>();
  /** Items a list subclass received through APPEND(S). */
  readonly listItems: unknown[] = [];
  constructor(
    readonly cls: PyGlobal,
    readonly args: readonly unknown[],
  ) {}
}

export type PyFunction = (...args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** Allowed callables by qualified name (`module.name`, Python 3 module names). */
  functions?: Readonly<Record<string, PyFunction>>;
  /** Allowed data classes (recorded as PyObject): a set of qualified names or a predicate. */
  dataClasses?: ReadonlySet<string> | ((qualified: string) => boolean);
  /** Resolves a persistent id (BINPERSID); without it a persistent id is a format error. */
  persistentLoad?: (pid: unknown) => unknown;
}

/** Python 2 module names that protocol ≤ 2 pickles carry (`fix_imports`). */
const PY2_MODULES: Readonly<Record<string, string>> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

const toMap = (items: unknown): Map<unknown, unknown> => {
  const out = new Map<unknown, unknown>();
  if (items instanceof Map) for (const [k, v] of items) out.set(k, v);
  else if (Array.isArray(items)) for (const pair of items) if (Array.isArray(pair)) out.set(pair[0], pair[1]);
  return out;
};

/** Callables every stream may use: containers and byte strings only. */
const BUILTIN_FUNCTIONS: Readonly<Record<string, PyFunction>> = {
  'collections.OrderedDict': (items) => toMap(items),
  'collections.defaultdict': () => new Map(),
  'builtins.dict': (items) => toMap(items),
  'builtins.list': (items) => (Array.isArray(items) ? [...items] : []),
  'builtins.set': (items) => new Set(Array.isArray(items) ? items : []),
  'builtins.frozenset': (items) => new Set(Array.isArray(items) ? items : []),
  'builtins.bytearray': (data, encoding) => encodeBytes(data, encoding),
  '_codecs.encode': (data, encoding) => encodeBytes(data, encoding), // protocol ≤ 2 writes bytes this way
  'copyreg._reconstructor': (cls) => {
    if (!(cls instanceof PyGlobal))
      throw new PickleFormatError('unpickle', 'copyreg._reconstructor', 'a class');
    return new PyObject(cls, []);
  },
};

/** Type references that appear as plain values (omegaconf metadata, …) and are never meaningfully called. */
const BUILTIN_DATA = new Set(
  ['int', 'float', 'str', 'bool', 'object', 'tuple', 'bytes', 'complex', 'type', 'slice', 'range'].map(
    (n) => `builtins.${n}`,
  ),
);
BUILTIN_DATA.add('typing.Any');

function encodeBytes(data: unknown, encoding: unknown): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (data instanceof Uint8Array) return data.slice();
  if (Array.isArray(data)) return Uint8Array.from(data as number[]);
  if (
    typeof data === 'string' &&
    (encoding === 'latin1' || encoding === 'latin-1' || encoding === undefined)
  ) {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const c = data.charCodeAt(i);
      if (c > 255) throw new PickleFormatError('unpickle(_codecs.encode)', `code point ${c}`, 'latin-1 text');
      out[i] = c;
    }
    return out;
  }
  if (typeof data === 'string' && (encoding === 'utf-8' || encoding === 'utf8'))
    return new TextEncoder().encode(data);
  throw new PickleFormatError('unpickle(_codecs.encode)', `encoding ${String(encoding)}`, 'latin1 or utf-8');
}

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  105: 'INST',
  111: 'OBJ',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
  80: 'PERSID',
  83: 'STRING',
  86: 'UNICODE',
};

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): number {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.bytes.length) {
      throw new PickleFormatError(
        'unpickle',
        `the end of the stream at byte ${this.bytes.length}`,
        `${n} bytes for ${what} at byte ${this.pos}`,
        'truncated pickle',
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(what: string): number {
    return this.bytes[this.need(1, what)];
  }
  u16(what: string): number {
    return this.view.getUint16(this.need(2, what), true);
  }
  i32(what: string): number {
    return this.view.getInt32(this.need(4, what), true);
  }
  u32(what: string): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  u64(what: string): number {
    const v = this.view.getBigUint64(this.need(8, what), true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
  }
  f64be(what: string): number {
    return this.view.getFloat64(this.need(8, what), false);
  }
  take(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }
  line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.need(this.bytes.length - this.pos + 1, what); // throws: no newline
    const text = latin1(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
};

/** Little-endian two's-complement integer (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const typeName = (v: unknown): string =>
  v === null
    ? 'None'
    : v instanceof Map
      ? 'dict'
      : Array.isArray(v)
        ? 'list/tuple'
        : v instanceof PyObject
          ? v.cls.qualified
          : v instanceof PyGlobal
            ? `global ${v.qualified}`
            : typeof v;

/** Reads one pickled value. Throws PickleFormatError, UnsupportedOpcodeError or ForbiddenGlobalError. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private readonly r: Reader;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly functions: Readonly<Record<string, PyFunction>>;
  private readonly isDataClass: (q: string) => boolean;

  constructor(
    bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.r = new Reader(bytes);
    this.functions = { ...BUILTIN_FUNCTIONS, ...options.functions };
    const dc = options.dataClasses;
    const extra = typeof dc === 'function' ? dc : (q: string) => dc?.has(q) === true;
    this.isDataClass = (q) => BUILTIN_DATA.has(q) || extra(q);
  }

  private fail(got: string, expected: string): never {
    throw new PickleFormatError('unpickle', got, `${expected} (at byte ${this.r.pos})`);
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('an empty stack', 'a value');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('an empty stack', 'a value');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const outer = this.metastack.pop();
    if (!outer) this.fail('no MARK', 'a MARK before this opcode');
    this.stack = outer as unknown[];
    return items;
  }

  private resolve(module: string, name: string): PyGlobal {
    const mod = PY2_MODULES[module] ?? module;
    const q = `${mod}.${name}`;
    if (!(q in this.functions) && !this.isDataClass(q)) {
      throw new ForbiddenGlobalError(
        'unpickle',
        `the global ${q}`,
        'only tensor rebuilds, containers and known data classes (nothing in the file is ever run)',
      );
    }
    return new PyGlobal(mod, name);
  }

  private call(callable: unknown, args: unknown, kwargs?: unknown): unknown {
    if (!(callable instanceof PyGlobal)) this.fail(`a call of ${typeName(callable)}`, 'a call of a global');
    if (!Array.isArray(args)) this.fail(`arguments ${typeName(args)}`, 'a tuple of arguments');
    const fn = this.functions[callable.qualified];
    if (fn) return fn(...args);
    const obj = new PyObject(callable, args);
    if (kwargs instanceof Map && kwargs.size > 0) obj.state = kwargs;
    return obj;
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail(`${items.length} items`, 'key/value pairs');
    const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : undefined;
    if (!map) this.fail(`SETITEM on ${typeName(target)}`, 'a dict');
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : undefined;
    if (!list) this.fail(`APPEND on ${typeName(target)}`, 'a list');
    list.push(...items);
  }

  private build(target: unknown, state: unknown): void {
    if (target instanceof PyObject) {
      if (target.state instanceof Map && state instanceof Map)
        for (const [k, v] of state) target.state.set(k, v);
      else target.state = state;
      return;
    }
    if (target instanceof Map && (state instanceof Map || state === null)) {
      if (state) for (const [k, v] of state) target.set(k, v);
      return;
    }
    this.fail(`BUILD on ${typeName(target)}`, 'a recorded object');
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) this.fail('a persistent id', 'no persistent ids (no loader given)');
    return this.options.persistentLoad(pid);
  }

  run(): unknown {
    const r = this.r;
    const push = (v: unknown) => this.stack.push(v);
    for (;;) {
      const at = r.pos;
      const op = r.u8('an opcode');
      switch (op) {
        case 0x80: {
          const proto = r.u8('PROTO');
          if (proto > 5) this.fail(`protocol ${proto}`, 'protocol 0–5');
          break;
        }
        case 0x95: // FRAME: a length hint only
          r.u64('FRAME');
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          push(this.top());
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
        case 0x4a: // BININT
          push(r.i32('BININT'));
          break;
        case 0x4b: // BININT1
          push(r.u8('BININT1'));
          break;
        case 0x4d: // BININT2
          push(r.u16('BININT2'));
          break;
        case 0x8a: // LONG1
          push(decodeLong(r.take(r.u8('LONG1'), 'LONG1')));
          break;
        case 0x8b: {
          const n = r.i32('LONG4');
          if (n < 0) this.fail(`LONG4 length ${n}`, 'a length ≥ 0');
          push(decodeLong(r.take(n, 'LONG4')));
          break;
        }
        case 0x49: {
          // INT (text): 00 / 01 are False / True in protocol 0
          const text = r.line('INT');
          push(text === '00' ? false : text === '01' ? true : this.parseInt(text));
          break;
        }
        case 0x4c: // LONG (text)
          push(this.parseInt(r.line('LONG').replace(/L$/, '')));
          break;
        case 0x47: // BINFLOAT (big-endian)
          push(r.f64be('BINFLOAT'));
          break;
        case 0x46: {
          const v = Number(r.line('FLOAT'));
          if (Number.isNaN(v)) this.fail('a FLOAT that is not a number', 'a decimal float');
          push(v);
          break;
        }
        case 0x58: // BINUNICODE
          push(this.text(r.take(r.u32('BINUNICODE'), 'BINUNICODE')));
          break;
        case 0x8c: // SHORT_BINUNICODE
          push(this.text(r.take(r.u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE')));
          break;
        case 0x8d: // BINUNICODE8
          push(this.text(r.take(r.u64('BINUNICODE8'), 'BINUNICODE8')));
          break;
        case 0x54: {
          // BINSTRING (Python 2 str, read as latin-1 text)
          const n = r.i32('BINSTRING');
          if (n < 0) this.fail(`BINSTRING length ${n}`, 'a length ≥ 0');
          push(latin1(r.take(n, 'BINSTRING')));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          push(latin1(r.take(r.u8('SHORT_BINSTRING'), 'SHORT_BINSTRING')));
          break;
        case 0x42: // BINBYTES
          push(r.take(r.u32('BINBYTES'), 'BINBYTES').slice());
          break;
        case 0x43: // SHORT_BINBYTES
          push(r.take(r.u8('SHORT_BINBYTES'), 'SHORT_BINBYTES').slice());
          break;
        case 0x8e: // BINBYTES8
          push(r.take(r.u64('BINBYTES8'), 'BINBYTES8').slice());
          break;
        case 0x96: // BYTEARRAY8
          push(r.take(r.u64('BYTEARRAY8'), 'BYTEARRAY8').slice());
          break;
        case 0x5d: // EMPTY_LIST
          push([]);
          break;
        case 0x6c: // LIST
          push(this.popMark());
          break;
        case 0x61: {
          // APPEND
          const v = this.pop();
          this.appendItems(this.top(), [v]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x29: // EMPTY_TUPLE
          push([]);
          break;
        case 0x74: // TUPLE
          push(this.popMark());
          break;
        case 0x85: // TUPLE1
          push([this.pop()]);
          break;
        case 0x86: {
          const b = this.pop();
          push([this.pop(), b]);
          break;
        }
        case 0x87: {
          const c = this.pop();
          const b = this.pop();
          push([this.pop(), b, c]);
          break;
        }
        case 0x7d: // EMPTY_DICT
          push(new Map());
          break;
        case 0x64: {
          // DICT
          const map = new Map();
          this.setItems(map, this.popMark());
          push(map);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!(set instanceof Set)) this.fail(`ADDITEMS on ${typeName(set)}`, 'a set');
          for (const v of items) set.add(v);
          break;
        }
        case 0x91: // FROZENSET
          push(new Set(this.popMark()));
          break;
        case 0x63: {
          // GLOBAL
          const module = r.line('GLOBAL module');
          push(this.resolve(module, r.line('GLOBAL name')));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string')
            this.fail('STACK_GLOBAL with non-string names', 'module and name strings');
          push(this.resolve(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          push(this.call(this.pop(), args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          push(this.call(this.pop(), args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          push(this.call(this.pop(), args, kwargs));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x51: // BINPERSID
          push(this.persistent(this.pop()));
          break;
        case 0x71: // BINPUT
          this.memo.set(r.u8('BINPUT'), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memo.set(r.u32('LONG_BINPUT'), this.top());
          break;
        case 0x70: // PUT (text)
          this.memo.set(Number(this.parseInt(r.line('PUT'))), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x68: // BINGET
          push(this.get(r.u8('BINGET')));
          break;
        case 0x6a: // LONG_BINGET
          push(this.get(r.u32('LONG_BINGET')));
          break;
        case 0x67: // GET (text)
          push(this.get(Number(this.parseInt(r.line('GET')))));
          break;
        default:
          throw new UnsupportedOpcodeError(
            'unpickle',
            `opcode ${OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`} at byte ${at}`,
            'the data opcodes of protocols 0–5 (no INST/OBJ, extension registry or out-of-band buffers)',
          );
      }
    }
  }

  private get(key: number): unknown {
    if (!this.memo.has(key)) this.fail(`memo key ${key}`, 'a key stored by an earlier PUT');
    return this.memo.get(key);
  }

  private parseInt(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text.trim())) this.fail(`the integer text "${text}"`, 'decimal digits');
    const v = BigInt(text.trim());
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private text(bytes: Uint8Array): string {
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail('a string that is not UTF-8', 'UTF-8 text');
    }
  }
}
