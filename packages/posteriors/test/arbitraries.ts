import fc from 'fast-check';

/** A probability vector of length k (Dirichlet-like: normalised positive weights, some exact zeros). */
export const probVector = (k: number, zeroMass = false): fc.Arbitrary<Float64Array> =>
  fc
    .array(fc.oneof(fc.double({ min: 1e-3, max: 1, noNaN: true }), fc.constant(0)), {
      minLength: k,
      maxLength: k,
    })
    .filter((w) => w.some((v) => v > 0))
    .map((w) => {
      const total = w.reduce((a, b) => a + b, 0);
      const out = Float64Array.from(w, (v) => v / total);
      if (zeroMass) out[k - 1] = 0;
      return out;
    })
    .filter((p) => p.some((v) => v > 0));

/** Renormalise after forcing entry `at` to zero (e.g. no mass on the mask). */
export function withoutEntry(p: Float64Array, at: number): Float64Array {
  const out = Float64Array.from(p);
  out[at] = 0;
  const total = out.reduce((a, b) => a + b, 0);
  if (total === 0) {
    out[(at + 1) % out.length] = 1;
    return out;
  }
  return out.map((v) => v / total);
}

export const oneHot = (k: number, i: number): Float64Array => {
  const out = new Float64Array(k);
  out[i] = 1;
  return out;
};

/** alphaS > alphaT, both in (0, 1). */
export const alphaPair = fc
  .tuple(
    fc.double({ min: 0.001, max: 0.999, noNaN: true }),
    fc.double({ min: 0.001, max: 0.999, noNaN: true }),
  )
  .filter(([a, b]) => Math.abs(a - b) > 1e-6)
  .map(([a, b]) => ({ alphaS: Math.max(a, b), alphaT: Math.min(a, b) }));

export const kappaArb = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

export const sum = (p: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i];
  return s;
};
