/**
 * Every backward rule of BACKEND_GRADIENTS (and sumToShape/broadcastTo and the fused backward kernels) against
 * central finite differences in float64 on random shapes (rank 1–4, size-1 axes, broadcasting), through
 * `gradcheck`: relative error ≤ 1e-6 where |g| > 1e-8, absolute 1e-8 below. Inputs keep away from the points
 * where an op is not differentiable (ties of max, log and div near 0, LayerNorm rows of near-zero variance).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError, DTypeError, ShapeError } from '../errors';
import { geluTanhGrad, layerNormGrad, logSoftmaxGrad, siluGrad, softmaxGrad } from '../ops/activation-grads';
import { broadcastTo, sumToShape } from '../ops/sum-to-shape';
import type { Shape, Tensor } from '../types';
import { broadcastShapes } from '../validate';
import { BACKEND_GRADIENTS } from './backend-gradients';
import { valueAndGrad } from './grad';
import { type CheckInput, gradcheck, seededValues, sizeOfShape } from './gradcheck';

const b = createCpuBackend({ threads: 0 });
// GRADCHECK_RUNS raises the number of cases for a soak run (default 25 per property)
const RUNS = { numRuns: Number(process.env.GRADCHECK_RUNS ?? 25) };
const seedArb = fc.integer({ min: 1, max: 2 ** 30 });

// --- inputs ---------------------------------------------------------------------------------------------------

const f64 = (shape: Shape, seed: number, lo = -2, hi = 2): CheckInput => ({
  data: seededValues(sizeOfShape(shape), seed, lo, hi),
  shape,
});

/** Values with |v| in [0.5, 2] and a random sign (denominators). */
function awayFromZero(shape: Shape, seed: number): CheckInput {
  const u = seededValues(sizeOfShape(shape), seed, -1, 1);
  return { data: u.map((v) => Math.sign(v || 1) * (0.5 + 1.5 * Math.abs(v))), shape };
}

/**
 * Each last-axis row a shuffle of 0.25·(0…N−1) plus jitter below 0.05 around a random offset: entries differ by
 * ≥ 0.2, far beyond the stencil's reach (2h ≈ 2e-3), so max has no ties and LayerNorm rows have std ≥ 0.1.
 */
function separatedRows(shape: Shape, seed: number): CheckInput {
  const n = shape[shape.length - 1];
  const rows = sizeOfShape(shape) / n;
  const u = seededValues(rows * (2 * n + 1), seed, 0, 1);
  const data = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const ranks = Array.from({ length: n }, (_, j) => j);
    for (let j = n - 1; j > 0; j--) {
      const s = Math.floor(u[r * (2 * n + 1) + j] * (j + 1));
      [ranks[j], ranks[s]] = [ranks[s], ranks[j]];
    }
    const offset = 2 * u[r * (2 * n + 1) + 2 * n] - 1;
    for (let j = 0; j < n; j++)
      data[r * n + j] = offset + 0.25 * ranks[j] + 0.05 * u[r * (2 * n + 1) + n + j];
  }
  return { data, shape };
}

function ints(shape: Shape, seed: number, hi: number, dtype: 'i32' | 'u32' = 'i32'): CheckInput {
  const u = seededValues(sizeOfShape(shape), seed, 0, 1);
  return { data: u.map((v) => Math.min(hi - 1, Math.floor(v * hi))), shape, dtype };
}

// --- shapes ---------------------------------------------------------------------------------------------------

const dims = (min: number, max: number, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: min, maxLength: max });

/** A shape that broadcasts to `full`: some leading axes dropped, some axes set to 1. */
const derivedFrom = (full: number[]): fc.Arbitrary<number[]> =>
  fc
    .record({
      drop: fc.integer({ min: 0, max: full.length }),
      ones: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
    })
    .map(({ drop, ones }) => full.slice(drop).map((d, a) => (ones[a + drop] ? 1 : d)));

/** [full, operand] with the operand's shape derived from full, on either side. */
const broadcastPair = dims(1, 4).chain((full) =>
  fc.tuple(derivedFrom(full), fc.boolean()).map(([small, swap]) => (swap ? [small, full] : [full, small])),
);

async function expectGradcheck(f: (...xs: Tensor[]) => Tensor, inputs: CheckInput[], seed: number) {
  const r = await gradcheck(b, f, inputs, { seed });
  expect(r.ok, r.message).toBe(true);
  return r;
}

/** Largest relative error seen per rule (printed at the end: the measured tolerances of the report). */
const measured = new Map<string, number>();
async function check(rule: string, f: (...xs: Tensor[]) => Tensor, inputs: CheckInput[], seed: number) {
  const r = await expectGradcheck(f, inputs, seed);
  measured.set(rule, Math.max(measured.get(rule) ?? 0, r.maxRelError));
}

const binaryProperty = (rule: 'add' | 'sub' | 'mul' | 'div') =>
  fc.assert(
    fc.asyncProperty(broadcastPair, seedArb, async ([sa, sb], seed) => {
      const a = f64(sa, seed);
      const c = rule === 'div' ? awayFromZero(sb, seed + 1) : f64(sb, seed + 1);
      await check(rule, (x, y) => b[rule](x, y), [a, c], seed);
    }),
    RUNS,
  );

const unaryProperty = (rule: string, f: (x: Tensor) => Tensor, lo: number, hi: number) =>
  fc.assert(
    fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
      await check(rule, f, [f64(shape, seed, lo, hi)], seed);
    }),
    RUNS,
  );

const lastAxisProperty = (rule: string, f: (x: Tensor) => Tensor, separated = false) =>
  fc.assert(
    fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
      await check(rule, f, [separated ? separatedRows(shape, seed) : f64(shape, seed, -3, 3)], seed);
    }),
    RUNS,
  );

const matmulCase = fc
  .record({
    m: fc.integer({ min: 1, max: 4 }),
    k: fc.integer({ min: 1, max: 4 }),
    n: fc.integer({ min: 1, max: 4 }),
    batch: dims(0, 2, 3),
    transposeA: fc.boolean(),
    transposeB: fc.boolean(),
    bias: fc.boolean(),
    // 'shared': B is 2-D (a weight shared over A's batch); 'batched': both carry (broadcast) batch axes
    mode: fc.constantFrom('shared', 'batched', 'sharedA'),
  })
  .chain((c) =>
    fc.tuple(derivedFrom(c.batch), derivedFrom(c.batch)).map(([ba, bb]) => ({
      ...c,
      batchA: c.mode === 'sharedA' ? [] : c.mode === 'shared' ? c.batch : ba,
      batchB: c.mode === 'shared' ? [] : c.mode === 'sharedA' ? c.batch : bb,
    })),
  );

const RULE_TESTS: Record<string, () => Promise<void>> = {
  add: () => binaryProperty('add'),
  sub: () => binaryProperty('sub'),
  mul: () => binaryProperty('mul'),
  div: () => binaryProperty('div'),
  scale: () =>
    fc.assert(
      fc.asyncProperty(
        dims(1, 4),
        seedArb,
        fc.double({ min: -3, max: 3, noNaN: true }),
        async (shape, seed, s) => {
          await check('scale', (x) => b.scale(x, s, 0.7), [f64(shape, seed)], seed);
        },
      ),
      RUNS,
    ),
  exp: () => unaryProperty('exp', (x) => b.exp(x), -2, 2),
  log: () => unaryProperty('log', (x) => b.log(x), 0.5, 3),
  geluTanh: () => unaryProperty('geluTanh', (x) => b.geluTanh(x), -4, 4),
  silu: () => unaryProperty('silu', (x) => b.silu(x), -4, 4),
  where: () =>
    fc.assert(
      fc.asyncProperty(
        dims(1, 4).chain((full) => fc.tuple(derivedFrom(full), derivedFrom(full), derivedFrom(full))),
        seedArb,
        async ([sc, sa, sb], seed) => {
          const inputs = [ints(sc, seed, 2), f64(sa, seed + 1), f64(sb, seed + 2)];
          await check('where', (cond, x, y) => b.where(cond, x, y), inputs, seed);
        },
      ),
      RUNS,
    ),
  cast: async () => {
    // f64 → f32 → f64: the identity's gradient, with the cotangent rounded once to f32 on the way back
    await fc.assert(
      fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
        const x = b.tensor(seededValues(sizeOfShape(shape), seed), shape, 'f64');
        const c = b.tensor(seededValues(sizeOfShape(shape), seed + 1), shape, 'f64');
        const { value, grads } = await valueAndGrad((p: Tensor) =>
          b.sum(b.reshape(b.mul(b.cast(b.cast(p, 'f32'), 'f64'), c), [p.size])),
        )(x);
        expect(grads.dtype).toBe('f64');
        expect([...(await grads.read())]).toEqual([...Float32Array.from(await c.read())]);
        // f32 parameter, f64 maths: the gradient comes back in f32
        const x32 = b.cast(x, 'f32');
        const g32 = await valueAndGrad((p: Tensor) => b.sum(b.reshape(b.mul(b.cast(p, 'f64'), c), [p.size])))(
          x32,
        );
        expect(g32.grads.dtype).toBe('f32');
        expect([...(await g32.grads.read())]).toEqual([...Float32Array.from(await c.read())]);
        // through an integer cast no gradient flows: zeros, and the integer tensor is not on the tape
        const gi = await valueAndGrad((p: Tensor) =>
          b.sum(b.reshape(b.cast(b.cast(p, 'i32'), 'f64'), [p.size])),
        )(x);
        expect([...(await gi.grads.read())].every((v) => v === 0)).toBe(true);
        for (const t of [x, c, x32, value, grads, g32.value, g32.grads, gi.value, gi.grads]) t.dispose();
      }),
      { numRuns: 10 },
    );
  },
  reshape: () =>
    fc.assert(
      fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
        const n = sizeOfShape(shape);
        // Σ c ⊙ reshape(x)² so the gradient depends on the position mapping
        const f = (x: Tensor) => {
          const r = b.reshape(x, [n]);
          return b.reshape(b.mul(r, r), [...shape].reverse());
        };
        await check('reshape', f, [f64(shape, seed)], seed);
      }),
      RUNS,
    ),
  matmul: () =>
    fc.assert(
      fc.asyncProperty(matmulCase, seedArb, async (c, seed) => {
        const aMat = c.transposeA ? [c.k, c.m] : [c.m, c.k];
        const bMat = c.transposeB ? [c.n, c.k] : [c.k, c.n];
        const inputs = [
          f64([...c.batchA, ...aMat], seed),
          f64([...c.batchB, ...bMat], seed + 1),
          f64([c.n], seed + 2),
        ];
        const o = { transposeA: c.transposeA, transposeB: c.transposeB };
        const f = (x: Tensor, y: Tensor, bias: Tensor) => b.matmul(x, y, c.bias ? { ...o, bias } : o);
        await check('matmul', f, c.bias ? inputs : inputs.slice(0, 2), seed);
      }),
      { numRuns: 2 * RUNS.numRuns },
    ),
  sum: () => lastAxisProperty('sum', (x) => b.sum(x)),
  max: () => lastAxisProperty('max', (x) => b.max(x), true),
  logsumexp: () => lastAxisProperty('logsumexp', (x) => b.logsumexp(x)),
  softmax: () => lastAxisProperty('softmax', (x) => b.softmax(x)),
  logSoftmax: () => lastAxisProperty('logSoftmax', (x) => b.logSoftmax(x)),
  layerNorm: () =>
    fc.assert(
      fc.asyncProperty(
        dims(1, 4),
        seedArb,
        fc.constantFrom(undefined, 1e-5, 0.1),
        async (shape, seed, eps) => {
          const d = shape[shape.length - 1];
          const inputs = [separatedRows(shape, seed), f64([d], seed + 1, -2, 2)];
          await check('layerNorm', (x, w) => b.layerNorm(x, w, eps), inputs, seed);
        },
      ),
      RUNS,
    ),
  embedding: () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        dims(1, 3),
        seedArb,
        fc.constantFrom<'i32' | 'u32'>('i32', 'u32'),
        async (v, d, idShape, seed, dt) => {
          // ids repeat (V is small), so rows accumulate several contributions
          await check(
            'embedding',
            (t, ids) => b.embedding(t, ids),
            [f64([v, d], seed), ints(idShape, seed, v, dt)],
            seed,
          );
        },
      ),
      RUNS,
    ),
  embeddingBag: () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        dims(1, 3),
        seedArb,
        async (v, d, idShape, seed) => {
          const inputs = [f64([v, d], seed), ints(idShape, seed + 1, v), f64(idShape, seed + 2)];
          await check('embeddingBag', (t, ids, w) => b.embeddingBag(t, ids, w), inputs, seed);
        },
      ),
      RUNS,
    ),
  gatherLast: () =>
    fc.assert(
      fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
        const n = shape[shape.length - 1];
        const inputs = [f64(shape, seed), ints(shape.slice(0, -1), seed + 1, n)];
        await check('gatherLast', (x, ids) => b.gatherLast(x, ids), inputs, seed);
      }),
      RUNS,
    ),
  scatterAdd: () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 7 }),
        seedArb,
        async (v, d, n, seed) => {
          const inputs = [f64([v, d], seed), ints([n], seed + 1, v), f64([n, d], seed + 2)];
          await check('scatterAdd', (t, ids, src) => b.scatterAdd(t, ids, src), inputs, seed);
        },
      ),
      RUNS,
    ),
};

describe('BACKEND_GRADIENTS', () => {
  it('has a gradient test for every rule', () => {
    expect(Object.keys(RULE_TESTS).sort()).toEqual(Object.keys(BACKEND_GRADIENTS).sort());
  });
  for (const [rule, run] of Object.entries(RULE_TESTS))
    it(`${rule} matches finite differences`, async () => {
      await run();
    });
  it('prints the measured worst relative errors', () => {
    const lines = [...measured].map(([k, v]) => `${k} ${v.toExponential(1)}`);
    console.log(`gradcheck max relative error per rule: ${lines.join(', ')}`);
    expect(measured.size).toBeGreaterThan(0);
  });
});

describe('sumToShape / broadcastTo', () => {
  it('sumToShape equals a host sum over the broadcast axes', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, seedArb, async (pair, seed) => {
        const [full, small] = orderPair(pair);
        const xs = seededValues(sizeOfShape(full), seed);
        const x = b.tensor(xs, full, 'f64');
        const y = sumToShape(x, small);
        expect(y.shape).toEqual(small);
        const want = hostSumToShape(xs, full, small);
        const got = await y.read();
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 12);
        x.dispose();
        y.dispose();
      }),
      RUNS,
    );
  });
  it('broadcastTo repeats x along the broadcast axes (host index maths; integer dtypes bit-exact)', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastPair,
        seedArb,
        fc.constantFrom('f64', 'f32', 'i32'),
        async (pair, seed, dtype) => {
          const [full, small] = orderPair(pair);
          const xs = seededValues(sizeOfShape(small), seed, -1e6, 1e6).map(Math.round);
          const x = b.tensor(xs, small, dtype);
          const y = broadcastTo(x, full);
          expect(y.shape).toEqual(full);
          expect(y.dtype).toBe(dtype);
          const got = await y.read();
          const pad = full.length - small.length;
          for (let i = 0; i < got.length; i++) {
            let rem = i;
            let src = 0;
            let stride = 1;
            for (let a = full.length - 1; a >= pad; a--) {
              const idx = rem % full[a];
              rem = Math.floor(rem / full[a]);
              const d = small[a - pad];
              src += (d === 1 ? 0 : idx) * stride;
              stride *= d;
            }
            expect(got[i]).toBe(xs[src]);
          }
          x.dispose();
          y.dispose();
        },
      ),
      RUNS,
    );
  });
  it('sumToShape and broadcastTo match finite differences (each is the other’s adjoint)', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastPair, seedArb, async (pair, seed) => {
        const [full, small] = orderPair(pair);
        await expectGradcheck((x) => sumToShape(x, small), [f64(full, seed)], seed);
        await expectGradcheck((x) => broadcastTo(x, full), [f64(small, seed)], seed);
      }),
      RUNS,
    );
  });
});

describe('fused backward kernels', () => {
  it('geluTanhGrad / siluGrad: gy ⊙ f′(x) equal finite differences of the forward (f64 and f32)', async () => {
    await fc.assert(
      fc.asyncProperty(dims(1, 3), seedArb, async (shape, seed) => {
        // the forward's own f64 tail (½x(1 + tanh u) cancels for x < −5) limits finite differences to |x| ≤ 5
        await expectGradcheck((x) => b.geluTanh(x), [f64(shape, seed, -5, 5)], seed);
        await expectGradcheck((x) => b.silu(x), [f64(shape, seed, -8, 8)], seed);
        for (const [k, fwd] of [
          [
            geluTanhGrad,
            (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
          ],
          [siluGrad, (x: number) => x / (1 + Math.exp(-x))],
        ] as const) {
          const xs = seededValues(sizeOfShape(shape), seed, -6, 6);
          const gs = seededValues(sizeOfShape(shape), seed + 1);
          const x = b.tensor(xs, shape, 'f32');
          const gy = b.tensor(gs, shape, 'f32');
          const g = k(x, gy);
          expect(g.dtype).toBe('f32');
          const got = await g.read();
          const x32 = Float32Array.from(xs);
          const gy32 = Float32Array.from(gs);
          for (let i = 0; i < xs.length; i++) {
            const h = 1e-4;
            const d = (fwd(x32[i] + h) - fwd(x32[i] - h)) / (2 * h);
            expect(Math.abs(got[i] - gy32[i] * d)).toBeLessThanOrEqual(1e-6 + 1e-6 * Math.abs(gy32[i] * d));
          }
          for (const t of [x, gy, g]) t.dispose();
        }
      }),
      { numRuns: 15 },
    );
  });
  it('geluTanhGrad / siluGrad reach their limits 0 and 1 in the tails without NaN (f64 and f32)', async () => {
    const xs = [-1e300, -1e20, -50, -40, 40, 50, 1e20, 1e300];
    for (const dtype of ['f64', 'f32'] as const) {
      const x = b.tensor(
        dtype === 'f32' ? xs.map((v) => Math.max(-3e38, Math.min(3e38, v))) : xs,
        [8],
        dtype,
      );
      const gy = b.full([8], 1, dtype);
      for (const k of [geluTanhGrad, siluGrad]) {
        const g = await k(x, gy).read();
        for (let i = 0; i < 8; i++) expect(g[i]).toBeCloseTo(xs[i] < 0 ? 0 : 1, 6);
      }
    }
  });
  it('the fused kernels refuse mismatched inputs with typed errors', () => {
    const x = b.zeros([2, 3], 'f64');
    expect(() => geluTanhGrad(x, b.zeros([3], 'f64'))).toThrow(ShapeError);
    expect(() => siluGrad(x, b.zeros([2, 3], 'f32'))).toThrow(DTypeError);
    expect(() => layerNormGrad(x, b.zeros([2], 'f64'), x, 1e-5)).toThrow(ShapeError);
    expect(() => layerNormGrad(x, b.zeros([3], 'f64'), x, -1)).toThrow(ArgumentError);
  });
  it('softmaxGrad / logSoftmaxGrad equal their formulas in f64 and f32; a −∞ log-probability passes gy through', async () => {
    await fc.assert(
      fc.asyncProperty(dims(1, 4, 6), seedArb, fc.constantFrom('f64', 'f32'), async (shape, seed, dtype) => {
        const n = shape[shape.length - 1];
        const logits = seededValues(sizeOfShape(shape), seed, -4, 4);
        // mask the first entry of every second row (a −∞ logit), keeping one finite entry per row
        if (n > 1) for (let r = 0; r < logits.length / n; r += 2) logits[r * n] = Number.NEGATIVE_INFINITY;
        const x = b.tensor(logits, shape, dtype);
        const gy = b.tensor(seededValues(x.size, seed + 1), shape, dtype);
        const y = b.softmax(x);
        const ly = b.logSoftmax(x);
        const [ys, lys, gs] = await Promise.all([y.read(), ly.read(), gy.read()]);
        const sgT = softmaxGrad(y, gy);
        const lgT = logSoftmaxGrad(ly, gy);
        const [sg, lg] = await Promise.all([sgT.read(), lgT.read()]);
        const tol = dtype === 'f64' ? 1e-14 : 2e-6;
        for (let r = 0; r < x.size / n; r++) {
          let dot = 0;
          let sum = 0;
          for (let j = 0; j < n; j++) {
            dot += gs[r * n + j] * ys[r * n + j];
            sum += gs[r * n + j];
          }
          for (let j = 0; j < n; j++) {
            const i = r * n + j;
            expect(Math.abs(sg[i] - ys[i] * (gs[i] - dot))).toBeLessThanOrEqual(tol);
            expect(Math.abs(lg[i] - (gs[i] - Math.exp(lys[i]) * sum))).toBeLessThanOrEqual(
              tol * (1 + Math.abs(sum)),
            );
            if (logits[i] === Number.NEGATIVE_INFINITY) expect(lg[i]).toBe(gs[i]);
          }
        }
        for (const t of [x, gy, y, ly, sgT, lgT]) t.dispose();
      }),
      RUNS,
    );
  });
  it('layerNormGrad: its second output is gy ⊙ x̂ (x̂ = layerNorm with unit weight)', async () => {
    await fc.assert(
      fc.asyncProperty(dims(1, 4), seedArb, async (shape, seed) => {
        const d = shape[shape.length - 1];
        const x = b.tensor(separatedRows(shape, seed).data, shape, 'f64');
        const w = b.tensor(seededValues(d, seed + 1), [d], 'f64');
        const gy = b.tensor(seededValues(x.size, seed + 2), shape, 'f64');
        const ones = b.full([d], 1, 'f64');
        const xhat = b.layerNorm(x, ones, 1e-5);
        const [gx, gyxhat] = layerNormGrad(x, w, gy, 1e-5);
        expect(gx.shape).toEqual(shape);
        const want = await xhat.read();
        const gys = await gy.read();
        const got = await gyxhat.read();
        for (let i = 0; i < x.size; i++) expect(got[i]).toBeCloseTo(gys[i] * want[i], 12);
        for (const t of [x, w, gy, ones, xhat, gx, gyxhat]) t.dispose();
      }),
      RUNS,
    );
  });
});

function orderPair([p, q]: number[][]): [number[], number[]] {
  const out = broadcastShapes('test', p, q);
  return out.join(',') === p.join(',') ? [p, q] : [q, p];
}

/** Reference Σ over broadcast axes by index arithmetic on the host. */
function hostSumToShape(xs: Float64Array, full: Shape, small: Shape): Float64Array {
  const out = new Float64Array(sizeOfShape(small));
  const r = full.length;
  const pad = r - small.length;
  for (let i = 0; i < xs.length; i++) {
    let rem = i;
    let o = 0;
    let stride = 1;
    for (let a = r - 1; a >= 0; a--) {
      const idx = rem % full[a];
      rem = Math.floor(rem / full[a]);
      if (a >= pad) {
        const d = small[a - pad];
        o += (d === 1 ? 0 : idx) * stride;
        stride *= d;
      }
    }
    out[o] += xs[i];
  }
  return out;
}
