import { readFileSync } from 'node:fs';

/** Reads a fixture copied from ../shared/fixtures (the repo's own copy, so a plain clone tests). */
export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
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
