import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AllocationError,
  ArgumentError,
  createBackend,
  KernelError,
  philoxKey,
  philoxWords,
  ShapeError,
} from '../src/index';
import type { Tensor } from '../src/types';
import { cpu, FC } from './helpers';

/** Runs `run` and returns what it threw (fails the test when nothing is thrown). */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Seeds that are not non-negative integers below 2^64. */
const badSeed = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, 2 ** 64),
  fc.bigInt({ min: -(2n ** 70n), max: -1n }),
  fc.bigInt({ min: 2n ** 64n, max: 2n ** 70n }),
);
/** Offsets that are not non-negative safe integers. */
const badOffset = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0.5, 2 ** 53),
);

const logits = () => cpu.tensor([0.5, 1, -1, 2], [2, 2], 'f32');
const streamOps: Array<[string, (stream: { seed: never; offset?: never }) => unknown]> = [
  ['uniform', (s) => cpu.uniform([3], s)],
  ['normal', (s) => cpu.normal([3], s, 'f64')],
  ['sampleCategorical', (s) => cpu.sampleCategorical(logits(), s)],
];

describe('seeds and offsets are checked before any BigInt or counter arithmetic', () => {
  it.each(streamOps)('%s refuses every bad seed and offset with an ArgumentError', (op, run) => {
    fc.assert(
      fc.property(badSeed, (seed) => {
        const error = thrown(() => run({ seed: seed as never }));
        expect(error).toBeInstanceOf(ArgumentError);
        expect((error as ArgumentError).op).toBe(op);
        expect((error as Error).message).toContain('non-negative integer below 2^64');
      }),
      FC,
    );
    fc.assert(
      fc.property(badOffset, (offset) => {
        const error = thrown(() => run({ seed: 1 as never, offset: offset as never }));
        expect(error).toBeInstanceOf(ArgumentError);
        expect((error as Error).message).toContain(`offset ${offset}`);
      }),
      FC,
    );
  });

  it('philoxKey refuses bad seeds (no RangeError from BigInt) and splits good ones', () => {
    fc.assert(
      fc.property(badSeed, (seed) => {
        const error = thrown(() => philoxKey(seed as number));
        expect(error).toBeInstanceOf(ArgumentError);
        expect((error as ArgumentError).op).toBe('philoxKey');
      }),
      FC,
    );
    expect(philoxKey(2 ** 32 + 7)).toEqual({ k0: 7, k1: 1 });
    expect(philoxKey(2n ** 64n - 1n)).toEqual({ k0: 4294967295, k1: 4294967295 });
  });

  it('philoxWords refuses bad offsets, counts and keys', () => {
    const key = philoxKey(5);
    fc.assert(
      fc.property(badOffset, (offset) => {
        expect(thrown(() => philoxWords(key, offset, 4))).toBeInstanceOf(ArgumentError);
        expect(thrown(() => philoxWords(key, 0, offset))).toBeInstanceOf(ArgumentError);
      }),
      FC,
    );
    for (const bad of [{ k0: -1, k1: 0 }, { k0: 1.5, k1: 0 }, { k0: 0, k1: 2 ** 32 }, null]) {
      expect(thrown(() => philoxWords(bad as never, 0, 4))).toBeInstanceOf(ArgumentError);
    }
    expect(philoxWords(key, 2, 3)).toEqual(philoxWords(key, 0, 5).subarray(2));
  });

  it('a missing stream or options object is an ArgumentError, not a TypeError', () => {
    for (const stream of [undefined, null, 3, 'seed']) {
      expect(thrown(() => cpu.uniform([2], stream as never))).toBeInstanceOf(ArgumentError);
      const error = thrown(() => cpu.sampleCategorical(logits(), stream as never));
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as Error).message).toMatch(/options .*expected an object \{ seed, offset\? \}/);
    }
  });
});

describe('createBackend', () => {
  it("an unknown kind is refused, never taken as 'auto'", async () => {
    for (const kind of ['cuda', 'CPU', '', 3, null]) {
      const error = await createBackend(kind as 'cpu').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ArgumentError);
      expect((error as Error).message).toContain("expected 'cpu' | 'webgpu' | 'auto'");
    }
    await expect(createBackend('cpu', null as never)).rejects.toThrow(ArgumentError);
  });
});

describe('allocation failures are typed and name the shape', () => {
  it.each([
    ['zeros', () => cpu.zeros([1e6, 1e6], 'f32'), '[1000000, 1000000]'],
    ['full', () => cpu.full([2 ** 26, 2 ** 26], 1, 'f64'), '[67108864, 67108864]'],
    [
      'a broadcast',
      () => cpu.add(cpu.zeros([300000, 1], 'f32'), cpu.zeros([1, 300000], 'f32')),
      '[300000, 300000]',
    ],
    ['uniform', () => cpu.uniform([2 ** 40, 2 ** 10], { seed: 1 }), '[1099511627776, 1024]'],
  ])('%s of a huge shape throws AllocationError', (_, run, shape) => {
    const error = thrown(run);
    expect(error).toBeInstanceOf(AllocationError);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as Error).message).toContain(shape);
  });
});

describe('JS type misuse gives typed errors', () => {
  const notATensor = fc.oneof(
    fc.constantFrom(null, undefined, {}, [], 'x', 3, true, new Float32Array(2), () => 0),
    fc.record({ shape: fc.constant([2]), dtype: fc.constant('f32') }),
  );
  const x = cpu.tensor([1, 2], [2], 'f32');
  const ops: Array<[string, (bad: Tensor) => unknown]> = [
    ['add', (bad) => cpu.add(bad, x)],
    ['mul', (bad) => cpu.mul(x, bad)],
    ['exp', (bad) => cpu.exp(bad)],
    ['matmul', (bad) => cpu.matmul(bad, x)],
    ['softmax', (bad) => cpu.softmax(bad)],
    ['sampleCategorical', (bad) => cpu.sampleCategorical(bad, { seed: 1 })],
    ['topP', (bad) => cpu.topP(bad, 0.5)],
    ['where', (bad) => cpu.where(bad, x, x)],
  ];
  it.each(ops)('%s refuses a non-tensor with an ArgumentError naming the op', (op, run) => {
    fc.assert(
      fc.property(notATensor, (bad) => {
        const error = thrown(() => run(bad as never));
        expect(error).toBeInstanceOf(ArgumentError);
        expect((error as ArgumentError).op).toBe(op);
        expect((error as Error).message).toContain('expected a Tensor');
      }),
      { ...FC, numRuns: 20 },
    );
  });

  it('bad shapes and data are ShapeError / ArgumentError', () => {
    for (const shape of [null, undefined, 3, '2,2', { length: 1 }]) {
      expect(thrown(() => cpu.zeros(shape as never, 'f32'))).toBeInstanceOf(ShapeError);
      expect(thrown(() => cpu.reshape(x, shape as never))).toBeInstanceOf(ShapeError);
    }
    for (const data of [null, undefined, 'ab', 5, new DataView(new ArrayBuffer(8))]) {
      expect(thrown(() => cpu.tensor(data as never, [2], 'f32'))).toBeInstanceOf(ArgumentError);
    }
  });
});
