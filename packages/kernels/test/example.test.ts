import { expect, it } from 'vitest';
import { createBackend } from '../src/index';

it('the README example runs and gives what it promises', async () => {
  const cpu = await createBackend('cpu');
  const logits = cpu.tensor([2, 1, 0.5, 0, -1, 3], [2, 3], 'f64');
  const probs = cpu.softmax(logits); // rows sum to 1
  const ids = cpu.sampleCategorical(logits, { seed: 42, temperature: 0.8 }); // i32 [2]
  const nucleus = cpu.topP(logits, 0.9); // filtered logits, −∞ outside the nucleus
  const [p, i, n] = [await probs.read(), await ids.read(), await nucleus.read()];
  for (const t of [logits, probs, ids, nucleus]) t.dispose();
  expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 14);
  expect(p[3] + p[4] + p[5]).toBeCloseTo(1, 14);
  expect(i).toBeInstanceOf(Int32Array);
  expect(i.length).toBe(2);
  // row 0: probabilities 0.63, 0.23, 0.14 (0.63 + 0.23 < 0.9, so all three stay); row 1: 0.05, 0.02, 0.94
  expect(Array.from(n)).toEqual([2, 1, 0.5, -Infinity, -Infinity, 3]);
  expect(logits.disposed).toBe(true);
});

it('the README range-kernel example: a loop template applied to a row function, run over the pool', async () => {
  const { apply, code, rangeKernelOf, runRange } = await import('../src/index');
  const rowSums =
    (row: (x: Float64Array, lo: number, n: number) => number) =>
    (p: { x: Float64Array; n: number; out: Float64Array }, r0: number, r1: number) => {
      for (let r = r0; r < r1; r++) p.out[r] = row(p.x, r * p.n, p.n);
    };
  const sumRow = (x: Float64Array, lo: number, n: number) => {
    let s = 0;
    for (let j = lo; j < lo + n; j++) s += x[j];
    return s;
  };
  const kernel = rangeKernelOf(apply(rowSums, code(sumRow)));
  expect(kernel.compiled).toBe(true); // from its text, as the workers compile it
  const x = new Float64Array(4096 * 512).fill(0.5);
  const out = new Float64Array(4096);
  runRange(kernel, { x, n: 512, out }, 4096, 4096 * 512);
  expect(out.every((v) => v === 256)).toBe(true);
});
