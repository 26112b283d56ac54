/**
 * Child process of the `kernels` suite: the webgpu backend in Node (Dawn from the `webgpu` package, OpenGL ES
 * backend, compatibility feature level: Mesa llvmpipe on this VM). Prints one JSON line. Run in its own process
 * because Dawn on llvmpipe may crash at random.
 */
import { createBackend, type WebGPUBackend } from '@duality/kernels';
import { measure, quick } from '../lib/harness';
import { type EngineResult, gflops, MATMUL_SHAPES, SAMPLE_SHAPE, values } from './_kernels-common';

// @duality/kernels finds Dawn in Node (the optional `webgpu` package) and asks for the adapter's largest buffers
const backend = await createBackend('webgpu');
const { device } = backend as WebGPUBackend;
const reps = quick ? 2 : 3;

const result: EngineResult = { matmul: {}, sample: { median_ms: Number.NaN, min_ms: Number.NaN } };
for (const { name, m, k, n } of MATMUL_SHAPES) {
  const a = backend.tensor(values(m * k, 1), [m, k]);
  const b = backend.tensor(values(k * n, 2), [k, n]);
  const t = await measure(
    async () => {
      const c = backend.matmul(a, b);
      await backend.sync();
      c.dispose();
    },
    { warmup: 1, reps },
  );
  result.matmul[name] = { median_ms: t.median_ms, min_ms: t.min_ms, gflops: gflops(m, k, n, t.median_ms) };
  a.dispose();
  b.dispose();
}
// The [1, 1024, 50257] logits take 206 MB; where one binding may not be that large, the same draw is taken in row
// chunks (offset r·V per row, so the ids are the ones a single call would give) and the run says so.
const [, rows, vocab] = SAMPLE_SHAPE;
const data = values(rows * vocab, 3, 4);
const maxBinding = device.limits.maxStorageBufferBindingSize;
const chunkRows = Math.min(rows, Math.floor(maxBinding / (vocab * 4)));
const chunks = Array.from({ length: Math.ceil(rows / chunkRows) }, (_, c) => {
  const r0 = c * chunkRows;
  const r1 = Math.min(rows, r0 + chunkRows);
  return {
    offset: r0 * vocab,
    logits: backend.tensor(data.subarray(r0 * vocab, r1 * vocab), [1, r1 - r0, vocab]),
  };
});
const t = await measure(
  async () => {
    const ids = chunks.map((chunk) =>
      backend.sampleCategorical(chunk.logits, { seed: 11, offset: chunk.offset }),
    );
    await backend.sync();
    for (const id of ids) id.dispose();
  },
  { warmup: 1, reps },
);
result.sample = { median_ms: t.median_ms, min_ms: t.min_ms };
if (chunks.length > 1) {
  result.sample.note = `${chunks.length} launches of ≤ ${chunkRows} rows: the logits exceed the ${maxBinding}-byte storage binding limit`;
}
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
result.info = {
  adapter: info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim() : 'unknown',
};
backend.destroy();
console.log(JSON.stringify(result));
process.exit(0);
