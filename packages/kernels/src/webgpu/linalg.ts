/**
 * matmul on the device in three strategies: one dispatch of the tiled kernel (kernels/matmul.ts) when every
 * operand fits one storage binding; for an output head x·Wᵀ whose W (or output) does not, windows of W's rows
 * giving column blocks of the output; for an A (or output) that does not, with a 2-D B that does, windows of A's
 * rows giving row blocks of the output. The windows are windows.ts's.
 */
import { validateMatmul } from '../checks/linalg';
import type { MatmulOptions, Tensor } from '../types';
import { type MatmulPlan, planMatmul } from '../validate';
import { type GpuContext, groupsOf } from './context';
import { binarySpec, broadcastParams, EW_WG, planBroadcast } from './kernels/elementwise';
import { matmulSpec, TILE_M, TILE_N } from './kernels/matmul';
import type { GpuTensor } from './tensor';
import { windowed } from './windows';

const op = 'matmul';

/** Batched matmul with broadcast batch axes, optional transposes and a fused bias [N]. */
export function matmul(g: GpuContext, a: Tensor, b: Tensor, options: MatmulOptions = {}): GpuTensor {
  g.alive(op);
  const { plan, transposeA, transposeB, bias: biasArg } = validateMatmul(g.backend, a, b, options);
  const [ta, tb] = [a as GpuTensor, b as GpuTensor];
  const bias = biasArg as GpuTensor | undefined;
  const out = g.output(plan.outShape, 'f32');
  if (out.size === 0) return out;
  if (plan.k === 0) return bias ? broadcastBias(g, bias, out) : out;
  const weightTooBig = g.tooBig(tb.size) || g.tooBig(out.size);
  if (transposeB && tb.shape.length === 2 && weightTooBig && !g.tooBig(ta.size)) {
    if (byColumns(g, ta, tb, bias, out, transposeA)) return out;
  }
  const inputTooBig = g.tooBig(ta.size) || g.tooBig(out.size);
  if (!transposeA && tb.shape.length === 2 && inputTooBig && !g.tooBig(tb.size)) {
    if (byRows(g, ta, tb, bias, out, transposeB)) return out;
  }
  const buffers = { a: ta.buffer, b: tb.buffer, out: out.buffer, bias: bias?.buffer };
  dispatchTiles(g, plan, buffers, transposeA, transposeB);
  return out;
}

/** One dispatch of the tiled kernel: 32×64 output tiles, batch offsets from the plan. */
function dispatchTiles(
  g: GpuContext,
  plan: MatmulPlan,
  buffers: { a: GPUBuffer; b: GPUBuffer; out: GPUBuffer; bias?: GPUBuffer },
  transposeA: boolean,
  transposeB: boolean,
): void {
  const offsets = new Uint32Array(2 * plan.batch);
  for (let p = 0; p < plan.batch; p++) {
    offsets[2 * p] = plan.aOffsets[p];
    offsets[2 * p + 1] = plan.bOffsets[p];
  }
  const offsetBuffer = g.rt.createStorage('u32', offsets.length);
  g.device.queue.writeBuffer(offsetBuffer, 0, offsets);
  const tilesN = Math.ceil(plan.n / TILE_N);
  const tilesM = Math.ceil(plan.m / TILE_M);
  const bound = {
    ...buffers,
    offsets: offsetBuffer,
    bias: buffers.bias ?? g.placeholder, // bound but never read when hasBias = 0
  };
  const params = {
    m: plan.m,
    k: plan.k,
    n: plan.n,
    tilesN,
    tilesM,
    batch: plan.batch,
    transposeA: transposeA ? 1 : 0,
    transposeB: transposeB ? 1 : 0,
    hasBias: buffers.bias ? 1 : 0,
  };
  g.run(op, matmulSpec, 'matmul', bound, params, tilesN * tilesM * plan.batch);
  offsetBuffer.destroy(); // safe after submit: WebGPU keeps it alive for the queued dispatch
}

/**
 * x·Wᵀ with W = b [n, k] (or the output) bigger than one binding: windows of W's rows (and of the bias) give
 * column blocks of the output [outRows, n], each computed into a window buffer [outRows, count] and copied row by
 * row into place. Returns false when one column does not fit a binding.
 */
function byColumns(
  g: GpuContext,
  ta: GpuTensor,
  tb: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  transposeA: boolean,
): boolean {
  const [n, k] = tb.shape;
  const outRows = out.size / n;
  const sliced = [{ name: 'b', buffer: tb.buffer, unit: k, dtype: 'f32' as const }];
  if (bias) sliced.push({ name: 'bias', buffer: bias.buffer, unit: 1, dtype: 'f32' });
  const outputs = [
    { name: 'out', buffer: out.buffer, unit: 1, blocks: outRows, stride: n, dtype: 'f32' as const },
  ];
  return windowed(g, op, n, sliced, outputs, (count, _first, buffers) => {
    const plan = planMatmul(op, ta.shape, [count, k], transposeA, true);
    dispatchTiles(
      g,
      plan,
      { a: ta.buffer, b: buffers.b, out: buffers.out, bias: buffers.bias },
      transposeA,
      true,
    );
  });
}

/**
 * A·B with A (or the output) bigger than one binding and a 2-D B that fits: windows of A's rows (all batch axes
 * flattened) give contiguous row blocks of the output. Returns false when one row does not fit a binding.
 */
function byRows(
  g: GpuContext,
  ta: GpuTensor,
  tb: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  transposeB: boolean,
): boolean {
  const k = ta.shape[ta.shape.length - 1];
  const n = out.shape[out.shape.length - 1];
  const sliced = [{ name: 'a', buffer: ta.buffer, unit: k, dtype: 'f32' as const }];
  const outputs = [{ name: 'out', buffer: out.buffer, unit: n, dtype: 'f32' as const }];
  return windowed(g, op, ta.size / k, sliced, outputs, (count, _first, buffers) => {
    const plan = planMatmul(op, [count, k], tb.shape, false, transposeB);
    dispatchTiles(
      g,
      plan,
      { a: buffers.a, b: tb.buffer, out: buffers.out, bias: bias?.buffer },
      false,
      transposeB,
    );
  });
}

/** out[..., j] = bias[j] (matmul with an empty inner dimension). */
function broadcastBias(g: GpuContext, bias: GpuTensor, out: GpuTensor): GpuTensor {
  const zero = g.output([1], 'f32');
  const plan = planBroadcast(op, out.shape, [out.shape.map(() => 1), bias.shape]);
  const buffers = { a: zero.buffer, b: bias.buffer, out: out.buffer };
  const spec = () => binarySpec('add', 'f32');
  g.run(op, spec, 'add_f32', buffers, broadcastParams(plan), groupsOf(out.size, EW_WG));
  zero.dispose();
  return out;
}
