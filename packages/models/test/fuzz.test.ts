/**
 * Fuzz of the public API with bad and extreme inputs: every case ends in a typed error (a KernelError naming what
 * it got and expected) or a correct result (finite logits, normalised log-probabilities, exact round trips).
 * A tiny model and small tensors only; a few seconds in all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, createBackend, KernelError, type Tensor } from '@duality/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlerFor, tally } from '../../../scripts/test-support/fuzz';
import {
  brown8,
  configFromReference,
  DiT,
  DiTDenoiser,
  type DiTInput,
  ditConfig,
  initStateDict,
  loadDiT,
  SafetensorsReader,
  serializeSafetensors,
  type TensorToWrite,
  writeFileAtomic,
} from '../src/index';

const config = ditConfig({ vocabSize: 6, hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 4 });
let backend: Backend;
let model: DiT;
let dir: string;
beforeAll(async () => {
  backend = await createBackend('cpu', { threads: 0 });
  model = await DiT.fromStateDict(
    backend,
    config,
    initStateDict(config, { seed: 1, scheme: 'normal', std: 0.3 }),
  );
  dir = mkdtempSync(join(tmpdir(), 'duality-models-fuzz-'));
});
afterAll(() => {
  model.dispose();
  backend.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const settle = settlerFor(KernelError);

const anyValue = fc.oneof(
  fc.double({ min: -3, max: 3, noNaN: true }),
  fc.constantFrom(0, 1, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32, 2 ** 53),
  fc.constantFrom(null, undefined, 'x', [], {}, true) as fc.Arbitrary<unknown>,
);
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anyValue });

describe('fuzz: safetensors writing and reading', () => {
  it('serializeSafetensors → SafetensorsReader round trip, or a typed error', async () => {
    const t = tally();
    const tensor = fc.record({
      dtype: mostly(fc.constantFrom('F32', 'F64', 'F16', 'BF16')),
      shape: mostly(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 })),
      extra: fc.integer({ min: -1, max: 1 }),
      value: fc.oneof(
        fc.double({ min: -4, max: 4, noNaN: true }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
      ),
    });
    const metadata = fc.option(
      fc.dictionary(fc.constantFrom('a', 'b', '__proto__', 'config'), mostly(fc.string({ maxLength: 4 }))),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('w', 'b.0', '__metadata__', ''), tensor, { maxKeys: 3 }),
        metadata,
        async (spec, meta) => {
          const tensors: Record<string, TensorToWrite> = {};
          for (const [name, s] of Object.entries(spec)) {
            const n = Array.isArray(s.shape)
              ? (s.shape as number[]).reduce((a, b) => a * (typeof b === 'number' ? b : 1), 1)
              : 1;
            tensors[name] = {
              dtype: s.dtype as 'F32',
              shape: s.shape as number[],
              data: new Array(Math.max(0, Math.min(n, 64) + s.extra)).fill(
                s.value,
              ) /* huge shapes: a short array */,
            };
          }
          t.add(
            await settle(
              async () => {
                const bytes = serializeSafetensors(tensors, meta as Record<string, string>);
                const reader = await SafetensorsReader.open(bytes);
                return { reader, all: await reader.readAll() };
              },
              ({ reader, all }) => {
                expect([...all.keys()].sort()).toEqual(Object.keys(tensors).sort());
                for (const [name, stored] of all) expect(stored.data.length).toBe(tensors[name].data.length);
                expect(reader.metadata).toEqual(Object.fromEntries(Object.entries(meta ?? {})));
              },
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
    t.expectBoth();
  });

  it('headers of random JSON are refused with typed errors, never read past the data', async () => {
    const t = tally();
    const entry = fc.record({
      dtype: mostly(fc.constantFrom('F32', 'F16', 'I32', 'U8')),
      shape: mostly(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 2 })),
      data_offsets: mostly(fc.tuple(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 24 }))),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('a', 'b', '__metadata__'), mostly(entry), { maxKeys: 3 }),
        fc.integer({ min: 0, max: 24 }),
        async (header, dataBytes) => {
          const json = new TextEncoder().encode(JSON.stringify(header));
          const bytes = new Uint8Array(8 + json.length + dataBytes);
          new DataView(bytes.buffer).setUint32(0, json.length, true);
          bytes.set(json, 8);
          t.add(
            await settle(
              async () => {
                const reader = await SafetensorsReader.open(bytes);
                const out: number[] = [];
                for (const name of reader.names()) {
                  const info = reader.info(name);
                  if (info && ['F32', 'F16'].includes(info.dtype)) out.push((await reader.read(name)).length);
                }
                return { reader, out };
              },
              ({ reader }) => {
                let covered = 0;
                for (const name of reader.names())
                  covered += (reader.info(name)?.end ?? 0) - (reader.info(name)?.begin ?? 0);
                expect(covered).toBe(dataBytes); // an accepted file is tiled exactly by its tensors
              },
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
    t.expectBoth();
  });

  it('loadDiT from bytes and writeFileAtomic to odd paths', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 64 }),
        fc.constantFrom('ok.bin', 'no/such/dir/x.bin', '', '.', 'a\u0000b'),
        async (bytes, name) => {
          t.add(
            await settle(
              () => loadDiT(backend, bytes),
              () => undefined,
            ),
          );
          t.add(
            await settle(
              () => writeFileAtomic(name === '' ? '' : join(dir, name), bytes),
              () => undefined,
            ),
          );
        },
      ),
      { numRuns: 60 },
    );
    t.expectBoth();
  });
});

describe('fuzz: configs and initialisation', () => {
  it('configFromReference / ditConfig / initStateDict', async () => {
    const t = tally();
    const fields = fc.record({
      vocab_size: mostly(fc.integer({ min: 2, max: 9 })),
      hidden_size: mostly(fc.constantFrom(8, 16, 12)),
      cond_dim: mostly(fc.integer({ min: 1, max: 8 })),
      length: mostly(fc.integer({ min: 1, max: 8 })),
      n_blocks: mostly(fc.integer({ min: 1, max: 2 })),
      n_heads: mostly(fc.constantFrom(1, 2, 3, 4)),
      dropout: mostly(fc.double({ min: 0, max: 0.5, noNaN: true })),
    });
    await fc.assert(
      fc.asyncProperty(
        fields,
        mostly(fc.constantFrom('reference', 'normal')),
        mostly(fc.nat(100)),
        async (f, scheme, seed) => {
          t.add(
            await settle(
              () => {
                const cfg = configFromReference({ model: f, vocab_size: f.vocab_size });
                return {
                  cfg,
                  state: initStateDict(cfg, { seed: seed as number, scheme: scheme as 'normal' }),
                };
              },
              ({ cfg, state }) => {
                expect(cfg.hiddenSize % cfg.nHeads).toBe(0);
                for (const t of state.values()) expect(Array.from(t.data).every(Number.isFinite)).toBe(true);
              },
            ),
          );
        },
      ),
      { numRuns: 150 },
    );
    t.expectBoth();
  });
});

describe('fuzz: DiT.forward and the denoiser adapter', () => {
  const V = config.vocabSize;
  const inputArb: fc.Arbitrary<() => unknown> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 1, max: 2 }),
          fc.integer({ min: 1, max: 5 }),
          fc.array(fc.integer({ min: -1, max: V }), { minLength: 10, maxLength: 10 }),
        )
        .map(([b, l, raw]) => () => ({
          tokens: backend.tensor(
            Int32Array.from({ length: b * l }, (_, i) => raw[i % 10]),
            [b, l],
            'i32',
          ),
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 1, max: 2 }),
          fc.integer({ min: 1, max: 4 }),
          fc.constantFrom(0, Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY),
        )
        .map(([b, l, special]) => () => ({
          dense: backend.tensor(
            Float32Array.from({ length: b * l * V }, (_, i) => (i === 3 ? special : (i % 5) - 2)),
            [b, l, V],
            'f32',
          ),
        })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        () => ({ tokens: backend.tensor(Float32Array.from([0, 1]), [1, 2], 'f32') }),
        () => ({ tokens: backend.tensor(Int32Array.from([0, 1]), [2], 'i32') }),
        () => ({ dense: backend.tensor(new Float64Array(V), [1, 1, V], 'f64') }),
        () => ({
          soft: {
            indices: backend.tensor(Int32Array.from([0, 1]), [1, 1, 2], 'i32'),
            weights: backend.tensor(Float32Array.from([0.5, Number.NaN]), [1, 1, 2], 'f32'),
          },
        }),
        () => ({
          soft: {
            indices: backend.tensor(Int32Array.from([0, 1]), [1, 1, 2], 'i32'),
            weights: backend.tensor(Float32Array.from([0.5, 0.5]), [1, 1, 2], 'f32'),
          },
        }),
        () => ({}),
        () => null,
      ),
    },
  );
  const sigmaArb = fc.oneof(
    fc.array(fc.double({ min: 0, max: 8, noNaN: true }), { minLength: 1, maxLength: 2 }),
    fc.constantFrom<unknown>(
      [Number.NaN],
      [Number.POSITIVE_INFINITY, 1],
      0.5,
      null,
      undefined,
      [1, 2, 3],
      'x',
    ),
  );

  it('forward: a typed error or finite logits [B, L, V]', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(inputArb, sigmaArb, async (input, sigma) => {
        t.add(
          await settle(
            () => model.forward(input() as DiTInput, sigma as number[]),
            async (logits) => {
              expect(logits.shape[2]).toBe(V);
              expect(Array.from(await logits.read()).every(Number.isFinite)).toBe(true);
              logits.dispose();
            },
          ),
        );
      }),
      { numRuns: 200 },
    );
    t.expectBoth();
  });

  it('DiTDenoiser.predict (logits and SUBS): normalised log-probabilities, +∞ sigma included', async () => {
    const t = tally();
    const denoisers = [new DiTDenoiser(model), new DiTDenoiser(model, { kind: 'subs', maskIndex: V - 1 })];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.array(fc.integer({ min: -1, max: V }), { minLength: 4, maxLength: 4 }),
        sigmaArb,
        async (which, ids, sigma) => {
          t.add(
            await settle(
              () =>
                denoisers[which].predict(
                  backend.tensor(Int32Array.from(ids), [1, 4], 'i32'),
                  sigma as number[],
                ),
              async (out: Tensor) => {
                const v = await out.read();
                for (let r = 0; r < 4; r++) {
                  let sum = 0;
                  for (let j = 0; j < V; j++) sum += Math.exp(v[r * V + j]);
                  expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
                }
                out.dispose();
              },
            ),
          );
        },
      ),
      { numRuns: 150 },
    );
    t.expectBoth();
  });

  it('brown8 encode / decode', async () => {
    const t = tally();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 8 }), anyValue),
        fc.array(fc.integer({ min: -2, max: 30 }), { maxLength: 5 }),
        async (text, ids) => {
          t.add(
            await settle(
              () => ({ enc: brown8.encode(brown8.normalize(text as string)), dec: brown8.decode(ids) }),
              ({ enc, dec }) => {
                expect(brown8.decode(enc)).toBe(brown8.normalize(text as string));
                expect(dec.length).toBe(ids.length);
              },
            ),
          );
        },
      ),
      { numRuns: 200 },
    );
    t.expectBoth();
  });
});
