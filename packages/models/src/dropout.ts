/**
 * Inverted dropout as one op: y_e = x_e · keep_e / (1 − p), keep_e = [u_e ≥ p], u_e the uniform of the kernels'
 * Philox stream (seed) at element offset + e (Srivastava et al. 2014; torch's `F.dropout` convention). The
 * mask is never stored: backward is the same op on the incoming gradient (the map is linear with a 0/1
 * diagonal), so it regenerates the mask from (seed, offset). Masks are the same on cpu and webgpu: both test the
 * same integer, word >>> 9 ≥ k with k the smallest uniform index at or above p.
 */
import {
  ArgumentError,
  type DefinedOp,
  DTypeError,
  defineOp,
  gridOf,
  PHILOX_WGSL,
  philoxKey,
  type Tensor,
} from '@duality/kernels';

export interface DropoutOptions {
  /** Drop probability in [0, 1). */
  p: number;
  seed: number | bigint;
  /** Stream element of x's first element (default 0). */
  offset?: number;
}

const TWO_23 = 2 ** 23;

/**
 * The smallest k with uniform(k) = (k + ½)·2⁻²³ ≥ p, p rounded to the tensor's dtype first (so an f32 model
 * compares with the f32 p, as `compare(u, full(p, 'f32'), 'ge')` does). Exact: p·2²³ − ½ has no rounding error.
 */
export function keepThreshold(p: number, dtype: 'f32' | 'f64'): number {
  const pt = dtype === 'f32' ? Math.fround(p) : p;
  return Math.min(TWO_23, Math.max(0, Math.ceil(pt * TWO_23 - 0.5)));
}

function checkOptions(x: Tensor, o: DropoutOptions): void {
  if (x.dtype !== 'f32' && x.dtype !== 'f64') throw new DTypeError('dropout', x.dtype, 'f32 or f64');
  if (!(o.p >= 0 && o.p < 1)) throw new ArgumentError('dropout', `p = ${o.p}`, 'a probability in [0, 1)');
  philoxKey(o.seed); // throws an ArgumentError naming a bad seed
  const offset = o.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(offset + x.size))
    throw new ArgumentError('dropout', `offset ${offset}`, 'a non-negative safe integer stream offset');
}

const WG = 64;
const DROPOUT_WGSL = /* wgsl */ `${PHILOX_WGSL}
struct Params { n: u32, k0: u32, k1: u32, blockLo: u32, blockHi: u32, skip: u32, threshold: u32, gridX: u32,
  scale: f32, pad0: u32, pad1: u32, pad2: u32 };
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// one invocation per Philox block: block (blockLo, blockHi) + t holds stream words 4t − skip … 4t + 3 − skip of x
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * p.gridX * ${WG}u;
  if (t * 4u >= p.n + p.skip) { return; }
  let lo = p.blockLo + t;
  let hi = p.blockHi + select(0u, 1u, lo < p.blockLo);
  let w = philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(p.k0, p.k1));
  for (var j = 0u; j < 4u; j++) {
    let pos = t * 4u + j;
    if (pos >= p.skip && pos - p.skip < p.n) {
      let e = pos - p.skip;
      y[e] = select(0.0, x[e] * p.scale, (w[j] >> 9u) >= p.threshold);
    }
  }
}`;

type Args = [Tensor, DropoutOptions];

/** Inverted dropout of x with the mask of stream (seed, offset); differentiable w.r.t. x. */
export const dropout: DefinedOp<Args, Tensor> = defineOp<Args, Tensor>({
  name: 'dropout',
  validate: (_b, x, o) => checkOptions(x, o),
  cpu(ctx, x, o) {
    const dtype = x.dtype as 'f32' | 'f64';
    const out = ctx.output(x.shape, dtype);
    const u = ctx.backend.uniform(x.shape, { seed: o.seed, offset: o.offset ?? 0 }, 'f32');
    try {
      const us = ctx.data(u);
      const xs = ctx.data(x);
      const uMin = (keepThreshold(o.p, dtype) + 0.5) / TWO_23; // the smallest kept uniform, exact in f32
      const scale = 1 / (1 - o.p);
      for (let i = 0; i < xs.length; i++) out.data[i] = us[i] >= uMin ? xs[i] * scale : 0;
    } finally {
      u.dispose();
    }
    return out.tensor;
  },
  webgpu(ctx, x, o) {
    const out = ctx.output(x.shape, 'f32');
    if (x.size === 0) return out;
    const offset = o.offset ?? 0;
    const { k0, k1 } = philoxKey(o.seed);
    const block = Math.floor(offset / 4);
    const skip = offset % 4;
    const blocks = Math.ceil((x.size + skip) / 4);
    const [gridX, gridY] = gridOf(ctx, blocks, WG);
    const params = new ArrayBuffer(48);
    new Uint32Array(params).set([
      x.size,
      k0,
      k1,
      block % 2 ** 32,
      Math.floor(block / 2 ** 32),
      skip,
      keepThreshold(o.p, 'f32'),
      gridX,
    ]);
    new Float32Array(params, 32, 1)[0] = 1 / (1 - o.p);
    ctx.run({
      name: 'models.dropout',
      wgsl: DROPOUT_WGSL,
      bindings: [{ tensor: x, access: 'read' }, { tensor: out, access: 'read_write' }, { uniform: params }],
      workgroups: [gridX, gridY],
    });
    return out;
  },
  gradient: {
    inputs: ([x]) => [x],
    save: () => [],
    backward: (gy, { args: [, o] }): Tensor[] => [dropout(gy, o)],
  },
});
