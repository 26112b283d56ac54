import { ArgumentError, type CpuBackend, createBackend, KernelError, type Tensor } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkProbRows,
  DEFAULT_TOLERANCE,
  gaussian,
  logLinear,
  masked,
  type NoiseProcess,
  NonFiniteError,
  NotADistributionError,
  uniform,
} from '../src/index';

let cpu: CpuBackend;
beforeAll(async () => {
  cpu = (await createBackend('cpu', { threads: 0 })) as CpuBackend;
});
afterAll(() => cpu.destroy());

const K = 4;
const NAMES = ['masked', 'uniform', 'gaussian'] as const;
const make = (name: (typeof NAMES)[number]): NoiseProcess =>
  name === 'masked'
    ? masked(cpu, { vocabSize: K })
    : name === 'uniform'
      ? uniform(cpu, { vocabSize: K })
      : gaussian(cpu, { vocabSize: K });
const processes = (): Array<[string, NoiseProcess]> => NAMES.map((n) => [n, make(n)]);
const row = (values: number[], dtype: 'f32' | 'f64' = 'f64'): Tensor =>
  cpu.tensor(dtype === 'f64' ? Float64Array.from(values) : Float32Array.from(values), [1, 1, K], dtype);
const xt0 = () => cpu.tensor(Int32Array.from([0]), [1, 1], 'i32');

/** Every entry point that takes x0Probs, on one row. */
const calls = (p: NoiseProcess, x: Tensor): Array<[string, () => unknown]> => [
  ['forward', () => p.forward(x, 0.5)],
  ['marginalAt', () => p.marginalAt(x, 0.5)],
  ['posterior', () => p.posterior(x, xt0(), 0.25, 0.5)],
  ['bridgeAt', () => p.bridgeAt(x, xt0(), 0.8, 0.4)],
];

const bad: Array<[string, number[], typeof NonFiniteError | typeof NotADistributionError]> = [
  ['a NaN entry', [Number.NaN, 0.5, 0.25, 0.25], NonFiniteError],
  ['an infinite entry', [Number.POSITIVE_INFINITY, 0, 0, 0], NonFiniteError],
  ['a negative entry', [1.2, -0.2, 0, 0], NotADistributionError],
  ['a row summing to 0.9', [0.3, 0.3, 0.3, 0], NotADistributionError],
  ['a row summing to 2', [1, 1, 0, 0], NotADistributionError],
];

describe('x0Probs rows are checked like psiPosterior checks them (cpu)', () => {
  for (const name of NAMES) {
    for (const [what, values, ErrorClass] of bad) {
      it(`${name}: ${what} is refused by forward, marginalAt, posterior and bridgeAt`, () => {
        const p = make(name);
        for (const dtype of ['f64', 'f32'] as const) {
          for (const [method, call] of calls(p, row(values, dtype))) {
            let error: unknown;
            try {
              call();
            } catch (e) {
              error = e;
            }
            expect(error, `${name}.${method} ${dtype}`).toBeInstanceOf(ErrorClass);
            expect(error).toBeInstanceOf(KernelError);
            expect((error as Error).message).toContain(`${name}.${method}`);
          }
        }
      });
    }
    it(`${name}: rows within the stated tolerance pass, just outside do not`, () => {
      const p = make(name);
      for (const dtype of ['f64', 'f32'] as const) {
        const tol = DEFAULT_TOLERANCE[dtype];
        const inside = row([0.25 + tol / 2, 0.25, 0.25, 0.25], dtype);
        for (const [, call] of calls(p, inside)) expect(() => call()).not.toThrow();
        const outside = row([0.25 + tol * 4, 0.25, 0.25, 0.25], dtype);
        for (const [, call] of calls(p, outside)) expect(() => call()).toThrow(NotADistributionError);
      }
    });
    it(`${name}: a value that is not a tensor is an ArgumentError, not a TypeError`, () => {
      const p = make(name);
      for (const x of [null, undefined, new Float32Array(K), 3, {}]) {
        for (const [, call] of calls(p, x as unknown as Tensor)) expect(call).toThrow(ArgumentError);
        expect(() => p.bridgeAt(row([1, 0, 0, 0]), x as unknown as Tensor, 1, 0.5)).toThrow(ArgumentError);
      }
    });
  }

  it('checkProbRows is the one check: the row index and the sum are named', () => {
    expect(() => checkProbRows('op', [0.5, 0.5, 0.7, 0.2], 2, 1e-9)).toThrow(/row 1 summing to 0\.8999/);
    expect(() => checkProbRows('op', [], 2, 1e-9)).not.toThrow();
  });
});

describe('bridges at equal alphas are the identity onehot(xt) (no NaN at the end points)', () => {
  const read = (t: Tensor) => Array.from(t.backend === cpu ? cpu.dataOf(t) : []);
  const oneHot = (id: number) => Array.from({ length: K }, (_, j) => (j === id ? 1 : 0));

  it('bridgeAt(x0, xt, 1, 1) = onehot(xt), also where x0 gives xt no mass', () => {
    for (const [, p] of processes()) {
      for (const x0 of [
        [0.25, 0.25, 0.25, 0.25],
        [0, 1, 0, 0],
      ]) {
        for (const id of [0, 2, K - 1]) {
          const xt = cpu.tensor(Int32Array.from([id]), [1, 1], 'i32');
          expect(read(p.bridgeAt(row(x0), xt, 1, 1))).toEqual(oneHot(id));
        }
      }
    }
  });

  it('the uniform bridge at alphaS = alphaT = 0 (a schedule with eps = 0 at t = 1) is onehot(xt)', () => {
    const p = uniform(cpu, { vocabSize: K, schedule: logLinear({ eps: 0 }) });
    const xt = cpu.tensor(Int32Array.from([3]), [1, 1], 'i32');
    expect(read(p.bridgeAt(row([0.1, 0.2, 0.3, 0.4]), xt, 0, 0))).toEqual(oneHot(3));
    expect(read(p.bridgeAt(row([0.1, 0.2, 0.3, 0.4]), xt, 1e-300, 0)).every(Number.isFinite)).toBe(true);
  });

  it('property: along alphaS = alphaT the bridge is onehot(xt); near 1 it is finite and normalised', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMES),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: K, maxLength: K }),
        fc.integer({ min: 0, max: K - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1e-6, noNaN: true }),
        (name, weights, id, alpha, gap) => {
          const p = make(name);
          const total = weights.reduce((a, b) => a + b, 0);
          const x0 = total > 0 ? weights.map((w) => w / total) : oneHot(0);
          const xt = cpu.tensor(Int32Array.from([id]), [1, 1], 'i32');
          const same = read(p.bridgeAt(row(x0), xt, alpha, alpha));
          for (let j = 0; j < K; j++) expect(same[j]).toBeCloseTo(j === id ? 1 : 0, 12);
          const near = read(p.bridgeAt(row(x0), xt, 1, 1 - gap));
          expect(near.every((v) => Number.isFinite(v) && v >= -1e-12)).toBe(true);
          expect(Math.abs(near.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-9);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('factories called without a backend', () => {
  it('uniform(options) / masked(options) / gaussian(options) are ArgumentErrors that say what is expected', () => {
    const factories = { uniform, masked, gaussian } as Record<string, (...args: unknown[]) => unknown>;
    for (const [name, make] of Object.entries(factories)) {
      expect(() => make({ vocabSize: 5 })).toThrow(ArgumentError);
      expect(() => make({ vocabSize: 5 })).toThrow(/a Backend first/);
      expect(() => make(undefined, { vocabSize: 5 })).toThrow(ArgumentError);
      expect(() => make(cpu)).toThrow(ArgumentError);
      expect(() => make(cpu, null)).toThrow(/options null/);
      expect(make(cpu, { vocabSize: 5 })).toHaveProperty('kind', name);
    }
  });
});
