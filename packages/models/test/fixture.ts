/** Loads the DiT parity fixture (copied from shared/fixtures/dit_parity.*) for the node tests. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface DitParityFixture {
  config: Record<string, number | boolean>;
  weights: { names: string[]; shapes: Record<string, number[]> };
  inputs: {
    tokens: FixtureTensor;
    sigma: FixtureTensor;
    soft: { indices: FixtureTensor; weights: FixtureTensor };
    dense: { logits: FixtureTensor };
  };
  expected: Record<'tokens' | 'soft' | 'dense', { float32: FixtureTensor; float64: FixtureTensor }>;
  intermediates_float64_tokens: {
    t_cond: FixtureTensor;
    embed: FixtureTensor;
    rotary_cos: FixtureTensor;
    rotary_sin: FixtureTensor;
    block_outputs: FixtureTensor[];
  };
}

export const fixturePath = (name: string): string =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export const loadParityFixture = (): DitParityFixture =>
  JSON.parse(readFileSync(fixturePath('dit_parity.json'), 'utf8')) as DitParityFixture;

export const loadParityWeights = (): Uint8Array =>
  new Uint8Array(readFileSync(fixturePath('dit_parity.safetensors')));

/** Largest |a − b| over two equally long arrays (Infinity when lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
