/**
 * forRowWindows: a defineOp webgpu kernel whose operands exceed the binding it is given runs window by window,
 * with the same result as in one dispatch; kernels see where their window starts; a row wider than one binding
 * is refused with AllocationError; window tensors are freed.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllocationError } from '../errors';
import type { Tensor } from '../types';
import { createPair, type Pair, randomF32 } from '../webgpu/test-utils';
import { defineOp } from './define';
import { gridOf } from './kernel-utils';
import { forRowWindows } from './row-windows';

let pair: Pair;
beforeAll(async () => {
  pair = await createPair();
});
afterAll(() => pair.gpu.destroy());

// out[r, j] = 2·x[r, j] + (global row r), firstOf[r] = the first row of the window that wrote row r
const WGSL = /* wgsl */ `
struct Params { count: u32, rowSize: u32, first: u32, gridX: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> firstOf: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * 64u;
  if (i >= params.count * params.rowSize) { return; }
  let r = i / params.rowSize;
  out[i] = 2.0 * x[i] + f32(params.first + r);
  if (i % params.rowSize == 0u) { firstOf[params.first + r] = params.first; }
}
`;

/** The op under test: rows of x, bytes per binding as given. */
const rowsOp = defineOp<[Tensor, number | undefined], [Tensor, Tensor]>({
  name: 'rowsOp',
  cpu(ctx, x) {
    const [rows, n] = x.shape;
    const xs = ctx.data(x);
    const out = ctx.output(x.shape, 'f32');
    const firstOf = ctx.output([rows], 'u32');
    for (let i = 0; i < rows * n; i++) out.data[i] = 2 * xs[i] + Math.floor(i / n);
    return [out.tensor, firstOf.tensor];
  },
  webgpu(ctx, x, maxBindingBytes) {
    const [rows, n] = x.shape;
    const out = ctx.output(x.shape, 'f32');
    const firstOf = ctx.output([rows], 'u32');
    const spec = {
      op: 'rowsOp',
      rows,
      inputs: [{ tensor: x, rowSize: n }],
      outputs: [{ tensor: out, rowSize: n }],
    };
    forRowWindows(ctx, { ...spec, maxBindingBytes }, (first, count, [xw, ow]) => {
      const [gx, gy] = gridOf(ctx, count * n);
      const params = new Uint32Array([count, n, first, gx]);
      ctx.run({
        name: 'rowsOp',
        wgsl: WGSL,
        bindings: [
          { tensor: xw, access: 'read' },
          { tensor: ow, access: 'read_write' },
          { tensor: firstOf, access: 'read_write' },
          { uniform: params.buffer },
        ],
        workgroups: [gx, gy],
      });
    });
    return [out, firstOf];
  },
});

describe('forRowWindows', () => {
  it('windows of whole rows give the one-dispatch result, each row written by its own window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 33 }),
        fc.integer({ min: 1, max: 12 }),
        async (rows, n, per) => {
          const x = pair.gpu.tensor(randomF32(rows * n, rows + n, -2, 2), [rows, n], 'f32');
          const [whole, wholeFirst] = rowsOp(x, undefined);
          const [parts, partsFirst] = rowsOp(x, per * n * 4);
          expect(Array.from(await parts.read())).toEqual(Array.from(await whole.read()));
          expect(Array.from(await wholeFirst.read())).toEqual(new Array(rows).fill(0));
          const firsts = Array.from({ length: rows }, (_, r) => r - (r % Math.min(per, rows)));
          expect(Array.from(await partsFirst.read())).toEqual(firsts);
          for (const t of [x, whole, wholeFirst, parts, partsFirst]) t.dispose();
        },
      ),
      { numRuns: 15, seed: 9 },
    );
  });

  it('matches the cpu kernel, and refuses a row wider than one binding', async () => {
    const data = randomF32(6 * 5, 1, -1, 1);
    const [g] = rowsOp(pair.gpu.tensor(data, [6, 5], 'f32'), 2 * 5 * 4);
    const [c] = rowsOp(pair.cpu.tensor(data, [6, 5], 'f32'), undefined);
    expect(Array.from(await g.read())).toEqual(Array.from(await c.read()));
    const x = pair.gpu.tensor(data, [6, 5], 'f32');
    expect(() => rowsOp(x, 4 * 4)).toThrow(AllocationError);
    expect(() => rowsOp(x, 4 * 4)).toThrow(/rows of 5 elements \(20 bytes\) of a tensor of shape \[6, 5\]/);
  });
});
