import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PyGlobal, PyObject, unpickle } from '../src/convert/pickle';
import { ForbiddenGlobalError, PickleFormatError, UnsupportedOpcodeError } from '../src/errors';
import { type Picklable, PickleWriter } from './pickler';

/** What unpickle returns for a Picklable: tuples become arrays. */
function expected(v: Picklable): unknown {
  if (Array.isArray(v)) return v.map(expected);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, expected(x)]));
  if (v !== null && typeof v === 'object' && 'tuple' in v) return v.tuple.map(expected);
  return v;
}

const picklable: fc.Arbitrary<Picklable> = fc.letrec<{ value: Picklable }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.double({ noNaN: true }),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(tie('value'), { maxLength: 3 }).map((tuple) => ({ tuple })),
    fc
      .uniqueArray(fc.tuple(fc.oneof(fc.string(), fc.nat(1000)), tie('value')), {
        maxLength: 4,
        selector: ([k]) => k,
      })
      .map((entries) => new Map(entries)),
  ),
})).value;

describe('restricted unpickler', () => {
  it('reads back every value the protocol-2 pickler writes (law: unpickle ∘ dumps = id)', () => {
    fc.assert(
      fc.property(picklable, (v) => {
        expect(unpickle(PickleWriter.dumps(v))).toEqual(expected(v));
      }),
      { numRuns: 300 },
    );
  });

  it('reads the memo (BINPUT / BINGET) so shared objects stay shared', () => {
    const w = new PickleWriter().op(0x80, 2, 0x5d).put().op(0x28, 0x5d, 0x71, 1, 0x68, 1, 0x65, 0x2e);
    const out = unpickle(w.bytes()) as unknown[][];
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(out[1]);
  });

  it('decodes LONG1 integers (two’s complement), bigints beyond 2^53', () => {
    const long1 = (...b: number[]) => unpickle(Uint8Array.from([0x80, 2, 0x8a, b.length, ...b, 0x2e]));
    expect(long1(0xff)).toBe(-1);
    expect(long1(0x00, 0x01)).toBe(256);
    expect(long1(0, 0, 0, 0, 0, 0, 0, 0x80)).toBe(-(2n ** 63n));
  });

  it('calls only the functions it is given, records allowed data classes, and applies BUILD', () => {
    const w = new PickleWriter().op(0x80, 2);
    w.global('my.module', 'Point').op(0x29, 0x81); // NEWOBJ with no args
    w.value(new Map([['x', 1]])).op(0x62); // BUILD {x: 1}
    w.op(0x2e);
    const obj = unpickle(w.bytes(), { dataClasses: new Set(['my.module.Point']) }) as PyObject;
    expect(obj).toBeInstanceOf(PyObject);
    expect(obj.cls.qualified).toBe('my.module.Point');
    expect(obj.state).toEqual(new Map([['x', 1]]));
    const calls: unknown[][] = [];
    const f = new PickleWriter()
      .op(0x80, 2)
      .global('my.module', 'add')
      .value({ tuple: [2, 3] })
      .op(0x52, 0x2e);
    const add = (...a: unknown[]) => {
      calls.push(a);
      return 5;
    };
    const sum = unpickle(f.bytes(), { functions: { 'my.module.add': add } });
    expect(sum).toBe(5);
    expect(calls).toEqual([[2, 3]]);
  });

  it('maps the Python 2 module names of protocol 2 (__builtin__ → builtins) and builds OrderedDicts', () => {
    const w = new PickleWriter().op(0x80, 2).global('collections', 'OrderedDict').op(0x29, 0x52);
    w.op(0x28).value('a').value(1).op(0x75, 0x2e);
    expect(unpickle(w.bytes())).toEqual(new Map([['a', 1]]));
    const t = new PickleWriter()
      .op(0x80, 2)
      .global('__builtin__', 'set')
      .value([[1, 2]])
      .op(0x52, 0x2e);
    expect(unpickle(t.bytes())).toEqual(new Set([1, 2]));
    const g = new PickleWriter().op(0x80, 2).global('typing', 'Any').op(0x2e);
    expect(unpickle(g.bytes())).toEqual(new PyGlobal('typing', 'Any'));
  });

  it.each([
    ['os', 'system'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'exec'],
    ['builtins', 'getattr'],
    ['builtins', '__import__'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['pickle', 'loads'],
  ])('refuses the global %s.%s when it is read, before any call', (module, name) => {
    const calls: string[] = [];
    const w = new PickleWriter()
      .op(0x80, 2)
      .global(module, name)
      .value({ tuple: ['touch /tmp/x'] });
    w.op(0x52, 0x2e);
    const options = {
      functions: { 'x.y': () => calls.push('called') },
      persistentLoad: () => calls.push('pid'),
    };
    expect(() => unpickle(w.bytes(), options)).toThrow(ForbiddenGlobalError);
    expect(() => unpickle(w.bytes(), options)).toThrow(
      `${module.replace('__builtin__', 'builtins')}.${name}`,
    );
    expect(calls).toEqual([]);
  });

  it('checks STACK_GLOBAL names the same way', () => {
    const w = new PickleWriter().op(0x80, 4).text('os').text('system').op(0x93, 0x2e);
    expect(() => unpickle(w.bytes())).toThrow(ForbiddenGlobalError);
  });

  it('refuses INST, OBJ and the extension registry as unsupported opcodes', () => {
    const instOp = Uint8Array.from([0x80, 2, 0x28, 0x69, ...new TextEncoder().encode('os\nsystem\n'), 0x2e]);
    expect(() => unpickle(instOp)).toThrow(UnsupportedOpcodeError);
    expect(() => unpickle(instOp)).toThrow(/INST/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x28, 0x6f, 0x2e]))).toThrow(/OBJ/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]))).toThrow(/EXT1/);
  });

  it('refuses truncated and malformed streams with a typed error', () => {
    const full = PickleWriter.dumps(new Map([['weights', [1, 2.5, 'x']]]));
    for (let cut = 0; cut < full.length; cut++) {
      expect(() => unpickle(full.subarray(0, cut))).toThrow(PickleFormatError);
    }
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x74, 0x2e]))).toThrow(/MARK/); // TUPLE without MARK
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x68, 7, 0x2e]))).toThrow(/memo key 7/);
    expect(() => unpickle(Uint8Array.from([0x80, 9, 0x4e, 0x2e]))).toThrow(/protocol 9/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x51, 0x2e]))).toThrow(PickleFormatError); // BINPERSID, empty stack
  });

  it('never throws anything but a typed error on corrupted input (fuzz)', () => {
    const base = PickleWriter.dumps(
      new Map<string, Picklable>([
        ['a', [1, 2, { tuple: ['b', null] }]],
        ['c', 3.5],
      ]),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (edits) => {
          const bytes = base.slice();
          for (const [i, b] of edits) bytes[i] = b;
          try {
            unpickle(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(Error);
            expect([PickleFormatError, ForbiddenGlobalError].some((c) => error instanceof c)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
