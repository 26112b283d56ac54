/**
 * evaluate(): the pipeline's mechanics on tiny random models (initStateDict) — deterministic under fixed seeds,
 * gen-PPL and entropy equal to their definitions recomputed by hand, the judge preferring its own greedy text
 * to uniform noise, checkpoint directories with validation BPC, the report's table / plots / files, and typed
 * errors for bad inputs (steps < 1, another vocabulary or tokenizer, a non-causal judge, …).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@duality/kernels';
import { DiT, ditConfig, initStateDict } from '@duality/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointCorruptError,
  type EvaluateOptions,
  EvaluationConfigError,
  type EvaluationReport,
  evaluate,
  evaluationTable,
  generativePerplexity,
  genPplVsEntropySvg,
  genPplVsStepsSvg,
  judgeRowNll,
  loadDistillTeacher,
  ModelKindError,
  parseTrainConfig,
  type SamplerSpec,
  saveCheckpoint,
  seriesPlotSvg,
  trainConfigOfCheckpoint,
  unigramEntropyBits,
  VocabularyMismatchError,
  writeEvaluation,
} from '../src/index';
import { modelConfigOf } from '../src/trainer';

const backend = createCpuBackend({ threads: 0 });
const work = mkdtempSync(join(tmpdir(), 'duality-evaluate-'));
const tiny = { hiddenSize: 16, condDim: 8, nHeads: 2, nBlocks: 1, length: 16 };
const build = (config: Parameters<typeof ditConfig>[0], seed: number, std = 0.3) =>
  DiT.fromStateDict(
    backend,
    ditConfig(config),
    initStateDict(ditConfig(config), { seed, scheme: 'normal', std }),
  );

let duo: DiT;
let mdlm: DiT;
let judge: DiT;
let bidirectional27: DiT;
let judge28: DiT;
beforeAll(async () => {
  duo = await build({ vocabSize: 27, ...tiny }, 1);
  mdlm = await build({ vocabSize: 28, ...tiny, timeConditioning: false }, 2);
  judge = await build({ vocabSize: 27, ...tiny, causal: true, timeConditioning: false }, 3, 0.6);
  bidirectional27 = await build({ vocabSize: 27, ...tiny }, 4);
  judge28 = await build({ vocabSize: 28, ...tiny, causal: true, timeConditioning: false }, 5);
});
afterAll(() => {
  for (const m of [duo, mdlm, judge, bidirectional27, judge28]) m.dispose();
  rmSync(work, { recursive: true, force: true });
});

const samplers: SamplerSpec[] = [
  { kind: 'ancestral' },
  { kind: 'ancestral', noiseRemoval: 'greedy' },
  { kind: 'psi', kappa: 'max-capped-0.05' },
  { kind: 'ancestral', topP: 0.9 },
];
const options = (over: Partial<EvaluateOptions> = {}): EvaluateOptions => ({
  model: { source: duo, algorithm: 'duo', dataset: 'brown8' },
  judge,
  sampler: samplers,
  steps: [1, 4],
  seeds: [0, 1],
  batch: 3,
  length: 12,
  backend,
  bootstrapResamples: 200,
  keepSamples: true,
  ...over,
});

const withoutTimes = (r: EvaluationReport) =>
  JSON.parse(JSON.stringify(r, (k, v) => (k === 'seconds' || k === 'secondsPerSeed' ? 0 : v)));

/** −Σ_{l ≥ 1} log softmax(judge(x_<l))[x_l] per row, by hand: one forward, host log-softmax in f64. */
async function handNll(ids: number[], rows: number, length: number): Promise<number[]> {
  const logits = await judge.forward({ tokens: backend.tensor(Int32Array.from(ids), [rows, length], 'i32') });
  const z = await logits.read();
  logits.dispose();
  const V = 27;
  return Array.from({ length: rows }, (_, r) => {
    let nll = 0;
    for (let l = 0; l < length - 1; l++) {
      const row = Array.from(z.subarray((r * length + l) * V, (r * length + l + 1) * V));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      nll += lse - row[ids[r * length + l + 1]];
    }
    return nll;
  });
}

describe('evaluate on tiny random models', () => {
  let report: EvaluationReport;
  it('is deterministic under fixed seeds: the same report twice (timings aside)', async () => {
    report = await evaluate(options());
    const again = await evaluate(options());
    expect(withoutTimes(again)).toEqual(withoutTimes(report));
    expect(report.rows).toHaveLength(samplers.length * 2 * 2);
    expect(report.summary).toHaveLength(samplers.length * 2);
    expect(report.settings.samplers).toEqual([
      'ancestral',
      'ancestral greedy tail',
      'Ψ max-capped η=0.05',
      'ancestral top-p 0.9',
    ]);
    // another seed gives other samples
    const cell = report.rows.filter((r) => r.sampler === 'ancestral' && r.steps === 4);
    expect(cell[0].samples).not.toEqual(cell[1].samples);
  });

  it('gen-PPL = exp(mean judge NLL over ids 1 … L − 1) and entropy = mean per-row unigram entropy, recomputed by hand', async () => {
    for (const row of report.rows.slice(0, 4)) {
      const ids = row.samples as number[];
      const nll = await handNll(ids, 3, 12);
      const want = Math.exp(nll.reduce((a, b) => a + b, 0) / (3 * 11));
      expect(Math.abs((row.genPpl as number) - want)).toBeLessThanOrEqual(1e-5 * want);
      const entropies = [0, 1, 2].map((r) => unigramEntropyBits(ids.slice(r * 12, (r + 1) * 12)));
      expect(row.entropyBits).toBeCloseTo(entropies.reduce((a, b) => a + b, 0) / 3, 12);
      expect(row.pooledEntropyBits).toBeCloseTo(unigramEntropyBits(ids), 12);
      expect(row.example).toMatch(/^[a-z ]{12}$/);
    }
  });

  it('the summary: mean ± sd over seeds, pooled gen-PPL inside its bootstrap interval', () => {
    for (const s of report.summary) {
      const cell = report.rows.filter((r) => r.sampler === s.sampler && r.steps === s.steps);
      const ppl = cell.map((r) => r.genPpl as number);
      const g = s.genPpl as NonNullable<typeof s.genPpl>;
      expect(g.mean).toBeCloseTo((ppl[0] + ppl[1]) / 2, 10);
      expect(g.sd).toBeCloseTo(Math.abs(ppl[0] - ppl[1]) / Math.SQRT2, 10);
      expect(g.ci95[0]).toBeLessThanOrEqual(g.pooled);
      expect(g.ci95[1]).toBeGreaterThanOrEqual(g.pooled);
      expect(g.ci95[0]).toBeLessThan(g.ci95[1]);
    }
  });

  it("the judge's own greedy text has a lower gen-PPL than uniform noise", async () => {
    const rows = 4;
    const length = 16;
    const ids = new Int32Array(rows * length);
    for (let r = 0; r < rows; r++) ids[r * length] = 5 * r + 1;
    for (let l = 1; l < length; l++) {
      const prefix = new Int32Array(rows * l);
      for (let r = 0; r < rows; r++) prefix.set(ids.subarray(r * length, r * length + l), r * l);
      const logits = await judge.forward({ tokens: backend.tensor(prefix, [rows, l], 'i32') });
      const z = await logits.read();
      logits.dispose();
      for (let r = 0; r < rows; r++) {
        const last = z.subarray(((r + 1) * l - 1) * 27, (r + 1) * l * 27);
        ids[r * length + l] = last.indexOf(Math.max(...last));
      }
    }
    const noise = Int32Array.from({ length: rows * length }, (_, i) => (i * 7919 + 13) % 27);
    const greedy = generativePerplexity(await judgeRowNll(judge, backend, ids, [rows, length]), length - 1);
    const uniform = generativePerplexity(
      await judgeRowNll(judge, backend, noise, [rows, length]),
      length - 1,
    );
    expect(greedy).toBeLessThan(uniform);
    expect(greedy).toBeLessThan(27); // −log max p ≤ log K per id
  });

  it('a masked model (mdlm, one more id for the mask) samples mask-free text the judge scores', async () => {
    const r = await evaluate(
      options({
        model: { source: mdlm, algorithm: 'mdlm' },
        sampler: { kind: 'ancestral' },
        steps: 4,
        seeds: [3],
      }),
    );
    const ids = r.rows[0].samples as number[];
    expect(Math.max(...ids)).toBeLessThan(27);
    expect(Number.isFinite(r.rows[0].genPpl)).toBe(true);
  });

  it('seriesPlotSvg: one path per series, a whisker per point that has one, dashed references in the legend', () => {
    const svg = seriesPlotSvg({
      title: 'BPC <by> step',
      xLabel: 'training step',
      yLabel: 'BPC',
      series: [
        {
          label: 'a',
          points: [
            { x: 100, y: 4 },
            { x: 200, y: 3.5, lo: 3.4, hi: 3.6 },
          ],
        },
        {
          label: 'b',
          points: [
            { x: 100, y: 4.2 },
            { x: 300, y: 3.3 },
          ],
        },
        { label: 'empty', points: [] },
      ],
      references: [{ y: 4.106, label: 'unigram entropy' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('BPC &lt;by&gt; step');
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg.match(/stroke-dasharray="6 4"/g)).toHaveLength(2); // the line and its legend entry
    for (const label of ['a', 'b', 'empty', 'unigram entropy']) expect(svg).toContain(`>${label}</text>`);
    const log = seriesPlotSvg({
      title: 't',
      xLabel: 'steps',
      yLabel: 'y',
      xScale: 'log2',
      series: [{ label: 's', points: [1, 4, 16].map((x) => ({ x, y: 1 / x })) }],
    });
    for (const tick of ['1', '4', '16'])
      expect(log).toContain(`text-anchor="middle" font-size="11">${tick}</text>`);
  });

  it('the table, the two plots and the files', async () => {
    const table = evaluationTable(report);
    for (const label of report.settings.samplers) expect(table).toContain(label);
    expect(table).toMatch(/gen-PPL \(mean ± sd\)/);
    const steps = genPplVsStepsSvg(report) as string;
    const entropy = genPplVsEntropySvg(report) as string;
    for (const svg of [steps, entropy]) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.match(/<path /g)).toHaveLength(samplers.length);
      expect(svg.match(/<circle /g)).toHaveLength(samplers.length * 2);
    }
    expect(steps).toContain('sampling steps');
    expect(entropy).toContain('unigram entropy');
    const written = await writeEvaluation(report, join(work, 'report'));
    expect(written.map((p) => p.split('/').pop())).toEqual([
      'evaluation.json',
      'evaluation.txt',
      'gen-ppl-vs-steps.svg',
      'gen-ppl-vs-entropy.svg',
    ]);
    expect(JSON.parse(readFileSync(written[0], 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));
    const noJudge = await evaluate(
      options({ judge: undefined, sampler: { kind: 'ancestral' }, steps: 1, seeds: [0] }),
    );
    expect(noJudge.rows[0].genPpl).toBeUndefined();
    expect(genPplVsStepsSvg(noJudge)).toBeUndefined();
  });
});

describe('evaluate from checkpoint directories', () => {
  const write = async (dir: string, algorithm: string, seed: number) => {
    const config = parseTrainConfig({
      algorithm,
      steps: 5,
      model: { hiddenSize: 16, nBlocks: 1, nHeads: 2, condDim: 8 },
      data: { contextLength: 16, batchSize: 2 },
      validation: { batches: 1 },
    });
    const dcfg = modelConfigOf(config);
    const weights = initStateDict(dcfg, { seed, scheme: 'normal', std: 0.3 });
    await saveCheckpoint(
      `${dir}/checkpoints`,
      {
        weights,
        ema: weights,
        optimizer: { expAvg: new Map(), expAvgSq: new Map() },
        state: { step: 5, rng: {}, cursor: { epoch: 0, index: 5 }, config },
      },
      { modelConfig: dcfg },
    );
  };
  it('reads the model and the judge from their runs, with validation BPC of both on brown8', async () => {
    await write(join(work, 'duo-run'), 'duo', 11);
    await write(join(work, 'ar-run'), 'ar', 12);
    const r = await evaluate({
      model: join(work, 'duo-run'),
      judge: join(work, 'ar-run'),
      sampler: { kind: 'ancestral', noiseRemoval: 'greedy' },
      steps: [2],
      batch: 2,
      length: 16,
      validation: { batches: 1, batchSize: 2 },
      backend,
      bootstrapResamples: 50,
    });
    expect(r.model).toMatchObject({ algorithm: 'duo', dataset: 'brown8', weights: 'ema' });
    expect(r.judge).toMatchObject({ algorithm: 'ar', dataset: 'brown8' });
    for (const v of [r.validation?.model, r.validation?.judge]) {
      expect(v?.tokens).toBe(32);
      expect(v?.bpc).toBeCloseTo((v?.nelbo as number) / Math.LN2, 12);
      expect(v?.ppl).toBeCloseTo(Math.exp(v?.nelbo as number), 9);
      expect(v?.bpc).toBeGreaterThan(0);
    }
    expect(r.rows[0].example).toHaveLength(16);
    for (const v of [r.validation?.model, r.validation?.judge]) {
      expect(v?.windows).toBe(2);
      expect(v).not.toHaveProperty('windowNats');
      const [lo, hi] = v?.bpcCi95 ?? [Number.NaN, Number.NaN];
      expect(lo).toBeLessThanOrEqual(v?.bpc as number);
      expect(hi).toBeGreaterThanOrEqual(v?.bpc as number);
    }
  });

  it('keepWindows: the mean NELBO of each validation window, whose mean is the validation NELBO', async () => {
    const o = {
      model: join(work, 'duo-run'),
      judge: join(work, 'ar-run'),
      sampler: { kind: 'ancestral' } as const,
      steps: [1],
      batch: 2,
      length: 16,
      backend,
      bootstrapResamples: 200,
    };
    const r = await evaluate({ ...o, validation: { batches: 3, batchSize: 4, keepWindows: true } });
    const again = await evaluate({ ...o, validation: { batches: 3, batchSize: 4 } });
    for (const who of ['model', 'judge'] as const) {
      const v = r.validation?.[who];
      const w = v?.windowNats ?? [];
      expect(w).toHaveLength(12);
      expect(v?.windows).toBe(12);
      expect(w.reduce((a, b) => a + b, 0) / w.length).toBeCloseTo(v?.nelbo as number, 12);
      // the interval: percentiles of the mean of 12 windows drawn with replacement, within the windows' range
      const [lo, hi] = v?.bpcCi95 ?? [0, 0];
      expect(lo).toBeLessThan(hi);
      expect(lo).toBeGreaterThanOrEqual(Math.min(...w) / Math.LN2);
      expect(hi).toBeLessThanOrEqual(Math.max(...w) / Math.LN2);
      const { windowNats: _, ...rest } = v ?? {};
      expect(again.validation?.[who]).toEqual(rest); // the same figures without the windows
    }
  });

  it("a distillation checkpoint's config reads as the student's training config (teacher and distill keys aside)", async () => {
    const { config } = await loadDistillTeacher({
      teacher: join(work, 'duo-run'),
      data: { contextLength: 16 },
    });
    const stored = JSON.parse(JSON.stringify(config));
    const train = trainConfigOfCheckpoint(stored);
    expect(train).not.toHaveProperty('distill');
    expect(train).not.toHaveProperty('teacher');
    expect(train.algorithm).toBe('duo');
    expect(train.optimizer.lr).toBe(6e-5);
  });
});

describe('bad inputs are typed errors, before any sampling', () => {
  const rejects = async (
    over: Partial<EvaluateOptions>,
    type: new (...a: never[]) => Error,
    message: RegExp,
  ) => {
    let progress = 0;
    const error = await evaluate({ ...options(over), onProgress: () => progress++ }).catch((e) => e);
    expect(error).toBeInstanceOf(type);
    expect(error.name).toBe(type.name);
    expect(error.message).toMatch(message);
    expect(progress).toBe(0);
  };
  it('steps < 1, no seeds, bad batch or length, an unknown sampler, a spec the samplers refuse', async () => {
    await rejects({ steps: [4, 0] }, EvaluationConfigError, /steps\[1\]: got 0, expected an integer ≥ 1/);
    await rejects({ steps: [] }, EvaluationConfigError, /steps: got \[\]/);
    await rejects({ seeds: [] }, EvaluationConfigError, /seeds/);
    await rejects({ batch: 0 }, EvaluationConfigError, /batch: got 0/);
    await rejects({ length: 1 }, EvaluationConfigError, /length: got 1, expected at least 2 ids/);
    await rejects(
      { length: 17 },
      EvaluationConfigError,
      /length: got 17, expected at most the model's context 16/,
    );
    await rejects(
      { sampler: { kind: 'euler' } as unknown as SamplerSpec },
      EvaluationConfigError,
      /sampler\[0\].kind/,
    );
    await rejects(
      { sampler: { kind: 'ancestral', topP: 1.5 } },
      EvaluationConfigError,
      /sampler\[0\]: got topP 1.5/,
    );
    await rejects(
      { sampler: { kind: 'psi', kappa: 'max-capped-7' } },
      EvaluationConfigError,
      /sampler\[0\]: got mode "max-capped-7"/,
    );
    await rejects(
      { sampler: [{ kind: 'ancestral' }, { kind: 'ancestral' }] },
      EvaluationConfigError,
      /distinct labels/,
    );
  });
  it('a judge of another vocabulary or tokenizer, a non-causal judge, a causal model, a model without its algorithm', async () => {
    await rejects({ judge: judge28 }, VocabularyMismatchError, /judge of 28 token ids .* samples of 27/);
    await rejects(
      { model: { source: mdlm, algorithm: 'mdlm' }, judge: judge28 },
      VocabularyMismatchError,
      /28 token ids .* samples of 27/,
    );
    await rejects(
      { judge: { source: judge, dataset: 'brown-char' } },
      VocabularyMismatchError,
      /27 token ids.*96 ids of dataset "brown-char"/,
    );
    await rejects(
      {
        model: { source: duo, algorithm: 'duo', dataset: 'brown8' },
        judge: { source: judge, dataset: 'brown8' },
        length: 40,
      },
      EvaluationConfigError,
      /context 16/,
    );
    await rejects({ judge: bidirectional27 }, ModelKindError, /judge: got a bidirectional DiT/);
    await rejects({ model: judge }, ModelKindError, /model: got a causal model/);
    await rejects({ model: duo }, EvaluationConfigError, /model.algorithm: got nothing/);
    await rejects({ model: join(work, 'nowhere') }, CheckpointCorruptError, /no committed checkpoint/);
  });
  it('validation without a stream for a model whose dataset is unknown', async () => {
    await rejects(
      { model: { source: duo, algorithm: 'duo' }, validation: true },
      EvaluationConfigError,
      /validation.stream/,
    );
    expect(existsSync(join(work, 'nowhere'))).toBe(false);
  });
});
