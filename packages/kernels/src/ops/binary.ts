/**
 * Broadcasting elementwise maximum and minimum (NumPy rules; both operands of one dtype, any dtype):
 *   maximum(a, b) = a ≥ b ? a : b,  minimum(a, b) = a ≤ b ? a : b,  and a NaN in either operand gives NaN.
 * Exact on both backends (a selection, no arithmetic). Gradients: gy goes to a where a ≥ b (maximum) or a ≤ b
 * (minimum) — so on ties ALL of it goes to a, none to b (torch splits ties in half) — and to b elsewhere, each
 * summed back to its operand's shape.
 */
import type { Backend, Shape, Tensor } from '../types';
import { broadcastShapes, broadcastStrides, checkSameDtype, shapeSize } from '../validate';
import { type DefinedOp, defineOp, type WebGPUKernelContext } from './define';
import { checkBindable, freeing, gridOf, isNanWgsl, u32Table, WG } from './kernel-utils';
import { reduceToShape } from './sum-to-shape';

type Which = 'maximum' | 'minimum';

const CPU: Record<Which, (a: number, b: number) => number> = {
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
};

const WGSL_T: Record<string, string> = { f32: 'f32', i32: 'i32', u32: 'u32' };

function pickWgsl(which: Which, t: string): string {
  const take = which === 'maximum' ? 'a >= b' : 'a <= b';
  return /* wgsl */ `
${isNanWgsl(t)}
struct Params { rank: u32, n: u32, gridX: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> A: array<${t}>;
@group(0) @binding(1) var<storage, read> B: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
@group(0) @binding(3) var<storage, read> axes: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;
// ${which}: axes[4k..4k+2] = (dim, stride in a, stride in b) of output axis k (stride 0 where broadcast)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x + gid.y * params.gridX * ${WG}u;
  if (o >= params.n) { return; }
  var rem = o;
  var ia = 0u;
  var ib = 0u;
  for (var k = params.rank; k > 0u; k--) {
    let ax = k - 1u;
    let i = rem % axes[4u * ax];
    rem = rem / axes[4u * ax];
    ia += i * axes[4u * ax + 1u];
    ib += i * axes[4u * ax + 2u];
  }
  let a = A[ia];
  let b = B[ib];
  out[o] = select(b, a, ${take} || isNan(a));
}`;
}

function plan(a: Tensor, b: Tensor, op: string) {
  const shape = broadcastShapes(op, a.shape, b.shape);
  return { shape, sa: broadcastStrides(a.shape, shape), sb: broadcastStrides(b.shape, shape) };
}

function pickCpu(
  pick: (a: number, b: number) => number,
  av: ArrayLike<number>,
  bv: ArrayLike<number>,
  shape: Shape,
  sa: number[],
  sb: number[],
  out: { [i: number]: number },
): void {
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let ia = 0;
  let ib = 0;
  const n = shapeSize(shape);
  for (let o = 0; o < n; o++) {
    out[o] = pick(av[ia], bv[ib]);
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      ia += sa[k];
      ib += sb[k];
      if (idx[k] < shape[k]) break;
      ia -= sa[k] * shape[k];
      ib -= sb[k] * shape[k];
      idx[k] = 0;
    }
  }
}

function runPickGpu(ctx: WebGPUKernelContext, which: Which, a: Tensor, b: Tensor): Tensor {
  const { shape, sa, sb } = plan(a, b, which);
  const out = ctx.output(shape, a.dtype);
  const n = shapeSize(shape);
  if (n === 0) return out;
  checkBindable(which, ctx, a, b, out);
  const table = u32Table(
    ctx,
    shape.flatMap((d, k) => [d, sa[k], sb[k], 0]),
  );
  const [gx, gy] = gridOf(ctx, n);
  try {
    ctx.run({
      name: `${which}:${a.dtype}`,
      wgsl: pickWgsl(which, WGSL_T[a.dtype]),
      bindings: [
        { tensor: a, access: 'read' },
        { tensor: b, access: 'read' },
        { tensor: out, access: 'read_write' },
        { tensor: table, access: 'read' },
        { uniform: new Uint32Array([shape.length, n, gx, 0]).buffer },
      ],
      workgroups: [gx, gy],
    });
  } finally {
    table.dispose();
  }
  return out;
}

/** gy split by the mask "a wins" (a ≥ b or a ≤ b), each part summed back to its operand's shape. */
function pickBackward(bk: Backend, which: Which, gy: Tensor, a: Tensor, b: Tensor): Tensor[] {
  const mask = bk.compare(a, b, which === 'maximum' ? 'ge' : 'le');
  const zero = bk.zeros([], gy.dtype);
  return freeing([mask, zero], () => {
    const ga = bk.where(mask, gy, zero);
    const gb = bk.where(mask, zero, gy);
    const ra = reduceToShape(ga, a.shape);
    const rb = reduceToShape(gb, b.shape);
    if (ra !== ga) ga.dispose();
    if (rb !== gb) gb.dispose();
    return [ra, rb];
  });
}

function pickOp(which: Which): DefinedOp<[Tensor, Tensor], Tensor> {
  return defineOp({
    name: which,
    validate(_b, a: Tensor, b: Tensor) {
      checkSameDtype(which, a, b);
      plan(a, b, which);
    },
    cpu(ctx, a: Tensor, b: Tensor): Tensor {
      const { shape, sa, sb } = plan(a, b, which);
      const out = ctx.output(shape, a.dtype);
      pickCpu(CPU[which], ctx.data(a), ctx.data(b), shape, sa, sb, out.data);
      return out.tensor;
    },
    webgpu: (ctx, a: Tensor, b: Tensor) => runPickGpu(ctx, which, a, b),
    gradient: {
      inputs: ([a, b]) => [a, b],
      save: ([a, b]) => [a, b],
      backward: (gy: Tensor, { backend, args: [a, b] }) => pickBackward(backend, which, gy, a, b),
    },
  });
}

/** Elementwise a ≥ b ? a : b with broadcasting (NaN propagates). Gradient to a on ties (see the module doc). */
export const maximum: DefinedOp<[Tensor, Tensor], Tensor> = pickOp('maximum');

/** Elementwise a ≤ b ? a : b with broadcasting (NaN propagates). Gradient to a on ties. */
export const minimum: DefinedOp<[Tensor, Tensor], Tensor> = pickOp('minimum');
