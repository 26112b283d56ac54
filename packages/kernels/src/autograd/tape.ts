/**
 * The gradient tape: while a `valueAndGrad` scope runs, every differentiable op whose inputs include a tracked
 * tensor appends one node (its rule, its arguments, its outputs) and pins the tensors its backward needs. Ops run
 * outside a scope record nothing (one module-level check), and ops called from inside another op's kernel or
 * backward rule record nothing either (a depth counter), so a fused op is one node however it is built.
 */
import { KernelError } from '../errors';
import type { Backend, Tensor } from '../types';
import { closePins, openPins } from './engine';

/** Context a backward rule gets: the op's original arguments and its output(s). */
export interface GradientContext<A extends readonly unknown[] = readonly unknown[], O = Tensor> {
  readonly backend: Backend;
  readonly args: A;
  readonly output: O;
}

/**
 * How an op differentiates. `inputs` lists, by position, the tensors a gradient can flow to (undefined for
 * absent optional inputs); `backward` returns one gradient per listed input (undefined = none), each of that
 * input's shape. `save` names the tensors backward reads (default: the listed inputs and the outputs): only
 * those are kept alive until backward ends.
 */
export interface GradientRule<A extends readonly unknown[] = readonly unknown[], O = Tensor> {
  inputs(args: A): ReadonlyArray<Tensor | undefined>;
  save?(args: A, output: O): ReadonlyArray<Tensor | undefined>;
  /** `gy` has the output's shape (for multi-output ops: one per output, undefined where no gradient arrived). */
  backward(
    gy: O extends Tensor ? Tensor : Array<Tensor | undefined>,
    ctx: GradientContext<A, O>,
  ): ReadonlyArray<Tensor | undefined>;
}

interface TapeNode {
  readonly name: string;
  readonly rule: GradientRule<readonly unknown[], unknown>;
  readonly args: readonly unknown[];
  readonly inputs: ReadonlyArray<Tensor | undefined>;
  readonly outputs: readonly Tensor[];
  readonly multi: boolean;
  readonly output: unknown;
  readonly backend: Backend;
}

/** Raised when a backward rule breaks its contract (a gradient of the wrong shape): a bug in the rule. */
export class GradientRuleError extends KernelError {
  constructor(op: string, got: string, expected: string) {
    super(op, got, expected);
    this.name = 'GradientRuleError';
  }
}

export class Tape {
  readonly nodes: TapeNode[] = [];
  readonly tracked = new Set<Tensor>();
  readonly pins = openPins();

  track(t: Tensor): void {
    this.tracked.add(t);
  }

  record(
    name: string,
    rule: GradientRule<readonly unknown[], unknown>,
    args: readonly unknown[],
    output: unknown,
  ): void {
    const inputs = rule.inputs(args);
    if (!inputs.some((t) => t !== undefined && this.tracked.has(t))) return;
    const outputs = Array.isArray(output) ? (output as Tensor[]) : [output as Tensor];
    const backend = outputs[0].backend;
    for (const o of outputs) if (isFloat(o)) this.tracked.add(o);
    const saved = rule.save ? rule.save(args, output) : [...inputs, ...outputs];
    for (const t of saved) if (t) this.pins.pinned.add(t);
    this.nodes.push({ name, rule, args, inputs, outputs, multi: Array.isArray(output), output, backend });
  }

  /**
   * Reverse pass from `seeds` (tensor → its incoming gradient); returns the accumulated gradient of every tracked
   * tensor that received one. Gradients of intermediates are freed as soon as their node has run; if a rule
   * throws, every gradient made so far is freed before the error propagates.
   */
  backward(seeds: Map<Tensor, Tensor>): Map<Tensor, Tensor> {
    const grads = new Map(seeds);
    depth++;
    try {
      for (let n = this.nodes.length - 1; n >= 0; n--) this.step(this.nodes[n], grads);
      return grads;
    } catch (error) {
      for (const g of grads.values()) if (!g.disposed) g.dispose();
      grads.clear();
      throw error;
    } finally {
      depth--;
    }
  }

  /**
   * Runs one node's rule and moves its input gradients into `grads`; frees what no slot took. The incoming
   * gradient (this node's alone once taken from `grads`) may go to the first slot a rule hands it to; further
   * slots holding the same tensor get copies, so each slot owns its tensor.
   */
  private step(node: TapeNode, grads: Map<Tensor, Tensor>): void {
    const gys = node.outputs.map((o) => grads.get(o));
    if (gys.every((g) => g === undefined)) return;
    for (const o of node.outputs) grads.delete(o);
    const incoming = gys.filter((g): g is Tensor => g !== undefined);
    const owned = new Set<Tensor>(); // tensors given to one slot (copies included)
    const stored = new Set<Tensor>(); // tensors now held by `grads`
    let inGrads: ReadonlyArray<Tensor | undefined> = [];
    try {
      const ctx = { backend: node.backend, args: node.args, output: node.output };
      inGrads = node.rule.backward((node.multi ? gys : gys[0]) as never, ctx);
      const slots: Array<[Tensor, Tensor]> = [];
      node.inputs.forEach((input, i) => {
        let g = inGrads[i];
        if (!g || !input || !this.tracked.has(input)) return;
        checkGradShape(node.name, i, input, g);
        if (owned.has(g)) g = node.backend.scale(g, 1);
        owned.add(g);
        slots.push([input, g]);
      });
      // accumulate only once every copy exists (accumulating frees a slot's tensor another slot may share)
      for (const [input, g] of slots) {
        const prev = grads.get(input);
        const sum = prev ? node.backend.add(prev, g) : g;
        if (prev) {
          prev.dispose();
          g.dispose();
        }
        grads.set(input, sum);
        stored.add(sum);
      }
    } finally {
      // what no slot kept: unused incoming gradients, gradients for untracked inputs, copies left by an error
      for (const g of [...incoming, ...inGrads, ...owned])
        if (g && !g.disposed && !stored.has(g)) g.dispose();
    }
  }

  /** Frees what the tape kept for backward (and every tensor whose dispose() it deferred). */
  close(): void {
    closePins(this.pins);
    this.nodes.length = 0;
  }
}

function isFloat(t: Tensor): boolean {
  return t.dtype === 'f32' || t.dtype === 'f64';
}

function checkGradShape(op: string, i: number, input: Tensor, g: Tensor): void {
  const same = g.shape.length === input.shape.length && g.shape.every((d, k) => d === input.shape[k]);
  if (!same || g.dtype !== input.dtype)
    throw new GradientRuleError(
      `${op} backward`,
      `gradient ${i} of shape [${g.shape.join(', ')}] ${g.dtype}`,
      `[${input.shape.join(', ')}] ${input.dtype} like the input`,
    );
}

const tapes: Tape[] = [];
let depth = 0;

/** The tape that records now (undefined outside gradient scopes, inside kernels and inside backward). */
export function activeTape(): Tape | undefined {
  return depth === 0 ? tapes[tapes.length - 1] : undefined;
}

export function pushTape(t: Tape): void {
  tapes.push(t);
}

export function popTape(t: Tape): void {
  const i = tapes.lastIndexOf(t);
  if (i >= 0) tapes.splice(i, 1);
}

/** Runs an op's kernel with recording suspended (ops it calls are part of it, not nodes of their own). */
export function untaped<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/**
 * Runs `fn` (an op's kernel) untaped and records its result as one node on every open tape whose tracked
 * tensors it touches: a nested scope's forward ops are seen by the outer scope too (its value can feed the
 * outer loss), while backward passes run at depth > 0 and are seen by none (no higher-order gradients).
 */
export function runRecorded<A extends readonly unknown[], O>(
  name: string,
  rule: GradientRule<A, O> | undefined,
  args: A,
  kernel: () => O,
): O {
  const open = rule && depth === 0 && tapes.length > 0 ? tapes.slice() : undefined;
  const out = untaped(kernel);
  if (open)
    for (const tape of open) tape.record(name, rule as GradientRule<readonly unknown[], unknown>, args, out);
  return out;
}

/** Whether an op called now would be recorded (a gradient scope is open and no kernel is running). */
export function isRecording(): boolean {
  return activeTape() !== undefined;
}
