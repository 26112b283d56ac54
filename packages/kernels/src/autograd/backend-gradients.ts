/**
 * Backward rules of the Backend's own differentiable ops (tfjs' gradient configs): one rule per op, written in
 * ops, keyed by the Backend method name. `instrumentBackend` wraps exactly these methods so that a call inside a
 * gradient scope records one tape node; outside a scope the wrapper only checks that no tape is active.
 */
import * as activationGrads from '../ops/activation-grads';
import { broadcastTo, reduceToShape } from '../ops/sum-to-shape';
import type { Backend, MatmulOptions, Shape, Tensor } from '../types';
import { type GradientRule, runRecorded } from './tape';

// biome-ignore lint/suspicious/noExplicitAny: each rule destructures its own Backend method arguments
type Rule = GradientRule<readonly any[], Tensor>;

const keepDims = (b: Backend, t: Tensor): Tensor => b.reshape(t, [...t.shape, 1]);

/** Runs `f` and frees the listed temporaries afterwards. */
function freeing<T>(temps: Tensor[], f: () => T): T {
  try {
    return f();
  } finally {
    for (const t of temps) t.dispose();
  }
}

/**
 * g reduced to `shape`, freeing g when a reduction made a new tensor — unless g is `borrowed` (the incoming
 * gradient, which a rule may hand to several inputs and the tape frees itself).
 */
function toShape(g: Tensor, shape: Shape, borrowed?: Tensor): Tensor {
  const r = reduceToShape(g, shape);
  if (r !== g && g !== borrowed) g.dispose();
  return r;
}

const binary = (
  back: (b: Backend, gy: Tensor, a: Tensor, c: Tensor, out: Tensor) => [Tensor?, Tensor?],
  save: 'ab' | 'none' | 'b+out' = 'ab',
): Rule => ({
  inputs: ([a, b]) => [a, b],
  save: ([a, b], out) => (save === 'ab' ? [a, b] : save === 'b+out' ? [b, out] : []),
  backward: (gy, { backend, args: [a, b], output }) => {
    const [ga, gb] = back(backend, gy, a, b, output);
    return [ga && toShape(ga, a.shape, gy), gb && toShape(gb, b.shape, gy)];
  },
});

/** d(Σ)/dx of the last-axis reductions: gy [...] repeated along the last axis to [..., N] (one pass). */
function expandLast(b: Backend, gy: Tensor, like: Tensor): Tensor {
  const g = keepDims(b, gy);
  return freeing([g], () => broadcastTo(g, like.shape));
}

function matmulBackward(
  b: Backend,
  gc: Tensor,
  a: Tensor,
  bb: Tensor,
  o: MatmulOptions,
): Array<Tensor | undefined> {
  const tA = o.transposeA === true;
  const tB = o.transposeB === true;
  // C = Â B̂ (Â = tA ? Aᵀ : A): gÂ = gC B̂ᵀ, gB̂ = Âᵀ gC; a stored-transposed operand takes the transpose.
  const ga = tA
    ? b.matmul(bb, gc, { transposeA: tB, transposeB: true })
    : b.matmul(gc, bb, { transposeB: !tB });
  let gb: Tensor;
  if (bb.shape.length === 2 && a.shape.length > 2 && !tA) {
    // a shared weight: fold the batch axes into rows, one matmul instead of a batch and a sum
    const k = a.shape[a.shape.length - 1];
    const n = gc.shape[gc.shape.length - 1];
    const a2 = b.reshape(a, [a.size / k, k]);
    const g2 = b.reshape(gc, [gc.size / n, n]);
    gb = freeing([a2, g2], () =>
      tB ? b.matmul(g2, a2, { transposeA: true }) : b.matmul(a2, g2, { transposeA: true }),
    );
  } else {
    gb = tB ? b.matmul(gc, a, { transposeA: true, transposeB: tA }) : b.matmul(a, gc, { transposeA: !tA });
  }
  const gbias = o.bias ? reduceToShape(gc, o.bias.shape) : undefined;
  return [toShape(ga, a.shape), toShape(gb, bb.shape), gbias === gc ? b.scale(gc, 1) : gbias];
}

export const BACKEND_GRADIENTS: Record<string, Rule> = {
  add: binary((_b, gy) => [gy, gy], 'none'),
  sub: binary((b, gy) => [gy, b.scale(gy, -1)], 'none'),
  mul: binary((b, gy, a, c) => [b.mul(gy, c), b.mul(gy, a)]),
  scale: {
    inputs: ([a]) => [a],
    save: () => [],
    backward: (gy, { backend, args: [, s] }) => [backend.scale(gy, s)],
  },
  exp: {
    inputs: ([a]) => [a],
    save: (_args, out) => [out],
    backward: (gy, { backend, output }) => [backend.mul(gy, output)],
  },
  log: {
    inputs: ([a]) => [a],
    backward: (gy, { backend, args: [a] }) => [backend.div(gy, a)],
  },
  geluTanh: {
    inputs: ([a]) => [a],
    save: ([a]) => [a],
    backward: (gy, { args: [a] }) => [activationGrads.geluTanhGrad(a, gy)],
  },
  silu: {
    inputs: ([a]) => [a],
    save: ([a]) => [a],
    backward: (gy, { args: [a] }) => [activationGrads.siluGrad(a, gy)],
  },
  where: {
    inputs: ([, a, c]) => [undefined, a, c],
    save: ([cond]) => [cond],
    backward: (gy, { backend: b, args: [cond, a, c] }) => {
      const zero = b.zeros([1], gy.dtype);
      return freeing([zero], () => [
        undefined,
        toShape(b.where(cond, gy, zero), a.shape),
        toShape(b.where(cond, zero, gy), c.shape),
      ]);
    },
  },
  cast: {
    inputs: ([x]) => [x.dtype === 'f32' || x.dtype === 'f64' ? x : undefined],
    save: () => [],
    backward: (gy, { backend, args: [x] }) => [backend.cast(gy, x.dtype)],
  },
  reshape: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy, { backend, args: [x] }) => [backend.reshape(gy, x.shape)],
  },
  matmul: {
    inputs: ([a, b, o]) => [a, b, o?.bias],
    save: ([a, b]) => [a, b],
    backward: (gy, { backend, args: [a, b, o] }) => matmulBackward(backend, gy, a, b, o ?? {}),
  },
  sum: {
    inputs: ([a]) => [a],
    save: () => [],
    backward: (gy, { backend, args: [a] }) => [expandLast(backend, gy, a)],
  },
  max: {
    inputs: ([a]) => [a],
    save: ([a]) => [a],
    backward: (gy, { backend: b, args: [a] }) => {
      const n = a.shape[a.shape.length - 1];
      const at = b.argmax(a);
      const hot = freeing([at], () => b.oneHot(at, n, a.dtype));
      const g = keepDims(b, gy);
      return freeing([hot, g], () => [b.mul(hot, g)]);
    },
  },
  logsumexp: {
    inputs: ([a]) => [a],
    save: ([a]) => [a],
    backward: (gy, { backend: b, args: [a] }) => {
      const p = b.softmax(a);
      const g = keepDims(b, gy);
      return freeing([p, g], () => [b.mul(p, g)]);
    },
  },
  softmax: {
    inputs: ([a]) => [a],
    save: (_args, out) => [out],
    // gx = y ⊙ (gy − Σ gy·y): one fused pass per row
    backward: (gy, { output: y }) => [activationGrads.softmaxGrad(y, gy)],
  },
  logSoftmax: {
    inputs: ([a]) => [a],
    save: (_args, out) => [out],
    // gx = gy − exp(y)·Σ gy: one fused pass per row
    backward: (gy, { output: y }) => [activationGrads.logSoftmaxGrad(y, gy)],
  },
  layerNorm: {
    inputs: ([x, w]) => [x, w],
    save: ([x, w]) => [x, w],
    backward: (gy, { args: [x, w, eps] }) => {
      const [gx, gyxhat] = activationGrads.layerNormGrad(x, w, gy, eps ?? 1e-5);
      return [gx, toShape(gyxhat, w.shape)];
    },
  },
  embedding: {
    inputs: ([table]) => [table, undefined],
    save: ([, ids]) => [ids],
    backward: (gy, { backend: b, args: [table, ids] }) => {
      const d = table.shape[1];
      const flatIds = b.reshape(ids, [ids.size]);
      const flatG = b.reshape(gy, [ids.size, d]);
      const zeros = b.zeros(table.shape, table.dtype);
      return freeing([flatIds, flatG, zeros], () => [b.scatterAdd(zeros, flatIds, flatG), undefined]);
    },
  },
  embeddingBag: {
    inputs: ([table, , weights]) => [table, undefined, weights],
    save: ([table, indices, weights]) => [table, indices, weights],
    backward: (gy, { backend: b, args: [table, indices, weights] }) => {
      const d = table.shape[1];
      const n = indices.size;
      const gy1 = b.reshape(gy, [...gy.shape.slice(0, -1), 1, d]);
      const w1 = b.reshape(weights, [...weights.shape, 1]);
      // table: Σ over bag slots of w_k·gy scattered to rows i_k; weights: ⟨E[i_k], gy⟩
      const contrib = b.mul(w1, gy1);
      const flatC = b.reshape(contrib, [n, d]);
      const flatIds = b.reshape(indices, [n]);
      const zeros = b.zeros(table.shape, table.dtype);
      const gTable = freeing([contrib, flatC, flatIds, zeros, w1], () => b.scatterAdd(zeros, flatIds, flatC));
      const rows = b.embedding(table, indices);
      const prod = freeing([rows, gy1], () => b.mul(rows, gy1));
      const gW = freeing([prod], () => b.sum(prod));
      return [gTable, undefined, gW];
    },
  },
  gatherLast: {
    inputs: ([x]) => [x, undefined],
    save: ([, ids]) => [ids],
    backward: (gy, { backend: b, args: [x, ids] }) => {
      const n = x.shape[x.shape.length - 1];
      const hot = b.oneHot(ids, n, x.dtype);
      const g = keepDims(b, gy);
      return freeing([hot, g], () => [b.mul(hot, g), undefined]);
    },
  },
  scatterAdd: {
    inputs: ([target, , src]) => [target, undefined, src],
    save: ([, indices]) => [indices],
    backward: (gy, { backend: b, args: [, indices] }) => [gy, undefined, b.embedding(gy, indices)],
  },
};

// d(a/b)/da = 1/b, d(a/b)/db = −out/b
BACKEND_GRADIENTS.div = {
  inputs: ([a, c]) => [a, c],
  save: ([, c], out) => [c, out],
  backward: (gy, { backend: b, args: [a, c], output }) => {
    const ga = b.div(gy, c);
    const q = b.div(output, c);
    const gb = freeing([q], () => b.mul(gy, q));
    const nb = freeing([gb], () => b.scale(gb, -1));
    return [toShape(ga, a.shape), toShape(nb, c.shape)];
  },
};

const INSTRUMENTED = Symbol.for('duality.instrumented');

/** Wraps the differentiable methods of a backend instance so calls in a gradient scope record tape nodes. */
export function instrumentBackend<B extends Backend>(backend: B): B {
  const target = backend as unknown as Record<string | symbol, unknown>;
  if (target[INSTRUMENTED]) return backend;
  for (const [name, rule] of Object.entries(BACKEND_GRADIENTS)) {
    const raw = target[name] as (...args: unknown[]) => unknown;
    if (typeof raw !== 'function') continue;
    const bound = raw.bind(backend);
    Object.defineProperty(backend, name, {
      value: (...args: unknown[]) => runRecorded(name, rule, args, () => bound(...args)),
      configurable: true,
      writable: true,
    });
  }
  Object.defineProperty(backend, INSTRUMENTED, { value: true });
  return backend;
}
