/** Types of bench/lib/args.mjs (a plain module, so bench/run.mjs can use it without tsx). */
export interface BenchArgs {
  quick: boolean;
  rounds: number | undefined;
  case: string | undefined;
  config: string | undefined;
  backend: 'cpu' | 'webgpu' | undefined;
  budget: number | undefined;
  json: boolean;
  noAnchor: boolean;
  noProfile: boolean;
  child: boolean;
  positionals: string[];
  flags: string[];
}
export declare const BENCH_OPTIONS: Record<string, { type: 'boolean' | 'string'; default?: boolean }>;
export declare function usageError(prog: string, message: string): never;
export declare function oneOf<T extends string>(
  prog: string,
  name: string,
  value: string,
  allowed: readonly T[],
): T;
export declare function positiveInteger(
  prog: string,
  name: string,
  value: string | undefined,
): number | undefined;
export declare function positiveNumber(
  prog: string,
  name: string,
  value: string | undefined,
): number | undefined;
export declare function parseBenchArgs(prog: string, argv?: string[]): BenchArgs;
