import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Reads a fixture from ../shared/fixtures when present, else from the copy in test/fixtures. */
export function loadFixture<T>(name: string): T {
  const shared = join(here, '../../../../shared/fixtures', name);
  for (const path of [shared, join(here, 'fixtures', name)]) {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      // try the next location
    }
  }
  throw new Error(`fixture ${name} not found`);
}

export interface PosteriorCase {
  vocab_size: number;
  x0hat: number[];
  xt: number;
  alpha_s: number;
  alpha_t: number;
  kappa: number;
  mask_index?: number;
  expected: {
    forward_t: number[];
    forward_s: number[];
    posterior: number[];
    posterior_to_x0: number[];
    forward_s_of_posterior_to_x0: number[];
    psi: number[];
  };
}

export interface NelboCase {
  vocab_size: number;
  mask_index?: number;
  log_x_theta: number[];
  xt: number;
  x0: number;
  alpha_t: number;
  dalpha_t: number;
  expected_loss: number;
}

/** max over i of |a_i − e_i| / max(|e_i|, floor). */
export function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-300): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor));
  }
  return worst;
}
