import {
  ArgumentError,
  type CpuBackend,
  createBackend,
  DTypeError,
  tidy,
  valueAndGrad,
} from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expNonPositive,
  gatedResidual,
  geluTanhFast,
  layerNormModulate,
  softmaxRowsFast,
} from '../src/cpu-fast';
import { maxAbsDiff } from './fixture';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const f32Array = (n: number) =>
  fc.array(fc.float({ min: -30, max: 30, noNaN: true }), { minLength: n, maxLength: n });

describe('cpu fast paths (f32, inference only)', () => {
  it('expNonPositive is within 1e-8 relative of Math.exp on [−103, 0], 0 below, exact at 0', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -103, max: 0, noNaN: true }),
        (x) => Math.abs(expNonPositive(x) / Math.exp(x) - 1) < 1e-8,
      ),
      { seed: 1, numRuns: 5000 },
    );
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-200)).toBe(0);
    expect(expNonPositive(Number.NEGATIVE_INFINITY)).toBe(0);
  });

  it('softmaxRowsFast matches the backend softmax (incl. −∞ entries) and leaves its input alone', async () => {
    await fc.assert(
      fc.asyncProperty(f32Array(24), fc.nat({ max: 23 }), async (values, masked) => {
        const data = Float32Array.from(values);
        data[masked] = Number.NEGATIVE_INFINITY;
        const x = cpu.tensor(data, [3, 8]);
        const fast = await softmaxRowsFast(x).read();
        expect(fast[masked]).toBe(0);
        expect(await x.read()).toEqual(data);
        return maxAbsDiff(fast, await cpu.softmax(x).read()) < 1e-7;
      }),
      { seed: 2, numRuns: 200 },
    );
  });

  it('geluTanhFast matches the backend geluTanh', async () => {
    await fc.assert(
      fc.asyncProperty(f32Array(64), async (values) => {
        const x = cpu.tensor(Float32Array.from(values), [64]);
        return maxAbsDiff(await geluTanhFast(x).read(), await cpu.geluTanh(x).read()) < 1e-6;
      }),
      { seed: 3, numRuns: 200 },
    );
  });

  it('layerNormModulate and gatedResidual match layerNorm, mul and add of the backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        f32Array(2 * 3 * 8),
        f32Array(8),
        f32Array(2 * 8),
        f32Array(2 * 8),
        async (xs, ws, shs, scs) => {
          const x = cpu.tensor(Float32Array.from(xs), [2, 3, 8]);
          const w = cpu.tensor(
            Float32Array.from(ws, (v) => v / 30),
            [8],
          );
          const sh = cpu.tensor(Float32Array.from(shs), [2, 1, 8]);
          const sc = cpu.tensor(
            Float32Array.from(scs, (v) => v / 30),
            [2, 1, 8],
          );
          const ln = cpu.layerNorm(x, w, 1e-5);
          const expected = cpu.add(cpu.mul(ln, cpu.scale(sc, 1, 1)), sh);
          const read = (t: { read(): Promise<ArrayLike<number>> }) => t.read();
          const fused = await read(layerNormModulate(x, w, 1e-5, sh, sc));
          const plain = await read(layerNormModulate(x, w, 1e-5, undefined, undefined));
          const residual = await read(gatedResidual(x, ln, sc));
          const residualExpected = await read(cpu.add(x, cpu.mul(sc, ln)));
          return (
            maxAbsDiff(fused, await read(expected)) < 1e-4 &&
            maxAbsDiff(plain, await read(ln)) < 1e-5 &&
            maxAbsDiff(residual, residualExpected) < 1e-5 &&
            maxAbsDiff(await read(gatedResidual(x, ln, undefined)), await read(cpu.add(x, ln))) === 0
          );
        },
      ),
      { seed: 4, numRuns: 100 },
    );
  });

  it('refuse f64 and calls inside a gradient scope (they have no backward rule)', async () => {
    const x64 = cpu.tensor([1, 2, 3], [1, 3], 'f64');
    expect(() => softmaxRowsFast(x64)).toThrow(DTypeError);
    const x = cpu.tensor([1, 2, 3], [1, 3], 'f32');
    const f = valueAndGrad((p: { x: typeof x }) => tidy(() => cpu.sum(cpu.sum(geluTanhFast(p.x)))));
    await expect(f({ x })).rejects.toThrow(ArgumentError);
    await expect(f({ x })).rejects.toThrow(/gradient scope/);
  });
});
