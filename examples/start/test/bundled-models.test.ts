/**
 * The bundled models (models/<name>/ as `duality export` writes them): each model.safetensors loads with loadDiT
 * and is what its metrics.json says (size, parameters, step, algorithm, tokenizer, checkpoint); metrics.json
 * agrees with the run behind it when the run is in the tree (the checkpoint's step and EMA weights, the figures
 * of run/metrics.jsonl up to that step); and models/README.md's generated tables are exactly those rendered from
 * the metrics files — so the README's numbers cannot silently go stale.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ExportedMetrics, runFigures } from '@duality/cli';
import { createCpuBackend } from '@duality/kernels';
import { loadDiT, openSafetensorsFile, parameterCount } from '@duality/models';
import { loadCheckpoint, readMetrics } from '@duality/train';
import { describe, expect, it } from 'vitest';
import { byBundledOrder, currentGenerated, generated } from '../../../models/readme-table.mjs';
import { MODELS } from '../src/bundle';

const names = readdirSync(MODELS, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(MODELS, d.name, 'model.safetensors')))
  .map((d) => d.name)
  .sort();
const metricsOf = (name: string): ExportedMetrics =>
  JSON.parse(readFileSync(join(MODELS, name, 'metrics.json'), 'utf8'));

describe('bundled models', () => {
  it('there are bundled models: the AR judge and the Duo teacher at least', () => {
    expect(names).toEqual(expect.arrayContaining(['ar-brown8', 'duo-brown8']));
  });

  it.each(names)('%s: the file loads with loadDiT and is what metrics.json says', async (name) => {
    const file = join(MODELS, name, 'model.safetensors');
    const m = metricsOf(name);
    const backend = createCpuBackend({ threads: 0 });
    const model = await loadDiT(backend, file);
    expect(parameterCount(model.config)).toBe(m.parameters);
    expect(model.config.causal).toBe(m.algorithm === 'ar');
    model.dispose();
    backend.destroy();
    const size = statSync(file).size;
    expect(size).toBe(m.bytes);
    expect(size).toBeLessThan(20 * 2 ** 20);
    const reader = await openSafetensorsFile(file);
    const meta = reader.metadata;
    await reader.close();
    expect(JSON.parse(meta.training)).toMatchObject({
      kind: m.kind,
      algorithm: m.algorithm,
      dataset: m.dataset,
      step: m.step,
      steps: m.steps,
      seed: m.seed,
    });
    expect(meta).toMatchObject({ tokenizer: m.dataset, weights: m.weights, exported_from: m.checkpoint });
    expect(m.name).toBe(name);
    expect(m.step).toBeLessThanOrEqual(m.steps);
  });

  it.each(names)(
    '%s: metrics.json agrees with its run (checkpoint, EMA, metrics.jsonl) when the run is here',
    async (name) => {
      const m = metricsOf(name);
      const checkpoint = join(MODELS, name, m.checkpoint);
      const jsonl = join(MODELS, name, 'run', 'metrics.jsonl');
      let checked = 0;
      if (existsSync(join(checkpoint, 'state.json'))) {
        const saved = await loadCheckpoint(checkpoint);
        expect(saved.state.step).toBe(m.step);
        const reader = await openSafetensorsFile(join(MODELS, name, 'model.safetensors'));
        const weights = m.weights === 'ema' ? saved.ema : saved.weights;
        for (const [tensor, t] of weights ?? []) {
          const stored = await reader.read(tensor);
          if (m.dtype === 'f32') expect(Array.from(stored)).toEqual(Array.from(t.data));
          else expect(stored.length).toBe(t.data.length);
        }
        await reader.close();
        checked++;
      } else
        console.log(
          `${name}: ${m.checkpoint} is not in the tree (pruned by a later checkpoint?); weights not compared`,
        );
      if (existsSync(jsonl)) {
        const figures = runFigures(await readMetrics(jsonl), m.step);
        expect(figures).toEqual({
          validation: m.validation,
          lastLoss: m.lastLoss,
          trainingSeconds: m.trainingSeconds,
          tokensPerSecond: m.tokensPerSecond,
        });
        checked++;
      } else console.log(`${name}: no run/metrics.jsonl in the tree; figures not recomputed`);
      if (m.evaluation) {
        expect(m.evaluation.step).toBeLessThanOrEqual(m.step);
        for (const c of m.evaluation.cells) {
          expect(c.ci95[0]).toBeLessThanOrEqual(c.genPpl);
          expect(c.ci95[1]).toBeGreaterThanOrEqual(c.genPpl);
        }
      }
      expect(m.checkpoint).toMatch(/^run\/checkpoints\/step-\d{9}$/);
      expect(m.checkpoint.endsWith(String(m.step).padStart(9, '0'))).toBe(true);
      console.log(`${name}: ${checked} of 2 run records compared`);
    },
  );

  it("models/README.md's generated tables are those of the metrics files (run `node models/export.mjs` to refresh)", () => {
    const readme = readFileSync(join(MODELS, 'README.md'), 'utf8');
    const folders = readdirSync(MODELS, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(MODELS, d.name, 'config.json')))
      .map((d) => d.name)
      .sort(byBundledOrder)
      .filter((n) => existsSync(join(MODELS, n, 'metrics.json')));
    const baselinesFile = join(MODELS, 'baselines.json');
    const baselines = existsSync(baselinesFile)
      ? JSON.parse(readFileSync(baselinesFile, 'utf8'))
      : { untrained: [] };
    expect(currentGenerated(readme)).toBe(generated(folders.map(metricsOf), baselines));
  });

  it("models/README.md's hand-written notes are for the steps exported (a re-export must update them)", () => {
    const readme = readFileSync(join(MODELS, 'README.md'), 'utf8');
    const notes = /<!-- notes written for the export at steps: ([^(]*)\(/.exec(readme);
    expect(notes, 'the notes comment of models/README.md').not.toBeNull();
    const written = Object.fromEntries(
      (notes as RegExpExecArray)[1]
        .split(',')
        .map((p) => p.trim().split(' '))
        .map(([name, step]) => [name, Number(step)]),
    );
    const exported = Object.fromEntries(names.map((n) => [n, metricsOf(n).step]));
    expect(written).toEqual(exported);
  });
});
