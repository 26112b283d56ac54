import { type PhiloxKey, philoxWords, wordToUniform } from '../rng/philox';
import type { FloatArray } from './matmul';

/**
 * Gumbel-max over each row of logits [rows, n]: id = argmax_i (logits_i / T + G_i), G_i = −log(−log u_i), with
 * u_i the uniform at stream offset offset + r·n + i. Reference loop; the fast path replaces the body, never the
 * signature or the stream layout.
 */
export function sampleCategoricalKernel(
  logits: FloatArray,
  rows: number,
  n: number,
  key: PhiloxKey,
  offset: number,
  invTemperature: number,
  out: Int32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const words = philoxWords(key, offset + r * n, n);
    let best = Number.NEGATIVE_INFINITY;
    let arg = 0;
    for (let i = 0; i < n; i++) {
      const v = logits[r * n + i] * invTemperature - Math.log(-Math.log(wordToUniform(words[i])));
      if (v > best) {
        best = v;
        arg = i;
      }
    }
    out[r] = arg;
  }
}
