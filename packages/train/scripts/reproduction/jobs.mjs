/**
 * The evaluations of the reproduction report (docs/reproduction.md), each one `duality eval` command over the
 * bundled runs' final checkpoints (read only). Shared: the AR run as the judge, 3 seeds (0, 1, 2) × 8 sequences
 * of 64 characters per cell, 1000 bootstrap resamples, Duo's greedy tail as the final move.
 */

const ckpt = (name, step) => `models/${name}/run/checkpoints/step-${String(step).padStart(9, '0')}`;

export const JUDGE = ckpt('ar-brown8', 2000);
export const TEACHER = ckpt('duo-brown8', 2000);
export const STUDENT = ckpt('duo-dcd-brown8', 1000);
/** The models of part (a), by their bundled names. */
export const MODELS = {
  mdlm: ckpt('mdlm-brown8', 2000),
  udlm: ckpt('udlm-brown8', 2000),
  duo: TEACHER,
  'duo-efficient': ckpt('duo-efficient-brown8', 2000),
};
export const SEEDS = '0,1,2';
export const BATCH = '8';
/** The sampling ladder of parts (b) and (c): 8 … 1024 steps. */
export const LADDER = '8,16,32,64,128,256,512,1024';
/** The student's few-step counts (part b). */
export const FEW = '1,2,4,8,16,32';

const common = ['--judge', JUDGE, '--seeds', SEEDS, '--batch', BATCH, '--noise-removal', 'greedy'];

/** @type {Array<{ id: string, part: string, args: string[], needs: string[] }>} */
export const JOBS = [
  // (a) the whole validation split (more batches than it holds = all of it), each window's NELBO kept for
  // paired bootstraps; the judge's validation comes with each; gen-PPL at 8 and 64 steps besides
  ...Object.entries(MODELS).map(([name, dir]) => ({
    id: `a-${name}`,
    part: 'a',
    args: ['--json', 'eval', dir, ...common, '--steps', '8,64'].concat([
      '--validation',
      '--validation-batches',
      '100000',
      '--validation-windows',
    ]),
    needs: [dir, JUDGE],
  })),
  // (b) the DCD student at few steps; its teacher's ladder is c-ancestral
  {
    id: 'b-student',
    part: 'b',
    args: ['--json', 'eval', STUDENT, ...common, '--steps', FEW],
    needs: [STUDENT, JUDGE],
  },
  // (b) the teacher at the student's few step counts (its 8 … 1024 steps are c-ancestral)
  {
    id: 'b-teacher-few',
    part: 'b',
    args: ['--json', 'eval', TEACHER, ...common, '--steps', '1,2,4'],
    needs: [TEACHER, JUDGE],
  },
  // (b) and (c): the teacher (the trained Duo model) with ancestral sampling, then two Ψ samplers
  {
    id: 'c-ancestral',
    part: 'bc',
    args: ['--json', 'eval', TEACHER, ...common, '--steps', LADDER],
    needs: [TEACHER, JUDGE],
  },
  {
    id: 'c-psi-capped',
    part: 'c',
    args: [
      '--json',
      'eval',
      TEACHER,
      ...common,
      '--steps',
      LADDER,
      '--sampler',
      'psi',
      '--kappa',
      'max-capped-0.05',
    ],
    needs: [TEACHER, JUDGE],
  },
  {
    id: 'c-psi-plan',
    part: 'c',
    args: ['--json', 'eval', TEACHER, ...common, '--steps', LADDER, '--sampler', 'psi'].concat([
      '--kappa',
      'pure-posterior,constant-0.5,pure-posterior',
      '--phases',
      '0.2,0.6',
    ]),
    needs: [TEACHER, JUDGE],
  },
];

/**
 * Part (a)'s seed study: Duo (curriculum) and UDLM retrained with two more seeds for their first SEED_STEPS
 * steps (the bundled configs with only `seed` changed, stopped with --until, so the schedule is the 2000-step
 * run's), to see whether the curriculum's head start holds over seeds. Checkpoints go outside the repository;
 * each run's metrics.jsonl is kept in docs/reproduction/seeds/. ≈ 4 × 2.5 min on the 2-core machine alone
 * (4 × 10 min under the load of the evaluations and other runs).
 */
export const SEED_STEPS = 500;
export const SEED_RUNS = ['duo', 'udlm'].flatMap((name) =>
  [2, 3].map((seed) => ({
    id: `${name}-seed${seed}`,
    name,
    seed,
    base: `models/${name}-brown8/config.json`,
    config: `docs/reproduction/seeds/${name}-seed${seed}.json`,
    metrics: `docs/reproduction/seeds/${name}-seed${seed}.metrics.jsonl`,
    args: ['train', '-c', `docs/reproduction/seeds/${name}-seed${seed}.json`].concat([
      '-o',
      `/tmp/duality-reproduction/${name}-seed${seed}`,
      '--until',
      String(SEED_STEPS),
    ]),
  })),
);
