import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArgumentError, createBackend } from '../src/index';
import { arbTensorData, cpu, data, FC, make } from './helpers';

describe('creating, reading and disposing tensors', () => {
  it('createBackend("cpu") gives the f64-capable cpu backend', async () => {
    const backend = await createBackend('cpu');
    expect(backend.name).toBe('cpu');
    expect(backend.supportsF64).toBe(true);
    const t = backend.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f64');
    expect([t.shape, t.dtype, t.size, t.backend]).toEqual([[2, 3], 'f64', 6, backend]);
    await backend.sync();
    backend.destroy();
  });

  it('threads: 0 runs inline, a bad thread count is refused, destroy() leaves the backend usable', async () => {
    const inline = await createBackend('cpu', { threads: 0 });
    const a = inline.tensor([1, 2, 3, 4], [2, 2], 'f64');
    expect(Array.from(await inline.matmul(a, a).read())).toEqual([7, 10, 15, 22]);
    inline.destroy();
    expect(Array.from(await inline.matmul(a, a).read())).toEqual([7, 10, 15, 22]);
    await expect(createBackend('cpu', { threads: -1 })).rejects.toBeInstanceOf(ArgumentError);
    await createBackend('cpu', { threads: 2 });
  });

  it('read() returns a row-major copy in the dtype; writing the copy leaves the tensor alone', async () => {
    fc.assert(
      fc.asyncProperty(arbTensorData(3, 4, 100), async ({ shape, values }) => {
        const t64 = make(values, shape, 'f64');
        const got = await t64.read();
        expect(got).toBeInstanceOf(Float64Array);
        expect(Array.from(got)).toEqual(values);
        got.fill(7);
        expect(Array.from(await t64.read())).toEqual(values);
        const t32 = make(values, shape, 'f32');
        expect(Array.from(await t32.read())).toEqual(values.map(Math.fround));
      }),
      FC,
    );
  });

  it('a typed array sets the dtype; zeros and full fill; dispose marks the tensor', () => {
    const t = cpu.tensor(new Int32Array([1, -2, 3]), [3]);
    expect(t.dtype).toBe('i32');
    expect(data(cpu.zeros([2, 2], 'u32'))).toEqual([0, 0, 0, 0]);
    expect(data(cpu.full([3], -Infinity, 'f32'))).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(data(cpu.full([], 4, 'i32'))).toEqual([4]);
    expect(t.disposed).toBe(false);
    t.dispose();
    expect(t.disposed).toBe(true);
  });

  it('fromArray wraps without copying and dataOf exposes the storage', () => {
    const array = new Float64Array([1, 2, 3, 4]);
    const t = cpu.fromArray(array, [2, 2]);
    expect(t.dtype).toBe('f64');
    expect(cpu.dataOf(t)).toBe(array);
  });
});

describe('cast and reshape', () => {
  it('cast float → f32 rounds, float → int truncates toward zero, int → float is exact', () => {
    fc.assert(
      fc.property(arbTensorData(3, 4, 1000), ({ shape, values }) => {
        const x = make(values, shape, 'f64');
        expect(data(cpu.cast(x, 'f32'))).toEqual(values.map(Math.fround));
        const asInt = data(cpu.cast(x, 'i32'));
        expect(asInt).toEqual(values.map((v) => Math.trunc(v) | 0));
        expect(data(cpu.cast(cpu.cast(x, 'i32'), 'f64'))).toEqual(asInt);
        expect(cpu.cast(x, 'u32').dtype).toBe('u32');
      }),
      FC,
    );
    expect(data(cpu.cast(make([-2.7, 2.7, -0.5], [3], 'f32'), 'i32'))).toEqual([-2, 2, 0]);
  });

  it('reshape is a view with the same data (one −1 inferred), and keeps the dtype', () => {
    fc.assert(
      fc.property(arbTensorData(3, 4, 10), ({ shape, values }) => {
        const x = make(values, shape, 'f32');
        const flat = cpu.reshape(x, [-1]);
        expect(flat.shape).toEqual([values.length]);
        expect(cpu.dataOf(flat)).toBe(cpu.dataOf(x));
        const back = cpu.reshape(flat, shape);
        expect(back.shape).toEqual(shape);
        expect(back.dtype).toBe('f32');
        expect(data(back)).toEqual(data(x));
      }),
      FC,
    );
    expect(cpu.reshape(cpu.zeros([2, 6], 'f64'), [3, -1, 2]).shape).toEqual([3, 2, 2]);
  });
});

describe('empty tensors', () => {
  it('ops on zero-size shapes return correctly shaped empty tensors', () => {
    const empty = cpu.zeros([0, 3], 'f64');
    expect(cpu.add(empty, cpu.full([3], 1, 'f64')).shape).toEqual([0, 3]);
    expect(cpu.sum(empty).shape).toEqual([0]);
    expect(cpu.softmax(empty).shape).toEqual([0, 3]);
    expect(cpu.matmul(empty, cpu.zeros([3, 2], 'f64')).shape).toEqual([0, 2]);
    expect(cpu.embedding(cpu.zeros([4, 2], 'f32'), cpu.zeros([0], 'i32')).shape).toEqual([0, 2]);
    expect(cpu.topK(empty, 2).shape).toEqual([0, 3]);
    expect(cpu.uniform([0], { seed: 1 }).size).toBe(0);
    expect(cpu.normal([2, 0], { seed: 1 }).size).toBe(0);
    expect(cpu.sampleCategorical(empty, { seed: 1 }).shape).toEqual([0]);
  });
});
