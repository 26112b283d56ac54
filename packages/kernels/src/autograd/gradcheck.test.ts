import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import { defineOp } from '../ops/define';
import type { Tensor } from '../types';
import { gradcheck, seededValues } from './gradcheck';

const b = createCpuBackend({ threads: 0 });

/** x ↦ x³ with a backward that is right (3x²) or deliberately off by `bias`. */
function cube(bias: number) {
  return defineOp({
    name: `cube${bias}`,
    cpu(ctx, x: Tensor): Tensor {
      const xs = ctx.data(x);
      const { tensor, data } = ctx.output(x.shape, x.dtype);
      for (let i = 0; i < xs.length; i++) data[i] = xs[i] ** 3;
      return tensor;
    },
    gradient: {
      inputs: ([x]) => [x],
      backward: (gy: Tensor, { backend, args: [x] }) => {
        const x2 = backend.mul(x, x);
        const d = backend.scale(x2, 3, bias);
        x2.dispose();
        const g = backend.mul(gy, d);
        d.dispose();
        return [g];
      },
    },
  });
}

describe('gradcheck', () => {
  const input = { data: seededValues(6, 3, -2, 2), shape: [2, 3] };

  it('accepts a correct rule with errors far below the tolerance', async () => {
    const r = await gradcheck(b, cube(0), [input]);
    expect(r.ok, r.message).toBe(true);
    expect(r.checked).toBe(6);
    expect(r.maxRelError).toBeLessThan(1e-9);
  });

  it('rejects a rule off by 1e-4 and names the worst element', async () => {
    const r = await gradcheck(b, cube(1e-4), [input]);
    expect(r.ok).toBe(false);
    expect(r.worst?.ratio).toBeGreaterThan(1);
    expect(r.message).toMatch(/FAILED: worst at input 0 \[\d, \d\]/);
  });

  it('weights each output element by its own cotangent (a rule summing gy would pass a plain sum)', async () => {
    // backward ignoring gy's per-element values: gives Σgy·3x² everywhere instead of gy_i·3x_i²
    const wrong = defineOp({
      name: 'cubeSumGy',
      cpu: cube(0).definition.cpu,
      gradient: {
        inputs: ([x]) => [x],
        backward: (gy: Tensor, { backend, args: [x] }) => {
          const flat = backend.reshape(gy, [gy.size]);
          const s = backend.sum(flat);
          const x2 = backend.mul(x, x);
          const d = backend.scale(x2, 3);
          const g = backend.mul(d, s);
          for (const t of [flat, s, x2, d]) t.dispose();
          return [g];
        },
      },
    });
    const r = await gradcheck(b, wrong, [input]);
    expect(r.ok).toBe(false);
  });

  it('skips integer and constant inputs', async () => {
    const r = await gradcheck(b, (x, y) => b.mul(x, y), [input, { ...input, constant: true }]);
    expect(r.ok, r.message).toBe(true);
    expect(r.checked).toBe(6);
  });
});
