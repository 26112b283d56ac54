import { describe, expect, it } from 'vitest';
import { matmulKernel, matmulReference } from '../src/cpu/matmul';
import { cpuPoolThreads } from '../src/cpu/pool';
import { sampleCategoricalKernel, sampleCategoricalReference } from '../src/cpu/sample';
import { kernelsReady } from '../src/cpu/wasm/module';
import { philoxKey } from '../src/rng/philox';
import { planMatmul } from '../src/validate';

// A browser main thread may not block in Atomics.wait: the fast kernels run inline there, on the wasm module
// compiled asynchronously (synchronous compilation of modules over 4 KB is refused on the main thread).
describe('fast cpu kernels on a browser main thread', () => {
  it('compiles the wasm kernels asynchronously and runs single-threaded', async () => {
    expect(await kernelsReady()).toBe(true);
    expect(cpuPoolThreads()).toBe(1);
  });

  it('matmul equals the float64 reference within f32 rounding', async () => {
    await kernelsReady();
    const [m, k, n] = [33, 70, 41];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i));
    const bias = Float32Array.from({ length: n }, (_, i) => i / n);
    const plan = planMatmul('matmul', [m, k], [n, k], false, true, [n]);
    const out = new Float32Array(m * n);
    matmulKernel({ a, b, out, plan, transposeA: false, transposeB: true, bias });
    const ref = new Float64Array(m * n);
    matmulReference({ a, b, out: ref, plan, transposeA: false, transposeB: true, bias });
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i] - ref[i])).toBeLessThan(1e-4);
  });

  it('sampling equals the reference loop id for id', async () => {
    await kernelsReady();
    const [rows, n] = [6, 5003];
    const logits = Float32Array.from({ length: rows * n }, (_, i) => Math.sin(i * 0.7) * 3);
    const fast = new Int32Array(rows);
    const ref = new Int32Array(rows);
    sampleCategoricalKernel(logits, rows, n, philoxKey(5), 17, 1, fast);
    sampleCategoricalReference(logits, rows, n, philoxKey(5), 17, 1, ref);
    expect(Array.from(fast)).toEqual(Array.from(ref));
  });
});
