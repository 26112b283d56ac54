/**
 * cpu-vs-webgpu gradient parity of every BACKEND_GRADIENTS rule, of sumToShape/broadcastTo and (through the
 * rules that call them) of the fused geluTanhGrad/siluGrad/layerNormGrad kernels: the same f32 inputs and the
 * same cotangent c on both backends, gradients of Σ c ⊙ f(x) compared. The cpu computes each f32 op in float64
 * and rounds once; the GPU computes in f32 (possibly with FMAs) — so a gradient may differ by a few ulps per op
 * it went through, more where a reduction of K terms sits on the path. Each rule states its bound in units of
 * U = 2⁻²³ relative to the gradient's largest magnitude (max(1, max|g|)); the measured worst cases are printed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParityInput, valueAndGrads } from '../ops/op-test-utils';
import { broadcastTo, sumToShape } from '../ops/sum-to-shape';
import type { Backend, Shape, Tensor } from '../types';
import { broadcastShapes } from '../validate';
import { createPair, type Pair, randomF32, randomInts } from '../webgpu/test-utils';
import { BACKEND_GRADIENTS } from './backend-gradients';
import { sizeOfShape } from './gradcheck';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

const U = 2 ** -23;
const RUNS = { numRuns: 5, seed: 20260620 };

type Op = (b: Backend) => (...xs: Tensor[]) => Tensor;
interface Case {
  inputs: ParityInput[];
  op: Op;
}

const f32 = (shape: Shape, seed: number, lo = -2, hi = 2): ParityInput => ({
  data: randomF32(sizeOfShape(shape), seed, lo, hi),
  shape,
});
const ids = (shape: Shape, seed: number, hi: number): ParityInput => ({
  data: randomInts(sizeOfShape(shape), seed, 0, hi),
  shape,
  dtype: 'i32',
});
/** |v| in [0.5, 2], random sign. */
const awayFromZero = (shape: Shape, seed: number): ParityInput => ({
  data: randomF32(sizeOfShape(shape), seed, -1, 1).map((v) => Math.sign(v || 1) * (0.5 + 1.5 * Math.abs(v))),
  shape,
});
/** Rows whose entries differ by ≥ 0.2 (no max ties, LayerNorm std ≥ 0.1). */
function separated(shape: Shape, seed: number): ParityInput {
  const n = shape[shape.length - 1];
  const u = randomF32(sizeOfShape(shape), seed, 0, 0.05);
  const data = u.map((v, i) => 0.25 * ((i * 7 + Math.floor(i / n) * 3) % n) + v - 0.5);
  return { data, shape };
}

const dims = (min: number, max: number, maxDim = 5) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: min, maxLength: max });
const derivedFrom = (full: number[]) =>
  fc
    .record({
      drop: fc.integer({ min: 0, max: full.length }),
      ones: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
    })
    .map(({ drop, ones }) => full.slice(drop).map((d, a) => (ones[a + drop] ? 1 : d)));
const pairShapes = dims(1, 4).chain((full) =>
  fc.tuple(derivedFrom(full), fc.boolean()).map(([s, swap]) => (swap ? [s, full] : [full, s])),
);
const seedArb = fc.integer({ min: 1, max: 1_000_000 });

/** Rule → a generator of cases and the bound (in U relative to max(1, max|g|)). */
const RULES: Record<string, { cases: fc.Arbitrary<Case>; bound: number }> = {
  add: { cases: binary('add'), bound: 8 },
  sub: { cases: binary('sub'), bound: 8 },
  mul: { cases: binary('mul'), bound: 8 },
  div: { cases: binary('div'), bound: 16 },
  scale: {
    cases: fc
      .tuple(dims(1, 4), seedArb)
      .map(([s, seed]) => ({ inputs: [f32(s, seed)], op: (b) => (x) => b.scale(x, -1.7, 0.3) })),
    bound: 4,
  },
  exp: { cases: unary((b) => (x) => b.exp(x), -2, 2), bound: 8 },
  log: { cases: unary((b) => (x) => b.log(x), 0.5, 3), bound: 8 },
  geluTanh: { cases: unary((b) => (x) => b.geluTanh(x), -6, 6), bound: 32 },
  silu: { cases: unary((b) => (x) => b.silu(x), -8, 8), bound: 16 },
  where: {
    cases: fc
      .tuple(
        dims(1, 4).chain((full) => fc.tuple(derivedFrom(full), derivedFrom(full), derivedFrom(full))),
        seedArb,
      )
      .map(([[sc, sa, sb], seed]) => ({
        inputs: [ids(sc, seed, 2), f32(sa, seed + 1), f32(sb, seed + 2)],
        op: (b) => (c, x, y) => b.where(c, x, y),
      })),
    bound: 8,
  },
  cast: {
    // f32 → i32 carries no gradient (the result is zeros on both); f32 → f32 is the identity
    cases: fc.tuple(dims(1, 4), seedArb).map(([s, seed]) => ({
      inputs: [f32(s, seed)],
      op: (b) => (x) => b.add(b.cast(x, 'f32'), b.cast(b.cast(b.scale(x, 3), 'i32'), 'f32')),
    })),
    bound: 0,
  },
  reshape: {
    cases: fc.tuple(dims(1, 4), seedArb).map(([s, seed]) => ({
      inputs: [f32(s, seed)],
      op: (b) => (x) => {
        const r = b.reshape(x, [x.size]);
        return b.reshape(b.mul(r, r), [...s].reverse());
      },
    })),
    bound: 4,
  },
  matmul: { cases: matmulCases(), bound: 0 /* per case: (K + 2)·4 */ },
  sum: { cases: lastAxis((b) => (x) => b.sum(x)), bound: 0 },
  max: { cases: lastAxis((b) => (x) => b.max(x), true), bound: 0 },
  logsumexp: { cases: lastAxis((b) => (x) => b.logsumexp(x)), bound: 16 },
  softmax: { cases: lastAxis((b) => (x) => b.softmax(x)), bound: 32 },
  logSoftmax: { cases: lastAxis((b) => (x) => b.logSoftmax(x)), bound: 32 },
  layerNorm: {
    cases: fc.tuple(dims(1, 4, 12), seedArb).map(([s, seed]) => ({
      inputs: [separated(s, seed), f32([s[s.length - 1]], seed + 1)],
      op: (b) => (x, w) => b.layerNorm(x, w),
    })),
    bound: 0 /* per case: (D + 2)·16 */,
  },
  embedding: {
    cases: fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), dims(1, 3), seedArb)
      .map(([v, d, s, seed]) => ({
        inputs: [f32([v, d], seed), ids(s, seed + 1, v)],
        op: (b) => (t, i) => b.embedding(t, i),
      })),
    bound: 0 /* sums of up to |ids| cotangents: per case */,
  },
  embeddingBag: {
    cases: fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), dims(1, 3), seedArb)
      .map(([v, d, s, seed]) => ({
        inputs: [f32([v, d], seed), ids(s, seed + 1, v), f32(s, seed + 2)],
        op: (b) => (t, i, w) => b.embeddingBag(t, i, w),
      })),
    bound: 0,
  },
  gatherLast: {
    cases: fc.tuple(dims(1, 4), seedArb).map(([s, seed]) => ({
      inputs: [f32(s, seed), ids(s.slice(0, -1), seed + 1, s[s.length - 1])],
      op: (b) => (x, i) => b.gatherLast(x, i),
    })),
    bound: 0,
  },
  scatterAdd: {
    cases: fc
      .tuple(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 9 }),
        seedArb,
      )
      .map(([v, d, n, seed]) => ({
        inputs: [f32([v, d], seed), ids([n], seed + 1, v), f32([n, d], seed + 2)],
        op: (b) => (t, i, src) => b.scatterAdd(t, i, src),
      })),
    bound: 4,
  },
};

function binary(rule: 'add' | 'sub' | 'mul' | 'div'): fc.Arbitrary<Case> {
  return fc.tuple(pairShapes, seedArb).map(([[sa, sb], seed]) => ({
    inputs: [f32(sa, seed), rule === 'div' ? awayFromZero(sb, seed + 1) : f32(sb, seed + 1)],
    op: (b) => (x, y) => b[rule](x, y),
  }));
}

function unary(op: Op, lo: number, hi: number): fc.Arbitrary<Case> {
  return fc.tuple(dims(1, 4), seedArb).map(([s, seed]) => ({ inputs: [f32(s, seed, lo, hi)], op }));
}

function lastAxis(op: Op, sep = false): fc.Arbitrary<Case> {
  return fc
    .tuple(dims(1, 4, 9), seedArb)
    .map(([s, seed]) => ({ inputs: [sep ? separated(s, seed) : f32(s, seed, -3, 3)], op }));
}

function matmulCases(): fc.Arbitrary<Case & { k: number }> {
  return fc
    .record({
      m: fc.integer({ min: 1, max: 17 }),
      k: fc.integer({ min: 1, max: 33 }),
      n: fc.integer({ min: 1, max: 17 }),
      batch: dims(0, 2, 3),
      tA: fc.boolean(),
      tB: fc.boolean(),
      bias: fc.boolean(),
      mode: fc.constantFrom('shared', 'batched', 'sharedA'),
      seed: seedArb,
    })
    .chain((c) =>
      fc.tuple(derivedFrom(c.batch), derivedFrom(c.batch)).map(([ba, bb]) => {
        const batchA = c.mode === 'sharedA' ? [] : c.mode === 'shared' ? c.batch : ba;
        const batchB = c.mode === 'shared' ? [] : c.mode === 'sharedA' ? c.batch : bb;
        const aShape = [...batchA, ...(c.tA ? [c.k, c.m] : [c.m, c.k])];
        const bShape = [...batchB, ...(c.tB ? [c.n, c.k] : [c.k, c.n])];
        const o = { transposeA: c.tA, transposeB: c.tB };
        const inputs = [f32(aShape, c.seed, -1, 1), f32(bShape, c.seed + 1, -1, 1)];
        if (c.bias) inputs.push(f32([c.n], c.seed + 2));
        // the reduction length on a gradient's path: K (forward) and M or N (backward), times batch folding
        const k = Math.max(c.k, c.m, c.n) * sizeOfShape(c.batch);
        const op: Op = (b) => (x, y, z) => b.matmul(x, y, z ? { ...o, bias: z } : o);
        return { inputs, op, k };
      }),
    );
}

/** Bound of one case in U (relative to max(1, max|g|)). */
function boundOf(rule: string, c: Case): number {
  const fixed = RULES[rule].bound;
  if (fixed > 0 || rule === 'cast') return fixed;
  if (rule === 'matmul') return ((c as Case & { k: number }).k + 2) * 4;
  if (rule === 'layerNorm') return (c.inputs[0].shape.at(-1) ?? 1) * 16 + 32;
  // sums of many terms (scatter of cotangents, last-axis sums): 4U per term of the longest sum
  const longest = Math.max(...c.inputs.map((i) => sizeOfShape(i.shape)));
  return 4 * (longest + 2);
}

const measured = new Map<string, number>();

async function compare(label: string, c: Case, bound: number): Promise<void> {
  const seed = 7;
  const g = await valueAndGrads(pair.gpu, c.op(pair.gpu), c.inputs, seed);
  const r = await valueAndGrads(pair.cpu, c.op(pair.cpu), c.inputs, seed);
  expect(g.grads.length).toBe(r.grads.length);
  let worst = 0;
  let where = '';
  for (const [j, want] of r.grads.entries()) {
    const got = g.grads[j];
    expect(got.length).toBe(want.length);
    const scale = Math.max(1, ...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) {
      const e = Math.abs(got[i] - want[i]) / (U * scale);
      if (!(e <= worst)) {
        worst = Number.isNaN(e) ? Infinity : e;
        where = `gradient ${j} at ${i}: webgpu ${got[i]}, cpu ${want[i]}`;
      }
    }
  }
  measured.set(label, Math.max(measured.get(label) ?? 0, worst));
  expect(worst, `${label}: ${worst.toFixed(1)} U > ${bound} U (${where})`).toBeLessThanOrEqual(bound);
}

describe('gradients: webgpu = cpu (f32)', () => {
  it('covers every rule', () => {
    expect(Object.keys(RULES).sort()).toEqual(Object.keys(BACKEND_GRADIENTS).sort());
  });
  for (const [rule, { cases }] of Object.entries(RULES))
    it(`${rule}`, async () => {
      await fc.assert(
        fc.asyncProperty(cases, async (c) => compare(rule, c, boundOf(rule, c))),
        RUNS,
      );
    });
  it('sumToShape / broadcastTo', async () => {
    await fc.assert(
      fc.asyncProperty(pairShapes, seedArb, async ([p, q], seed) => {
        const full = broadcastShapes('test', p, q);
        const small = full.join(',') === p.join(',') ? q : p;
        const longest = sizeOfShape(full);
        const sq: Op = () => (x) => sumToShape(x, small);
        const bt: Op = () => (x) => broadcastTo(x, full);
        await compare('sumToShape', { inputs: [f32(full, seed)], op: sq }, 4);
        await compare('broadcastTo', { inputs: [f32(small, seed)], op: bt }, 4 * (longest + 2));
      }),
      RUNS,
    );
  });
  it('softmax/logSoftmax with −∞ logits and long rows; broadcastTo of integers', async () => {
    const logits = randomF32(24, 5, -3, 3);
    for (let r = 0; r < 6; r += 2) logits[r * 4] = Number.NEGATIVE_INFINITY;
    const op: Op = (b) => (x) => b.logSoftmax(x);
    await compare('logSoftmax −∞', { inputs: [{ data: logits, shape: [6, 4] }], op }, 32);
    // rows longer than a workgroup (the fused row kernels stride over 64 lanes)
    const sm: Op = (b) => (x) => b.softmax(x);
    await compare('softmax N=300', { inputs: [f32([3, 300], 8, -4, 4)], op: sm }, 32);
    await compare('logSoftmax N=1000', { inputs: [f32([2, 1000], 9, -4, 4)], op }, 64);
    const ints = Int32Array.from({ length: 6 }, (_, i) => (i * 2654435761) | 0);
    const read = async (b: Backend) => {
      const x = b.tensor(ints, [2, 1, 3], 'i32');
      const y = broadcastTo(x, [4, 2, 5, 3]);
      const out = Array.from(await y.read());
      x.dispose();
      y.dispose();
      return out;
    };
    expect(await read(pair.gpu)).toEqual(await read(pair.cpu));
  });
  it('prints the measured worst differences', () => {
    const lines = [...measured].map(([k, v]) => `${k} ${v.toFixed(1)}U`);
    console.log(`cpu-vs-webgpu gradient worst |Δ|/(U·max(1,|g|)): ${lines.join(', ')}`);
    expect(measured.size).toBeGreaterThan(0);
  });
});
