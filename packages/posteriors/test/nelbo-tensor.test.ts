import { ArgumentError, type Backend, createBackend, IndexOutOfRangeError } from '@duality/kernels';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  boundReport,
  duoIntegrand,
  duoNelbo,
  klDivergence,
  maskedPriorTerm,
  mdlmNelbo,
  NonFiniteError,
  NotADistributionError,
  reconstructionTerm,
  uniformMarginal,
  uniformPriorTerm,
} from '../src/index';
import { loadFixture, type NelboCase } from './fixtures';

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
});

const fixture = loadFixture<{ duo: NelboCase[]; mdlm: NelboCase[] }>('nelbo.json');

/** Groups the cases of one vocabulary size into a [1, n, K] batch with per-row alphas impossible → one call each. */
async function batched(kind: 'duo' | 'mdlm', c: NelboCase): Promise<number> {
  const k = c.vocab_size;
  const args = {
    logXTheta: backend.tensor(c.log_x_theta, [1, 1, k], 'f64'),
    xt: backend.tensor([c.xt], [1, 1], 'i32'),
    x0: backend.tensor([c.x0], [1, 1], 'i32'),
    alphaT: c.alpha_t,
    dalphaT: c.dalpha_t,
  };
  const out =
    kind === 'duo' ? await duoNelbo(args) : await mdlmNelbo({ ...args, maskId: c.mask_index ?? k - 1 });
  return out[0];
}

describe('batched NELBO integrands equal the row maths on every fixture case', () => {
  it('Duo and MDLM', async () => {
    for (const c of fixture.duo) {
      expect(await batched('duo', c)).toBe(duoIntegrand(c.log_x_theta, c.xt, c.x0, c.alpha_t, c.dalpha_t));
    }
    for (const c of fixture.mdlm) {
      const got = await batched('mdlm', c);
      if (c.expected_loss === 0) expect(got).toBe(0);
      else expect(Math.abs(got - c.expected_loss) / Math.abs(c.expected_loss)).toBeLessThan(1e-12);
    }
  });

  it('per-batch alphas apply to their own rows', async () => {
    const k = 4;
    const logs = Array.from({ length: 2 * 3 * k }, (_, i) => Math.log([0.1, 0.2, 0.3, 0.4][i % k]));
    const out = await duoNelbo({
      logXTheta: backend.tensor(logs, [2, 3, k], 'f64'),
      xt: backend.tensor([0, 1, 2, 3, 0, 1], [2, 3], 'i32'),
      x0: backend.tensor([1, 1, 1, 2, 2, 2], [2, 3], 'i32'),
      alphaT: [0.3, 0.8],
      dalphaT: [-1, -2],
    });
    const p = [0.1, 0.2, 0.3, 0.4].map(Math.log);
    expect(out[1]).toBe(duoIntegrand(p, 1, 1, 0.3, -1));
    expect(out[4]).toBe(duoIntegrand(p, 0, 2, 0.8, -2));
  });

  it('refuses bad inputs with typed errors', async () => {
    const k = 3;
    const good = {
      logXTheta: backend.tensor([0.2, 0.3, 0.5].map(Math.log), [1, 1, k], 'f64'),
      xt: backend.tensor([2], [1, 1], 'i32'),
      x0: backend.tensor([0], [1, 1], 'i32'),
      alphaT: 0.5,
      dalphaT: -1,
    };
    await expect(duoNelbo({ ...good, alphaT: 1.2 })).rejects.toBeInstanceOf(ArgumentError);
    await expect(duoNelbo({ ...good, dalphaT: 0.5 })).rejects.toThrow(/dalphaT ≤ 0/);
    await expect(duoNelbo({ ...good, x0: backend.tensor([3], [1, 1], 'i32') })).rejects.toBeInstanceOf(
      IndexOutOfRangeError,
    );
    await expect(
      duoNelbo({ ...good, logXTheta: backend.tensor([0.2, 0.2, 0.5].map(Math.log), [1, 1, k], 'f64') }),
    ).rejects.toBeInstanceOf(NotADistributionError);
    await expect(
      duoNelbo({ ...good, logXTheta: backend.tensor([Number.NaN, 0, 0], [1, 1, k], 'f64') }),
    ).rejects.toBeInstanceOf(NonFiniteError);
    await expect(mdlmNelbo({ ...good, maskId: 7 })).rejects.toBeInstanceOf(IndexOutOfRangeError);
  });
});

describe('prior and reconstruction terms, bits per token', () => {
  it('uniform prior term is KL(q_1(·|x0) ‖ uniform) and vanishes at alpha_1 = 0', () => {
    for (const [k, a] of [
      [5, 1e-3],
      [27, 0.2],
      [50257, 1e-4],
    ]) {
      const x0 = new Float64Array(k);
      x0[1] = 1;
      const direct = klDivergence(uniformMarginal(x0, a), new Float64Array(k).fill(1 / k));
      expect(Math.abs(uniformPriorTerm(k, a) - direct)).toBeLessThan(1e-12 * Math.max(1, direct));
    }
    expect(uniformPriorTerm(10, 0)).toBe(0);
    expect(maskedPriorTerm(0)).toBe(0);
    expect(maskedPriorTerm(1e-3)).toBe(Number.POSITIVE_INFINITY);
  });

  it('reports the bound in nats, bits and perplexity', () => {
    const reconstruction = reconstructionTerm([Math.log(0.5), Math.log(0.5)], 0);
    expect(reconstruction).toBeCloseTo(Math.LN2, 15);
    const report = boundReport({ diffusion: 2 * Math.LN2, prior: 0, reconstruction });
    expect(report.bitsPerToken).toBeCloseTo(3, 14);
    expect(report.perplexity).toBeCloseTo(8, 12);
    expect(() => boundReport({ diffusion: -1, prior: 0, reconstruction: 0 })).toThrow(ArgumentError);
  });
});
