import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bf16BitsToNumber,
  f16BitsToNumber,
  numberToBf16Bits,
  numberToF16Bits,
  openSafetensorsFile,
  SafetensorsFormatError,
  SafetensorsReader,
  serializeSafetensors,
  type TensorToWrite,
  UnsupportedDTypeError,
  writeSafetensorsFile,
} from '../src/index';
import { loadParityFixture, loadParityWeights } from './fixture';

const dir = mkdtempSync(join(tmpdir(), 'duality-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file with a hand-written header (for corrupt-header cases). */
function rawFile(header: unknown, dataBytes: number, headerLengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setUint32(0, headerLengthOverride ?? json.byteLength, true);
  out.set(json, 8);
  return out;
}

const expectFormatError = async (bytes: Uint8Array, pattern: RegExp) => {
  const error = await SafetensorsReader.open(bytes).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SafetensorsFormatError);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as Error).message).toMatch(pattern);
};

describe('safetensors reader on the reference fixture', () => {
  it('lists the reference state-dict names with the fixture shapes and reads F32 values', async () => {
    const fx = loadParityFixture();
    const reader = await SafetensorsReader.open(loadParityWeights());
    expect([...reader.names()].sort()).toEqual([...fx.weights.names].sort());
    for (const name of fx.weights.names) {
      expect(reader.info(name)?.shape).toEqual(fx.weights.shapes[name]);
      expect(reader.info(name)?.dtype).toBe('F32');
    }
    expect(reader.metadata.format).toBe('pt');
    // inv_freq is 1/10000^(2j/Dh), Dh = 12, as an f32 buffer.
    const inv = await reader.read('rotary_emb.inv_freq', 'f64');
    expect(Math.abs(inv[1] / (1 / 10000 ** (2 / 12)) - 1)).toBeLessThan(2 ** -23);
  });

  it('reads a tensor in 8-byte pieces exactly as in one piece', async () => {
    const bytes = loadParityWeights();
    const whole = await (await SafetensorsReader.open(bytes)).read('blocks.0.attn_qkv.weight');
    const pieces = await (await SafetensorsReader.open(bytes, { chunkBytes: 8 })).read(
      'blocks.0.attn_qkv.weight',
    );
    expect(pieces).toEqual(whole);
  });
});

describe('half-precision conversions', () => {
  it('decodes and encodes known binary16 values', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [0.333251953125, 0x3555],
      [Number.POSITIVE_INFINITY, 0x7c00],
    ];
    for (const [value, bits] of cases) {
      expect(numberToF16Bits(value)).toBe(bits);
      expect(f16BitsToNumber(bits)).toBe(value);
    }
    expect(numberToF16Bits(65520)).toBe(0x7c00); // rounds up past the largest finite half
    expect(numberToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(Number.isNaN(f16BitsToNumber(numberToF16Bits(Number.NaN)))).toBe(true);
  });

  it('bfloat16 keeps the upper half of an f32, rounding to nearest even', () => {
    expect(numberToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToNumber(0x3f80)).toBe(1);
    expect(numberToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(numberToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16BitsToNumber(0xc0490000 >>> 16)).toBe(Math.fround(-3.140625));
  });

  it('every binary16 and bfloat16 bit pattern survives decode → encode', () => {
    const broken: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const isNaN16 = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (!isNaN16 && numberToF16Bits(f16BitsToNumber(bits)) !== bits) broken.push(`f16 ${bits}`);
      const isNaNbf = (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;
      if (!isNaNbf && numberToBf16Bits(bf16BitsToNumber(bits)) !== bits) broken.push(`bf16 ${bits}`);
    }
    expect(broken).toEqual([]);
  });

  it('encoding to binary16 is the nearest representable value (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -60000, max: 60000, noNaN: true }), (x) => {
        const y = f16BitsToNumber(numberToF16Bits(Math.fround(x)));
        const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(Math.fround(x)) || 2 ** -24)), -14) - 10);
        return Math.abs(y - Math.fround(x)) <= ulp / 2;
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});

const tensorArb = fc
  .record({
    dtype: fc.constantFrom<TensorToWrite['dtype']>('F32', 'F64', 'F16', 'BF16'),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }),
  })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // values representable in the dtype, so a round trip is exact
    const value = fc.integer({ min: 0, max: 0xffff }).map((bits) => {
      if (dtype === 'F16') return f16BitsToNumber(bits & 0x7bff);
      if (dtype === 'BF16') return bf16BitsToNumber(bits & 0x7f7f);
      return dtype === 'F32' ? Math.fround(bits / 7 - 3000) : bits / 7 - 3000;
    });
    return fc.array(value, { minLength: n, maxLength: n }).map((data) => ({ dtype, shape, data }));
  });

describe('safetensors writer', () => {
  it('write → read gives back every tensor bit for bit, and rewriting gives the same bytes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'),
          tensorArb,
          { maxKeys: 5 },
        ),
        async (tensors) => {
          const bytes = serializeSafetensors(tensors, { note: 'x' });
          expect(new DataView(bytes.buffer).getUint32(0, true) % 8).toBe(0); // header padded to 8 bytes
          const reader = await SafetensorsReader.open(bytes);
          const back = await reader.readAll();
          expect([...back.keys()].sort()).toEqual(Object.keys(tensors).sort());
          for (const [name, t] of Object.entries(tensors)) {
            const got = back.get(name);
            expect(got?.dtype).toBe(t.dtype);
            expect(got?.shape).toEqual(t.shape);
            expect(Array.from(got?.data ?? [])).toEqual(t.data);
          }
          expect(serializeSafetensors(back, { note: 'x' })).toEqual(bytes);
        },
      ),
      { seed: 11, numRuns: 60 },
    );
  });

  it('refuses metadata its own reader would refuse (non-string values, non-objects)', () => {
    const t = { a: { dtype: 'F32' as const, shape: [1], data: [1] } };
    for (const bad of [{ n: 1 }, { n: null }, { n: { nested: 'x' } }, { n: ['x'] }, [], null, 'text']) {
      expect(() => serializeSafetensors(t, bad as unknown as Record<string, string>)).toThrow(
        SafetensorsFormatError,
      );
    }
    const special = serializeSafetensors(t, JSON.parse('{"__proto__": "kept"}'));
    return SafetensorsReader.open(special).then((r) =>
      expect(Object.getOwnPropertyDescriptor(r.metadata, '__proto__')?.value).toBe('kept'),
    );
  });

  it('refuses values that do not fill the shape, and integer dtypes', () => {
    expect(() => serializeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } })).toThrow(
      SafetensorsFormatError,
    );
    expect(() => serializeSafetensors({ a: { dtype: 'I64' as 'F32', shape: [1], data: [1] } })).toThrow(
      UnsupportedDTypeError,
    );
  });

  it('writes a file in pieces and reads it back through a file handle', async () => {
    const path = join(dir, 'w.safetensors');
    const data = Float32Array.from({ length: 3000 }, (_, i) => Math.fround(Math.sin(i)));
    await writeSafetensorsFile(
      path,
      { w: { dtype: 'F32', shape: [30, 100], data }, h: { dtype: 'F16', shape: [2], data: [0.5, -1] } },
      { k: 'v' },
    );
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    const reader = await openSafetensorsFile(path, { chunkBytes: 1024 });
    expect(await reader.read('w')).toEqual(data);
    expect(Array.from(await reader.read('h'))).toEqual([0.5, -1]);
    expect(reader.metadata).toEqual({ k: 'v' });
    await reader.close();
    expect(readFileSync(path)).toEqual(
      Buffer.from(
        serializeSafetensors(
          { w: { dtype: 'F32', shape: [30, 100], data }, h: { dtype: 'F16', shape: [2], data: [0.5, -1] } },
          { k: 'v' },
        ),
      ),
    );
  });

  it('an invalid tensor leaves no file behind', async () => {
    const path = join(dir, 'bad.safetensors');
    await expect(writeSafetensorsFile(path, { a: { dtype: 'F32', shape: [3], data: [1] } })).rejects.toThrow(
      SafetensorsFormatError,
    );
    expect(readdirSync(dir).some((f) => f.startsWith('bad'))).toBe(false);
  });
});

describe('corrupt safetensors files are refused with SafetensorsFormatError', () => {
  const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  it('shorter than the 8-byte length prefix', () => expectFormatError(new Uint8Array(5), /truncated/));
  it('truncated inside the header', () =>
    expectFormatError(loadParityWeights().subarray(0, 100), /truncated/));
  it('truncated inside the data', () =>
    expectFormatError(loadParityWeights().subarray(0, 100_000), /outside/));
  it('a header length beyond the limit', () => expectFormatError(rawFile({}, 0, 2 ** 31), /header length/));
  it('header that is not JSON', () => expectFormatError(rawFile('{"a": ', 0), /not valid JSON/));
  it('header that is a JSON array', () => expectFormatError(rawFile('[1, 2]', 0), /array/));
  it('header bytes that are not UTF-8', () => {
    const bytes = rawFile('{"?": 1}', 0);
    bytes[10] = 0xff;
    return expectFormatError(bytes, /UTF-8/);
  });
  it('offsets pointing outside the file', () =>
    expectFormatError(rawFile({ a: { ...entry, data_offsets: [0, 80] } }, 8), /outside/));
  it('a byte count that does not match the shape', () =>
    expectFormatError(rawFile({ a: { ...entry, shape: [3] } }, 8), /12 bytes/));
  it('an unknown dtype', () => expectFormatError(rawFile({ a: { ...entry, dtype: 'F33' } }, 8), /dtype/));
  it('a negative or fractional dimension', () =>
    expectFormatError(rawFile({ a: { ...entry, shape: [-2] } }, 8), /shape/));
  it('begin after end', () =>
    expectFormatError(rawFile({ a: { ...entry, data_offsets: [8, 0] } }, 8), /data_offsets/));
  it('overlapping tensors', () =>
    expectFormatError(rawFile({ a: entry, b: { ...entry, data_offsets: [4, 12] } }, 12), /overlapping/));
  it('metadata that is not strings', () =>
    expectFormatError(rawFile({ __metadata__: { a: 1 } }, 0), /__metadata__/));
  it('a hole between two tensors (the format forbids it)', () =>
    expectFormatError(rawFile({ a: entry, b: { ...entry, data_offsets: [12, 20] } }, 20), /hole of 4 bytes/));
  it('a hole before the first tensor', () =>
    expectFormatError(rawFile({ a: { ...entry, data_offsets: [4, 12] } }, 12), /hole/));
  it('trailing bytes after the last tensor', () =>
    expectFormatError(rawFile({ a: entry }, 16), /8 bytes after the last tensor/));
  it('trailing bytes with no tensor at all', () => expectFormatError(rawFile({}, 3), /after the last/));
  it('empty tensors anywhere on the tiling are fine', async () => {
    const reader = await SafetensorsReader.open(
      rawFile(
        {
          a: entry,
          e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
          b: { ...entry, data_offsets: [8, 16] },
        },
        16,
      ),
    );
    expect(reader.names()).toEqual(['a', 'b', 'e']);
  });
  it('reading an integer tensor as floats', async () => {
    const reader = await SafetensorsReader.open(
      rawFile({ a: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, 8),
    );
    await expect(reader.read('a')).rejects.toThrow(UnsupportedDTypeError);
    await expect(reader.read('nope')).rejects.toThrow(SafetensorsFormatError);
  });
  it('a source that ends early while reading', async () => {
    const bytes = loadParityWeights();
    const reader = await SafetensorsReader.open({
      byteLength: bytes.byteLength,
      read: async (o, l) => bytes.subarray(o, Math.min(o + l, 20_000)),
    });
    await expect(reader.read('blocks.1.mlp.0.weight')).rejects.toThrow(/ended early/);
  });

  it('fuzz: any byte corruption or truncation of a valid file either reads cleanly or throws a typed error', async () => {
    const valid = serializeSafetensors({
      a: { dtype: 'F32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
      b: { dtype: 'BF16', shape: [4], data: [1, 2, 3, 4] },
      c: { dtype: 'F16', shape: [1], data: [0.5] },
    });
    const corruption = fc.oneof(
      fc.record({
        kind: fc.constant('flip' as const),
        at: fc.nat({ max: valid.byteLength - 1 }),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        kind: fc.constant('truncate' as const),
        at: fc.nat({ max: valid.byteLength - 1 }),
        byte: fc.constant(0),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(corruption, { minLength: 1, maxLength: 4 }), async (edits) => {
        let bytes = valid.slice();
        for (const e of edits) {
          if (e.kind === 'flip') bytes[e.at % bytes.byteLength] = e.byte;
          else bytes = bytes.slice(0, e.at % Math.max(bytes.byteLength, 1));
        }
        try {
          const reader = await SafetensorsReader.open(bytes);
          for (const name of reader.names()) {
            const info = reader.info(name);
            if (info && ['F32', 'F64', 'F16', 'BF16'].includes(info.dtype)) await reader.read(name);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(KernelError);
          expect(error instanceof SafetensorsFormatError || error instanceof UnsupportedDTypeError).toBe(
            true,
          );
        }
      }),
      { seed: 2024, numRuns: 1500 },
    );
  });
});

it('the fixture file on disk opens by path', async () => {
  const path = join(dir, 'copy.safetensors');
  writeFileSync(path, loadParityWeights());
  const reader = await openSafetensorsFile(path);
  expect(reader.names()).toHaveLength(loadParityFixture().weights.names.length);
  await reader.close();
});
