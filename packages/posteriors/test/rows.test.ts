import { describe, expect, it } from 'vitest';
import {
  maskedBridge,
  maskedMarginal,
  maskedRows,
  psiRow,
  uniformBridge,
  uniformMarginal,
  uniformRows,
} from '../src/maths/rows';
import { loadFixture, maxRelErr, type PosteriorCase } from './fixtures';

const fixture = loadFixture<{ uniform: PosteriorCase[]; masked: PosteriorCase[] }>('posterior.json');
const TOL = 1e-12;

describe('posterior.json (float64, 1e-12 relative)', () => {
  it.each(fixture.uniform.map((c, i) => [i, c] as const))('uniform case %i', (_, c) => {
    const rows = uniformRows(c.vocab_size);
    const e = c.expected;
    expect(maxRelErr(uniformMarginal(c.x0hat, c.alpha_t), e.forward_t)).toBeLessThan(TOL);
    expect(maxRelErr(uniformMarginal(c.x0hat, c.alpha_s), e.forward_s)).toBeLessThan(TOL);
    expect(maxRelErr(uniformBridge(c.x0hat, c.xt, c.alpha_s, c.alpha_t), e.posterior)).toBeLessThan(TOL);
    const toX0 = uniformBridge(c.x0hat, c.xt, 1, c.alpha_t);
    expect(maxRelErr(toX0, e.posterior_to_x0)).toBeLessThan(TOL);
    expect(maxRelErr(uniformMarginal(toX0, c.alpha_s), e.forward_s_of_posterior_to_x0)).toBeLessThan(TOL);
    expect(maxRelErr(psiRow(rows, c.x0hat, c.xt, c.alpha_s, c.alpha_t, c.kappa), e.psi)).toBeLessThan(TOL);
  });

  it.each(fixture.masked.map((c, i) => [i, c] as const))('masked case %i', (_, c) => {
    const m = c.mask_index ?? c.vocab_size - 1;
    const rows = maskedRows(c.vocab_size, m);
    const e = c.expected;
    expect(maxRelErr(maskedMarginal(c.x0hat, c.alpha_t, m), e.forward_t)).toBeLessThan(TOL);
    expect(maxRelErr(maskedMarginal(c.x0hat, c.alpha_s, m), e.forward_s)).toBeLessThan(TOL);
    expect(maxRelErr(maskedBridge(c.x0hat, c.xt, c.alpha_s, c.alpha_t, m), e.posterior)).toBeLessThan(TOL);
    const toX0 = maskedBridge(c.x0hat, c.xt, 1, c.alpha_t, m);
    expect(maxRelErr(toX0, e.posterior_to_x0)).toBeLessThan(TOL);
    expect(maxRelErr(maskedMarginal(toX0, c.alpha_s, m), e.forward_s_of_posterior_to_x0)).toBeLessThan(TOL);
    expect(maxRelErr(psiRow(rows, c.x0hat, c.xt, c.alpha_s, c.alpha_t, c.kappa), e.psi)).toBeLessThan(TOL);
  });

  it('covers kappa = 0 and kappa = 1 and both masked branches', () => {
    expect(fixture.uniform[0].kappa).toBe(0);
    expect(fixture.uniform[1].kappa).toBe(1);
    const maskedXt = fixture.masked.map((c) => c.xt === c.vocab_size - 1);
    expect(maskedXt).toContain(true);
    expect(maskedXt).toContain(false);
  });
});
