import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../src/cpu/backend';
import {
  ArgumentError,
  DisposedTensorError,
  DTypeError,
  IndexOutOfRangeError,
  KernelError,
  ShapeError,
} from '../src/errors';
import type { DType, Tensor } from '../src/types';
import { cpu, expectKernelError, make } from './helpers';

const f64 = (shape: number[], fill = 0.5) => cpu.full(shape, fill, 'f64');
const f32 = (shape: number[], fill = 0.5) => cpu.full(shape, fill, 'f32');
const ids = (values: number[], shape = [values.length], dtype: DType = 'i32') => make(values, shape, dtype);
const disposed = () => {
  const t = f64([2, 3]);
  t.dispose();
  return t;
};
const other = createCpuBackend();
const foreign = () => other.full([2, 3], 1, 'f64');

type Case = [op: string, run: () => unknown, ...fragments: string[]];

/** Each family: one case per error kind it can raise. */
const shapeCases: Case[] = [
  ['tensor', () => cpu.tensor([1, 2, 3], [2, 2], 'f64'), '3 values', '4 values'],
  ['reshape', () => cpu.reshape(f64([2, 3]), [4, 2]), '[2, 3]', '6 elements'],
  ['add', () => cpu.add(f64([2, 3]), f64([4])), '[2, 3] and [4]', 'broadcast-compatible'],
  ['where', () => cpu.where(ids([1, 0, 1]), f64([2]), f64([2])), '[3] and [2]', 'broadcast-compatible'],
  ['matmul', () => cpu.matmul(f64([2, 3]), f64([4, 2])), 'inner dimensions 3 and 4', 'equal inner'],
  ['matmul', () => cpu.matmul(f64([2, 3]), f64([3, 2]), { bias: f64([3]) }), 'bias of shape [3]', '[2]'],
  ['layerNorm', () => cpu.layerNorm(f64([2, 3]), f64([2])), 'weight of shape [2]', 'weight of shape [3]'],
  ['softmax', () => cpu.softmax(f64([])), 'rank ≥ 1'],
  ['logsumexp', () => cpu.logsumexp(f64([2, 0])), 'non-empty last axis'],
  ['embedding', () => cpu.embedding(f64([3]), ids([0])), 'table of shape [3]', 'rank 2'],
  ['embeddingBag', () => cpu.embeddingBag(f64([3, 2]), ids([0, 1]), f64([3])), '[2] and [3]', 'equal shapes'],
  ['gatherLast', () => cpu.gatherLast(f64([2, 3]), ids([0, 1, 2])), '[2] and [3]', 'equal shapes'],
  ['scatterAdd', () => cpu.scatterAdd(f64([3, 2]), ids([0]), f64([1, 3])), 'src of shape [1, 3]', '[1, 2]'],
  ['uniform', () => cpu.uniform([2, -1], { seed: 1 }), '[2, -1]', 'non-negative integer'],
];

const dtypeCases: Case[] = [
  ['tensor', () => cpu.tensor([1, 2], [2], 'f16' as DType), 'dtype f16', 'f32 | f64 | i32 | u32'],
  ['zeros', () => cpu.zeros([2], 'f16' as DType), 'dtype f16', 'f32 | f64 | i32 | u32'],
  ['add', () => cpu.add(f64([2]), f32([2])), 'f64 and f32', 'equal dtypes'],
  ['div', () => cpu.div(ids([1, 2]), ids([1, 2])), 'a of dtype i32', 'f32 | f64'],
  ['exp', () => cpu.exp(ids([1])), 'a of dtype i32', 'f32 | f64'],
  ['where', () => cpu.where(f64([2]), f64([2]), f64([2])), 'cond of dtype f64', 'i32 | u32'],
  ['matmul', () => cpu.matmul(f64([2, 2]), f32([2, 2])), 'f64 and f32', 'equal dtypes'],
  ['matmul', () => cpu.matmul(f32([2, 2]), f32([2, 2]), { bias: f64([2]) }), 'f32 and f64', 'equal dtypes'],
  ['softmax', () => cpu.softmax(ids([1, 2])), 'a of dtype i32', 'f32 | f64'],
  ['layerNorm', () => cpu.layerNorm(f32([2, 3]), f64([3])), 'f32 and f64', 'equal dtypes'],
  ['embedding', () => cpu.embedding(f64([3, 2]), f64([1])), 'ids of dtype f64', 'i32 | u32'],
  ['oneHot', () => cpu.oneHot(ids([1]), 3, 'i32' as 'f32'), 'dtype i32', 'f32 | f64'],
  ['scatterAdd', () => cpu.scatterAdd(f64([3, 2]), ids([0]), f32([1, 2])), 'f64 and f32', 'equal dtypes'],
  ['topK', () => cpu.topK(ids([1, 2]), 1), 'logits of dtype i32', 'f32 | f64'],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(ids([1, 2]), { seed: 1 }),
    'logits of dtype i32',
    'f32 | f64',
  ],
  ['normal', () => cpu.normal([2], { seed: 1 }, 'i32' as 'f32'), 'dtype i32', 'f32 | f64'],
];

const rangeCases: Case[] = [
  ['embedding', () => cpu.embedding(f64([3, 2]), ids([0, 3])), 'id 3 at position 1', 'ids in [0, 3)'],
  ['embedding', () => cpu.embedding(f64([3, 2]), ids([-1])), 'id -1 at position 0', 'ids in [0, 3)'],
  ['embeddingBag', () => cpu.embeddingBag(f64([3, 2]), ids([5], [1, 1]), f64([1, 1])), 'index 5', '[0, 3)'],
  ['gatherLast', () => cpu.gatherLast(f64([2, 3]), ids([0, 3], [2], 'u32')), 'id 3 at position 1', '[0, 3)'],
  ['oneHot', () => cpu.oneHot(ids([4]), 4, 'f32'), 'id 4 at position 0', 'ids in [0, 4)'],
  ['scatterAdd', () => cpu.scatterAdd(f64([3, 2]), ids([3]), f64([1, 2])), 'index 3 at position 0', '[0, 3)'],
];

const liveTensorOps: Array<[string, (t: Tensor) => unknown]> = [
  ['add', (t) => cpu.add(t, f64([2, 3]))],
  ['exp', (t) => cpu.exp(t)],
  ['cast', (t) => cpu.cast(t, 'f32')],
  ['reshape', (t) => cpu.reshape(t, [6])],
  ['matmul', (t) => cpu.matmul(f64([3, 2]), t)],
  ['softmax', (t) => cpu.softmax(t)],
  ['layerNorm', (t) => cpu.layerNorm(t, f64([3]))],
  ['embedding', (t) => cpu.embedding(t, ids([0]))],
  ['gatherLast', (t) => cpu.gatherLast(t, ids([0, 0]))],
  ['scatterAdd', (t) => cpu.scatterAdd(t, ids([0]), f64([1, 3]))],
  ['topP', (t) => cpu.topP(t, 0.5)],
  ['sampleCategorical', (t) => cpu.sampleCategorical(t, { seed: 1 })],
  ['dataOf', (t) => cpu.dataOf(t)],
];

const argumentCases: Case[] = [
  ['topK', () => cpu.topK(f64([2, 3]), 0), 'k 0', 'k in [1, 3]'],
  ['topK', () => cpu.topK(f64([2, 3]), 4), 'k 4', 'k in [1, 3]'],
  ['topK', () => cpu.topK(f64([2, 3]), 1.5), 'k 1.5', 'integer k'],
  ['topP', () => cpu.topP(f64([2, 3]), 0), 'p 0', 'p in (0, 1]'],
  ['topP', () => cpu.topP(f64([2, 3]), 1.01), 'p 1.01', 'p in (0, 1]'],
  [
    'topP',
    () => cpu.topP(make([0, Number.NaN], [2], 'f64'), 0.5),
    'NaN logit at row 0, index 1',
    'without NaN',
  ],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(make([0, 1, 2, 3, Number.NaN, 5], [2, 3], 'f32'), { seed: 1 }),
    'NaN logit at row 1, index 1',
    'without NaN',
  ],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(f64([3]), { seed: -1 }),
    'seed -1',
    'non-negative integer',
  ],
  ['sampleCategorical', () => cpu.sampleCategorical(f64([3]), { seed: 1.5 }), 'seed 1.5', 'below 2^64'],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(f64([3]), { seed: 2n ** 64n }),
    'seed 18446744073709551616',
  ],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(f64([3]), { seed: 1, temperature: 0 }),
    'temperature 0',
    '≥ 2^-126',
  ],
  [
    'sampleCategorical',
    () => cpu.sampleCategorical(f64([3]), { seed: 1, offset: -3 }),
    'offset -3',
    'non-negative',
  ],
  ['uniform', () => cpu.uniform([2], { seed: Number.NaN }), 'seed NaN', 'non-negative integer'],
  ['normal', () => cpu.normal([4], { seed: 1, offset: 2 ** 53 - 2 }), 'stream window', 'below 2^53'],
  ['layerNorm', () => cpu.layerNorm(f64([2, 3]), f64([3]), -1), 'eps -1', 'eps ≥ 0'],
  ['scale', () => cpu.scale(f64([2]), Number.POSITIVE_INFINITY), 'factor Infinity', 'finite'],
  ['compare', () => cpu.compare(f64([2]), f64([2]), 'toString' as 'lt'), 'comparison toString', 'lt | le'],
  ['oneHot', () => cpu.oneHot(ids([0]), 0, 'f32'), 'depth 0', 'positive integer'],
  ['full', () => cpu.full([2], 1.5, 'i32'), 'value 1.5', 'integers in'],
  ['tensor', () => cpu.tensor([-1], [1], 'u32'), 'value -1 at index 0', '[0, 4294967295]'],
];

describe('typed errors name the op, what it got and what it expected', () => {
  it.each(shapeCases)('ShapeError from %s', (op, run, ...fragments) => {
    expectKernelError(run, ShapeError, op, ...fragments);
  });
  it.each(dtypeCases)('DTypeError from %s', (op, run, ...fragments) => {
    expectKernelError(run, DTypeError, op, ...fragments);
  });
  it.each(rangeCases)('IndexOutOfRangeError from %s', (op, run, ...fragments) => {
    expectKernelError(run, IndexOutOfRangeError, op, ...fragments);
  });
  it.each(argumentCases)('ArgumentError from %s', (op, run, ...fragments) => {
    expectKernelError(run, ArgumentError, op, ...fragments);
  });
  it.each(liveTensorOps)(
    'DisposedTensorError from %s: use after dispose and a tensor of another backend',
    (op, run) => {
      expectKernelError(() => run(disposed()), DisposedTensorError, op, '(disposed)', 'a live tensor');
      expectKernelError(
        () => run(foreign()),
        DisposedTensorError,
        op,
        'from another backend (cpu)',
        'this cpu backend',
      );
    },
  );

  it('read() after dispose rejects with DisposedTensorError; errors carry op/got/expected fields', async () => {
    await expect(disposed().read()).rejects.toBeInstanceOf(DisposedTensorError);
    try {
      cpu.topK(f64([3]), 9);
      expect.unreachable('topK should refuse k = 9');
    } catch (error) {
      expect(error).toBeInstanceOf(KernelError);
      const e = error as KernelError;
      expect([e.name, e.op, e.got, e.expected]).toEqual([
        'ArgumentError',
        'topK',
        'k 9',
        'an integer k in [1, 3] (the last axis)',
      ]);
    }
  });

  it('a refused op leaves its inputs untouched (nothing half-written)', () => {
    const table = make([1, 2, 3, 4], [2, 2], 'f64');
    expect(() => cpu.scatterAdd(table, ids([0, 2]), f64([2, 2]))).toThrow(IndexOutOfRangeError);
    expect(Array.from(cpu.dataOf(table))).toEqual([1, 2, 3, 4]);
  });
});
