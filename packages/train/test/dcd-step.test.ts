/**
 * DCD step parity with PyTorch autograd (train_parity.json `training_steps.dcd`): t, s and the one shared ε are
 * handed in from the fixture, the teacher (student + N(0, 0.05²), `teacher.<name>` in train_parity.safetensors)
 * runs in the draw — outside the gradient scope — through the student's forward with its parameters swapped in,
 * and valueAndGrad gives the gradient of every student parameter. float64 within 1e-9 relative (1e-12 absolute
 * where tiny), float32 within 1e-4·max|g| per tensor, as test/training-steps.test.ts.
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
import { gaussianCurriculum, latentsFromNormals } from '@duality/noise';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curriculumCoefficients, dcdObjective, dcdTimes, dcdTrajectory } from '../src/index';

const dir = new URL('./fixtures/', import.meta.url);
const fx = JSON.parse(readFileSync(new URL('train_steps.json', dir), 'utf8'));
const TS = fx.training_steps;
const C = TS.dcd;
type T = { shape: number[]; data: number[] };

const backend: Backend = createCpuBackend({ threads: 0 });
let student: Map<string, StoredTensor>;
let teacher: Map<string, StoredTensor>;
let grads: SafetensorsReader;
const figures: Record<string, string> = {};

beforeAll(async () => {
  const reader = await SafetensorsReader.open(
    new Uint8Array(readFileSync(new URL('train_parity.safetensors', dir))),
  );
  const all = [...(await reader.readAll())];
  student = new Map(all.filter(([n]) => !n.startsWith('teacher.')));
  teacher = new Map(all.filter(([n]) => n.startsWith('teacher.')).map(([n, t]) => [n.slice(8), t]));
  grads = await SafetensorsReader.open(
    new Uint8Array(readFileSync(new URL('train_steps_grads.safetensors', dir))),
  );
});
afterAll(() => console.log('training_steps.dcd parity:', JSON.stringify(figures)));

const modelConfig = () => {
  const c = fx.config;
  return configFromReference({
    vocab_size: TS.vocab_size,
    model: {
      hidden_size: c.hidden_size,
      cond_dim: c.cond_dim,
      n_heads: c.n_heads,
      n_blocks: c.n_blocks,
      length: TS.seq_len,
    },
  });
};
const schedule = gaussianCurriculum({
  vocabSize: TS.vocab_size,
  gammaMin: C.gamma_min,
  gammaMax: C.gamma_max,
});

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

/** The student model, the teacher's weights as parameters of the same dtype, and the fixture's draw. */
async function setup(dtype: FloatDType) {
  const model = await DiT.fromStateDict(backend, modelConfig(), student, { dtype });
  const teacherModel = await DiT.fromStateDict(backend, modelConfig(), teacher, { dtype });
  const teacherParams = teacherModel.parameters();
  const forwardTeacher = (input: Parameters<DiT['forward']>[0], sigma: Parameters<DiT['forward']>[1]) =>
    model.forward(input, sigma, { parameters: teacherParams });
  const x0 = backend.tensor(C.inputs.x0.data, C.inputs.x0.shape, 'i32');
  const eps = backend.tensor((C.inputs.eps as T).data, C.inputs.eps.shape, 'f64');
  const times = { t: Float64Array.from(C.inputs.t.data), s: Float64Array.from(C.inputs.s.data) };
  const draw = await dcdTrajectory(backend, x0, times, eps, schedule, forwardTeacher);
  eps.dispose();
  const done = () => {
    model.dispose();
    teacherModel.dispose();
    x0.dispose();
  };
  return { model, x0, draw, forwardTeacher, done };
}

async function step(dtype: FloatDType, direction: 'student-teacher' | 'teacher-student') {
  const { model, x0, draw, forwardTeacher, done } = await setup(dtype);
  const objective = dcdObjective({ schedule, delta: C.delta, teacher: forwardTeacher, direction });
  let perToken: Tensor | undefined;
  const { value, grads: g } = await valueAndGrad(async (_p: DiTParameters) => {
    const r = await objective.loss(model, x0, Int32Array.from(C.inputs.x0.data), draw);
    perToken = r.perToken;
    return r.loss;
  })(model.parameters());
  const result = {
    loss: (await value.read())[0],
    perToken: await (perToken as Tensor).read(),
    teacherLogits: await draw.teacherLogits.read(),
    grads: g as DiTParameters,
    draw,
    done,
  };
  return result;
}

describe('DCD step against PyTorch autograd (training_steps.dcd)', () => {
  it('derived values: γ, σ_t, σ_s, the trajectory points x_t and x_s, and w_t, w_s from one ε', async () => {
    const { draw, done } = await setup('f64');
    const close = (got: ArrayLike<number>, want: number[], rel: number) =>
      want.forEach((w, i) => {
        expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(rel * Math.abs(w) + 1e-15);
      });
    const at = curriculumCoefficients(schedule, draw.t);
    const as = curriculumCoefficients(schedule, draw.s);
    close(at.gamma, C.derived.gamma_t.data, 1e-12);
    close(as.gamma, C.derived.gamma_s.data, 1e-12);
    close(at.alpha, C.derived.alpha_t.data, 1e-12);
    close(as.alpha, C.derived.alpha_s.data, 1e-12);
    close(at.sigma, C.derived.sigma_t.data, 1e-12);
    close(as.sigma, C.derived.sigma_s.data, 1e-12);
    expect(Array.from(await draw.xt.read())).toEqual(C.derived.xt.data);
    expect(Array.from(await draw.xs.read())).toEqual(C.derived.xs.data);
    // x_t and x_s differ somewhere: the two points are distinct, yet from one ε (same argmax where the signal wins)
    expect(C.derived.xt.data).not.toEqual(C.derived.xs.data);
    const eps = backend.tensor(C.inputs.eps.data, C.inputs.eps.shape, 'f64');
    const x0 = backend.tensor(C.inputs.x0.data, C.inputs.x0.shape, 'i32');
    close(
      await latentsFromNormals(backend, x0, at.gamma, TS.vocab_size, eps).read(),
      C.derived.w_t.data,
      1e-12,
    );
    close(
      await latentsFromNormals(backend, x0, as.gamma, TS.vocab_size, eps).read(),
      C.derived.w_s.data,
      1e-12,
    );
    // logits: 1e-9 absolute (the fixture's rule)
    const logits = await draw.teacherLogits.read();
    C.expected.teacher_logits.data.forEach((w: number, i: number) => {
      expect(Math.abs(logits[i] - w)).toBeLessThanOrEqual(1e-9);
    });
    done();
  });

  for (const dtype of ['f64', 'f32'] as const) {
    it(`KL(student ‖ teacher): loss, per-token loss and every student gradient (${dtype})`, async () => {
      const r = await step(dtype, 'student-teacher');
      let worst = worstOver([r.loss], [C.expected.loss], dtype);
      worst = Math.max(worst, worstOver(r.perToken, C.expected.per_token_loss.data, dtype));
      const teacherWorst = worstOver(r.teacherLogits, C.expected.teacher_logits.data, dtype);
      for (const pname of fx.gradients.names as string[]) {
        const want = await grads.read(`${C.expected.param_grads.safetensors_prefix}${pname}`, 'f64');
        const got = await r.grads[pname].read();
        worst = Math.max(worst, worstOver(got, want, dtype));
      }
      figures[`dcd/${dtype}`] = worst.toExponential(2);
      figures[`dcd teacher logits/${dtype}`] = teacherWorst.toExponential(2);
      r.done();
      expect(worst).toBeLessThanOrEqual(1);
      expect(teacherWorst).toBeLessThanOrEqual(1);
    });

    it(`KL(teacher ‖ student), the forward KL: loss and per-token loss (${dtype})`, async () => {
      const r = await step(dtype, 'teacher-student');
      const want = C.expected.kl_teacher_student;
      const worst = Math.max(
        worstOver([r.loss], [want.loss], dtype),
        worstOver(r.perToken, want.per_token_loss.data, dtype),
      );
      figures[`dcd kl(T||S)/${dtype}`] = worst.toExponential(2);
      // the gradient still reaches every student parameter (none is left at zero)
      for (const pname of ['vocab_embed.embedding', 'output_layer.linear.weight'])
        expect((await r.grads[pname].read()).some((v) => v !== 0)).toBe(true);
      r.done();
      expect(worst).toBeLessThanOrEqual(1);
    });
  }
});

describe('DCD times (Algorithm 1)', () => {
  it('t ← min(t + δ, 1), s = t − δ: s ∈ [0, 1 − δ], t − s = δ exactly as computed, t ≤ 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 2 ** -12, max: 1, noNaN: true }),
        (t, delta) => {
          const r = dcdTimes(t, delta);
          for (let i = 0; i < t.length; i++) {
            expect(r.t[i]).toBe(Math.min(t[i] + delta, 1));
            expect(r.s[i]).toBe(r.t[i] - delta);
            expect(r.s[i]).toBeGreaterThanOrEqual(-1e-16);
            expect(r.t[i]).toBeLessThanOrEqual(1);
          }
        },
      ),
    );
  });

  it('the fixture rows: t = 1 clipped and s = 1 − δ; otherwise s = t − δ', () => {
    expect(C.inputs.t.data[1]).toBe(1);
    expect(C.inputs.s.data[1]).toBe(1 - C.delta);
    expect(Math.abs(C.inputs.t.data[0] - C.inputs.s.data[0] - C.delta)).toBeLessThan(1e-15);
  });
});

describe('dcdObjective draws (Philox streams)', () => {
  it('is a pure function of (seed, step, rows): the same draw twice, another step another draw', async () => {
    const model = await DiT.fromStateDict(backend, modelConfig(), student, { dtype: 'f64' });
    const objective = dcdObjective({
      schedule,
      delta: 1 / 8,
      teacher: (i, s) => model.forward(i, s),
    });
    const x0 = Int32Array.from(C.inputs.x0.data);
    const shape = [2, 12] as const;
    const ctx = { seed: 7, step: 3, rowStart: 0, globalBatch: 2 };
    const a = await objective.draw(backend, x0, shape, ctx);
    const b = await objective.draw(backend, x0, shape, ctx);
    const c = await objective.draw(backend, x0, shape, { ...ctx, step: 4 });
    expect(Array.from(await a.xt.read())).toEqual(Array.from(await b.xt.read()));
    expect(Array.from(await a.teacherLogits.read())).toEqual(Array.from(await b.teacherLogits.read()));
    expect(Array.from(a.t)).toEqual(Array.from(b.t));
    expect(Array.from(c.t)).not.toEqual(Array.from(a.t));
    for (let i = 0; i < 2; i++) {
      expect(a.t[i] - a.s[i]).toBeCloseTo(1 / 8, 15);
      expect(a.t[i]).toBeLessThanOrEqual(1);
    }
    for (const d of [a, b, c]) for (const t of [d.xt, d.xs, d.teacherLogits]) t.dispose();
    model.dispose();
  });
});
