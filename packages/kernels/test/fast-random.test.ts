/**
 * The wasm SIMD random-stream kernels (uniform, normal; f32 and f64; inline and threaded) against the JS
 * reference (rng/philox.ts words, wordToUniform, rng/normal.ts normalsFromWords): BIT FOR BIT.
 */
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configureCpuPool, cpuKernelLimits, cpuPoolThreads, destroyCpuPool } from '../src/cpu/pool';
import { fillStream, fillStreamReference, type StreamKind } from '../src/cpu/random';
import { instantiateKernels, kernelsModule } from '../src/cpu/wasm/module';
import { bitsOfF32, normalPair, normalsFromWords } from '../src/rng/normal';
import { philoxKey, philoxWords, wordToUniform } from '../src/rng/philox';
import golden from './fixtures/normal_golden.json' with { type: 'json' };
import { cpu, data } from './helpers';

const defaults = { ...cpuKernelLimits };
afterEach(() => {
  Object.assign(cpuKernelLimits, defaults);
  configureCpuPool({});
});
afterAll(() => destroyCpuPool());

/** The stream as the reference defines it, computed here from the rng/ building blocks only. */
function referenceStream(
  kind: StreamKind,
  seed: number | bigint,
  offset: number,
  count: number,
): Float64Array {
  const out = new Float64Array(count);
  const key = philoxKey(seed);
  if (kind === 'uniform') {
    philoxWords(key, offset, count).forEach((w, i) => {
      out[i] = wordToUniform(w);
    });
  } else if (count > 0) {
    const first = offset - (offset % 4);
    const words = philoxWords(key, first, Math.ceil((offset + count - first) / 4) * 4);
    normalsFromWords(words, offset, count, out);
  }
  return out;
}

/** Index of the first element whose bits differ (−1: identical, including signed zeros and NaN patterns). */
function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/** Wasm for every size (no JS shortcut); threaded with small tasks, or everything inline. */
function useThreads(on: boolean, taskElements = 64): void {
  configureCpuPool({ threads: on ? 2 : 0 });
  cpuKernelLimits.randomWasmMinElements = 0;
  cpuKernelLimits.randomParallelMinElements = 0;
  cpuKernelLimits.randomTaskElements = taskElements;
  expect(cpuPoolThreads()).toBe(on ? 2 : 1);
}

/** An output array of the dtype, in a SharedArrayBuffer (so the threaded path may take it). */
function sharedOut(f64: boolean, count: number): Float32Array | Float64Array {
  const bytes = count * (f64 ? 8 : 4);
  return f64
    ? new Float64Array(new SharedArrayBuffer(bytes))
    : new Float32Array(new SharedArrayBuffer(bytes));
}

const arbSeed = fc.oneof(
  fc.nat({ max: 2 ** 32 - 1 }),
  fc.maxSafeNat(),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0, 2n ** 64n - 1n, 2n ** 32n - 1n, 2n ** 32n),
);
const arbOffset = fc.oneof(
  fc.nat({ max: 100 }),
  fc.nat({ max: 2 ** 20 }),
  // block counters that cross 2^32 (the low word wraps into the high word inside one SIMD step)
  fc.integer({ min: 2 ** 34 - 300, max: 2 ** 34 + 300 }),
  fc.integer({ min: 2 ** 32, max: 2 ** 52 }),
  fc.integer({ min: 2 ** 53 - 2000, max: 2 ** 53 - 1001 }),
);
const arbCase = fc.record({
  kind: fc.constantFrom<StreamKind>('uniform', 'normal'),
  seed: arbSeed,
  offset: arbOffset,
  count: fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 1000 })),
  f64: fc.boolean(),
  threads: fc.boolean(),
  taskElements: fc.constantFrom(1, 3, 16, 61, 256),
});

describe('wasm random streams equal the JS reference bit for bit', () => {
  it('the kernels are available here (otherwise every comparison below would test JS against JS)', () => {
    expect(kernelsModule()).not.toBeNull();
  });

  it('property: any seed (incl. bigint), offset (unaligned, ≥ 2^32, near 2^53), size, dtype, threads on/off', () => {
    fc.assert(
      fc.property(arbCase, ({ kind, seed, offset, count, f64, threads, taskElements }) => {
        useThreads(threads, taskElements);
        const out = sharedOut(f64, count);
        fillStream(kind, philoxKey(seed), offset, count, out);
        const want = referenceStream(kind, seed, offset, count);
        const expected = f64 ? want : Float32Array.from(want);
        expect(firstMismatch(out, expected)).toBe(-1);
      }),
      { seed: 20261122, numRuns: 150 },
    );
  });

  it('through the backend: uniform and normal tensors (f32, f64) equal the reference, f64 holds the f32 values', () => {
    useThreads(true, 100);
    for (const kind of ['uniform', 'normal'] as const) {
      const stream = { seed: 0xfedcba9876543210n, offset: 2 ** 33 + 3 };
      const shape = [3, 7, 11];
      const t32 = kind === 'uniform' ? cpu.uniform(shape, stream) : cpu.normal(shape, stream);
      const t64 = kind === 'uniform' ? cpu.uniform(shape, stream, 'f64') : cpu.normal(shape, stream, 'f64');
      const want = referenceStream(kind, stream.seed, stream.offset, 231);
      expect(firstMismatch(data(t32), Float32Array.from(want))).toBe(-1);
      expect(firstMismatch(data(t64), want)).toBe(-1);
      t32.dispose();
      t64.dispose();
    }
  });

  it('large threaded fill (2^18 normals, default limits, shared tensor storage) equals the reference', () => {
    configureCpuPool({ threads: 2 });
    expect(cpuPoolThreads()).toBe(2);
    const count = 1 << 18;
    const stream = { seed: 2n ** 63n + 12345n, offset: 2 ** 32 + 1 };
    const t = cpu.normal([count], stream);
    const values = cpu.dataOf(t) as Float32Array;
    expect(values.buffer).toBeInstanceOf(SharedArrayBuffer); // the threaded path can take it
    expect(
      firstMismatch(values, Float32Array.from(referenceStream('normal', stream.seed, stream.offset, count))),
    ).toBe(-1);
    t.dispose();
  });

  it('the JS path (tiny sizes, no wasm yet) and the wasm path give the same tensor', () => {
    for (const kind of ['uniform', 'normal'] as const) {
      const viaJs = new Float32Array(37);
      const viaWasm = new Float32Array(37);
      fillStreamReference(kind, philoxKey(99), 5, 37, viaJs);
      useThreads(false);
      fillStream(kind, philoxKey(99), 5, 37, viaWasm);
      expect(firstMismatch(viaWasm, viaJs)).toBe(-1);
      expect(viaJs.some((x) => x !== 0)).toBe(true);
    }
  });
});

describe('wasm normal transform on chosen words', () => {
  const wasm = instantiateKernels(kernelsModule() as WebAssembly.Module);

  /** Normals of word pairs through the wasm kernel normalOfWords (words padded to whole 16-word groups). */
  function wasmNormals(words: Uint32Array): Float32Array {
    const groups = Math.ceil(words.length / 16);
    const bytes = groups * 64;
    if (wasm.memory.buffer.byteLength < 2 * bytes) {
      wasm.memory.grow(Math.ceil((2 * bytes - wasm.memory.buffer.byteLength) / 65536));
    }
    new Uint32Array(wasm.memory.buffer, 0, groups * 16).fill(0).set(words);
    wasm.normalOfWords(0, bytes, groups);
    return new Float32Array(wasm.memory.buffer, bytes, words.length).slice();
  }

  it('matches the independent NumPy float32 emulation (golden stream and edge words) bit for bit', () => {
    useThreads(false);
    const t = cpu.normal([golden.normalBits.length], { seed: golden.seed, offset: golden.firstElement });
    expect(data(t).map(bitsOfF32)).toEqual(golden.normalBits);
    t.dispose();
    const words = new Uint32Array(golden.pairs.flatMap(({ w0, w1 }) => [w0, w1]));
    const normals = Array.from(wasmNormals(words)).map(bitsOfF32);
    expect(normals).toEqual(golden.pairs.flatMap(({ bits }) => bits));
  });

  it('sweeps: every 8th of the 2^23 uniforms as u1 (ln, √), then as u2 (all four quadrants), against normalPair', () => {
    const n = 1 << 20;
    for (const swept of [0, 1]) {
      const words = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) {
        words[2 * i + swept] = ((i * 8 + (i % 8)) << 9) >>> 0; // uniform index 8i + (i mod 8): every exponent
        words[2 * i + 1 - swept] = Math.imul(i, 0x9e3779b1) >>> 0; // the other word scrambled
      }
      const got = wasmNormals(words);
      let mismatches = 0;
      for (let i = 0; i < n; i++) {
        const [a, b] = normalPair(words[2 * i], words[2 * i + 1]);
        if (!Object.is(got[2 * i], a) || !Object.is(got[2 * i + 1], b)) mismatches++;
      }
      expect(mismatches).toBe(0);
    }
  });

  it('property: random word pairs', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 0xffffffff }), { minLength: 2, maxLength: 64 }), (list) => {
        const words = new Uint32Array(list.length - (list.length % 2));
        words.set(list.slice(0, words.length));
        const got = wasmNormals(words);
        const want = new Float32Array(words.length);
        for (let i = 0; i < words.length; i += 2) want.set(normalPair(words[i], words[i + 1]), i);
        expect(firstMismatch(got, want)).toBe(-1);
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});
