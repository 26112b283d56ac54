/**
 * Training-step parity with PyTorch autograd (train_parity.json `training_steps`): every random draw of a step is
 * handed in from the fixture, the objective computes the mean loss, valueAndGrad the gradient of every DiT
 * parameter. float64 within 1e-9 relative (1e-12 absolute where tiny), float32 within 1e-4·max|g| per tensor.
 */
import { readFileSync } from 'node:fs';
import { type Backend, createCpuBackend, type FloatDType, type Tensor, valueAndGrad } from '@duality/kernels';
import {
  configFromReference,
  DiT,
  type DiTParameters,
  SafetensorsReader,
  type StoredTensor,
} from '@duality/models';
import { gaussianCurriculum, logLinear } from '@duality/noise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  curriculumCoefficients,
  duoCurriculumObjective,
  efficientCurriculumObjective,
  mdlmObjective,
  type Objective,
  udlmObjective,
} from '../src/index';

const dir = new URL('./fixtures/', import.meta.url);
const fx = JSON.parse(readFileSync(new URL('train_steps.json', dir), 'utf8'));
const TS = fx.training_steps;
type T = { shape: number[]; data: number[] };

const backend: Backend = createCpuBackend({ threads: 0 });
let weights: Map<string, StoredTensor>;
let grads: SafetensorsReader;
const figures: Record<string, string> = {};

beforeAll(async () => {
  const reader = await SafetensorsReader.open(
    new Uint8Array(readFileSync(new URL('train_parity.safetensors', dir))),
  );
  weights = new Map([...(await reader.readAll())].filter(([n]) => !n.startsWith('teacher.')));
  grads = await SafetensorsReader.open(
    new Uint8Array(readFileSync(new URL('train_steps_grads.safetensors', dir))),
  );
});
afterAll(() => console.log('training_steps parity:', JSON.stringify(figures)));

function modelConfig(timeConditioning: boolean) {
  const c = fx.config;
  return {
    ...configFromReference({
      vocab_size: TS.vocab_size,
      model: {
        hidden_size: c.hidden_size,
        cond_dim: c.cond_dim,
        n_heads: c.n_heads,
        n_blocks: c.n_blocks,
        length: TS.seq_len,
      },
    }),
    timeConditioning,
  };
}

const f = (t: T, dtype: FloatDType) => backend.tensor(t.data, t.shape, dtype);
const ids = (t: T) => backend.tensor(t.data, t.shape, 'i32');

/** Worst error against the fixture: float64 rule 1e-9 |e| + 1e-12; float32 rule 1e-4 max|e| per tensor. */
function worstOver(got: ArrayLike<number>, want: ArrayLike<number>, dtype: FloatDType): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const tol = dtype === 'f64' ? 1e-9 * Math.abs(want[i]) + 1e-12 : 1e-4 * scale + 1e-7;
    worst = Math.max(worst, d / tol);
  }
  return worst;
}

async function step<D>(
  name: string,
  objective: Objective<D>,
  draw: (dtype: FloatDType) => D,
  dtype: FloatDType,
  timeConditioning = true,
) {
  const c = TS[name];
  const model = await DiT.fromStateDict(backend, modelConfig(timeConditioning), weights, { dtype });
  const x0 = ids(c.inputs.x0);
  const x0Host = Int32Array.from(c.inputs.x0.data);
  let perToken: Tensor | undefined;
  const { value, grads: g } = await valueAndGrad(async (_p: DiTParameters) => {
    const r = await objective.loss(model, x0, x0Host, draw(dtype));
    perToken = r.perToken;
    return r.loss;
  })(model.parameters());
  const loss = (await value.read())[0];
  const per = await (perToken as Tensor).read();
  let worst = worstOver([loss], [c.expected.loss], dtype);
  worst = Math.max(worst, worstOver(per, c.expected.per_token_loss.data, dtype));
  for (const pname of fx.gradients.names as string[]) {
    const want = await grads.read(`grad/training_steps/${name}/float64/${pname}`, 'f64');
    const got = await (g as DiTParameters)[pname].read();
    worst = Math.max(worst, worstOver(got, want, dtype));
  }
  figures[`${name}/${dtype}`] = worst.toExponential(2);
  model.dispose();
  return worst;
}

const loglinear = logLinear({ eps: 1e-3 });
const curriculum = (k: number) => gaussianCurriculum({ vocabSize: k, gammaMin: -3.5, gammaMax: -1.75 });

describe('training steps against PyTorch autograd', () => {
  for (const dtype of ['f64', 'f32'] as const) {
    it(`MDLM (${dtype})`, async () => {
      const c = TS.mdlm;
      const draw = () => ({ t: Float64Array.from(c.inputs.t.data), u: Float64Array.from(c.inputs.u.data) });
      expect(
        await step('mdlm', mdlmObjective({ schedule: loglinear }), draw, dtype, false),
      ).toBeLessThanOrEqual(1);
    });
    it(`UDLM (${dtype})`, async () => {
      const c = TS.udlm;
      const draw = () => ({
        t: Float64Array.from(c.inputs.t.data),
        u: Float64Array.from(c.inputs.u.data),
        r: Int32Array.from(c.inputs.r.data),
      });
      const objective = udlmObjective({ schedule: loglinear, vocabSize: TS.vocab_size });
      expect(await step('udlm', objective, draw, dtype)).toBeLessThanOrEqual(1);
    });
    it(`Duo curriculum, dense softmax(w/τ) input (${dtype})`, async () => {
      const c = TS.duo_curriculum;
      const draw = (d: FloatDType) => ({
        t: Float64Array.from(c.inputs.t.data),
        eps: f(c.inputs.eps, d),
        tau: c.tau,
      });
      const objective = duoCurriculumObjective({ schedule: curriculum(TS.vocab_size), tau: () => c.tau });
      expect(await step('duo_curriculum', objective, draw, dtype)).toBeLessThanOrEqual(1);
    });
    it(`efficient curriculum, top-k embedding bag (${dtype})`, async () => {
      const c = TS.efficient_curriculum;
      const draw = (d: FloatDType) => ({
        t: Float64Array.from(c.inputs.t.data),
        indices: ids(c.inputs.ids),
        weights: f(c.inputs.weights, d),
        xt: ids(c.derived.xt),
      });
      const objective = efficientCurriculumObjective({
        schedule: curriculum(TS.vocab_size),
        tau: () => c.tau,
        k: c.top_k,
      });
      expect(await step('efficient_curriculum', objective, draw, dtype)).toBeLessThanOrEqual(1);
    });
  }

  it('derived values: curriculum α_t, dα/dt (exact and the reference finite difference) and σ', () => {
    const c = TS.duo_curriculum;
    const exact = curriculumCoefficients(curriculum(TS.vocab_size), c.inputs.t.data, 'exact');
    const fd = curriculumCoefficients(curriculum(TS.vocab_size), c.inputs.t.data, 'reference-fd');
    c.derived.alpha_t.data.forEach((a: number, i: number) => {
      expect(Math.abs(exact.alpha[i] - a)).toBeLessThanOrEqual(1e-12 * Math.abs(a));
      expect(Math.abs(exact.dalpha[i] - c.derived.dalpha_dt.data[i])).toBeLessThanOrEqual(
        1e-12 * Math.abs(c.derived.dalpha_dt.data[i]),
      );
      expect(Math.abs(fd.dalpha[i] - c.derived.dalpha_dt_reference_fd.data[i])).toBeLessThanOrEqual(
        1e-9 * Math.abs(c.derived.dalpha_dt_reference_fd.data[i]),
      );
      expect(Math.abs(exact.sigma[i] - c.derived.sigma.data[i])).toBeLessThanOrEqual(
        1e-12 * Math.abs(c.derived.sigma.data[i]),
      );
    });
  });
});
