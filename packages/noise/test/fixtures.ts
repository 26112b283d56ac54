import { existsSync, readFileSync } from 'node:fs';

/** The shared fixtures beside the repository (../shared/fixtures), when this checkout has them. */
export const sharedFixture = (name: string): URL =>
  new URL(`../../../../shared/fixtures/${name}`, import.meta.url);
/** The repository's own copy (test/fixtures), so that a plain clone tests. */
export const localFixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

/** Reads a fixture from ../shared/fixtures when present, else from the repository's copy. */
export function readFixture<T>(name: string): T {
  const url = existsSync(sharedFixture(name)) ? sharedFixture(name) : localFixture(name);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

export interface OperatorTable {
  vocab_size: number;
  gamma: number[];
  mu: number[];
  p: number[];
  one_minus_p: number[];
  alpha: number[];
  one_minus_alpha: number[];
  dp_dgamma: number[];
  dalpha_dgamma: number[];
}

export interface OperatorFixture {
  tables: OperatorTable[];
  curriculum: {
    vocab_size: number;
    gamma_min: number;
    gamma_max: number;
    t: number[];
    gamma: number[];
    alpha: number[];
    one_minus_alpha: number[];
    dalpha_dgamma: number[];
    dalpha_dt: number[];
    sigma: number[];
    dalpha_dt_reference_fd: number[];
  };
  mc_check: {
    vocab_size: number;
    rows: Array<{ gamma: number; alpha_quadrature: number; dalpha_dgamma_quadrature: number }>;
  };
}

export interface SchedulesFixture {
  eps: number;
  t: number[];
  loglinear: { alpha: number[]; dalpha_dt: number[]; sigma: number[] };
  cosine: { alpha: number[]; dalpha_reference: number[]; dalpha_dt_exact: number[]; sigma: number[] };
}

/** |a − b| / |b| (absolute when b = 0). */
export const relErr = (a: number, b: number): number =>
  b === 0 ? Math.abs(a) : Math.abs(a - b) / Math.abs(b);
