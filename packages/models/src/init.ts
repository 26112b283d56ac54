/**
 * Fresh DiT weights as a reference state dict, drawn from the seeded Philox stream of `@duality/kernels`
 * (so the same seed gives the same network everywhere).
 */
import { AllocationError, ArgumentError, philoxKey, philoxWords, wordToUniform } from '@duality/kernels';
import { type DiTConfig, parameterCount, referenceStateDictShapes } from './config';
import { rotaryInvFreq } from './dit';
import type { StoredTensor } from './safetensors';

export interface InitOptions {
  seed: number;
  /**
   * 'reference': the reference's initialisation (embedding and Linear layers uniform ±1/√fan_in, LayerNorm 1,
   * adaLN and output layer zero — the untrained network predicts the uniform distribution).
   * 'normal': every weight N(0, std²), LayerNorm weights 1 + N(0, std²) (random networks for tests/benchmarks).
   */
  scheme?: 'reference' | 'normal';
  /** Standard deviation of the 'normal' scheme (default 0.02). */
  std?: number;
}

/** `count` uniforms in (0, 1) at stream offset `offset`. */
function uniforms(seed: number, offset: number, count: number): Float64Array {
  const words = philoxWords(philoxKey(seed), offset, count);
  return Float64Array.from(words, wordToUniform);
}

/** Standard normals by Box–Muller over pairs of uniforms. */
function normals(seed: number, offset: number, count: number): Float64Array {
  const u = uniforms(seed, offset, 2 * Math.ceil(count / 2));
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u[i]));
    out[i] = r * Math.cos(2 * Math.PI * u[i + 1]);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u[i + 1]);
  }
  return out;
}

const isNorm = (name: string) => /norm\w*\.weight$/.test(name);
const isZeroInReference = (name: string) =>
  name.includes('adaLN_modulation') || name.startsWith('output_layer.linear');

/** Fan-in of a tensor for the uniform ±1/√fan_in rule (a bias takes its weight's fan-in). */
function fanIn(name: string, shape: number[], shapes: Map<string, number[]>): number {
  if (name.endsWith('.bias')) return (shapes.get(name.replace(/\.bias$/, '.weight')) as number[])[1];
  return shape[1];
}

/** A complete reference state dict (f32 values) for `config`. */
export function initStateDict(config: DiTConfig, options: InitOptions): Map<string, StoredTensor> {
  const { seed, scheme = 'reference', std = 0.02 } = options;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new ArgumentError('initStateDict', `seed ${seed}`, 'a non-negative safe integer');
  if (!(std > 0 && Number.isFinite(std)))
    throw new ArgumentError('initStateDict', `std ${std}`, 'a finite positive number');
  if (scheme !== 'reference' && scheme !== 'normal')
    throw new ArgumentError('initStateDict', `scheme ${JSON.stringify(scheme)}`, "'reference' | 'normal'");
  try {
    return initialise(config, seed, scheme, std);
  } catch (error) {
    // each tensor fits a typed array (ditConfig checks), but all of them together may not fit in memory
    if (error instanceof RangeError) {
      throw new AllocationError(
        'initStateDict',
        `${parameterCount(config)} parameters`,
        'weights that fit in memory',
        error.message,
      );
    }
    throw error;
  }
}

function initialise(
  config: DiTConfig,
  seed: number,
  scheme: 'reference' | 'normal',
  std: number,
): Map<string, StoredTensor> {
  const entries = referenceStateDictShapes(config);
  const shapes = new Map(entries);
  const out = new Map<string, StoredTensor>();
  let offset = 0;
  for (const [name, shape] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name === 'rotary_emb.inv_freq') {
      data.set(rotaryInvFreq(config.hiddenSize / config.nHeads));
    } else if (scheme === 'normal') {
      const z = normals(seed, offset, n);
      for (let i = 0; i < n; i++) data[i] = (isNorm(name) ? 1 : 0) + std * z[i];
    } else if (isNorm(name)) {
      data.fill(1);
    } else if (!isZeroInReference(name)) {
      const bound = 1 / Math.sqrt(fanIn(name, shape, shapes));
      const u = uniforms(seed, offset, n);
      for (let i = 0; i < n; i++) data[i] = bound * (2 * u[i] - 1);
    }
    offset += 2 * n;
    out.set(name, { dtype: 'F32', shape, data });
  }
  return out;
}
