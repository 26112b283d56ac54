/**
 * Range kernels: the cpu backend's elementwise and row loops, over items (elements or rows) start … end − 1 of
 * their arguments, run on the calling thread or split across the worker pool. Each kernel is a self-contained
 * function (no free variables: constants are literals or arguments), since the workers compile it from its source
 * text; the calling thread runs the same compiled text, so a kernel that captures a variable fails in every test,
 * threaded or not. Items are independent and each keeps its own order of operations, so a split result equals
 * the one-thread result bit for bit.
 */
import { cpuKernelLimits, cpuPoolThreads, runJob } from './pool';
import { isShared, toShared } from './storage';

// biome-ignore lint/suspicious/noExplicitAny: kernel arguments are typed arrays and numbers of any layout
type Args = Record<string, any>;

/** A loop over items start … end − 1 of `args` (see the module doc); fields named out… are its outputs. */
export interface RangeKernel<A extends Args> {
  readonly source: string;
  readonly run: (args: A, start: number, end: number) => void;
  /** Whether its source compiled here (else it runs inline only: the workers compile the same way). */
  readonly compiled: boolean;
}

/** A range kernel from its function (written in TS; must not use anything outside its own body). */
export function rangeKernel<A extends Args>(
  fn: (args: A, start: number, end: number) => void,
): RangeKernel<A> {
  return kernelOf(fn.toString(), fn);
}

/** A range kernel from source text (for families of kernels that differ in one expression). */
export function rangeKernelSource<A extends Args>(source: string): RangeKernel<A> {
  return kernelOf(source, undefined);
}

function kernelOf<A extends Args>(source: string, fn: RangeKernel<A>['run'] | undefined): RangeKernel<A> {
  let run: RangeKernel<A>['run'] | undefined;
  try {
    run = new Function(`return (${source});`)();
  } catch (error) {
    // no eval here (a strict content security policy): the function itself runs, inline only
    if (!fn) throw error;
  }
  return { source, run: run ?? (fn as RangeKernel<A>['run']), compiled: run !== undefined };
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
