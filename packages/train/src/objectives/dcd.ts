/**
 * Discrete Consistency Distillation (Duo I, arXiv 2506.10892, Algorithm 1). Per row: t drawn, t ← min(t + δ, 1),
 * s = t − δ; ONE Gaussian ε [L, K] per row gives both points of the deterministic trajectory of the underlying
 * Gaussian diffusion, w_t = α̃_t·onehot(x0) + σ̃_t·ε and w_s = α̃_s·onehot(x0) + σ̃_s·ε (γ = γmin + t(γmax − γmin),
 * the curriculum range); x_t = argmax w_t, x_s = argmax w_s. The student reads (x_t, σ_t = −log T(γ_t)), the
 * teacher (no gradient) reads (x_s, σ_s = −log T(γ_s)), and the per-token loss is KL(p_student ‖ p_teacher)
 * (the reference's `kl-bwd`, the default) or KL(p_teacher ‖ p_student) (`kl-fwd`).
 *
 * The teacher runs in `draw`, which the training loop calls before its gradient scope, on weights the scope does
 * not track: nothing of it is taped, and the draw hands the loss its logits as a constant.
 */
import { type Backend, type FloatDType, type Tensor, tidyAsync } from '@duality/kernels';
import type { DiTInput, SigmaInput } from '@duality/models';
import { type GaussianCurriculumSchedule, latentsFromNormals } from '@duality/noise';
import { type KlDirection, klLoss } from '@duality/posteriors';
import type { TimeSampling } from '../time';
import { curriculumCoefficients } from './curriculum';
import { type DrawContext, drawTimes, type LossOptions, meanOf, type Objective } from './types';

/** The teacher's forward: logits [B, L, K] for tokens and per-row σ (e.g. a DiT run with other parameters). */
export type TeacherForward = (input: DiTInput, sigma: SigmaInput) => Promise<Tensor>;

export interface DcdOptions {
  /** α(t) = T(γ(t)) over the distillation's γ range (Duo I uses [−4, −1]; noise's gaussianCurriculum). */
  schedule: GaussianCurriculumSchedule;
  /** δ: the gap between the student's time t and the teacher's s = t − δ, in (0, 1]. */
  delta: number;
  teacher: TeacherForward;
  /** Default 'student-teacher': KL(S‖T), the reference's default `kl-bwd`. */
  direction?: KlDirection;
  timeSampling?: TimeSampling;
}

/** What one DCD step draws: the times, both discrete points of the trajectory and the teacher's logits at x_s. */
export interface DcdDraw {
  t: Float64Array;
  s: Float64Array;
  xt: Tensor;
  xs: Tensor;
  /** Teacher logits [B, L, K] at (x_s, σ_s): untracked, so the loss' gradient reaches the student only. */
  teacherLogits: Tensor;
}

/** Algorithm 1's times: t ← min(t + δ, 1), s = t − δ (so s ≥ 0 without a clamp). */
export function dcdTimes(t: ArrayLike<number>, delta: number): { t: Float64Array; s: Float64Array } {
  const tt = Float64Array.from(t, (v) => Math.min(v + delta, 1));
  return { t: tt, s: tt.map((v) => v - delta) };
}

/**
 * The trajectory points x_t = argmax w_t, x_s = argmax w_s from one shared ε [B, L, K] (Duo I Alg. 1), computed
 * in ε's dtype, and the teacher's logits at (x_s, σ_s) in `dtype` (the student's).
 */
export async function dcdTrajectory(
  backend: Backend,
  x0: Tensor,
  times: { t: Float64Array; s: Float64Array },
  eps: Tensor,
  schedule: GaussianCurriculumSchedule,
  teacher: TeacherForward,
): Promise<DcdDraw> {
  const K = schedule.vocabSize;
  const point = (time: Float64Array) =>
    tidyAsync(async () => {
      const gamma = Float64Array.from(time, (v) => schedule.gamma(v));
      return backend.argmax(latentsFromNormals(backend, x0, gamma, K, eps));
    });
  const xt = await point(times.t);
  const xs = await point(times.s);
  const sigmaS = curriculumCoefficients(schedule, times.s).sigma;
  const teacherLogits = await teacher({ tokens: xs }, sigmaS);
  return { t: times.t, s: times.s, xt, xs, teacherLogits };
}

/** ε [B, L, K] of a micro-batch: K normals per position, each (step, row) its own slice of the seed's stream. */
function normalsOffset(ctx: DrawContext, length: number, k: number): number {
  return (ctx.step * ctx.globalBatch + ctx.rowStart) * length * k;
}

/** The DCD objective: the student's mean KL to the teacher over tokens. */
export function dcdObjective(options: DcdOptions): Objective<DcdDraw> {
  const { schedule, delta, teacher, direction = 'student-teacher', timeSampling = 'stratified' } = options;
  return {
    name: 'dcd',
    async draw(backend, x0Host, [batch, length], ctx) {
      const drawn = drawTimes(ctx, batch, timeSampling);
      const K = schedule.vocabSize;
      const dtype: FloatDType = backend.supportsF64 ? 'f64' : 'f32';
      return tidyAsync(async () => {
        const eps = backend.normal(
          [batch, length, K],
          { seed: ctx.seed, offset: normalsOffset(ctx, length, K) },
          dtype,
        );
        const x0 = backend.tensor(x0Host, [batch, length], 'i32');
        return dcdTrajectory(backend, x0, dcdTimes(drawn, delta), eps, schedule, teacher);
      });
    },
    loss: (model, _x0, _x0Host, draw, lossOptions?: LossOptions) =>
      tidyAsync(async () => {
        const sigmaT = curriculumCoefficients(schedule, draw.t).sigma;
        const train = lossOptions?.dropout
          ? { train: { seed: lossOptions.dropout.seed, offset: lossOptions.dropout.offset } }
          : {};
        const student = await model.forward({ tokens: draw.xt }, sigmaT, train);
        const perToken = klLoss(student, draw.teacherLogits, direction);
        return { loss: meanOf(model.backend, perToken), perToken };
      }),
  };
}
