/** Gauss–Legendre nodes and weights on [−1, 1], computed once per order by Newton's method on P_n. */
export interface GaussLegendreRule {
  readonly nodes: Float64Array;
  readonly weights: Float64Array;
}

const rules = new Map<number, GaussLegendreRule>();

/** P_n(x) and P_n'(x) by the three-term recurrence. */
function legendre(n: number, x: number): { value: number; derivative: number } {
  let p0 = 1;
  let p1 = x;
  for (let k = 2; k <= n; k++) {
    const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
    p0 = p1;
    p1 = p2;
  }
  return { value: p1, derivative: (n * (x * p1 - p0)) / (x * x - 1) };
}

/** The n-point Gauss–Legendre rule (cached): exact for polynomials of degree ≤ 2n − 1. */
export function gaussLegendre(n: number): GaussLegendreRule {
  const cached = rules.get(n);
  if (cached) return cached;
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Tricomi's initial guess for the i-th root, then Newton to machine precision.
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    for (let iter = 0; iter < 100; iter++) {
      const { value, derivative } = legendre(n, x);
      const step = value / derivative;
      x -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    const { derivative } = legendre(n, x);
    nodes[i] = x;
    weights[i] = 2 / ((1 - x * x) * derivative * derivative);
  }
  const rule = { nodes, weights };
  rules.set(n, rule);
  return rule;
}
