/**
 * Child process of the `kernels` suite: TensorFlow.js with its WebAssembly backend (SIMD build; Node gets no
 * multithreaded build). Matmul via tf.matMul; sampling via the closest tfjs path, logSoftmax + Gumbel noise
 * (tf.randomUniform) + argMax (tf.multinomial has no wasm kernel). Prints one JSON line.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { measure, quick } from '../lib/harness';
import { type EngineResult, gflops, MATMUL_SHAPES, SAMPLE_SHAPE, values } from './_kernels-common';

await tf.setBackend('wasm');
await tf.ready();
const reps = quick ? 3 : 7;
const result: EngineResult = { matmul: {}, sample: { median_ms: Number.NaN, min_ms: Number.NaN } };
for (const { name, m, k, n } of MATMUL_SHAPES) {
  const a = tf.tensor2d(values(m * k, 1), [m, k]);
  const b = tf.tensor2d(values(k * n, 2), [k, n]);
  const t = await measure(() => tf.tidy(() => tf.matMul(a, b)).dataSync(), { reps });
  result.matmul[name] = { median_ms: t.median_ms, min_ms: t.min_ms, gflops: gflops(m, k, n, t.median_ms) };
  a.dispose();
  b.dispose();
}
const [, rows, vocab] = SAMPLE_SHAPE;
const logits = tf.tensor2d(values(rows * vocab, 3, 4), [rows, vocab]);
let seed = 1;
const sample = () =>
  tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const u = tf.randomUniform([rows, vocab], 1e-7, 1, 'float32', seed++);
    const gumbel = tf.neg(tf.log(tf.neg(tf.log(u))));
    return tf.argMax(tf.add(logp, gumbel), -1);
  });
const t = await measure(() => sample().dataSync(), { warmup: 1, reps: quick ? 2 : 5 });
result.sample = { median_ms: t.median_ms, min_ms: t.min_ms };
result.info = {
  tfjs: tf.version_core,
  backend: tf.getBackend(),
  threads: getThreadsCount(),
  simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
};
console.log(JSON.stringify(result));
