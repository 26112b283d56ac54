/**
 * `randint(backend, shape, low, high, stream)`: i32 integers in [low, high) from the Philox stream, bit-identical
 * on cpu and webgpu. Element e reads the SAME 32-bit word as element e of `uniform` at that stream (word
 * offset + e; layout in rng/philox.ts) and maps it by Lemire's multiply-high,
 *   k = ⌊w·n / 2³²⌋ (n = high − low),  value = low + k,
 * exact integer arithmetic on both backends (so randint ≈ ⌊uniform·n⌋ on the same stream). Bias: each k gets
 * ⌊2³²/n⌋ or ⌈2³²/n⌉ of the 2³² words, so |P(k) − 1/n| < 2⁻³² (relative bias below n·2⁻³²: 2.3e-9 for
 * n = 10, 1.2e-5 for n = 50257). Rejection would remove the bias but makes the word an element reads depend on
 * earlier draws, which breaks the one-word-per-element layout the backends share.
 */
import { ArgumentError } from '../errors';
import { mulhi32, philoxKey, philoxWords } from '../rng/philox';
import { PHILOX_WGSL } from '../rng/philox-wgsl';
import type { Backend, RandomStream, Shape, Tensor } from '../types';
import { checkShape, checkStreamRange, shapeSize, streamOffset } from '../validate';
import { type DefinedOp, defineOp } from './define';
import { checkBindable, gridOf, WG } from './kernel-utils';

/** k = ⌊w·n/2³²⌋ for a u32 word w and 1 ≤ n < 2³² (the high word of the 64-bit product). */
export function wordToInt(w: number, n: number): number {
  return mulhi32(w >>> 0, n >>> 0);
}

function checkRange(low: number, high: number): void {
  const ok =
    Number.isInteger(low) &&
    Number.isInteger(high) &&
    low >= -(2 ** 31) &&
    high <= 2 ** 31 &&
    low < high &&
    high - low < 2 ** 32;
  if (!ok)
    throw new ArgumentError(
      'randint',
      `low ${String(low)} and high ${String(high)}`,
      'integers low < high in [−2³¹, 2³¹] with high − low < 2³²',
    );
}

function check(shape: Shape, low: number, high: number, stream: RandomStream): number {
  checkShape('randint', shape);
  checkRange(low, high);
  const offset = streamOffset('randint', stream);
  checkStreamRange('randint', offset, shapeSize(shape));
  return offset;
}

const RANDINT_WGSL = /* wgsl */ `${PHILOX_WGSL}
struct Params { size: u32, k0: u32, k1: u32, blockLo: u32, blockHi: u32, skip: u32, n: u32, low: u32, gridX: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<i32>;
@group(0) @binding(1) var<uniform> params: Params;
// one invocation per Philox block of the window; element e = low + hi32(word(offset + e) · n)
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * params.gridX * ${WG}u;
  let first = t * 4u;
  if (first >= params.size + params.skip) { return; }
  let lo = params.blockLo + t;
  let hi = params.blockHi + select(0u, 1u, lo < params.blockLo);
  let w = philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(params.k0, params.k1));
  for (var j = 0u; j < 4u; j++) {
    let pos = first + j;
    if (pos >= params.skip && pos - params.skip < params.size) {
      out[pos - params.skip] = bitcast<i32>(params.low + mulhilo(w[j], params.n).x);
    }
  }
}`;

/**
 * Uniform integers in [low, high) as i32 of `shape`, from stream words offset … offset + size − 1 (see the module
 * doc for the mapping and its bias bound). low < high, both in [−2³¹, 2³¹], high − low < 2³². Not differentiable.
 */
export const randint: DefinedOp<[Backend, Shape, number, number, RandomStream], Tensor<'i32'>> = defineOp({
  name: 'randint',
  validate: (_b, _backend: Backend, shape: Shape, low: number, high: number, stream: RandomStream) => {
    check(shape, low, high, stream);
  },
  cpu(ctx, _b, shape: Shape, low: number, high: number, stream: RandomStream): Tensor<'i32'> {
    const offset = check(shape, low, high, stream);
    const { tensor, data } = ctx.output(shape, 'i32');
    const words = philoxWords(philoxKey(stream.seed), offset, data.length);
    const n = high - low;
    for (let i = 0; i < data.length; i++) data[i] = low + wordToInt(words[i], n);
    return tensor;
  },
  webgpu(ctx, _b, shape: Shape, low: number, high: number, stream: RandomStream): Tensor<'i32'> {
    const offset = check(shape, low, high, stream);
    const out = ctx.output(shape, 'i32');
    const size = shapeSize(shape);
    if (size === 0) return out;
    checkBindable('randint', ctx, out);
    const { k0, k1 } = philoxKey(stream.seed);
    const block = Math.floor(offset / 4);
    const skip = offset % 4;
    const [gx, gy] = gridOf(ctx, Math.ceil((size + skip) / 4));
    const params = new Uint32Array([
      size,
      k0,
      k1,
      block % 2 ** 32,
      Math.floor(block / 2 ** 32),
      skip,
      high - low,
      low >>> 0,
      gx,
      0,
      0,
      0,
    ]);
    ctx.run({
      name: 'randint',
      wgsl: RANDINT_WGSL,
      bindings: [{ tensor: out, access: 'read_write' }, { uniform: params.buffer }],
      workgroups: [gx, gy],
    });
    return out;
  },
});
