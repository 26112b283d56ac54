import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import type { Backend, Tensor } from '../types';
import { tidy } from './engine';
import { valueAndGrad } from './grad';

const b = createCpuBackend({ threads: 0 });

/** Central finite differences of a scalar function of one f64 tensor. */
async function numericGrad(f: (x: Tensor) => Tensor, x: Float64Array, shape: number[], h = 1e-6) {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const at = async (d: number) => {
      const y = x.slice();
      y[i] += d;
      const t = b.tensor(y, shape, 'f64');
      const v = f(t);
      const r = (await v.read())[0];
      t.dispose();
      v.dispose();
      return r;
    };
    g[i] = ((await at(h)) - (await at(-h))) / (2 * h);
  }
  return g;
}

function sumAll(bk: Backend, t: Tensor): Tensor {
  return tidy(() => bk.sum(bk.reshape(t, [t.size])));
}

describe('valueAndGrad', () => {
  it('x ↦ Σ log(softmax(x·w + c)) matches finite differences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        async (rows, cols, seed) => {
          const n = rows * cols;
          const xs = Float64Array.from({ length: n }, (_, i) => Math.sin(seed + i * 1.7));
          const w = b.tensor(
            Float64Array.from({ length: cols * 2 }, (_, i) => Math.cos(seed * 3 + i)),
            [cols, 2],
            'f64',
          );
          const f = (x: Tensor) =>
            tidy(() => {
              const y = b.matmul(x, w);
              const z = b.logSoftmax(b.mul(y, y));
              return sumAll(b, z);
            });
          const x = b.tensor(xs, [rows, cols], 'f64');
          const { value, grads } = await valueAndGrad(f)(x);
          const g = await grads.read();
          const num = await numericGrad(f, xs, [rows, cols]);
          for (let i = 0; i < n; i++)
            expect(Math.abs(g[i] - num[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(num[i])));
          value.dispose();
          grads.dispose();
          x.dispose();
          w.dispose();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('defers disposal of saved tensors until backward ends', async () => {
    const x = b.tensor([0.5, -1, 2], [3], 'f64');
    const { grads } = await valueAndGrad((p: Tensor) => {
      const e = b.exp(p);
      const s = b.sum(e);
      e.dispose(); // the tape still needs e: freed after backward
      return s;
    })(x);
    const g = await grads.read();
    expect([...g]).toEqual([Math.exp(0.5), Math.exp(-1), Math.exp(2)]);
  });

  it('records nothing outside a gradient scope and gives zeros for unused parameters', async () => {
    const x = b.tensor([1, 2], [2], 'f64');
    const y = b.tensor([3, 4], [2], 'f64');
    const { grads } = await valueAndGrad((p: { x: Tensor; y: Tensor }) => b.sum(b.mul(p.x, p.x)))({ x, y });
    expect([...(await grads.x.read())]).toEqual([2, 4]);
    expect([...(await grads.y.read())]).toEqual([0, 0]);
  });
});
