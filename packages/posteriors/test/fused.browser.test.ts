import { type Backend, createBackend, IndexOutOfRangeError, type Tensor } from '@duality/kernels';
import { masked, uniform } from '@duality/noise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KappaRangeError,
  NonFiniteError,
  NotADistributionError,
  psiPosterior,
  psiSample,
} from '../src/index';
import { linearSchedule } from './processes';

let gpu: Backend;
let cpu: Backend;
beforeAll(async () => {
  gpu = await createBackend('webgpu');
  cpu = await createBackend('cpu', { threads: 0 });
});
afterAll(() => {
  gpu?.destroy();
  cpu?.destroy();
});

/** Softmax rows of LCG logits in [−3, 3) (masked: no mass on the last id) and ids (masked: every other row masked). */
function data(rows: number, k: number, kind: 'uniform' | 'masked', seed: number) {
  const x = new Float32Array(rows * k);
  let s = seed >>> 0;
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let j = 0; j < k; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v = kind === 'masked' && j === k - 1 ? 0 : Math.exp(((s >>> 8) / 8388608 - 1) * 3);
      x[r * k + j] = v;
      total += v;
    }
    for (let j = r * k; j < (r + 1) * k; j++) x[j] = Math.fround(x[j] / total);
  }
  const ids = Int32Array.from({ length: rows }, (_, r) =>
    kind === 'masked' && r % 2 === 0 ? k - 1 : (r * 7919) % k,
  );
  return { x, ids };
}

/** The built-in processes (they carry the fused-Ψ capability, so these tests run the fused kernels). */
const processOn = (backend: Backend, kind: 'uniform' | 'masked', k: number) =>
  kind === 'uniform'
    ? uniform(backend, { vocabSize: k, schedule: linearSchedule })
    : masked(backend, { vocabSize: k, schedule: linearSchedule });

const tensors = (backend: Backend, x: Float32Array, ids: Int32Array, b: number, l: number, k: number) => ({
  x0Probs: backend.tensor(x, [b, l, k], 'f32') as Tensor,
  xt: backend.tensor(ids, [b, l], 'i32') as Tensor,
});

describe('fused WGSL Ψ kernel against the cpu kernel', () => {
  for (const kind of ['uniform', 'masked'] as const) {
    for (const [b, l, k] of [
      [4, 32, 27],
      [1, 8, 1000],
    ]) {
      it(`${kind} [${b}, ${l}, ${k}]: probabilities agree to f32 precision`, async () => {
        const { x, ids } = data(b * l, k, kind, 5);
        const step = {
          alphaS: [0.7, 0.5, 0.9, 0.6].slice(0, b),
          alphaT: [0.3, 0.2, 0.8, 0.1].slice(0, b),
          kappa: [0.4, 1, 0, 0.75].slice(0, b),
        };
        const onGpu = await psiPosterior(processOn(gpu, kind, k), {
          ...tensors(gpu, x, ids, b, l, k),
          ...step,
        });
        const onCpu = await psiPosterior(processOn(cpu, kind, k), {
          ...tensors(cpu, x, ids, b, l, k),
          ...step,
        });
        const [g, c] = [await onGpu.read(), await onCpu.read()];
        let worst = 0;
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(g[i] - c[i]));
        expect(worst).toBeLessThan(2e-6);
      });

      it(`${kind} [${b}, ${l}, ${k}]: inverse-CDF ids agree with the cpu kernel on the same stream`, async () => {
        const { x, ids } = data(b * l, k, kind, 9);
        const step = { alphaS: 0.6, alphaT: 0.3, kappa: 0.4, stream: { seed: 1234, offset: 77 } };
        const onGpu = await psiSample(processOn(gpu, kind, k), { ...tensors(gpu, x, ids, b, l, k), ...step });
        const onCpu = await psiSample(processOn(cpu, kind, k), { ...tensors(cpu, x, ids, b, l, k), ...step });
        const [g, c] = [await onGpu.read(), await onCpu.read()];
        // Same uniform per row; the f32 prefix sums on the GPU differ from the cpu's f64 ones by ~1e-7, which moves
        // a draw only when u·total falls that close to a bucket edge.
        let same = 0;
        for (let r = 0; r < c.length; r++) if (g[r] === c[r]) same += 1;
        console.info(`${kind} [${b}, ${l}, ${k}]: ${same}/${c.length} ids equal`);
        expect(same / c.length).toBeGreaterThanOrEqual(0.98);
      });
    }
  }

  it('allowEqualTimes at alpha = 0 and 1 (0/0 in the closed forms) agrees with the cpu kernel, no NaN', async () => {
    const [b, l, k] = [2, 8, 27];
    for (const kind of ['uniform', 'masked'] as const) {
      const { x, ids } = data(b * l, k, kind, 31);
      for (const alpha of [0, 1]) {
        const step = { alphaS: alpha, alphaT: alpha, kappa: [0.3, 1] };
        const options = { allowEqualTimes: true };
        const onGpu = await psiPosterior(
          processOn(gpu, kind, k),
          { ...tensors(gpu, x, ids, b, l, k), ...step },
          options,
        );
        const onCpu = await psiPosterior(
          processOn(cpu, kind, k),
          { ...tensors(cpu, x, ids, b, l, k), ...step },
          options,
        );
        const [g, c] = [await onGpu.read(), await onCpu.read()];
        expect(Array.from(g).every(Number.isFinite)).toBe(true);
        let worst = 0;
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(g[i] - c[i]));
        expect(worst).toBeLessThan(2e-6);
        const drawn = await (
          await psiSample(
            processOn(gpu, kind, k),
            { ...tensors(gpu, x, ids, b, l, k), ...step, stream: { seed: 2 } },
            options,
          )
        ).read();
        if (alpha === 1) expect(Array.from(drawn)).toEqual(Array.from(ids)); // the identity
      }
    }
  });

  it('inputs larger than one storage binding run in row chunks with the same results', async () => {
    const [b, l] = [2, 20];
    for (const [kind, k] of [
      ['uniform', 300],
      ['masked', 300],
      ['uniform', 27],
      ['masked', 27],
    ] as const) {
      const { x, ids } = data(b * l, k, kind, 21);
      const step = { alphaS: [0.8, 0.5], alphaT: [0.4, 0.1], kappa: [0.3, 0.9] };
      const process = processOn(gpu, kind, k);
      const inputs = tensors(gpu, x, ids, b, l, k);
      // 7 rows per dispatch: 6 chunks, the last one partial, rows of both batch entries in one chunk
      const chunked = { maxBindingBytes: 7 * k * 4 };
      const whole = await (await psiPosterior(process, { ...inputs, ...step })).read();
      const parts = await (await psiPosterior(process, { ...inputs, ...step }, chunked)).read();
      expect(Array.from(parts)).toEqual(Array.from(whole));
      const stream = { seed: 5, offset: 3 };
      const a = await (await psiSample(process, { ...inputs, ...step, stream })).read();
      const c = await (await psiSample(process, { ...inputs, ...step, stream }, chunked)).read();
      expect(Array.from(c)).toEqual(Array.from(a));
      const bad = tensors(
        gpu,
        x,
        Int32Array.from(ids, (v, r) => (r === 33 ? k : v)),
        b,
        l,
        k,
      );
      await expect(psiSample(process, { ...bad, ...step, stream }, chunked)).rejects.toThrow(`xt[33] = ${k}`);
    }
  });

  it('refuses bad input on webgpu with the same typed errors', async () => {
    const k = 5;
    const process = processOn(gpu, 'uniform', k);
    const good = () => ({
      x0Probs: gpu.tensor([0.2, 0.2, 0.2, 0.2, 0.2], [1, 1, k], 'f32'),
      xt: gpu.tensor([1], [1, 1], 'i32'),
      s: 0.2,
      t: 0.5,
      kappa: 0.5,
    });
    await expect(psiPosterior(process, { ...good(), kappa: 1.01 })).rejects.toBeInstanceOf(KappaRangeError);
    await expect(
      psiPosterior(process, { ...good(), x0Probs: gpu.tensor([0.2, 0.2, 0.2, 0.2, 0.3], [1, 1, k], 'f32') }),
    ).rejects.toBeInstanceOf(NotADistributionError);
    await expect(
      psiSample(process, { ...good(), xt: gpu.tensor([7], [1, 1], 'i32'), stream: { seed: 1 } }),
    ).rejects.toBeInstanceOf(IndexOutOfRangeError);
    // checked inside the WGSL kernel (per-row Σ, min and id validity), for both modes
    const bad = [
      [{ x0Probs: gpu.tensor([Number.NaN, 0.2, 0.2, 0.2, 0.4], [1, 1, k], 'f32') }, NonFiniteError],
      [{ x0Probs: gpu.tensor([0.6, 0.6, -0.2, 0, 0], [1, 1, k], 'f32') }, NotADistributionError],
      [{ xt: gpu.tensor([-1], [1, 1], 'i32') }, IndexOutOfRangeError],
    ] as const;
    for (const [patch, type] of bad) {
      await expect(psiPosterior(process, { ...good(), ...patch })).rejects.toBeInstanceOf(type);
      await expect(psiSample(process, { ...good(), ...patch, stream: { seed: 2 } })).rejects.toBeInstanceOf(
        type,
      );
    }
    await expect(psiPosterior(process, { ...good(), xt: gpu.tensor([-1], [1, 1], 'i32') })).rejects.toThrow(
      /xt\[0\] = -1/,
    );
  });
});
