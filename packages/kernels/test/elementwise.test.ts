import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CompareOp, Shape, Tensor } from '../src/types';
import {
  arbBroadcastPair,
  arbTensorData,
  arbValues,
  bothDtypes,
  cpu,
  data,
  expectClose,
  FC,
  make,
  ravelBroadcast,
  size,
  unravel,
} from './helpers';

/** Naive broadcast: out[idx] = f(a[idx aligned], b[idx aligned]). */
function refBinary(
  a: readonly number[],
  aShape: Shape,
  b: readonly number[],
  bShape: Shape,
  f: (x: number, y: number) => number,
): { out: number[]; shape: number[] } {
  const rank = Math.max(aShape.length, bShape.length);
  const pad = (s: Shape) => [...new Array(rank - s.length).fill(1), ...s];
  const pa = pad(aShape);
  const pb = pad(bShape);
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const out: number[] = [];
  for (let i = 0; i < size(shape); i++) {
    const idx = unravel(i, shape);
    out.push(f(a[ravelBroadcast(idx, pa)], b[ravelBroadcast(idx, pb)]));
  }
  return { out, shape };
}

const arbBinaryCase = (range = 10) =>
  arbBroadcastPair.chain(({ a, b }) =>
    fc.tuple(arbValues(size(a), range), arbValues(size(b), range)).map(([va, vb]) => ({ a, b, va, vb })),
  );

const BINARY: Array<[string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number]> = [
  ['add', (a, b) => cpu.add(a, b), (x, y) => x + y],
  ['sub', (a, b) => cpu.sub(a, b), (x, y) => x - y],
  ['mul', (a, b) => cpu.mul(a, b), (x, y) => x * y],
  ['div', (a, b) => cpu.div(a, b), (x, y) => x / y],
];

describe('binary elementwise ops (broadcasting)', () => {
  for (const [name, op, f] of BINARY) {
    it(`${name}: f64 equals the naive broadcast loop; f32 within 1e-6 relative of f64`, () => {
      fc.assert(
        fc.property(arbBinaryCase(), ({ a, b, va, vb }) => {
          // keep divisors away from 0 so the f32/f64 comparison is well conditioned
          const vbSafe = name === 'div' ? vb.map((y) => (Math.abs(y) < 0.5 ? 0.5 + Math.abs(y) : y)) : vb;
          const ref = refBinary(va, a, vbSafe, b, f);
          const { r64, r32, shape } = bothDtypes(
            [
              { values: va, shape: a },
              { values: vbSafe, shape: b },
            ],
            op,
          );
          expect(shape).toEqual(ref.shape);
          expect(r64).toEqual(ref.out);
          const ref32 = refBinary(
            Array.from(Float32Array.from(va)),
            a,
            Array.from(Float32Array.from(vbSafe)),
            b,
            f,
          );
          // f32 inputs are rounded first, so compare against the f64 maths on the rounded inputs
          expectClose(r32, ref32.out, 1.2e-7, 1e-30);
          expectClose(r32, r64, 1e-5, 1e-5);
        }),
        FC,
      );
    });
  }

  it('add/sub/mul work on i32 and u32 with the same broadcasting', () => {
    fc.assert(
      fc.property(arbBroadcastPair, fc.integer({ min: -1000, max: 1000 }), ({ a, b }, base) => {
        const va = Array.from({ length: size(a) }, (_, i) => base + i);
        const vb = Array.from({ length: size(b) }, (_, i) => 3 * i - 7);
        expect(data(cpu.add(make(va, a, 'i32'), make(vb, b, 'i32')))).toEqual(
          refBinary(va, a, vb, b, (x, y) => x + y).out,
        );
        expect(data(cpu.mul(make(va, a, 'i32'), make(vb, b, 'i32')))).toEqual(
          refBinary(va, a, vb, b, (x, y) => x * y).out,
        );
        const ua = va.map((x) => x + 1000);
        const ub = vb.map((x) => x + 1000);
        expect(data(cpu.sub(make(ua, a, 'u32'), make(ub, b, 'u32')))).toEqual(
          refBinary(ua, a, ub, b, (x, y) => (x - y) >>> 0).out,
        );
      }),
      FC,
    );
  });
});

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const UNARY: Array<[string, (a: Tensor) => Tensor, (x: number) => number, number]> = [
  ['exp', (a) => cpu.exp(a), Math.exp, 10],
  ['log', (a) => cpu.log(a), Math.log, 10],
  [
    'geluTanh',
    (a) => cpu.geluTanh(a),
    (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
    10,
  ],
  ['silu', (a) => cpu.silu(a), (x) => x * (1 / (1 + Math.exp(-x))), 20],
  ['scale', (a) => cpu.scale(a, -1.5, 0.25), (x) => x * -1.5 + 0.25, 10],
];

describe('unary float ops', () => {
  for (const [name, op, f, range] of UNARY) {
    it(`${name}: f64 matches the naive formula to 1e-14; f32 within 2e-6 relative + 1e-6 absolute of f64`, () => {
      fc.assert(
        fc.property(arbTensorData(3, 5, range), ({ shape, values }) => {
          const vs = name === 'log' ? values.map((x) => Math.abs(x) + 1e-3) : values;
          const { r64, r32, shape: outShape } = bothDtypes([{ values: vs, shape }], op);
          expect(outShape).toEqual(shape);
          expectClose(r64, vs.map(f), 1e-14, 1e-300);
          expectClose(r32, r64, 2e-6, 1e-6);
        }),
        FC,
      );
    });
  }

  it('geluTanh and silu equal torch (approximate="tanh") at known points, in f64 and f32', () => {
    // /usr/bin/python3: torch.nn.functional.gelu(torch.tensor(xs, dtype=...), approximate='tanh'), torch 1.13
    const xs = [-3, -1, 0, 0.5, 2];
    const gelu64 = [-0.0036373920817729943, -0.15880800939172324, 0, 0.34571400982514394, 1.954597694087775];
    const gelu32 = [-0.0036374330520629883, -0.15880799293518066, 0, 0.3457140028476715, 1.9545977115631104];
    const silu32 = [-0.14227761328220367, -0.2689414322376251, 0, 0.3112296760082245, 1.7615940570831299];
    expectClose(data(cpu.geluTanh(make(xs, [5], 'f64'))), gelu64, 1e-15);
    // torch's f32 kernel rounds each step (1 + tanh cancels near x = −3); ours rounds once: 1e-7 absolute
    expectClose(data(cpu.geluTanh(make(xs, [5], 'f32'))), gelu32, 4e-7, 1e-7);
    expectClose(data(cpu.silu(make(xs, [5], 'f32'))), silu32, 4e-7, 1e-9);
  });
});

describe('compare and where', () => {
  const OPS: Array<[CompareOp, (x: number, y: number) => boolean]> = [
    ['lt', (x, y) => x < y],
    ['le', (x, y) => x <= y],
    ['gt', (x, y) => x > y],
    ['ge', (x, y) => x >= y],
    ['eq', (x, y) => x === y],
    ['ne', (x, y) => x !== y],
  ];
  for (const [cmp, f] of OPS) {
    it(`compare ${cmp} broadcasts and returns i32 0/1 like the naive loop`, () => {
      fc.assert(
        fc.property(arbBroadcastPair, fc.integer({ min: 0, max: 1000 }), ({ a, b }, s) => {
          // small integer values so that ties (eq, le, ge) actually occur
          const va = Array.from({ length: size(a) }, (_, i) => ((i * 7 + s) % 5) - 2);
          const vb = Array.from({ length: size(b) }, (_, i) => ((i * 3 + s) % 5) - 2);
          for (const dtype of ['f64', 'f32', 'i32'] as const) {
            const out = cpu.compare(make(va, a, dtype), make(vb, b, dtype), cmp);
            expect(out.dtype).toBe('i32');
            expect(data(out)).toEqual(refBinary(va, a, vb, b, (x, y) => (f(x, y) ? 1 : 0)).out);
          }
        }),
        FC,
      );
    });
  }

  it('where selects a where cond ≠ 0, else b, broadcasting over all three', () => {
    fc.assert(
      fc.property(arbBroadcastPair, arbBroadcastPair, ({ a, b }, { a: c }) => {
        const va = Array.from({ length: size(a) }, (_, i) => i + 0.5);
        const vb = Array.from({ length: size(b) }, (_, i) => -i - 0.25);
        const vc = Array.from({ length: size(c) }, (_, i) => (i % 3 === 0 ? 0 : i));
        const ab = refBinary(va, a, vb, b, () => 0);
        // the shapes must broadcast; skip pairs that do not (checked separately in the error tests)
        const rank = Math.max(c.length, ab.shape.length);
        const pc = [...new Array(rank - c.length).fill(1), ...c];
        const pab = [...new Array(rank - ab.shape.length).fill(1), ...ab.shape];
        fc.pre(pc.every((d, i) => d === 1 || pab[i] === 1 || d === pab[i]));
        const shape = pc.map((d, i) => Math.max(d, pab[i]));
        const want: number[] = [];
        for (let i = 0; i < size(shape); i++) {
          const idx = unravel(i, shape);
          const pa = [...new Array(rank - a.length).fill(1), ...a];
          const pb = [...new Array(rank - b.length).fill(1), ...b];
          want.push(
            vc[ravelBroadcast(idx, pc)] !== 0 ? va[ravelBroadcast(idx, pa)] : vb[ravelBroadcast(idx, pb)],
          );
        }
        for (const dtype of ['f64', 'f32'] as const) {
          const out = cpu.where(make(vc, c, 'i32'), make(va, a, dtype), make(vb, b, dtype));
          expect(out.shape).toEqual(shape);
          expect(data(out)).toEqual(want);
        }
      }),
      FC,
    );
  });
});
