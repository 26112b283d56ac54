import { type CpuBackend, createBackend } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expNonPositive,
  gatedResidual,
  geluTanhInPlace,
  layerNormModulate,
  softmaxRowsInPlace,
} from '../src/cpu-fast';
import { maxAbsDiff } from './fixture';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const f32Array = (n: number) =>
  fc.array(fc.float({ min: -30, max: 30, noNaN: true }), { minLength: n, maxLength: n });

describe('cpu fast paths (f32)', () => {
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

  it('softmaxRowsInPlace matches the backend softmax (incl. −∞ entries)', () => {
    fc.assert(
      fc.property(f32Array(24), fc.nat({ max: 23 }), (values, masked) => {
        const data = Float32Array.from(values);
        data[masked] = Number.NEGATIVE_INFINITY;
        const expected = cpu.dataOf(cpu.softmax(cpu.fromArray(data.slice(), [3, 8])));
        const t = cpu.fromArray(data.slice(), [3, 8]);
        softmaxRowsInPlace(cpu, t);
        expect(cpu.dataOf(t)[masked]).toBe(0);
        return maxAbsDiff(cpu.dataOf(t), expected) < 1e-7;
      }),
      { seed: 2, numRuns: 300 },
    );
  });

  it('geluTanhInPlace matches the backend geluTanh', () => {
    fc.assert(
      fc.property(f32Array(64), (values) => {
        const data = Float32Array.from(values);
        const expected = cpu.dataOf(cpu.geluTanh(cpu.fromArray(data.slice(), [64])));
        const t = cpu.fromArray(data.slice(), [64]);
        geluTanhInPlace(cpu, t);
        return maxAbsDiff(cpu.dataOf(t), expected) < 1e-6;
      }),
      { seed: 3, numRuns: 300 },
    );
  });

  it('layerNormModulate and gatedResidual match layerNorm, mul and add of the backend', () => {
    fc.assert(
      fc.property(f32Array(2 * 3 * 8), f32Array(8), f32Array(2 * 8), f32Array(2 * 8), (xs, ws, shs, scs) => {
        const x = cpu.fromArray(Float32Array.from(xs), [2, 3, 8]);
        const w = cpu.fromArray(
          Float32Array.from(ws, (v) => v / 30),
          [8],
        );
        const sh = cpu.fromArray(Float32Array.from(shs), [2, 1, 8]);
        const sc = cpu.fromArray(
          Float32Array.from(scs, (v) => v / 30),
          [2, 1, 8],
        );
        const ln = cpu.layerNorm(x, w, 1e-5);
        const expected = cpu.add(cpu.mul(ln, cpu.scale(sc, 1, 1)), sh);
        const fused = layerNormModulate(cpu, x, w, 1e-5, sh, sc);
        const plain = layerNormModulate(cpu, x, w, 1e-5);
        const residual = gatedResidual(cpu, x, ln, sc);
        const residualExpected = cpu.add(x, cpu.mul(sc, ln));
        return (
          maxAbsDiff(cpu.dataOf(fused), cpu.dataOf(expected)) < 1e-4 &&
          maxAbsDiff(cpu.dataOf(plain), cpu.dataOf(ln)) < 1e-5 &&
          maxAbsDiff(cpu.dataOf(residual), cpu.dataOf(residualExpected)) < 1e-5 &&
          maxAbsDiff(cpu.dataOf(gatedResidual(cpu, x, ln)), cpu.dataOf(cpu.add(x, ln))) === 0
        );
      }),
      { seed: 4, numRuns: 200 },
    );
  });
});
