/** Types of jobs.mjs (the evaluations of the reproduction report). */
export interface Job {
  id: string;
  part: string;
  /** Arguments of `pnpm duality` (`--json eval …`). */
  args: string[];
  /** Checkpoint directories the job reads. */
  needs: string[];
}
export declare const JUDGE: string;
export declare const TEACHER: string;
export declare const STUDENT: string;
export declare const MODELS: Readonly<Record<'mdlm' | 'udlm' | 'duo' | 'duo-efficient', string>>;
export declare const SEEDS: string;
export declare const BATCH: string;
export declare const LADDER: string;
export declare const FEW: string;
export declare const JOBS: readonly Job[];
export declare const SEED_STEPS: number;
export declare const SEED_RUNS: ReadonlyArray<{
  id: string;
  name: 'duo' | 'udlm';
  seed: number;
  /** The bundled config it copies (all but `seed`). */
  base: string;
  config: string;
  metrics: string;
  /** Arguments of `pnpm duality` (`train …`). */
  args: string[];
}>;
