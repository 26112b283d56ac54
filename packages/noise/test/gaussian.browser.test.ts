/**
 * The processes on the webgpu backend (headless Chromium, SwiftShader adapter): the argmax of Gaussian latents has
 * the uniform-state law with alpha = T(gamma), the relaxations give the same x_t law, and the marginals agree
 * with the cpu backend.
 */
import { type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffusionTransform } from '../src/operator';
import { gaussian, masked, uniform } from '../src/processes';
import { temperedSoftmaxRelaxation, topKRelaxation, topKRelaxationRows } from '../src/relax';
import { topKRelax } from '../src/topk-op';
import { chiSquare, uniformStateLaw } from './stats';

let gpu: Backend;
let cpu: Backend;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
});
afterAll(() => gpu.destroy());

function relativeCounts(xt: ArrayLike<number>, x0: ArrayLike<number>, K: number): Float64Array {
  const c = new Float64Array(K);
  for (let i = 0; i < xt.length; i++) c[(xt[i] - x0[i] + K) % K]++;
  return c;
}

describe('gaussian process on webgpu', () => {
  it('argmax of latents has the uniform-state law with alpha = T(gamma) (chi-square, several K and t)', async () => {
    const B = 2;
    const L = 2000;
    for (const [K, t, seed] of [
      [2, 0.3, 41],
      [7, 0.5, 42],
      [27, 0.9, 43],
    ] as const) {
      const proc = gaussian(gpu, { vocabSize: K, gammaMin: -3, gammaMax: 1 });
      expect(proc.dtype).toBe('f32');
      const x0 = Int32Array.from({ length: B * L }, (_, i) => (i * 7919) % K);
      const xt = await proc.sample(gpu.tensor(x0, [B, L], 'i32'), t, { seed }).read();
      const { stat, bound } = chiSquare(
        relativeCounts(xt, x0, K),
        uniformStateLaw(K, 0, diffusionTransform(-3 + 4 * t, K).alpha),
      );
      expect(stat, `K=${K} t=${t}`).toBeLessThan(bound);
    }
  });

  it('the tempered relaxation takes x_t = argmax, with the same law', async () => {
    const K = 11;
    const L = 3000;
    const x0 = Int32Array.from({ length: L }, (_, i) => (i * 3) % K);
    const { weights, xt } = temperedSoftmaxRelaxation(gpu, gpu.tensor(x0, [1, L], 'i32'), -1.5, K, {
      rng: { seed: 5 },
      tau: 0.2,
    });
    const w = await weights.read();
    const x = await xt.read();
    let sumErr = 0;
    for (let n = 0; n < L; n++) {
      let s = 0;
      for (let j = 0; j < K; j++) s += w[n * K + j];
      sumErr = Math.max(sumErr, Math.abs(s - 1));
    }
    expect(sumErr).toBeLessThan(1e-5);
    const { stat, bound } = chiSquare(
      relativeCounts(x, x0, K),
      uniformStateLaw(K, 0, diffusionTransform(-1.5, K).alpha),
    );
    expect(stat).toBeLessThan(bound);
  });

  it('the top-k WGSL kernel draws the same ids as the float64 host loop, close weights, and the T(gamma) law', async () => {
    const K = 27;
    const L = 6000;
    const k = 3;
    const x0 = Int32Array.from({ length: L }, (_, i) => (i * 5) % K);
    const out = await topKRelaxation(gpu, gpu.tensor(x0, [1, L], 'i32'), -2, K, {
      k,
      tau: 0.5,
      rng: { seed: 8, offset: 3 },
    });
    expect(out.weights.dtype).toBe('f32');
    const host = topKRelaxationRows(x0, 1, L, Float64Array.of(-2), K, {
      k,
      tau: 0.5,
      rng: { seed: 8, offset: 3 },
    });
    const xt = await out.xt.read();
    const idx = await out.indices.read();
    const w = await out.weights.read();
    // Positions whose kept set matches the host exactly (all but f32 near-ties of two latents).
    let same = 0;
    let worstWeight = 0;
    for (let n = 0; n < L; n++) {
      let match = true;
      for (let j = 0; j < k; j++) if (idx[n * k + j] !== host.indices[n * k + j]) match = false;
      if (!match) continue;
      same++;
      for (let j = 0; j < k; j++)
        worstWeight = Math.max(worstWeight, Math.abs(w[n * k + j] - host.weights[n * k + j]));
    }
    console.log(
      `top-k kernel vs host: ${same}/${L} positions identical, max |Δweight| ${worstWeight.toExponential(2)}`,
    );
    expect(same).toBeGreaterThan(0.995 * L);
    // The kernel's uniforms keep 23 of the host's 53 bits (and f32 maths): latents agree to ~1e-5, weights to ~1e-4.
    expect(worstWeight).toBeLessThan(1e-3);
    const { stat, bound } = chiSquare(
      relativeCounts(xt, x0, K),
      uniformStateLaw(K, 0, diffusionTransform(-2, K).alpha),
    );
    expect(stat).toBeLessThan(bound);
  });

  it('the top-k kernel at K = 50257, k = 64 keeps x_t = argmax and stays within [B, L, k]', async () => {
    const K = 50257;
    const L = 512;
    const x0 = Int32Array.from({ length: L }, (_, i) => (i * 7919) % K);
    const out = await topKRelaxation(gpu, gpu.tensor(x0, [1, L], 'i32'), -2.6, K, {
      k: 64,
      rng: { seed: 21 },
    });
    expect(out.indices.shape).toEqual([1, L, 64]);
    const host = topKRelaxationRows(x0, 1, L, Float64Array.of(-2.6), K, { k: 64, rng: { seed: 21 } });
    const xt = await out.xt.read();
    let same = 0;
    for (let n = 0; n < L; n++) if (xt[n] === host.xt[n]) same++;
    expect(same).toBeGreaterThan(0.99 * L);
  });

  it('outputs beyond one storage binding run in windows of positions with the same results', async () => {
    const K = 27;
    const [B, L, k] = [3, 50, 4];
    const x0 = gpu.tensor(
      Int32Array.from({ length: B * L }, (_, i) => (i * 11) % K),
      [B, L],
      'i32',
    );
    const args = {
      gammas: Float64Array.of(-2, -1, 0.5),
      vocabSize: K,
      k,
      tau: 0.1,
      rng: { seed: 5, offset: 9 },
      dtype: 'f32' as const,
    };
    const whole = topKRelax(x0, args);
    // 7 positions per window (7·k·4 bytes): 22 windows, the last partial, windows across batch rows
    const parts = topKRelax(x0, { ...args, maxBindingBytes: 7 * k * 4 });
    for (const name of ['indices', 'weights', 'xt'] as const)
      expect(Array.from(await parts[name].read())).toEqual(Array.from(await whole[name].read()));
  });

  it('hostLoop: true gives exactly the cpu numbers on webgpu', async () => {
    const K = 27;
    const x0 = Int32Array.from({ length: 200 }, (_, i) => (i * 5) % K);
    const out = await topKRelaxation(gpu, gpu.tensor(x0, [1, 200], 'i32'), -2, K, {
      k: 3,
      rng: { seed: 8 },
      hostLoop: true,
    });
    const host = topKRelaxationRows(x0, 1, 200, Float64Array.of(-2), K, { k: 3, rng: { seed: 8 } });
    expect(Array.from(await out.indices.read())).toEqual(Array.from(host.indices));
    expect(Array.from(await out.xt.read())).toEqual(Array.from(host.xt));
  });
});

describe('marginals on webgpu match cpu (f32)', () => {
  it('masked and uniform forward and posterior', async () => {
    const K = 6;
    const rows = [0.1, 0.2, 0.3, 0.25, 0.15, 0, 0.5, 0, 0, 0.5, 0, 0];
    for (const make of [
      (b: Backend) => masked(b, { vocabSize: K }),
      (b: Backend) => uniform(b, { vocabSize: K }),
    ]) {
      const results = [];
      for (const be of [gpu, cpu]) {
        const proc = make(be);
        const x0 = be.tensor(Float32Array.from(rows), [2, 1, K], 'f32');
        const xt = be.tensor(Int32Array.of(5, 3), [2, 1], 'i32');
        results.push([
          await proc.forward(x0, [0.3, 0.7]).read(),
          await proc.posterior(x0, xt, 0.2, [0.5, 0.9]).read(),
        ]);
      }
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < results[0][i].length; j++)
          expect(Math.abs(results[0][i][j] - results[1][i][j])).toBeLessThan(1e-6);
      }
    }
  });
});
