import { type Backend, createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromReference, type DiT, loadDiT, rotaryInvFreq, rotaryTables } from '../src/index';
import { type DitParityFixture, loadParityFixture, loadParityWeights, maxAbsDiff } from './fixture';

const fx: DitParityFixture = loadParityFixture();
const config = configFromReference({
  vocab_size: fx.config.vocab_size,
  model: {
    hidden_size: fx.config.hidden_size,
    cond_dim: fx.config.cond_dim,
    n_heads: fx.config.n_heads,
    n_blocks: fx.config.n_blocks,
    length: fx.config.seq_len,
  },
});

async function runCase(
  model: DiT,
  backend: Backend,
  which: 'tokens' | 'soft' | 'dense',
  intermediates?: Map<string, Float32Array | Float64Array>,
) {
  const dt = model.dtype;
  const { inputs } = fx;
  const sigma = inputs.sigma.data;
  let input: Parameters<DiT['forward']>[0];
  if (which === 'tokens') input = { tokens: backend.tensor(inputs.tokens.data, inputs.tokens.shape, 'i32') };
  else if (which === 'soft')
    input = {
      soft: {
        indices: backend.tensor(inputs.soft.indices.data, inputs.soft.indices.shape, 'i32'),
        weights: backend.tensor(inputs.soft.weights.data, inputs.soft.weights.shape, dt),
      },
    };
  else input = { dense: backend.tensor(inputs.dense.logits.data, inputs.dense.logits.shape, dt) };
  const logits = await model.forward(input, sigma, { intermediates });
  expect(logits.shape).toEqual(fx.expected[which].float64.shape);
  const values = await logits.read();
  logits.dispose();
  return values;
}

describe.each([
  ['f64', 1e-9],
  ['f32', 1e-4],
] as const)('DiT parity with the reference (cpu, %s)', (dtype, tol) => {
  let backend: Backend;
  let model: DiT;
  beforeAll(async () => {
    backend = await createBackend('cpu', { threads: 0 });
    model = await loadDiT(backend, loadParityWeights(), { config, dtype });
  });
  afterAll(() => {
    model.dispose();
    backend.destroy();
  });

  for (const which of ['tokens', 'soft', 'dense'] as const) {
    it(`${which} logits match expected.${which}.${dtype === 'f64' ? 'float64' : 'float32'} to ${tol}`, async () => {
      const expected = fx.expected[which][dtype === 'f64' ? 'float64' : 'float32'].data;
      const got = await runCase(model, backend, which);
      expect(maxAbsDiff(got, expected)).toBeLessThan(tol);
    });
  }

  it('intermediates (embedding, time conditioning, every block) match the float64 reference', async () => {
    const inter = new Map<string, Float32Array | Float64Array>();
    await runCase(model, backend, 'tokens', inter);
    const ref = fx.intermediates_float64_tokens;
    // f32 intermediates drift a little more than the logits through the residual stream (|h| up to ~10).
    const t = dtype === 'f64' ? 1e-9 : 2e-4;
    expect(maxAbsDiff(inter.get('embed') as Float64Array, ref.embed.data)).toBeLessThan(t);
    expect(maxAbsDiff(inter.get('t_cond') as Float64Array, ref.t_cond.data)).toBeLessThan(t);
    ref.block_outputs.forEach((block, i) => {
      expect(maxAbsDiff(inter.get(`block.${i}`) as Float64Array, block.data)).toBeLessThan(t);
    });
  });
});

describe('rotary tables', () => {
  it('match the reference cos/sin of t·inv_freq in float64 to 1e-12', () => {
    const headDim = Number(fx.config.head_dim);
    const { cos, sin } = rotaryTables(Number(fx.config.seq_len), rotaryInvFreq(headDim), 'f64');
    expect(maxAbsDiff(cos, fx.intermediates_float64_tokens.rotary_cos.data)).toBeLessThan(1e-12);
    expect(maxAbsDiff(sin, fx.intermediates_float64_tokens.rotary_sin.data)).toBeLessThan(1e-12);
  });
});
