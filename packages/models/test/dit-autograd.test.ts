/**
 * The differentiable DiT beyond the PyTorch fixture: directional finite-difference checks (float64, random
 * weights) of the variants the fixture does not cover — dropout in training mode, the causal (AR) variant, no
 * time conditioning, gradients w.r.t. the soft weights and the dense logits — the taped forward against the
 * untaped one (the cpu f32 inference kernels), and the parameter API (parameters / setParameters /
 * fromParameters, live tensors).
 */
import {
  adamwUpdate,
  type Backend,
  createBackend,
  DTypeError,
  type FloatDType,
  type Tensor,
  tidy,
  valueAndGrad,
} from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DiT,
  type DiTConfig,
  type DiTInput,
  type DiTParameters,
  ditConfig,
  type ForwardOptions,
  initStateDict,
  MissingTensorError,
  TensorShapeMismatchError,
} from '../src/index';
import { maxAbsDiff } from './fixture';
import { ditLoss } from './grad-helpers';

const base = { vocabSize: 9, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 2, length: 6 };
const [B, L] = [2, 5];

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
});
afterAll(() => backend.destroy());

const wave = (n: number, salt: number) =>
  Float64Array.from({ length: n }, (_, i) => Math.sin(12.9898 * (i + 1) + 78.233 * salt));

async function model(config: DiTConfig, dtype: FloatDType = 'f64', seed = 1): Promise<DiT> {
  return DiT.fromStateDict(backend, config, initStateDict(config, { seed, scheme: 'normal', std: 0.3 }), {
    dtype,
  });
}

type InputKind = 'tokens' | 'soft' | 'dense';

/** The input of a kind, with the float input tensor (soft weights, dense logits) that can take a gradient. */
function makeInput(
  kind: InputKind,
  V: number,
  dtype: FloatDType,
): { x?: Tensor; build(x?: Tensor): DiTInput } {
  const ids = Array.from({ length: B * L }, (_, i) => (i * 5 + 1) % V);
  if (kind === 'tokens') return { build: () => ({ tokens: backend.tensor(ids, [B, L], 'i32') }) };
  if (kind === 'soft') {
    const indices = backend.tensor(
      ids.flatMap((t) => [t, (t + 2) % V, (t + 3) % V]),
      [B, L, 3],
      'i32',
    );
    const x = backend.tensor(
      wave(B * L * 3, 4).map((w) => 0.4 + 0.3 * w),
      [B, L, 3],
      dtype,
    );
    return { x, build: (w) => ({ soft: { indices, weights: w as Tensor } }) };
  }
  const x = backend.tensor(
    wave(B * L * V, 5).map((w) => 2 * w),
    [B, L, V],
    dtype,
  );
  return { x, build: (z) => ({ dense: z as Tensor }) };
}

/** Σ c·log_softmax(logits)[y] with fixed c, y, as a function of the parameters and the input tensor. */
function lossOf(m: DiT, kind: InputKind, options: Omit<ForwardOptions, 'parameters'> = {}) {
  const V = m.config.vocabSize;
  const y = backend.tensor(
    Array.from({ length: B * L }, (_, i) => (i * 3) % V),
    [B, L],
    'i32',
  );
  const c = backend.tensor(wave(B * L, 9), [B, L], m.dtype);
  const input = makeInput(kind, V, m.dtype);
  const sigma = m.config.causal ? undefined : [0.7, 2.1];
  const run = async (p: { params: DiTParameters; x?: Tensor }) => {
    const logits = await m.forward(input.build(p.x), sigma, { ...options, parameters: p.params });
    return tidy(() => ditLoss(backend, logits, y, c));
  };
  return { run, x: input.x };
}

/**
 * ⟨∇L, D⟩ from valueAndGrad against the 4th-order central difference of L along a random direction D of every
 * parameter (and of the input tensor when it has one). Returns the relative error.
 */
async function directionalError(m: DiT, kind: InputKind, options: Omit<ForwardOptions, 'parameters'> = {}) {
  const { run, x } = lossOf(m, kind, options);
  const params = m.parameters();
  const point = x ? { params, x } : { params };
  const { value, grads } = await valueAndGrad(run)(point);
  value.dispose();
  const dirs: Record<string, Tensor> = {};
  let salt = 20;
  for (const [name, t] of Object.entries(params))
    dirs[name] = backend.tensor(wave(t.size, salt++), t.shape, m.dtype);
  const dx = x ? backend.tensor(wave(x.size, salt), x.shape, m.dtype) : undefined;
  let directional = 0;
  const dot = async (g: Tensor, d: Tensor) => {
    const [gs, ds] = [await g.read(), await d.read()];
    for (let i = 0; i < gs.length; i++) directional += gs[i] * ds[i];
  };
  for (const name of Object.keys(params)) await dot(grads.params[name], dirs[name]);
  if (x && dx && grads.x) await dot(grads.x, dx);
  const at = async (h: number) => {
    const moved: DiTParameters = {};
    for (const [name, t] of Object.entries(params))
      moved[name] = backend.add(t, backend.scale(dirs[name], h));
    const mx = x && dx ? backend.add(x, backend.scale(dx, h)) : undefined;
    const v = (await (await run({ params: moved, x: mx })).read())[0];
    for (const t of [...Object.values(moved), ...(mx ? [mx] : [])]) t.dispose();
    return v;
  };
  // the stencil's error falls as h⁴ along this direction (1e-2 → 1e-1 … 3e-5 → 1e-11); rounding stays < 1e-10
  const h = 3e-5;
  const fd = (8 * ((await at(h)) - (await at(-h))) - ((await at(2 * h)) - (await at(-2 * h)))) / (12 * h);
  return { rel: Math.abs(fd - directional) / Math.abs(directional), directional };
}

describe('DiT gradients against finite differences (cpu, f64, random weights)', () => {
  const cases: Array<[string, Partial<DiTConfig>, InputKind, Omit<ForwardOptions, 'parameters'>]> = [
    ['tokens, dropout 0.3 in training mode', {}, 'tokens', { train: { seed: 5, p: 0.3 } }],
    ['causal (AR) variant', { causal: true }, 'tokens', {}],
    ['causal with dropout', { causal: true, dropout: 0.2 }, 'tokens', { train: { seed: 2, offset: 77 } }],
    ['no time conditioning', { timeConditioning: false }, 'tokens', {}],
    ['soft input (gradient w.r.t. the weights too)', {}, 'soft', {}],
    ['dense input (gradient w.r.t. the logits too)', {}, 'dense', { train: { seed: 1, p: 0.1 } }],
  ];
  for (const [title, extra, kind, options] of cases) {
    it(title, async () => {
      const m = await model(ditConfig({ ...base, ...extra }));
      const { rel, directional } = await directionalError(m, kind, options);
      expect(Math.abs(directional)).toBeGreaterThan(1e-3);
      expect(rel).toBeLessThan(1e-8);
      m.dispose();
    });
  }

  it('dropout changes the gradient, and the same seed gives the same gradient', async () => {
    const m = await model(ditConfig(base));
    const gradOf = async (options: Omit<ForwardOptions, 'parameters'>) => {
      const { run } = lossOf(m, 'tokens', options);
      const { grads } = await valueAndGrad(run)({ params: m.parameters() });
      return grads.params['blocks.0.mlp.0.weight'].read();
    };
    const a = await gradOf({ train: { seed: 3, p: 0.5 } });
    const b = await gradOf({ train: { seed: 3, p: 0.5 } });
    const evalGrad = await gradOf({});
    expect(a).toEqual(b);
    expect(maxAbsDiff(a, evalGrad)).toBeGreaterThan(1e-4);
    m.dispose();
  });
});

describe('one forward, taped or not', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    it(`${dtype}: the taped forward gives the untaped logits (${dtype === 'f32' ? 'cpu inference kernels vs backend ops' : 'bit for bit'})`, async () => {
      for (const extra of [{}, { causal: true }]) {
        const m = await model(ditConfig({ ...base, ...extra }), dtype);
        for (const kind of ['tokens', 'soft', 'dense'] as const) {
          const input = makeInput(kind, m.config.vocabSize, dtype);
          const sigma = m.config.causal ? undefined : [0.7, 2.1];
          const train = { seed: 4, p: 0.25 };
          const untaped = await (await m.forward(input.build(input.x), sigma, { train })).read();
          let taped: ArrayLike<number> = [];
          await valueAndGrad(async (p: DiTParameters) => {
            const logits = await m.forward(input.build(input.x), sigma, { train, parameters: p });
            taped = await logits.read();
            return tidy(() => backend.sum(backend.reshape(logits, [logits.size])));
          })(m.parameters());
          if (dtype === 'f64') expect(Array.from(taped)).toEqual(Array.from(untaped));
          else expect(maxAbsDiff(taped, untaped)).toBeLessThan(2e-6); // observed ≤ 1.2e-6 (|logits| ≈ 5)
        }
        m.dispose();
      }
    });
  }
});

describe('parameters', () => {
  it('parameters() are the tensors the forward reads; the object is a copy', async () => {
    const m = await model(ditConfig(base));
    const p = m.parameters();
    expect(Object.keys(p)).not.toContain('rotary_emb.inv_freq');
    expect(m.parameters()['vocab_embed.embedding']).toBe(p['vocab_embed.embedding']);
    delete p['vocab_embed.embedding'];
    expect(m.parameters()['vocab_embed.embedding']).toBeDefined();
    m.dispose();
  });

  it('fromParameters builds around the tensors (no copy) and gives the same logits', async () => {
    const config = ditConfig(base);
    const a = await model(config);
    const tokens = makeInput('tokens', config.vocabSize, 'f64').build();
    const copies: DiTParameters = {};
    for (const [name, t] of Object.entries(a.parameters())) copies[name] = backend.scale(t, 1);
    const b = DiT.fromParameters(config, copies);
    expect(b.parameters()['blocks.1.attn_qkv.weight']).toBe(copies['blocks.1.attn_qkv.weight']);
    expect(b.dtype).toBe('f64');
    const [la, lb] = [await a.forward(tokens, [1, 2]), await b.forward(tokens, [1, 2])];
    expect(await lb.read()).toEqual(await la.read());
    // the model owns them now
    b.dispose();
    expect(copies['vocab_embed.embedding'].disposed).toBe(true);
    a.dispose();
  });

  it('fromParameters refuses a missing, misshaped, unknown or mixed-dtype set', async () => {
    const config = ditConfig(base);
    const a = await model(config);
    const p = a.parameters();
    const { 'blocks.0.norm1.weight': _dropped, ...missing } = p;
    expect(() => DiT.fromParameters(config, missing)).toThrow(MissingTensorError);
    const bad = backend.zeros([3], 'f64');
    expect(() => DiT.fromParameters(config, { ...p, 'blocks.0.norm1.weight': bad })).toThrow(
      TensorShapeMismatchError,
    );
    expect(() => DiT.fromParameters(config, { ...p, extra: bad })).toThrow(MissingTensorError);
    const f32 = backend.zeros([16], 'f32');
    expect(() => DiT.fromParameters(config, { ...p, 'blocks.0.norm1.weight': f32 })).toThrow(DTypeError);
    a.dispose();
  });

  it('setParameters replaces tensors (the forward reads the new ones) and hands back the old', async () => {
    const config = ditConfig(base);
    const m = await model(config);
    const tokens = makeInput('tokens', config.vocabSize, 'f64').build();
    const before = await (await m.forward(tokens, [1, 1])).read();
    const oldHead = m.parameters()['output_layer.linear.bias'];
    const newHead = backend.full([config.vocabSize], 0.5, 'f64');
    const replaced = m.setParameters({ 'output_layer.linear.bias': newHead });
    expect(replaced['output_layer.linear.bias']).toBe(oldHead);
    expect(m.parameters()['output_layer.linear.bias']).toBe(newHead);
    const after = await (await m.forward(tokens, [1, 1])).read();
    const oldBias = await oldHead.read();
    // logits move by exactly (0.5 − old bias) per vocabulary entry
    for (let i = 0; i < after.length; i++)
      expect(after[i] - before[i]).toBeCloseTo(0.5 - oldBias[i % config.vocabSize], 12);
    expect(() => m.setParameters({ 'output_layer.linear.bias': backend.zeros([2], 'f64') })).toThrow(
      TensorShapeMismatchError,
    );
    oldHead.dispose();
    m.dispose();
  });

  it('forward({ parameters }) overrides for one call only', async () => {
    const config = ditConfig(base);
    const m = await model(config);
    const tokens = makeInput('tokens', config.vocabSize, 'f64').build();
    const own = await (await m.forward(tokens, [1, 1])).read();
    const zeroHead = {
      'output_layer.linear.weight': backend.zeros([config.vocabSize, config.hiddenSize], 'f64'),
      'output_layer.linear.bias': backend.zeros([config.vocabSize], 'f64'),
    };
    const overridden = await (await m.forward(tokens, [1, 1], { parameters: zeroHead })).read();
    expect(overridden.every((v) => v === 0)).toBe(true);
    expect(await (await m.forward(tokens, [1, 1])).read()).toEqual(own);
    m.dispose();
  });

  it('a fused AdamW step updates the parameters in place and the next forward reads them', async () => {
    const config = ditConfig(base);
    const m = await model(config);
    const { run } = lossOf(m, 'tokens');
    const before = m.parameters();
    const { value, grads } = await valueAndGrad(run)({ params: before });
    const names = Object.keys(before);
    const zeros = () => names.map((n) => backend.zeros(before[n].shape, 'f64'));
    adamwUpdate(
      {
        params: names.map((n) => before[n]),
        grads: names.map((n) => grads.params[n]),
        m: zeros(),
        v: zeros(),
      },
      { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 },
    );
    // the same tensors, new values: the loss falls by about lr·Σ|g| (Adam's first step is −lr·sign(g))
    expect(m.parameters()['blocks.0.attn_qkv.weight']).toBe(before['blocks.0.attn_qkv.weight']);
    const after = (await (await run({ params: m.parameters() })).read())[0];
    expect(after).toBeLessThan((await value.read())[0] - 1e-4);
    // a model rebuilt from the updated state dict gives the same logits as the updated model
    const rebuilt = await DiT.fromStateDict(backend, config, await m.stateDict(), { dtype: 'f64' });
    const tokens = makeInput('tokens', config.vocabSize, 'f64').build();
    expect(await (await rebuilt.forward(tokens, [1, 2])).read()).toEqual(
      await (await m.forward(tokens, [1, 2])).read(),
    );
    rebuilt.dispose();
    m.dispose();
  });

  it('stateDict() holds host copies by reference name, the rotary buffer included', async () => {
    const config = ditConfig(base);
    const m = await model(config);
    const state = await m.stateDict();
    expect(state.get('rotary_emb.inv_freq')?.shape).toEqual([4]);
    const emb = state.get('vocab_embed.embedding');
    expect(emb?.dtype).toBe('F64');
    expect(Array.from(emb?.data ?? [])).toEqual(
      Array.from(await m.parameters()['vocab_embed.embedding'].read()),
    );
    m.dispose();
  });
});
