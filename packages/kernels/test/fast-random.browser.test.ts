/**
 * The wasm random-stream kernels on a browser main thread: before the asynchronously compiled module is ready
 * the backend takes the JS path, afterwards the wasm one (inline: a main thread may not block); both give the
 * same bits.
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../src/cpu/backend';
import { cpuPoolThreads } from '../src/cpu/pool';
import { fillStream, fillStreamReference, type StreamKind } from '../src/cpu/random';
import { kernelsModule, kernelsReady } from '../src/cpu/wasm/module';
import { philoxKey } from '../src/rng/philox';

const sameBits = (a: Float32Array | Float64Array, b: Float32Array | Float64Array) =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe('random streams on a browser main thread', () => {
  it('the wasm kernels compile asynchronously and run inline', async () => {
    expect(await kernelsReady()).toBe(true);
    expect(kernelsModule()).not.toBeNull();
    expect(cpuPoolThreads()).toBe(1);
  });

  it('uniform and normal (f32, f64) equal the JS reference bit for bit, bigint seed, offset > 2^32 unaligned', async () => {
    await kernelsReady();
    const key = philoxKey(0xdeadbeefcafef00dn);
    const offset = 2 ** 32 * 3 + 7;
    for (const kind of ['uniform', 'normal'] as StreamKind[]) {
      for (const Ctor of [Float32Array, Float64Array]) {
        const fast = new Ctor(20001);
        const ref = new Ctor(20001);
        fillStream(kind, key, offset, fast.length, fast);
        fillStreamReference(kind, key, offset, ref.length, ref);
        expect(sameBits(fast, ref)).toBe(true);
      }
    }
  });

  it('backend.normal gives the same tensor as the JS reference', async () => {
    await kernelsReady();
    const cpu = createCpuBackend();
    const t = cpu.normal([7, 513], { seed: 42, offset: 3 });
    const ref = new Float32Array(7 * 513);
    fillStreamReference('normal', philoxKey(42), 3, ref.length, ref);
    expect(sameBits(cpu.dataOf(t) as Float32Array, ref)).toBe(true);
    t.dispose();
  });
});
