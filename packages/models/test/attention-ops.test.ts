/**
 * The models' defineOp ops (attention layout, dropout): forward semantics against naive loops,
 * and their backward rules against central finite differences in float64 (fast-check, random shapes).
 */
import {
  ArgumentError,
  type Backend,
  createBackend,
  DTypeError,
  ShapeError,
  type Tensor,
  tidy,
  valueAndGrad,
} from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  joinHeadsRotaryOp,
  mergeHeadsOp,
  splitHeadsOp,
  splitHeadsRotary,
  splitHeadsRotaryOp,
} from '../src/attention-ops';
import { dropout, keepThreshold } from '../src/dropout';

let b: Backend;
beforeAll(async () => {
  b = await createBackend('cpu', { threads: 0 });
});
afterAll(() => b.destroy());

/** Deterministic pseudo-random values in (−1, 1) (a sine hash), so shapes alone drive the properties. */
const values = (n: number, salt: number) =>
  Float64Array.from({ length: n }, (_, i) => Math.sin(12.9898 * (i + 1) + 78.233 * salt) * 0.999);

/**
 * Checks the backward rule of `op` (any number of inputs and outputs): φ(xs) = Σ_o ⟨w_o, op(xs)_o⟩ with fixed
 * random w; the gradient from valueAndGrad along a random direction d against the 4th-order central difference
 * (8(φ(x+hd) − φ(x−hd)) − (φ(x+2hd) − φ(x−2hd)))/(12h). Returns the relative error.
 */
async function fdError(op: (xs: Tensor[]) => Tensor[], shapes: number[][], salt: number): Promise<number> {
  const xs = shapes.map((s, i) => b.tensor(values(size(s), salt + i), s, 'f64'));
  const ds = shapes.map((s, i) => b.tensor(values(size(s), salt + 100 + i), s, 'f64'));
  const outShapes = op(xs).map((t) => t.shape);
  const ws = outShapes.map((s, i) => b.tensor(values(size(s), salt + 200 + i), s, 'f64'));
  const phi = (inp: Tensor[]) =>
    tidy(() =>
      op(inp)
        .map((y, i) => b.sum(b.reshape(b.mul(y, ws[i]), [y.size])))
        .reduce((acc, t) => b.add(acc, t)),
    );
  const { value, grads } = await valueAndGrad((p: Tensor[]) => phi(p))(xs);
  value.dispose();
  let directional = 0;
  for (let i = 0; i < xs.length; i++) {
    const g = await grads[i].read();
    const d = await ds[i].read();
    for (let j = 0; j < g.length; j++) directional += g[j] * d[j];
  }
  const at = async (h: number) => {
    const moved = xs.map((x, i) => tidy(() => b.add(x, b.scale(ds[i], h))));
    const v = (await phi(moved).read())[0];
    for (const m of moved) m.dispose();
    return v;
  };
  const h = 1e-3;
  const fd = (8 * ((await at(h)) - (await at(-h))) - ((await at(2 * h)) - (await at(-2 * h)))) / (12 * h);
  return Math.abs(fd - directional) / Math.max(Math.abs(directional), 1e-8);
}

const size = (s: readonly number[]) => s.reduce((a, c) => a * c, 1);

const layoutArb = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  L: fc.integer({ min: 1, max: 5 }),
  H: fc.integer({ min: 1, max: 3 }),
  half: fc.integer({ min: 1, max: 3 }),
});

describe('attention layout ops', () => {
  it('splitHeadsRotary matches the rope formula on the (three, head, dim) layout', async () => {
    const [B, L, H, Dh] = [2, 3, 2, 4];
    const half = Dh / 2;
    const qkvData = values(B * L * 3 * H * Dh, 1);
    const angle = (t: number, j: number) => t * 0.3 + j;
    const cosData = Float64Array.from({ length: L * half }, (_, i) =>
      Math.cos(angle(Math.floor(i / half), i % half)),
    );
    const sinData = Float64Array.from({ length: L * half }, (_, i) =>
      Math.sin(angle(Math.floor(i / half), i % half)),
    );
    const qkv = b.tensor(qkvData, [B, L, 3 * H * Dh], 'f64');
    const { q, k, v } = splitHeadsRotary(
      b,
      qkv,
      b.tensor(cosData, [L, half], 'f64'),
      b.tensor(sinData, [L, half], 'f64'),
      H,
      0.5,
    );
    const [qs, ks, vs] = [await q.read(), await k.read(), await v.read()];
    for (let bb = 0; bb < B; bb++)
      for (let t = 0; t < L; t++)
        for (let h = 0; h < H; h++)
          for (let j = 0; j < half; j++) {
            const src = (which: number, d: number) =>
              qkvData[((bb * L + t) * 3 + which) * H * Dh + h * Dh + d];
            const c = Math.cos(angle(t, j));
            const s = Math.sin(angle(t, j));
            const o = ((bb * H + h) * L + t) * Dh;
            expect(qs[o + j]).toBeCloseTo(0.5 * (src(0, j) * c - src(0, j + half) * s), 14);
            expect(qs[o + j + half]).toBeCloseTo(0.5 * (src(0, j + half) * c + src(0, j) * s), 14);
            expect(ks[o + j]).toBeCloseTo(src(1, j) * c - src(1, j + half) * s, 14);
            expect(vs[o + j + half]).toBe(src(2, j + half));
          }
  });

  it('joinHeadsRotary inverts splitHeadsRotary when the tables are a rotation (cos² + sin² = 1)', async () => {
    await fc.assert(
      fc.asyncProperty(layoutArb, async ({ B, L, H, half }) => {
        const Dh = 2 * half;
        const ang = values(L * half, 7).map((a) => 3 * a);
        const cos = b.tensor(ang.map(Math.cos), [L, half], 'f64');
        const sin = b.tensor(ang.map(Math.sin), [L, half], 'f64');
        const qkvData = values(B * L * 3 * H * Dh, 3);
        const [q, k, v] = splitHeadsRotaryOp(b.tensor(qkvData, [B, L, 3 * H * Dh], 'f64'), cos, sin, H, 1);
        const back = await joinHeadsRotaryOp(q, k, v, cos, sin, 1).read();
        back.forEach((x, i) => {
          expect(x).toBeCloseTo(qkvData[i], 13);
        });
      }),
      { seed: 11, numRuns: 20 },
    );
  });

  it('mergeHeads ∘ splitHeads is the identity and mergeHeads moves [b, h, t, d] to [b, t, h·Dh + d]', async () => {
    await fc.assert(
      fc.asyncProperty(layoutArb, async ({ B, L, H, half }) => {
        const Dh = 2 * half;
        const data = values(B * H * L * Dh, 5);
        const o = b.tensor(data, [B, H, L, Dh], 'f64');
        const merged = mergeHeadsOp(o, 0);
        expect(merged.shape).toEqual([B, L, H * Dh]);
        const m = await merged.read();
        const [bb, h, t, d] = [B - 1, H - 1, L - 1, Dh - 1];
        expect(m[((bb * L + t) * H + h) * Dh + d]).toBe(data[((bb * H + h) * L + t) * Dh + d]);
        expect(await splitHeadsOp(merged, H).read()).toEqual(data);
      }),
      { seed: 12, numRuns: 20 },
    );
  });

  it('backward rules match finite differences (f64): split/join rotary, merge/split heads', async () => {
    await fc.assert(
      fc.asyncProperty(
        layoutArb,
        fc.double({ min: -2, max: 2, noNaN: true }),
        async ({ B, L, H, half }, qScale) => {
          const Dh = 2 * half;
          // arbitrary tables (not a rotation): the adjoint rule holds for any (c, s)
          const cos = b.tensor(values(L * half, 21), [L, half], 'f64');
          const sin = b.tensor(values(L * half, 22), [L, half], 'f64');
          const heads = [B, H, L, Dh];
          const errors = [
            await fdError(([x]) => splitHeadsRotaryOp(x, cos, sin, H, qScale), [[B, L, 3 * H * Dh]], 1),
            await fdError(
              ([q, k, v]) => [joinHeadsRotaryOp(q, k, v, cos, sin, qScale)],
              [heads, heads, heads],
              2,
            ),
            await fdError(([x]) => [mergeHeadsOp(x, 0)], [heads], 3),
            await fdError(([x]) => [splitHeadsOp(x, H)], [[B, L, H * Dh]], 4),
          ];
          for (const e of errors) expect(e).toBeLessThan(1e-6);
        },
      ),
      { seed: 13, numRuns: 10 },
    );
  });

  it('refuse bad shapes and dtypes with typed errors', () => {
    const qkv = b.tensor(new Float64Array(2 * 3 * 12), [2, 3, 12], 'f64');
    const table = b.tensor(new Float64Array(3), [3, 1], 'f64');
    expect(() => splitHeadsRotaryOp(qkv, table, table, 5, 1)).toThrow(ShapeError);
    expect(() => splitHeadsRotaryOp(qkv, table, table, 1, 1)).toThrow(/rotary table/); // Dh 4 needs [3, 2]
    const ok = b.tensor(new Float64Array(3), [3, 1], 'f64');
    const qkv2 = b.tensor(new Float64Array(2 * 3 * 6), [2, 3, 6], 'f64');
    expect(splitHeadsRotaryOp(qkv2, ok, ok, 1, 1)).toHaveLength(3);
    expect(() => splitHeadsRotaryOp(b.tensor(new Int32Array(36), [2, 3, 6]), ok, ok, 1, 1)).toThrow(
      DTypeError,
    );
    expect(() => splitHeadsRotaryOp(qkv2, ok, ok, 1, Number.NaN)).toThrow(ArgumentError);
    expect(() => mergeHeadsOp(qkv, 0)).toThrow(ShapeError);
    expect(() => splitHeadsOp(qkv, 5)).toThrow(ShapeError);
  });
});

describe('dropout', () => {
  it('keeps exactly where the stream uniform is ≥ p and scales by 1/(1 − p) (f32 and f64)', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const n = 4096;
      const x = b.tensor(values(n, 3), [64, 64], dtype);
      const p = 0.3;
      const y = await dropout(x, { p, seed: 7, offset: 123 }).read();
      const u = await b.uniform([64, 64], { seed: 7, offset: 123 }, 'f64').read();
      const xs = await x.read();
      const pt = dtype === 'f32' ? Math.fround(p) : p;
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const expected =
          u[i] >= pt ? (dtype === 'f32' ? Math.fround(xs[i] / (1 - p)) : xs[i] * (1 / (1 - p))) : 0;
        expect(y[i]).toBeCloseTo(expected, dtype === 'f32' ? 6 : 15);
        if (u[i] >= pt) kept++;
      }
      // binomial(4096, 0.7): sd ≈ 29; 5 sd
      expect(Math.abs(kept - 0.7 * n)).toBeLessThan(150);
    }
  });

  it('the threshold is the smallest kept uniform index (exact at the boundary)', () => {
    const u = (k: number) => (k + 0.5) / 2 ** 23;
    for (const p of [0, 1e-9, 0.1, 0.25, 0.5, 0.999999]) {
      for (const dtype of ['f32', 'f64'] as const) {
        const pt = dtype === 'f32' ? Math.fround(p) : p;
        const k = keepThreshold(p, dtype);
        expect(u(k) >= pt).toBe(true);
        if (k > 0) expect(u(k - 1) >= pt).toBe(false);
      }
    }
  });

  it('a window of the stream equals the same elements of a longer call (offsets compose)', async () => {
    const x = b.tensor(values(40, 2), [40], 'f64');
    const whole = await dropout(x, { p: 0.5, seed: 3n, offset: 5 }).read();
    const tail = await dropout(b.tensor(values(40, 2).subarray(10), [30], 'f64'), {
      p: 0.5,
      seed: 3n,
      offset: 15,
    }).read();
    expect(Array.from(tail)).toEqual(Array.from(whole.subarray(10)));
  });

  it('backward applies the same mask (regenerated, nothing stored) and matches finite differences', async () => {
    const x = b.tensor(values(200, 4), [10, 20], 'f64');
    const o = { p: 0.4, seed: 11, offset: 9 };
    const { grads } = await valueAndGrad((t: Tensor) => tidy(() => b.sum(b.sum(dropout(t, o)))))(x);
    const ones = await dropout(b.full([10, 20], 1, 'f64'), o).read();
    expect(Array.from(await grads.read())).toEqual(Array.from(ones));
    expect(await fdError(([t]) => [dropout(t, o)], [[10, 20]], 8)).toBeLessThan(1e-6);
  });

  it('refuses p outside [0, 1), bad seeds and offsets, integer tensors', () => {
    const x = b.tensor(new Float64Array(4), [4], 'f64');
    expect(() => dropout(x, { p: 1, seed: 0 })).toThrow(ArgumentError);
    expect(() => dropout(x, { p: Number.NaN, seed: 0 })).toThrow(ArgumentError);
    expect(() => dropout(x, { p: 0.1, seed: -1 })).toThrow(ArgumentError);
    expect(() => dropout(x, { p: 0.1, seed: 0, offset: 0.5 })).toThrow(ArgumentError);
    expect(() => dropout(b.tensor(new Int32Array(4), [4]), { p: 0.1, seed: 0 })).toThrow(DTypeError);
  });
});
