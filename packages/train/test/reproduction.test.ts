/**
 * The reproduction report (docs/reproduction.md) against the pipeline that made it: `evaluate` on the bundled
 * DCD student's checkpoint reproduces, number for number, the report's row "student at 1 step" (the same JSON the
 * report's tables are generated from); results.json is what the stored evaluations, metrics and bench files give
 * now; and docs/reproduction.md holds exactly the tables generated from it. A change of the pipeline's numbers, a
 * stale report or a hand-edited table fails here (then: `node packages/train/scripts/reproduction/run.mjs`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCH, JOBS, JUDGE, SEEDS, STUDENT } from '../scripts/reproduction/jobs.mjs';
import {
  buildResults,
  generatedBlocks,
  OUT,
  REPO,
  REPORT,
  type Results,
} from '../scripts/reproduction/report';
import { type EvaluationReport, evaluate } from '../src/index';

const resultsPath = join(OUT, 'results.json');
const stored = JSON.parse(readFileSync(resultsPath, 'utf8')) as Results;
const withoutTime = <T extends { secondsPerSeed?: number; seconds?: number }>(x: T) => {
  const { secondsPerSeed: _, seconds: __, example: ___, ...rest } = x as T & { example?: string };
  return rest;
};

describe('the reproduction report', () => {
  it('evaluate reproduces the row "DCD student, 1 step" from its checkpoint exactly (fixed seeds)', async () => {
    const row = stored.testRow;
    expect(row, 'results.json has no test row: run the reproduction script').toBeDefined();
    if (!row) return;
    for (const dir of [row.model, row.judge])
      expect(existsSync(join(REPO, dir, 'state.json')), `${dir} is not in the repository`).toBe(true);
    const job = JOBS.find((j) => j.id === row.job);
    // the command the row came from: these options, 1 step of its step list
    expect(job?.args).toEqual(
      expect.arrayContaining(['--seeds', SEEDS, '--batch', BATCH, '--noise-removal', 'greedy']),
    );
    expect([row.model, row.judge]).toEqual([STUDENT, JUDGE]);
    const report = await evaluate({
      model: join(REPO, row.model),
      judge: join(REPO, row.judge),
      sampler: { kind: 'ancestral', noiseRemoval: 'greedy' },
      steps: [row.steps],
      seeds: SEEDS.split(',').map(Number),
      batch: Number(BATCH),
      length: 64,
      bootstrapResamples: 1000,
    });
    expect(withoutTime(report.summary[0])).toEqual(withoutTime(row.summary));
    // and seed by seed, as the stored run's rows
    const run = JSON.parse(readFileSync(join(OUT, 'runs', `${row.job}.json`), 'utf8')) as {
      report: EvaluationReport;
    };
    const storedRows = run.report.rows.filter((r) => r.steps === row.steps).map(withoutTime);
    expect(report.rows.map(withoutTime)).toEqual(storedRows);
    expect(report.rows.map((r) => r.example)).toEqual(
      run.report.rows.filter((r) => r.steps === row.steps).map((r) => r.example),
    );
  }, 120_000);

  it('results.json is what the stored evaluations, the runs’ metrics and the bench results give now', () => {
    expect(JSON.parse(JSON.stringify(buildResults()))).toEqual(stored);
  });

  it('docs/reproduction.md holds the tables generated from results.json', () => {
    const md = readFileSync(REPORT, 'utf8');
    for (const [name, block] of Object.entries(generatedBlocks(stored)))
      expect(md.includes(block), `the generated block "${name}" of docs/reproduction.md is stale`).toBe(true);
  });
});
