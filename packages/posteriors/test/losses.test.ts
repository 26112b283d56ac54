import { createCpuBackend, type Tensor, valueAndGrad } from '@duality/kernels';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duoLoss, duoNelbo, klLoss, mdlmLoss, mdlmNelbo } from '../src/index';
import fixture from './fixtures/train_losses.json';

const b = createCpuBackend({ threads: 0 });
const L = fixture.losses;
type T = { shape: number[]; data: number[] };
const f64 = (t: T) => b.tensor(t.data, t.shape, 'f64');
const f32 = (t: T) => b.tensor(t.data, t.shape, 'f32');
const ids = (t: T) => b.tensor(t.data, t.shape, 'i32');

function close(got: ArrayLike<number>, want: number[], rel: number, abs: number) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (abs + rel * Math.abs(want[i]));
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(1);
}

async function lossAndGrad(f: (z: Tensor) => Tensor, z: Tensor) {
  const { value, grads } = await valueAndGrad((p: Tensor) => f(p))(z);
  return { loss: await value.read(), grad: await grads.read() };
}

const mdlmWeight = (c: typeof L.mdlm, make: (t: T) => Tensor) =>
  make({ shape: c.alpha_t.shape, data: c.alpha_t.data.map((a, i) => c.dalpha_t.data[i] / (1 - a)) });

describe('losses against PyTorch autograd (train_parity.json losses)', () => {
  it('MDLM: per-token loss and d_logits, f64 within 1e-9 relative', async () => {
    const c = L.mdlm;
    const w = mdlmWeight(c, f64);
    const { loss, grad } = await lossAndGrad(
      (z) => mdlmLoss(z, ids(c.xt), ids(c.x0), w, c.mask_index),
      f64(c.logits),
    );
    close(loss, c.expected.loss.data, 1e-9, 1e-12);
    close(grad, c.expected.d_logits.data, 1e-9, 1e-12);
  });

  it('Duo: per-token loss and d_logits, f64 within 1e-9 relative', async () => {
    const c = L.duo;
    const { loss, grad } = await lossAndGrad(
      (z) => duoLoss(z, ids(c.xt), ids(c.x0), f64(c.alpha_t), f64(c.dalpha_t)),
      f64(c.logits),
    );
    close(loss, c.expected.loss.data, 1e-9, 1e-12);
    close(grad, c.expected.d_logits.data, 1e-9, 1e-12);
  });

  it('DCD: both KL directions and their student gradients, f64 within 1e-9 relative', async () => {
    const c = L.dcd;
    for (const [direction, key] of [
      ['student-teacher', 'kl_student_teacher'],
      ['teacher-student', 'kl_teacher_student'],
    ] as const) {
      const t = f64(c.teacher_logits);
      const { loss, grad } = await lossAndGrad((s) => klLoss(s, t, direction), f64(c.student_logits));
      close(loss, c.expected[key].loss.data, 1e-9, 1e-12);
      close(grad, c.expected[key].d_student_logits.data, 1e-9, 1e-12);
    }
  });

  it('f32 kernels agree with the f64 fixture within 1e-4', async () => {
    const m = L.mdlm;
    const r1 = await lossAndGrad(
      (z) => mdlmLoss(z, ids(m.xt), ids(m.x0), mdlmWeight(m, f32), m.mask_index),
      f32(m.logits),
    );
    close(r1.loss, m.expected.loss.data, 1e-4, 1e-5);
    close(r1.grad, m.expected.d_logits.data, 1e-4, 1e-5);
    const d = L.duo;
    const r2 = await lossAndGrad(
      (z) => duoLoss(z, ids(d.xt), ids(d.x0), f32(d.alpha_t), f32(d.dalpha_t)),
      f32(d.logits),
    );
    close(r2.loss, d.expected.loss.data, 1e-4, 1e-4);
    close(r2.grad, d.expected.d_logits.data, 1e-4, 1e-4);
  });

  it('the tensor ops agree with the host NELBO oracles (nelbo.ts) on log_softmax inputs', async () => {
    const d = L.duo;
    const z = f64(d.logits);
    const logp = b.logSoftmax(z);
    const byRow = await duoLoss(z, ids(d.xt), ids(d.x0), f64(d.alpha_t), f64(d.dalpha_t)).read();
    // the host oracle takes one alpha per batch row: compare row by row on single-row batches
    const K = d.logits.shape[2];
    const lp = await logp.read();
    for (let r = 0; r < d.xt.data.length; r++) {
      const one = await duoNelbo({
        logXTheta: b.tensor(lp.slice(r * K, (r + 1) * K), [1, 1, K], 'f64'),
        xt: b.tensor([d.xt.data[r]], [1, 1], 'i32'),
        x0: b.tensor([d.x0.data[r]], [1, 1], 'i32'),
        alphaT: [d.alpha_t.data[r]],
        dalphaT: [d.dalpha_t.data[r]],
      });
      expect(Math.abs(one[0] - byRow[r])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(one[0])));
    }
    const m = L.mdlm;
    const mz = f64(m.logits);
    const got = await mdlmLoss(mz, ids(m.xt), ids(m.x0), mdlmWeight(m, f64), m.mask_index).read();
    for (let r = 0; r < m.xt.data.length; r++) {
      // SUBS: log-probs over the non-mask ids
      const row = m.logits.data.slice(r * K, (r + 1) * K);
      const mx = Math.max(...row.filter((_, j) => j !== m.mask_index));
      const lse = mx + Math.log(row.reduce((s, v, j) => (j === m.mask_index ? s : s + Math.exp(v - mx)), 0));
      const logx = row.map((v, j) => (j === m.mask_index ? Number.NEGATIVE_INFINITY : v - lse));
      const one = await mdlmNelbo({
        logXTheta: b.tensor(logx, [1, 1, K], 'f64'),
        xt: b.tensor([m.xt.data[r]], [1, 1], 'i32'),
        x0: b.tensor([m.x0.data[r]], [1, 1], 'i32'),
        alphaT: [m.alpha_t.data[r]],
        dalphaT: [m.dalpha_t.data[r]],
        maskId: m.mask_index,
      });
      expect(Math.abs(one[0] - got[r])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(one[0])));
    }
  });
});

describe('loss laws', () => {
  const logitsArb = (k: number, n: number) =>
    fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: n * k, maxLength: n * k });

  it('Duo loss is ≥ 0, 0 at the truth (x_θ = onehot(x0) in the limit), and its gradient matches finite differences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 7 }),
        fc
          .integer({ min: 1, max: 3 })
          .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: 1e6 }))),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        async (k, [n, seed], alpha) => {
          const zs = Array.from({ length: n * k }, (_, i) => 3 * Math.sin(seed + 1.3 * i));
          const xt = Array.from({ length: n }, (_, i) => (seed + i) % k);
          const x0 = Array.from({ length: n }, (_, i) => (seed * 7 + 3 * i) % k);
          const a = b.tensor(new Array(n).fill(alpha), [n], 'f64');
          const da = b.tensor(new Array(n).fill(-1), [n], 'f64');
          const f = (z: Tensor) =>
            b.sum(duoLoss(z, b.tensor(xt, [n], 'i32'), b.tensor(x0, [n], 'i32'), a, da));
          const z = b.tensor(zs, [n, k], 'f64');
          const { value, grads } = await valueAndGrad(f)(z);
          expect((await value.read())[0]).toBeGreaterThanOrEqual(0);
          const g = await grads.read();
          for (let i = 0; i < zs.length; i++) {
            const h = 1e-6;
            const up = zs.slice();
            up[i] += h;
            const dn = zs.slice();
            dn[i] -= h;
            const fd =
              ((await f(b.tensor(up, [n, k], 'f64')).read())[0] -
                (await f(b.tensor(dn, [n, k], 'f64')).read())[0]) /
              (2 * h);
            expect(Math.abs(fd - g[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
          }
          // at the truth: logits strongly on x0 give a loss near 0
          const truth = Array.from({ length: n * k }, (_, i) => (i % k === x0[Math.floor(i / k)] ? 40 : 0));
          const zero = (await f(b.tensor(truth, [n, k], 'f64')).read())[0];
          expect(zero).toBeLessThan(1e-12);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('KL is ≥ 0 and exactly 0 when the student equals the teacher', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }).chain((k) => logitsArb(k, 2).map((v) => [k, v] as const)),
        async ([k, v]) => {
          const s = b.tensor(v, [2, k], 'f64');
          for (const dir of ['student-teacher', 'teacher-student'] as const) {
            const same = await klLoss(s, s, dir).read();
            for (const x of same) expect(Math.abs(x)).toBeLessThan(1e-15);
            const other = await klLoss(
              s,
              b.tensor(
                v.map((x) => -x),
                [2, k],
                'f64',
              ),
              dir,
            ).read();
            for (const x of other) expect(x).toBeGreaterThanOrEqual(-1e-15);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses bad input with typed errors', () => {
    const z = b.tensor([0, 0, 0], [1, 3], 'f64');
    const i = b.tensor([0], [1], 'i32');
    const w = b.tensor([-1], [1], 'f64');
    expect(() => mdlmLoss(z, i, i, w, 3)).toThrow(/maskId 3/);
    expect(() => mdlmLoss(z, b.tensor([5], [1], 'i32'), i, w, 2)).toThrow(/ids in \[0, 3\)/);
    expect(() => duoLoss(z, i, i, b.tensor([0.5], [1], 'f32'), w)).toThrow(/f64 like the logits/);
    expect(() => klLoss(z, b.tensor([0, 0], [1, 2], 'f64'), 'student-teacher')).toThrow(/like the student/);
  });
});
