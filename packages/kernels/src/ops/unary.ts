/**
 * Pointwise maps: sqrt, rsqrt, tanh, sigmoid, neg, abs, square and clamp, each with a fused backward kernel
 * gx = gy · f′ (f′ from the input x or from the output y, whichever is cheaper). cpu: computed in float64 and
 * rounded once when stored (f32 results are the correctly rounded f64 values, or within 1 ULP of them for
 * tanh/sigmoid/rsqrt); webgpu: the WGSL builtins (accuracy bounds of the WGSL spec: sqrt 2.5 ULP, inverseSqrt
 * 2 ULP, exp 3 + 2|x| ULP; tanh's argument is clamped to ±15, where it is ±1 in f32 anyway).
 * neg, abs, square and clamp also take i32 (wrapping like a typed-array store: −(−2³¹) = −2³¹, square wraps).
 */
import { ArgumentError } from '../errors';
import type { DType, Tensor } from '../types';
import { checkDtype, checkSameDtype, checkSameShape, FLOAT } from '../validate';
import { type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkBindable, gridOf, WG } from './kernel-utils';

/** A pointwise map: its cpu and WGSL forms (of v, with parameters lo/hi) and its derivative. */
interface UnarySpec {
  readonly name: string;
  readonly dtypes: readonly DType[];
  readonly f: (v: number, lo: number, hi: number) => number;
  /** For i32 inputs when it differs from f (exact wrapping integer arithmetic). */
  readonly fInt?: (v: number, lo: number, hi: number) => number;
  /** WGSL expression in `v` (type T), `lo`, `hi`. */
  readonly wgsl: string;
  /** The derivative is a function of the input x or of the output y: `s` below. */
  readonly gradFrom: 'x' | 'y';
  readonly d: (s: number, lo: number, hi: number) => number;
  /** WGSL expression of f′ in `s`, `lo`, `hi` (f32). */
  readonly dWgsl: string;
}

const WGSL_T: Record<string, string> = { f32: 'f32', i32: 'i32' };

function mapWgsl(name: string, t: string, expr: string, grad: boolean): string {
  const body = grad ? `gx[i] = gy[i] * (${expr});` : `y[i] = ${expr};`;
  const io = grad
    ? `@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;`
    : `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> unused: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<${t}>;`;
  return /* wgsl */ `
struct Params { n: u32, gridX: u32, lo: ${t}, hi: ${t} }
${io}
@group(0) @binding(3) var<uniform> params: Params;
// ${name}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * ${WG}u;
  if (i >= params.n) { return; }
  let lo = params.lo;
  let hi = params.hi;
  let ${grad ? 's = src[i]' : 'v = x[i]'};
  ${body}
}`;
}

/** Uniform: n, gridX, then lo and hi as the element type. */
function mapParams(n: number, gx: number, dtype: DType, lo: number, hi: number): ArrayBuffer {
  const buf = new ArrayBuffer(16);
  new Uint32Array(buf, 0, 2).set([n, gx]);
  if (dtype === 'i32') new Int32Array(buf, 8, 2).set([lo, hi]);
  else new Float32Array(buf, 8, 2).set([lo, hi]);
  return buf;
}

function runMap(
  ctx: WebGPUKernelContext,
  name: string,
  wgsl: string,
  ins: [Tensor, Tensor],
  out: Tensor,
  lo: number,
  hi: number,
): void {
  if (out.size === 0) return;
  checkBindable(name, ctx, ins[0], ins[1], out);
  const [gx, gy] = gridOf(ctx, out.size);
  ctx.run({
    name,
    wgsl,
    bindings: [
      { tensor: ins[0], access: 'read' },
      { tensor: ins[1], access: 'read' },
      { tensor: out, access: 'read_write' },
      { uniform: mapParams(out.size, gx, out.dtype, lo, hi) },
    ],
    workgroups: [gx, gy],
  });
}

/** The fused backward gx = gy · f′(s) of a pointwise map (s = x or y). */
function gradOp(spec: UnarySpec) {
  const name = `${spec.name}Grad`;
  const wgsl = mapWgsl(name, 'f32', spec.dWgsl, true);
  return defineOp<[Tensor, Tensor, number, number], Tensor>({
    name,
    validate(_b, s: Tensor, gy: Tensor) {
      checkDtype(name, 's', s, FLOAT);
      checkSameDtype(name, s, gy);
      checkSameShape(name, 's and gy', s.shape, gy.shape);
    },
    cpu(ctx, s: Tensor, gy: Tensor, lo: number, hi: number): Tensor {
      const ss = ctx.data(s);
      const gs = ctx.data(gy);
      const { tensor, data } = ctx.output(s.shape, s.dtype);
      for (let i = 0; i < ss.length; i++) data[i] = gs[i] * spec.d(ss[i], lo, hi);
      return tensor;
    },
    webgpu(ctx, s: Tensor, gy: Tensor, lo: number, hi: number): Tensor {
      const out = ctx.output(s.shape, 'f32');
      runMap(ctx, name, wgsl, [s, gy], out, lo, hi);
      return out;
    },
  });
}

type Bounds = [number?, number?];

/** Defines the forward op of a pointwise map (extra arguments lo, hi for clamp) with its backward rule. */
function unaryOp<A extends Bounds>(spec: UnarySpec, check?: (x: Tensor, ...p: A) => void) {
  const grad = gradOp(spec);
  const wgslFor = (t: string) => mapWgsl(spec.name, t, spec.wgsl, false);
  const bounds = (p: Bounds): [number, number] => [p[0] ?? 0, p[1] ?? 0];
  return defineOp<[Tensor, ...A], Tensor>({
    name: spec.name,
    validate(_b, x: Tensor, ...p: A) {
      checkDtype(spec.name, 'x', x, spec.dtypes);
      check?.(x, ...p);
    },
    cpu(ctx, x: Tensor, ...p: A): Tensor {
      const [lo, hi] = bounds(p);
      const f = x.dtype === 'i32' && spec.fInt ? spec.fInt : spec.f;
      const xs = ctx.data(x);
      const { tensor, data } = ctx.output(x.shape, x.dtype);
      for (let i = 0; i < xs.length; i++) data[i] = f(xs[i], lo, hi);
      return tensor;
    },
    webgpu(ctx, x: Tensor, ...p: A): Tensor {
      const [lo, hi] = bounds(p);
      const out = ctx.output(x.shape, x.dtype);
      runMap(ctx, `${spec.name}:${x.dtype}`, wgslFor(WGSL_T[x.dtype]), [x, x], out, lo, hi);
      return out;
    },
    gradient: {
      inputs: ([x]) => [x],
      save: ([x], y) => [spec.gradFrom === 'x' ? x : y],
      backward: (gy: Tensor, { args: [x, ...p], output }) => {
        const [lo, hi] = bounds(p as Bounds);
        return [grad(spec.gradFrom === 'x' ? x : output, gy, lo, hi)];
      },
    },
  });
}

const FLOATS = FLOAT;
const SIGNED: readonly DType[] = ['f32', 'f64', 'i32'];

type Unary = DefinedOp<[Tensor], Tensor>;

/** √x (NaN below 0). Gradient: gy·½/√x (∞ at 0, as torch). */
export const sqrt: Unary = unaryOp({
  name: 'sqrt',
  dtypes: FLOATS,
  f: Math.sqrt,
  wgsl: 'sqrt(v)',
  gradFrom: 'y',
  d: (y) => 0.5 / y,
  dWgsl: '0.5 / s',
});

/** 1/√x (∞ at 0 on cpu; x ≤ 0 is undefined in WGSL's inverseSqrt on webgpu). Gradient: gy·(−½)·y³. */
export const rsqrt: Unary = unaryOp({
  name: 'rsqrt',
  dtypes: FLOATS,
  f: (v) => 1 / Math.sqrt(v),
  wgsl: 'inverseSqrt(v)',
  gradFrom: 'y',
  d: (y) => -0.5 * y * y * y,
  dWgsl: '-0.5 * s * s * s',
});

/** tanh x. Gradient: gy·(1 − y²). */
export const tanh: Unary = unaryOp({
  name: 'tanh',
  dtypes: FLOATS,
  f: Math.tanh,
  wgsl: 'tanh(clamp(v, -15.0, 15.0))',
  gradFrom: 'y',
  d: (y) => 1 - y * y,
  dWgsl: '1.0 - s * s',
});

/** σ(x) = 1/(1 + e^(−x)). Gradient: gy·y(1 − y). */
export const sigmoid: Unary = unaryOp({
  name: 'sigmoid',
  dtypes: FLOATS,
  f: (v) => 1 / (1 + Math.exp(-v)),
  wgsl: '1.0 / (1.0 + exp(-v))',
  gradFrom: 'y',
  d: (y) => y * (1 - y),
  dWgsl: 's * (1.0 - s)',
});

/** −x (f32, f64, i32). Gradient: −gy. */
export const neg: Unary = unaryOp({
  name: 'neg',
  dtypes: SIGNED,
  f: (v) => -v,
  wgsl: '-v',
  gradFrom: 'x',
  d: () => -1,
  dWgsl: '-1.0',
});

/** |x| (f32, f64, i32). Gradient: gy·sign(x), with sign(0) = 0 (torch's convention). */
export const abs: Unary = unaryOp({
  name: 'abs',
  dtypes: SIGNED,
  f: Math.abs,
  wgsl: 'abs(v)',
  gradFrom: 'x',
  d: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  dWgsl: 'sign(s)',
});

/** x² (f32, f64, i32; i32 wraps). Gradient: gy·2x. */
export const square: Unary = unaryOp({
  name: 'square',
  dtypes: SIGNED,
  f: (v) => v * v,
  fInt: (v) => Math.imul(v, v),
  wgsl: 'v * v',
  gradFrom: 'x',
  d: (x) => 2 * x,
  dWgsl: '2.0 * s',
});

function checkBounds(x: Tensor, lo?: number, hi?: number): void {
  const ok = (v: unknown) =>
    typeof v === 'number' &&
    !Number.isNaN(v) &&
    (x.dtype !== 'i32' || (Number.isInteger(v) && Math.abs(v) <= 2 ** 31));
  if (!ok(lo) || !ok(hi) || (lo as number) > (hi as number))
    throw new ArgumentError(
      'clamp',
      `lo ${String(lo)} and hi ${String(hi)}`,
      x.dtype === 'i32' ? 'i32 bounds lo ≤ hi' : 'numbers lo ≤ hi (±∞ allowed, NaN not)',
    );
  if (x.dtype === 'i32' && ((lo as number) < -(2 ** 31) || (hi as number) > 2 ** 31 - 1))
    throw new ArgumentError('clamp', `lo ${lo} and hi ${hi}`, 'bounds within the i32 range');
}

/**
 * min(max(x, lo), hi) written as x < lo ? lo : (x > hi ? hi : x), so NaN passes through (f32, f64, i32;
 * lo ≤ hi, ±∞ allowed for floats). Gradient: gy where lo ≤ x ≤ hi (bounds included, as torch), 0 outside.
 */
export const clamp: DefinedOp<[Tensor, number, number], Tensor> = unaryOp<[number, number]>(
  {
    name: 'clamp',
    dtypes: SIGNED,
    f: (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v),
    wgsl: 'select(select(v, hi, v > hi), lo, v < lo)',
    gradFrom: 'x',
    d: (x, lo, hi) => (x >= lo && x <= hi ? 1 : 0),
    dWgsl: 'select(0.0, 1.0, s >= lo && s <= hi)',
  },
  checkBounds,
) as DefinedOp<[Tensor, number, number], Tensor>;
