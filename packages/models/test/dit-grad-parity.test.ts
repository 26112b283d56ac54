/**
 * DiT gradients against PyTorch autograd: the `dit_grad` case of the shared training-parity fixtures (copied by
 * test/fixtures/extract_dit_grad.py). L = Σ_{b,l} c[b,l]·log_softmax(logits)[b,l,y[b,l]] for the token, soft
 * (embedding bag) and dense (softmax(z)·E) inputs; every parameter gradient, d_weights and d_logits. Tolerances
 * (shared/fixtures/README.md): float64 within 1e-9·|g| + 1e-12; float32 per tensor within 1e-4·max|g|.
 */
import { readFileSync } from 'node:fs';
import {
  type Backend,
  createBackend,
  type FloatDType,
  type Tensor,
  tidy,
  valueAndGrad,
} from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DiT,
  type DiTInput,
  type DiTParameters,
  loadDiT,
  parameterShapes,
  SafetensorsReader,
} from '../src/index';
import { type FixtureTensor, fixturePath, loadParityFixture, loadParityWeights } from './fixture';
import { ditLoss, fixtureConfig, gradError } from './grad-helpers';

type Case = 'tokens' | 'soft' | 'dense';
interface Expected {
  loss: number;
  param_grads: { safetensors_prefix: string; dtype: 'F64' | 'F32'; l2: Record<string, number> };
  d_weights?: FixtureTensor;
  d_logits?: FixtureTensor;
}
interface GradFixture {
  parameter_names: string[];
  dit_grad: {
    inputs: {
      tokens: FixtureTensor;
      sigma: FixtureTensor;
      soft: { indices: FixtureTensor; weights: FixtureTensor };
      dense: { logits: FixtureTensor };
      c: FixtureTensor;
      y: FixtureTensor;
    };
    expected: Record<Case, { float64: Expected; float32: Expected }>;
  };
}

const fx = JSON.parse(readFileSync(fixturePath('dit_grad.json'), 'utf8')) as GradFixture;
const inputs = fx.dit_grad.inputs;
let reader: SafetensorsReader;
/** Worst figures per dtype, printed at the end (the report's parity numbers). */
const worst: Record<string, number> = {};
const note = (key: string, v: number) => {
  worst[key] = Math.max(worst[key] ?? 0, v);
};

beforeAll(async () => {
  reader = await SafetensorsReader.open(
    new Uint8Array(readFileSync(fixturePath('dit_grad_grads.safetensors'))),
  );
});
afterAll(() => {
  console.log('dit_grad parity (worst over cases):', JSON.stringify(worst));
});

/** Runs the loss under valueAndGrad; returns the loss, every parameter gradient and the input gradient. */
async function gradients(model: DiT, backend: Backend, which: Case, dtype: FloatDType) {
  const y = backend.tensor(inputs.y.data, inputs.y.shape, 'i32');
  const c = backend.tensor(inputs.c.data, inputs.c.shape, dtype);
  const input = backend.tensor(
    which === 'soft' ? inputs.soft.weights.data : inputs.dense.logits.data,
    which === 'soft' ? inputs.soft.weights.shape : inputs.dense.logits.shape,
    dtype,
  );
  const indices = backend.tensor(inputs.soft.indices.data, inputs.soft.indices.shape, 'i32');
  const tokens = backend.tensor(inputs.tokens.data, inputs.tokens.shape, 'i32');
  const f = valueAndGrad(async (p: { params: DiTParameters; x: Tensor }) => {
    const modelInput: DiTInput =
      which === 'tokens'
        ? { tokens }
        : which === 'soft'
          ? { soft: { indices, weights: p.x } }
          : { dense: p.x };
    const logits = await model.forward(modelInput, inputs.sigma.data);
    return tidy(() => ditLoss(backend, logits, y, c));
  });
  const { value, grads } = await f({ params: model.parameters(), x: input });
  const out = {
    loss: (await value.read())[0],
    params: new Map<string, Float64Array>(),
    input: Float64Array.from(await grads.x.read()),
  };
  for (const [name, g] of Object.entries(grads.params))
    out.params.set(name, Float64Array.from(await g.read()));
  for (const t of [value, grads.x, ...Object.values(grads.params), y, c, input, indices, tokens]) t.dispose();
  return out;
}

describe.each([
  ['f64', 'float64'],
  ['f32', 'float32'],
] as const)('DiT gradients match PyTorch autograd (cpu, %s)', (dtype, key) => {
  let backend: Backend;
  let model: DiT;
  beforeAll(async () => {
    backend = await createBackend('cpu', { threads: 0 });
    model = await loadDiT(backend, loadParityWeights(), {
      config: fixtureConfig(loadParityFixture().config),
      dtype,
    });
  });
  afterAll(() => {
    model.dispose();
    backend.destroy();
  });

  it('parameters() are every state-dict tensor but the rotary buffer, with the reference shapes', () => {
    const params = model.parameters();
    expect(Object.keys(params)).toEqual(fx.parameter_names);
    for (const [name, shape] of parameterShapes(model.config)) expect(params[name].shape).toEqual(shape);
  });

  for (const which of ['tokens', 'soft', 'dense'] as const) {
    it(`${which}: loss, every parameter gradient${which === 'tokens' ? '' : which === 'soft' ? ', d_weights' : ', d_logits'}`, async () => {
      const expected = fx.dit_grad.expected[which][key];
      const got = await gradients(model, backend, which, dtype);
      const lossErr = Math.abs(got.loss - expected.loss) / Math.abs(expected.loss);
      note(`${dtype} loss rel`, lossErr);
      expect(lossErr).toBeLessThan(dtype === 'f64' ? 1e-9 : 2e-5);
      expect(got.params.size).toBe(fx.parameter_names.length);
      for (const name of fx.parameter_names) {
        const want = await reader.read(`${expected.param_grads.safetensors_prefix}${name}`, 'f64');
        const err = gradError(got.params.get(name) as Float64Array, want);
        if (dtype === 'f64') note('f64 max rel (|g|>1e-8)', err.maxRel);
        note(`${dtype} max |Δ|/max|g|`, err.maxAbs / err.scale);
        note(`${dtype} max |Δ|`, err.maxAbs);
        if (dtype === 'f64') {
          // the README's rule for a different summation order: 1e-9·|g| + 1e-12 (the split rule is noted too)
          note('f64 |Δ|/(1e-9|g| + 1e-12)', err.worstOverTol);
          note('f64 |Δ|/split-rule tol', err.worstOverSplitTol);
          expect(err.worstOverTol, name).toBeLessThanOrEqual(1);
        } else expect(err.maxAbs, name).toBeLessThanOrEqual(1e-4 * err.scale);
      }
      const inputGrad =
        which === 'soft' ? expected.d_weights : which === 'dense' ? expected.d_logits : undefined;
      if (inputGrad) {
        const err = gradError(got.input, inputGrad.data);
        note(`${dtype} input grad max rel (|g|>1e-8)`, err.maxRel);
        note(`${dtype} input grad max |Δ|/max|g|`, err.maxAbs / err.scale);
        if (dtype === 'f64') expect(err.worstOverTol).toBeLessThanOrEqual(1);
        else expect(err.maxAbs).toBeLessThanOrEqual(1e-4 * err.scale);
      }
    });
  }
});

describe('the gradient file is read as F64', () => {
  it('F64 entries widen losslessly (the reader keeps float64)', async () => {
    const name = `${fx.dit_grad.expected.tokens.float64.param_grads.safetensors_prefix}blocks.0.attn_qkv.weight`;
    expect(reader.info(name)?.dtype).toBe('F64');
    const g = await reader.read(name, 'f64');
    expect(g).toBeInstanceOf(Float64Array);
    const l2 = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    expect(l2).toBeCloseTo(
      fx.dit_grad.expected.tokens.float64.param_grads.l2['blocks.0.attn_qkv.weight'],
      10,
    );
    expect(g.some((v) => v !== Math.fround(v))).toBe(true);
  });
});
