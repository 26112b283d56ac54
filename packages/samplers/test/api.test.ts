/**
 * Sampler API: streaming equals sampling, seeds, progress, cancellation, caching, filters, guidance, semi-AR,
 * few-step sampling and typed errors for bad input.
 */
import { type Backend, KernelError, type Tensor } from '@duality/kernels';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ancestralSampler,
  ContextLengthError,
  cachedAncestralSampler,
  type Denoiser,
  DenoiserOutputError,
  factorizedOracle,
  psiSampler,
  type Sampler,
  SamplerConfigError,
  type SamplerState,
  SamplingAbortedError,
  stringSetOracle,
} from '../src/index';
import { chiSquare, chiSquareCritical, cpu, factorRows, makeProcess } from './helpers';

let backend: Backend;
beforeAll(async () => {
  backend = await cpu();
});

const read = async (t: Tensor) => Array.from(await t.read());

async function collect(sampler: Sampler, denoiser: Denoiser, request: Parameters<Sampler['run']>[1]) {
  const states: SamplerState[] = [];
  for await (const s of sampler.run(denoiser, request)) states.push(s);
  return states;
}

/** Counts denoiser calls. */
function counting(d: Denoiser): Denoiser & { calls: number } {
  const wrapped = {
    calls: 0,
    vocabSize: d.vocabSize,
    contextLength: d.contextLength,
    timeConditioned: d.timeConditioned,
    predict: (xt: Tensor, sigma: Float64Array) => {
      wrapped.calls++;
      return d.predict(xt, sigma);
    },
  };
  return wrapped;
}

const SEQS = [
  [0, 1, 2, 3],
  [1, 1, 0, 2],
  [3, 2, 1, 0],
  [2, 2, 2, 1],
];

describe('streaming and seeds', () => {
  it.each(['masked', 'uniform'] as const)(
    '%s: a streamed run ends on the ids sample() returns, for every sampler',
    async (name) => {
      const process = makeProcess(backend, name, 4);
      const oracle = stringSetOracle(backend, process, SEQS);
      const samplers = [
        ancestralSampler({ process, steps: 5 }),
        cachedAncestralSampler({ process, steps: 5, noiseRemoval: 'greedy' }),
        psiSampler({ process, steps: 5, kappa: { kind: 'max-capped', eta: 0.5 }, topP: 0.9 }),
      ];
      for (const sampler of samplers) {
        const request = { batch: 16, length: 4, seed: 99 };
        const states = await collect(sampler, oracle, { ...request, x0Argmax: true });
        const sampled = await read(await sampler.sample(oracle, request));
        expect(states).toHaveLength(6);
        expect(states.map((s) => s.phase)).toEqual(['step', 'step', 'step', 'step', 'step', 'final']);
        expect(Array.from(states[5].xt)).toEqual(sampled);
        expect(states[0].x0Argmax).toHaveLength(64);
        expect(states.slice(0, 5).map((s) => s.t)).toEqual(Array.from(sampler.plan.times.slice(1)));
      }
    },
  );

  it('the same seed gives the same ids; another seed other ids', async () => {
    const process = makeProcess(backend, 'uniform', 4);
    const oracle = stringSetOracle(backend, process, SEQS);
    const sampler = psiSampler({ process, steps: 4, kappa: { kind: 'constant', eta: 0.5 } });
    const a = await read(await sampler.sample(oracle, { batch: 32, length: 4, seed: 5 }));
    const b = await read(await sampler.sample(oracle, { batch: 32, length: 4, seed: 5 }));
    const c = await read(await sampler.sample(oracle, { batch: 32, length: 4, seed: 6n }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('reports progress after every step', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const seen: number[] = [];
    await ancestralSampler({ process, steps: 7 }).sample(oracle, {
      batch: 2,
      length: 3,
      seed: 1,
      onProgress: (p) => seen.push(p.done / p.total),
    });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => i / 7));
  });
});

describe('cancellation', () => {
  it('an aborted signal stops a run between steps with SamplingAbortedError', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const controller = new AbortController();
    const steps: number[] = [];
    const run = async () => {
      for await (const s of ancestralSampler({ process, steps: 50 }).run(oracle, {
        batch: 2,
        length: 3,
        seed: 1,
        signal: controller.signal,
      })) {
        steps.push(s.step);
        if (s.step === 3) controller.abort();
      }
    };
    await expect(run()).rejects.toBeInstanceOf(SamplingAbortedError);
    expect(steps).toEqual([1, 2, 3]);
  });

  it('abort releases a denoiser that never answers', async () => {
    const process = makeProcess(backend, 'masked');
    const hung: Denoiser = { vocabSize: 4, predict: () => new Promise<Tensor>(() => {}) };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const pending = ancestralSampler({ process, steps: 3 }).sample(hung, {
      batch: 1,
      length: 3,
      seed: 1,
      signal: controller.signal,
    });
    await expect(pending).rejects.toBeInstanceOf(SamplingAbortedError);
  });
});

describe('ancestral with cache (masked, time-independent denoiser)', () => {
  it('gives the same ids as plain ancestral with fewer denoiser calls', async () => {
    const process = makeProcess(backend, 'masked', 4);
    const oracle = stringSetOracle(backend, process, SEQS);
    expect(oracle.timeConditioned).toBe(false);
    const plain = counting(oracle);
    const cached = counting(oracle);
    const request = { batch: 4, length: 4, seed: 8 };
    const a = await read(await ancestralSampler({ process, steps: 64 }).sample(plain, request));
    const b = await read(await cachedAncestralSampler({ process, steps: 64 }).sample(cached, request));
    expect(b).toEqual(a);
    expect(plain.calls).toBe(65); // 64 steps + noise removal
    expect(cached.calls).toBeLessThan(20); // at most one call per change of x_t: ≤ 16 unmaskings + 1
  });

  it('does not cache a time-conditioned denoiser', async () => {
    const process = makeProcess(backend, 'uniform', 4);
    const oracle = counting(stringSetOracle(backend, process, SEQS));
    await cachedAncestralSampler({ process, steps: 10 }).sample(oracle, { batch: 4, length: 4, seed: 8 });
    expect(oracle.calls).toBe(11); // 10 steps + noise removal
  });
});

describe('filters, float64, few steps', () => {
  it('top-k = 1 returns the mode of every position', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const ids = await read(
      await ancestralSampler({ process, steps: 3, topK: 1 }).sample(oracle, {
        batch: 50,
        length: 3,
        seed: 2,
      }),
    );
    expect(new Set(ids.filter((_, i) => i % 3 === 0))).toEqual(new Set([0]));
    expect(new Set(ids.filter((_, i) => i % 3 === 1))).toEqual(new Set([1]));
    expect(new Set(ids.filter((_, i) => i % 3 === 2))).toEqual(new Set([2]));
  });

  it('top-p samples the renormalised nucleus (χ² against the truncated law)', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, [[0.5, 0.3, 0.2, 0]]);
    const ids = await read(
      await ancestralSampler({ process, steps: 2, topP: 0.7 }).sample(oracle, {
        batch: 2000,
        length: 3,
        seed: 3,
      }),
    );
    const nucleus = [0.625, 0.375, 0, 0]; // smallest top set with mass ≥ 0.7 is {0, 1}
    const { stat, df, impossible } = chiSquare(ids, 3, [nucleus, nucleus, nucleus]);
    expect(impossible).toBe(0);
    expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
  });

  it('float64 sampling keeps the law and refuses a backend without f64', async () => {
    const process = makeProcess(backend, 'uniform');
    const oracle = factorizedOracle(backend, process, factorRows('uniform'), { dtype: 'f64' });
    const sampler = psiSampler({ process, steps: 3, float64: true, kappa: { kind: 'constant', eta: 0.3 } });
    const ids = await read(await sampler.sample(oracle, { batch: 2000, length: 3, seed: 4 }));
    const { stat, df } = chiSquare(ids, 3, factorRows('uniform'));
    expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
    const noF64 = { ...process, backend: { ...backend, supportsF64: false, name: 'webgpu' as const } };
    expect(() => ancestralSampler({ process: noF64 as typeof process, steps: 3, float64: true })).toThrow(
      SamplerConfigError,
    );
  });

  it('one step with greedy noise removal gives the per-position mode for masked diffusion', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const sampler = ancestralSampler({ process, steps: 1, eps: 0.999999, noiseRemoval: 'greedy' });
    // one step from t = 1 to t ≈ 1 reveals almost nothing; the greedy tail then fills the argmax
    const ids = await read(await sampler.sample(oracle, { batch: 20, length: 3, seed: 5 }));
    const modes = ids.filter((x, i) => x === [0, 1, 2][i % 3]).length;
    expect(modes).toBeGreaterThanOrEqual(58);
  });

  it("noise removal 'none' can leave masks; 'ancestral' never does", async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'));
    const base = { process, steps: 1, eps: 0.5 };
    const none = await read(
      await ancestralSampler({ ...base, noiseRemoval: 'none' }).sample(oracle, {
        batch: 100,
        length: 3,
        seed: 6,
      }),
    );
    const full = await read(await ancestralSampler(base).sample(oracle, { batch: 100, length: 3, seed: 6 }));
    expect(none.filter((x) => x === 3).length).toBeGreaterThan(50); // α(0.5) = 0.5: about half still masked
    expect(full.filter((x) => x === 3)).toHaveLength(0);
  });
});

describe('classifier-free guidance', () => {
  /** Two classes with different factorised laws; label 2 (= numClasses) is their even mixture. */
  function classOracle(process: ReturnType<typeof makeProcess>): Denoiser {
    const rows = [
      [0.7, 0.2, 0.1, 0],
      [0.1, 0.3, 0.6, 0],
    ];
    const mix = rows[0].map((v, i) => (v + rows[1][i]) / 2);
    const oracles = [...rows, mix].map((r) => factorizedOracle(backend, process, [r]));
    return {
      vocabSize: 4,
      numClasses: 2,
      async predict(xt, sigma, options) {
        const label = options?.labels?.[0] ?? 2;
        return oracles[label].predict(xt, sigma);
      },
    };
  }

  it('γ mixes the conditional and unconditional posteriors in log space: revealed ids ∝ p_c^γ p_u^(1−γ)', async () => {
    const process = makeProcess(backend, 'masked');
    const denoiser = classOracle(process);
    const gamma = 2;
    const sampler = ancestralSampler({
      process,
      steps: 1,
      eps: 0.5,
      noiseRemoval: 'none',
      guidance: { weight: gamma },
    });
    const ids = await read(
      await sampler.sample(denoiser, { batch: 1500, length: 2, seed: 7, labels: new Array(1500).fill(0) }),
    );
    const pc = [0.7, 0.2, 0.1];
    const pu = [0.4, 0.25, 0.35];
    const raw = pc.map((v, i) => v ** gamma * pu[i] ** (1 - gamma));
    const z = raw.reduce((a, b) => a + b);
    const law = [...raw.map((v) => v / z), 0];
    const revealed = ids.filter((x) => x !== 3);
    expect(revealed.length).toBeGreaterThan(1200); // α(0.5) = 0.5 of 3000 positions
    const { stat, df, impossible } = chiSquare(revealed, 1, [law]);
    expect(impossible).toBe(0);
    expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
  });

  it('γ = 0 samples the unconditional law, γ = 1 the conditional one', async () => {
    const process = makeProcess(backend, 'masked');
    const denoiser = classOracle(process);
    const labels = new Array(1000).fill(1);
    for (const [weight, law] of [
      [0, [0.4, 0.25, 0.35, 0]],
      [1, [0.1, 0.3, 0.6, 0]],
    ] as const) {
      const sampler = ancestralSampler({ process, steps: 2, guidance: { weight } });
      const ids = await read(await sampler.sample(denoiser, { batch: 1000, length: 2, seed: 8, labels }));
      const { stat, df } = chiSquare(ids, 1, [law as unknown as number[]]);
      expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
    }
  });

  it('refuses missing or out-of-range labels', async () => {
    const process = makeProcess(backend, 'masked');
    const denoiser = classOracle(process);
    const sampler = ancestralSampler({ process, steps: 2, guidance: { weight: 1.5 } });
    await expect(sampler.sample(denoiser, { batch: 2, length: 2, seed: 1 })).rejects.toBeInstanceOf(
      SamplerConfigError,
    );
    await expect(
      sampler.sample(denoiser, { batch: 2, length: 2, seed: 1, labels: [0, 3] }),
    ).rejects.toBeInstanceOf(SamplerConfigError);
  });
});

describe('semi-autoregressive blocks', () => {
  it('samples past the context in windows, keeps the law, streams the same ids', async () => {
    const process = makeProcess(backend, 'uniform');
    const row = factorRows('uniform')[0];
    const oracle = counting(factorizedOracle(backend, process, [row], { contextLength: 4 }));
    const sampler = psiSampler({
      process,
      steps: 3,
      kappa: { kind: 'constant', eta: 0.5 },
      semiAR: { stride: 3 },
    });
    const request = { batch: 1500, length: 10, seed: 9 };
    const ids = await read(await sampler.sample(oracle, request));
    // context 4, stride 3: windows [0, 4), [3, 7), [6, 10) (one given position each after the first), 3 steps + noise removal each
    expect(oracle.calls).toBe(3 * (3 + 1));
    const { stat, df } = chiSquare(ids, 10, new Array(10).fill(row));
    expect(stat).toBeLessThan(chiSquareCritical(df, 1e-6));
    const states = await collect(sampler, oracle, { ...request, batch: 3 });
    const again = await read(await sampler.sample(oracle, { ...request, batch: 3 }));
    expect(Array.from(states[states.length - 1].xt)).toEqual(again);
    expect(states[0].xt.slice(4, 10)).toEqual(new Int32Array(6).fill(-1));
  });

  it('refuses a length above the context without semi-AR', async () => {
    const process = makeProcess(backend, 'masked');
    const oracle = factorizedOracle(backend, process, factorRows('masked'), { contextLength: 3 });
    await expect(
      ancestralSampler({ process, steps: 2 }).sample(oracle, { batch: 1, length: 5, seed: 1 }),
    ).rejects.toBeInstanceOf(ContextLengthError);
  });
});

describe('bad input gets typed errors', () => {
  const process = () => makeProcess(backend, 'masked');

  it.each([
    ['steps 0', { steps: 0 }],
    ['steps 2.5', { steps: 2.5 }],
    ['topP 0', { steps: 2, topP: 0 }],
    ['topK 9', { steps: 2, topK: 9 }],
    ['eps 1', { steps: 2, eps: 1 }],
    ['guidance −1', { steps: 2, guidance: { weight: -1 } }],
    ['semiAR stride 0', { steps: 2, semiAR: { stride: 0 } }],
  ])('config %s → SamplerConfigError', (_label, extra) => {
    expect(() => ancestralSampler({ process: process(), ...extra })).toThrow(SamplerConfigError);
  });

  it('a κ outside [0, 1] is refused by the κ schedule (KernelError)', () => {
    expect(() => psiSampler({ process: process(), steps: 3, kappa: { kind: 'constant', eta: 2 } })).toThrow(
      KernelError,
    );
  });

  function badDenoiser(make: (xt: Tensor) => Tensor): Denoiser {
    return { vocabSize: 4, predict: async (xt) => make(xt) };
  }

  it.each([
    ['wrong shape', (xt: Tensor) => backend.zeros([xt.shape[0], xt.shape[1], 3], 'f32'), /shape/],
    ['an integer dtype', (xt: Tensor) => backend.zeros([xt.shape[0], xt.shape[1], 4], 'i32'), /dtype/],
    ['NaN', (xt: Tensor) => backend.full([xt.shape[0], xt.shape[1], 4], Number.NaN, 'f32'), /NaN/],
    ['non-normalised rows', (xt: Tensor) => backend.zeros([xt.shape[0], xt.shape[1], 4], 'f32'), /Σ exp = 4/],
  ])('a denoiser returning %s → DenoiserOutputError', async (_label, make, message) => {
    const sampler = ancestralSampler({ process: process(), steps: 2 });
    const pending = sampler.sample(badDenoiser(make), { batch: 2, length: 3, seed: 1 });
    await expect(pending).rejects.toBeInstanceOf(DenoiserOutputError);
    await expect(sampler.sample(badDenoiser(make), { batch: 2, length: 3, seed: 1 })).rejects.toThrow(
      message,
    );
  });

  it.each([
    ['batch 0', { batch: 0, length: 3, seed: 1 }],
    ['length −1', { batch: 1, length: -1, seed: 1 }],
    ['seed −1', { batch: 1, length: 3, seed: -1 }],
    ['seed 1.5', { batch: 1, length: 3, seed: 1.5 }],
  ])('request %s → SamplerConfigError', async (_label, request) => {
    const oracle = factorizedOracle(backend, process(), factorRows('masked'));
    await expect(
      ancestralSampler({ process: process(), steps: 2 }).sample(oracle, request),
    ).rejects.toBeInstanceOf(SamplerConfigError);
  });

  it('a denoiser of another vocabulary → SamplerConfigError', async () => {
    const wrong: Denoiser = { vocabSize: 7, predict: async (xt) => xt };
    await expect(
      ancestralSampler({ process: process(), steps: 2 }).sample(wrong, { batch: 1, length: 3, seed: 1 }),
    ).rejects.toBeInstanceOf(SamplerConfigError);
  });
});
