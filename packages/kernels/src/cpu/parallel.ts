/**
 * Range kernels: the cpu backend's elementwise and row loops, over items (elements or rows) start … end − 1 of
 * their arguments, run on the calling thread or split across the worker pool. Each kernel is a self-contained
 * function (no free variables: constants are literals or arguments), or a loop template applied to such functions
 * (`apply`: the softmax loop to an exp, the binary loop to x + y), since the workers compile it from its source
 * text; the calling thread runs the same compiled text, so a kernel that captures a variable fails in every test,
 * threaded or not. Where code cannot be generated from strings (codegen.ts) the functions themselves run, on the
 * calling thread: the same arithmetic. Items are independent and each keeps its own order of operations, so a
 * split result equals the one-thread result bit for bit.
 */
import { codeGenerationAllowed } from './codegen';
import { cpuKernelLimits, cpuPoolThreads, runJob } from './pool';
import { isShared, toShared } from './storage';

// biome-ignore lint/suspicious/noExplicitAny: kernel arguments are typed arrays and numbers of any layout
type Args = Record<string, any>;

/** A loop over items start … end − 1 of `args` (see the module doc); fields named out… are its outputs. */
export type RangeLoop<A extends Args> = (args: A, start: number, end: number) => void;

export interface RangeKernel<A extends Args> {
  readonly source: string;
  readonly run: RangeLoop<A>;
  /** Whether its source compiled here (else it runs inline only: the workers compile the same way). */
  readonly compiled: boolean;
}

/**
 * A value with JavaScript source text that evaluates to an equal value in an empty scope: how a kernel built from
 * parts (a loop template and the element functions it calls) reaches the workers, and runs here unchanged where
 * code cannot be generated from strings (a strict Content-Security-Policy, `--disallow-code-generation-from-strings`).
 */
export interface Code<T> {
  readonly source: string;
  readonly value: T;
}

/** A self-contained function (no free variables) as Code: its own text. */
// biome-ignore lint/suspicious/noExplicitAny: any function
export function code<T extends (...args: any[]) => unknown>(fn: T): Code<T> {
  return { source: fn.toString(), value: fn };
}

/** A number, boolean or string as Code. */
export function literal<T extends number | boolean | string>(value: T): Code<T> {
  return { source: JSON.stringify(value), value };
}

/** `factory(...args)` as Code: called here, and the text `(factory)(args…)` for the workers. */
// biome-ignore lint/suspicious/noExplicitAny: the factory's arguments are the values of `args`
export function apply<R>(factory: (...args: any[]) => R, ...args: Code<unknown>[]): Code<R> {
  return {
    source: `(${factory.toString()})(${args.map((a) => a.source).join(', ')})`,
    value: factory(...args.map((a) => a.value)),
  };
}

/** A range kernel from its function (written in TS; must not use anything outside its own body). */
export function rangeKernel<A extends Args>(fn: RangeLoop<A>): RangeKernel<A> {
  return rangeKernelOf(code(fn));
}

/**
 * A range kernel from Code: compiled from its text when this context allows it (so the calling thread runs the
 * very code the workers run), else its value runs, inline only (the same arithmetic, so the same bits).
 */
export function rangeKernelOf<A extends Args>(kernel: Code<RangeLoop<A>>): RangeKernel<A> {
  // esbuild's keepNames (tsx, some bundlers) may wrap a function's inner named functions in __name(f, "f")
  const source = `(() => { const __name = (f) => f; return (${kernel.source}); })()`;
  if (!codeGenerationAllowed()) return { source, run: kernel.value, compiled: false };
  return { source, run: new Function(`return (${source});`)(), compiled: true };
}

/**
 * Runs `kernel` over items 0 … count − 1: inline when `work` (items × cost per item, ~1 unit ≈ 1 ns on one
 * core) is below `cpuKernelLimits.rangeParallelMinWork`, else as tasks of the worker pool. Arrays that are not
 * in shared memory are copied into it for the job (outputs, the out… fields, copied back after).
 */
export function runRange<A extends Args>(kernel: RangeKernel<A>, args: A, count: number, work: number): void {
  const threads = work >= cpuKernelLimits.rangeParallelMinWork && count > 1 ? cpuPoolThreads() : 1;
  if (threads > 1 && kernel.compiled && runShared(kernel, args, count, threads)) return;
  kernel.run(args, 0, count);
}

function runShared<A extends Args>(kernel: RangeKernel<A>, args: A, count: number, threads: number): boolean {
  const shared: Args = {};
  const copies: Array<[ArrayBufferView & { set(a: ArrayLike<number>): void }, ArrayLike<number>]> = [];
  for (const [key, value] of Object.entries(args)) {
    const copy = ArrayBuffer.isView(value) && !isShared(value as never) ? toShared(value as never) : value;
    if (copy !== value && key.startsWith('out')) copies.push([value, copy]);
    shared[key] = copy;
  }
  const tasks = Math.min(count, threads * cpuKernelLimits.rangeTasksPerThread);
  const chunk = Math.ceil(count / tasks);
  const job = {
    kind: 'js' as const,
    tasks: Math.ceil(count / chunk),
    source: kernel.source,
    args: shared,
    count,
    chunk,
  };
  if (!runJob(job, true)) return false;
  for (const [out, copy] of copies) out.set(copy);
  return true;
}
