/**
 * Reverse-mode differentiation in the style of JAX / tfjs: `valueAndGrad(fn)(params, ...rest)` runs `fn` with a
 * tape recording, then runs the tape backwards from its scalar (or any-shape: gradient of the sum) result and
 * returns the value and a tree of gradients shaped like `params`. Integer tensors get no gradient (undefined);
 * a float parameter the value does not depend on gets zeros.
 */
import { ArgumentError } from '../errors';
import type { Tensor } from '../types';
import { isTensor, tensorsIn } from './engine';
import { popTape, pushTape, Tape } from './tape';

/** A tree of tensors: a tensor, or arrays / plain objects of trees. */
export type TensorTree = Tensor | readonly TensorTree[] | { readonly [key: string]: TensorTree };

/** The same tree with each float tensor replaced by its gradient (undefined for integer tensors). */
export type GradTree<T> = T extends Tensor
  ? Tensor
  : T extends readonly unknown[]
    ? { [K in keyof T]: GradTree<T[K]> }
    : T extends object
      ? { [K in keyof T]: GradTree<T[K]> }
      : never;

export type ValueAndGrad<P, R extends unknown[]> = (
  params: P,
  ...rest: R
) => Promise<{ value: Tensor; grads: GradTree<P> }>;

export interface GradOptions {
  /** `fn` returns [value, aux]: aux is passed through untouched (`valueAndGrad` then returns it as `aux`). */
  hasAux?: boolean;
}

/**
 * `fn(params, ...rest)` → value tensor (or [value, aux] with `hasAux`), sync or async. Tensors created by `fn`
 * stay the caller's to free (use `tidy` inside it); what the tape saved is freed when backward ends.
 */
export function valueAndGrad<P extends TensorTree, R extends unknown[]>(
  fn: (params: P, ...rest: R) => Tensor | Promise<Tensor>,
): ValueAndGrad<P, R>;
export function valueAndGrad<P extends TensorTree, R extends unknown[], X>(
  fn: (params: P, ...rest: R) => [Tensor, X] | Promise<[Tensor, X]>,
  options: { hasAux: true },
): (params: P, ...rest: R) => Promise<{ value: Tensor; grads: GradTree<P>; aux: X }>;
export function valueAndGrad(
  fn: (params: TensorTree, ...rest: unknown[]) => unknown,
  options: GradOptions = {},
): (params: TensorTree, ...rest: unknown[]) => Promise<{ value: Tensor; grads: unknown; aux?: unknown }> {
  return async (params, ...rest) => {
    mapTree(params, (p) => p); // refuse a malformed tree before any work
    const leaves = [...tensorsIn(params)];
    const tape = new Tape();
    for (const p of leaves) if (p.dtype === 'f32' || p.dtype === 'f64') tape.track(p);
    pushTape(tape);
    let result: unknown;
    try {
      result = await fn(params, ...rest);
    } catch (error) {
      popTape(tape);
      tape.close();
      throw error;
    }
    popTape(tape);
    let done = false;
    try {
      const [value, aux] = options.hasAux ? (result as [unknown, unknown]) : [result, undefined];
      if (!isTensor(value) || (value.dtype !== 'f32' && value.dtype !== 'f64'))
        throw new ArgumentError('valueAndGrad', describe(value), 'fn to return a float tensor (the value)');
      const seed = value.backend.full(value.shape, 1, value.dtype);
      const grads = tape.backward(new Map([[value, seed]]));
      // a tensor at several places of the tree gets its (whole) gradient at each: copies after the first
      const given = new Set<Tensor>();
      const out = mapTree(params, (p) => {
        if (p.dtype !== 'f32' && p.dtype !== 'f64') return undefined;
        const g = grads.get(p);
        if (given.has(p)) return g ? p.backend.scale(g, 1) : p.backend.zeros(p.shape, p.dtype);
        given.add(p);
        return g ?? p.backend.zeros(p.shape, p.dtype);
      });
      for (const p of given) grads.delete(p);
      for (const g of grads.values()) if (!g.disposed) g.dispose();
      done = true;
      return options.hasAux ? { value, grads: out, aux } : { value, grads: out };
    } finally {
      tape.close();
      // on error the caller never receives fn's result: free it (but never a parameter it handed back)
      if (!done) for (const t of tensorsIn(result)) if (!leaves.includes(t) && !t.disposed) t.dispose();
    }
  };
}

/** The gradient tree alone (the value is freed). */
export function grad<P extends TensorTree, R extends unknown[]>(
  fn: (params: P, ...rest: R) => Tensor | Promise<Tensor>,
): (params: P, ...rest: R) => Promise<GradTree<P>> {
  const vg = valueAndGrad(fn as (params: TensorTree, ...rest: unknown[]) => Tensor) as unknown as (
    params: unknown,
    ...rest: unknown[]
  ) => Promise<{ value: Tensor; grads: unknown }>;
  return async (params, ...rest) => {
    const { value, grads } = await vg(params, ...rest);
    if (!tensorsIn(params).has(value)) value.dispose(); // fn may return a parameter itself
    return grads as never;
  };
}

function mapTree(tree: unknown, f: (t: Tensor) => Tensor | undefined): unknown {
  if (isTensor(tree)) return f(tree);
  if (Array.isArray(tree)) return tree.map((v) => mapTree(v, f));
  if (tree !== null && typeof tree === 'object')
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, mapTree(v, f)]));
  throw new ArgumentError('valueAndGrad', `a parameter leaf ${describe(tree)}`, 'a tree of tensors');
}

function describe(v: unknown): string {
  if (isTensor(v)) return `a ${v.dtype} tensor`;
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
