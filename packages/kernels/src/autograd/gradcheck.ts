/**
 * Test utility (not exported from the package): checks an op's backward rule against central finite differences
 * in float64. For f(x₁…xₙ) → y and a fixed random cotangent c of y's shape, the scalar L = Σ c ⊙ f(x) has
 * ∂L/∂xᵢ = (the vector–Jacobian product cᵀJᵢ), which `valueAndGrad` must reproduce; non-scalar outputs are
 * covered because every output element gets its own weight. Import it by relative path from tests.
 *
 * Numerics: the derivative along one input element is a central stencil of order 6 by default,
 * Σ_s w_s(L(x+sh) − L(x−sh))/h (s = 1, 2, 3; w = 3/4, −3/20, 1/60), whose truncation error is h⁶·L⁽⁷⁾/140 and
 * whose rounding error is ≈ u·|y|/h. With h = 1e-3·max(1, |x|) both stay near 1e-13 for O(1) data, far below
 * the 1e-6 relative tolerance (order 4 left ~1e-10 of truncation on LayerNorm rows, which failed gradients that
 * are small by cancellation); the rounding floor is added to the tolerance (`numericAt`); the differences f(x + sh) − f(x − sh) are taken per output element before weighting,
 * so output elements that do not depend on the perturbed input contribute exactly 0 (no rounding noise).
 */
import fc from 'fast-check';
import type { Backend, DType, Shape, Tensor } from '../types';
import { tidy } from './engine';
import { valueAndGrad } from './grad';

/** One argument of the op under test: host data, its shape and dtype (default f64). */
export interface CheckInput {
  readonly data: ArrayLike<number>;
  readonly shape: Shape;
  readonly dtype?: DType;
  /** A float input held fixed: no gradient is checked (integer inputs are always fixed). */
  readonly constant?: boolean;
}

export interface GradcheckOptions {
  /** Seed of the cotangent c (values in [−1, 1]; default 1). */
  readonly seed?: number;
  /** Relative tolerance where max(|analytic|, |numeric|) > atol (default 1e-6). */
  readonly rtol?: number;
  /** Below this magnitude the comparison is absolute, |analytic − numeric| ≤ atol (default 1e-8). */
  readonly atol?: number;
  /** Step for an input element of value x (default 1e-3·max(1, |x|)). */
  readonly step?: (x: number) => number;
  /** Stencil order: 2, 4 or 6 (default). */
  readonly order?: 2 | 4 | 6;
}

/** One compared element: which input, where, both derivatives and the violation ratio (> 1 fails). */
export interface ElementReport {
  readonly input: number;
  readonly index: number;
  readonly at: readonly number[];
  readonly x: number;
  readonly analytic: number;
  readonly numeric: number;
  /** |a − n| / max(|a|, |n|), or |a − n| where that max is ≤ atol. */
  readonly error: number;
  /** The finite difference's rounding floor added to the tolerance (see `numericAt`). */
  readonly noise: number;
  /** |a − n| / (rtol·max(|a|, |n|) + noise), or / (atol + noise) below atol: ≤ 1 passes. */
  readonly ratio: number;
}

export interface GradcheckReport {
  readonly ok: boolean;
  /** Number of gradient elements compared. */
  readonly checked: number;
  /** Largest relative error among elements above atol (0 if none). */
  readonly maxRelError: number;
  /** Largest absolute error over all compared elements. */
  readonly maxAbsError: number;
  /** The element closest to (or furthest past) its tolerance. */
  readonly worst?: ElementReport;
  /** One line for assertion messages (fast-check shows it for the shrunk case). */
  readonly message: string;
}

// antisymmetric central stencils: f'(x) ≈ Σ_s w_s·(f(x + s·h) − f(x − s·h)) / h over the positive offsets s
const STENCILS: Record<2 | 4 | 6, { s: number[]; w: number[] }> = {
  2: { s: [1], w: [1 / 2] },
  4: { s: [1, 2], w: [8 / 12, -1 / 12] },
  6: { s: [1, 2, 3], w: [3 / 4, -3 / 20, 1 / 60] },
};

const isFloat = (d: DType): boolean => d === 'f32' || d === 'f64';

/** Deterministic values in [lo, hi) from a seed (a 32-bit LCG; reproducible in fast-check counterexamples). */
export function seededValues(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(count);
  let s = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const t = (Math.imul(s ^ (s >>> 15), 2246822519) >>> 0) / 4294967296;
    out[i] = lo + t * (hi - lo);
  }
  return out;
}

function perturbed(x0: Float64Array, i: number, d: number): Float64Array {
  const x = x0.slice();
  x[i] = x0[i] + d;
  return x;
}

function multiIndex(i: number, shape: Shape): number[] {
  const at = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    at[a] = shape[a] === 0 ? 0 : i % shape[a];
    i = shape[a] === 0 ? 0 : Math.floor(i / shape[a]);
  }
  return at;
}

function makeTensors(backend: Backend, inputs: readonly CheckInput[], override?: [number, Float64Array]) {
  return inputs.map((inp, k) =>
    backend.tensor(override && override[0] === k ? override[1] : inp.data, inp.shape, inp.dtype ?? 'f64'),
  );
}

/** Output of f at the given inputs, as float64 on the host (run outside any gradient scope). */
async function evaluate(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly CheckInput[],
  override?: [number, Float64Array],
): Promise<Float64Array> {
  const xs = makeTensors(backend, inputs, override);
  try {
    const y = tidy(() => f(...xs));
    try {
      return Float64Array.from(await y.read());
    } finally {
      y.dispose();
    }
  } finally {
    for (const x of xs) x.dispose();
  }
}

/** ∂L/∂(every element of every differentiable input) by valueAndGrad, L = Σ c ⊙ f(x). */
async function analytic(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly CheckInput[],
  diff: readonly number[],
  cot: Float64Array,
): Promise<{ grads: Float64Array[]; outShape: Shape }> {
  const xs = makeTensors(backend, inputs);
  let outShape: Shape = [];
  try {
    const params = diff.map((k) => xs[k]);
    const { value, grads } = await valueAndGrad((ps: Tensor[]) =>
      tidy(() => {
        const all = xs.map((x, k) => (diff.includes(k) ? ps[diff.indexOf(k)] : x));
        const y = f(...all);
        outShape = y.shape;
        const c = backend.tensor(cot.subarray(0, y.size), y.shape, y.dtype);
        const weighted = backend.mul(y, c);
        return backend.sum(backend.reshape(weighted, [y.size]));
      }),
    )(params);
    value.dispose();
    const out: Float64Array[] = [];
    for (const [j, g] of grads.entries()) {
      const src = params[j];
      if (g.dtype !== src.dtype || g.shape.join(',') !== src.shape.join(','))
        throw new Error(
          `gradient ${j} is [${g.shape}] ${g.dtype}, expected [${src.shape}] ${src.dtype} like its input`,
        );
      out.push(Float64Array.from(await g.read()));
      g.dispose();
    }
    return { grads: out, outShape };
  } finally {
    for (const x of xs) x.dispose();
  }
}

const U = 2 ** -53;

/**
 * ∂L/∂x_i by the stencil, and its rounding floor: every evaluation of an output element y_e is trusted to
 * 16 units of roundoff, so the stencil can be wrong by 16u·Σ_e |c_e|·max|y_e|·2Σ|w| / h over the elements that
 * moved — the tolerance adds this, so an element whose true derivative is tiny next to its output's magnitude
 * (e.g. a·1e-8 + 0.7) is not failed for noise the finite difference itself cannot resolve.
 */
async function numericAt(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly CheckInput[],
  k: number,
  x0: Float64Array,
  i: number,
  h0: number,
  order: 2 | 4 | 6,
  cot: Float64Array,
): Promise<{ numeric: number; noise: number }> {
  const { s, w } = STENCILS[order];
  const h = x0[i] + h0 - x0[i]; // the step the float grid actually takes
  const acc = new Float64Array(cot.length);
  const mag = new Float64Array(cot.length);
  for (let t = 0; t < s.length; t++) {
    const plus = await evaluate(backend, f, inputs, [k, perturbed(x0, i, s[t] * h)]);
    const minus = await evaluate(backend, f, inputs, [k, perturbed(x0, i, -s[t] * h)]);
    // differences first: an output element that does not depend on x_i contributes exactly 0
    for (let e = 0; e < plus.length; e++) {
      acc[e] += w[t] * (plus[e] - minus[e]);
      if (plus[e] !== minus[e]) mag[e] = Math.max(mag[e], Math.abs(plus[e]), Math.abs(minus[e]));
    }
  }
  const wSum = 2 * w.reduce((a, v) => a + Math.abs(v), 0);
  let numeric = 0;
  let noise = 0;
  for (let e = 0; e < acc.length; e++) {
    numeric += (cot[e] * acc[e]) / h;
    noise += (16 * U * Math.abs(cot[e]) * mag[e] * wSum) / Math.abs(h);
  }
  return { numeric, noise };
}

/**
 * Compares `valueAndGrad` of Σ c ⊙ f(inputs) with central finite differences, for every element of every float,
 * non-constant input. `f` receives one tensor per input (in order, on `backend`, f64 unless stated) and may
 * create temporaries freely (it runs inside `tidy`).
 */
export async function gradcheck(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly CheckInput[],
  options: GradcheckOptions = {},
): Promise<GradcheckReport> {
  const rtol = options.rtol ?? 1e-6;
  const atol = options.atol ?? 1e-8;
  const step = options.step ?? ((x: number) => 1e-3 * Math.max(1, Math.abs(x)));
  const order = options.order ?? 6;
  const diff = inputs.flatMap((inp, k) => (isFloat(inp.dtype ?? 'f64') && !inp.constant ? [k] : []));
  const base = await evaluate(backend, f, inputs);
  const cot = seededValues(Math.max(1, base.length), options.seed ?? 1);
  const { grads } = await analytic(backend, f, inputs, diff, cot);

  let worst: ElementReport | undefined;
  let checked = 0;
  let maxRel = 0;
  let maxAbs = 0;
  for (const [j, k] of diff.entries()) {
    const x0 = Float64Array.from(inputs[k].data);
    for (let i = 0; i < x0.length; i++) {
      const { numeric, noise } = await numericAt(backend, f, inputs, k, x0, i, step(x0[i]), order, cot);
      const a = grads[j][i];
      const absErr = Math.abs(a - numeric);
      const scale = Math.max(Math.abs(a), Math.abs(numeric));
      const relative = scale > atol;
      const error = relative ? absErr / scale : absErr;
      const bad = !Number.isFinite(a) || !Number.isFinite(numeric);
      const ratio = bad ? Infinity : absErr / ((relative ? rtol * scale : atol) + noise);
      checked++;
      maxAbs = Math.max(maxAbs, absErr);
      if (relative) maxRel = Math.max(maxRel, error);
      if (!worst || ratio > worst.ratio) {
        const at = multiIndex(i, inputs[k].shape);
        worst = { input: k, index: i, at, x: x0[i], analytic: a, numeric, error, noise, ratio };
      }
      if (bad) break;
    }
  }
  const ok = worst === undefined || worst.ratio <= 1;
  const message = worst
    ? `${ok ? 'ok' : 'FAILED'}: worst at input ${worst.input} [${worst.at.join(', ')}] (x = ${worst.x}): ` +
      `analytic ${worst.analytic}, numeric ${worst.numeric}, error ${worst.error.toExponential(2)} ` +
      `(${worst.ratio.toFixed(3)}× tolerance; ${checked} elements, max rel ${maxRel.toExponential(2)})`
    : 'no differentiable element';
  return { ok, checked, maxRelError: maxRel, maxAbsError: maxAbs, worst, message };
}

// --- fast-check arbitraries for gradient tests --------------------------------------------------------------

/** A shape of rank in [minRank, maxRank] with dims in [1, maxDim] (size-1 axes included). */
export function arbShape(minRank = 1, maxRank = 4, maxDim = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together (NumPy rules): a full shape and a second one made from it by dropping
 * leading axes and setting some axes to 1; `swap` says which operand got the reduced shape.
 */
export function arbBroadcastPair(maxRank = 4, maxDim = 4): fc.Arbitrary<[number[], number[]]> {
  return arbShape(1, maxRank, maxDim).chain((full) =>
    fc
      .record({
        drop: fc.integer({ min: 0, max: full.length - 1 }),
        ones: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
        swap: fc.boolean(),
      })
      .map(({ drop, ones, swap }) => {
        const small = full.slice(drop).map((d, a) => (ones[a + drop] ? 1 : d));
        return (swap ? [small, full] : [full, small]) as [number[], number[]];
      }),
  );
}

/** Size of a shape. */
export const sizeOfShape = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
