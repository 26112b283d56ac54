/**
 * sampleCategorical on the device: fused Gumbel-max, one pass per row, Philox in WGSL. Row r draws from stream
 * positions offset + r·n onward, also inside a window of rows, so windowed ids equal the whole run's.
 */
import { validateSample } from '../checks/random';
import { philoxKey } from '../rng/philox';
import type { SampleOptions, Tensor } from '../types';
import { type GpuContext, split64 } from './context';
import { sampleSpec } from './kernels/random';
import { rowGroups, rowMode } from './kernels/rows';
import type { GpuTensor } from './tensor';
import { rowWindows } from './windows';

export function sampleCategorical(g: GpuContext, logits: Tensor, options: SampleOptions): GpuTensor<'i32'> {
  const op = 'sampleCategorical';
  g.alive(op);
  const { rows, n, outer, offset, temperature } = validateSample(g.backend, logits, options);
  const tl = logits as GpuTensor;
  const out = g.output(outer, 'i32');
  const { k0, k1 } = philoxKey(options.seed);
  const mode = rowMode(n, rows);
  const run = (count: number, first: number, buffers: Record<string, GPUBuffer>) => {
    const start = split64(offset + first * n);
    const params = { rows: count, n, k0, k1, start, invT: 1 / temperature, first };
    const key = `sampleCategorical_${mode}`;
    g.runFaulting(op, () => sampleSpec(mode), key, buffers, params, rowGroups(mode, count));
  };
  if (!rowWindows(g, op, tl, n, out, 1, run)) run(rows, 0, { x: tl.buffer, out: out.buffer });
  return out;
}
