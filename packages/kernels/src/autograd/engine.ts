/**
 * The one ownership model of Duality and the hooks the gradient tape needs, kept in one module-level engine:
 *
 * - `tidy(fn)` disposes every tensor created while `fn` runs, except what `fn` returns and what `keep(t)` marks
 *   (tfjs' model). Nested tidies release into their parent.
 * - While a gradient tape records, tensors the tape saved for backward are pinned: `dispose()` on them is deferred
 *   until backward ends, so a forward may free its temporaries as if no gradient were taken.
 * - Every tensor class of every backend calls `trackTensor` when made and `deferDispose` before freeing.
 */
import { ArgumentError } from '../errors';
import type { Tensor } from '../types';

interface TidyScope {
  readonly tensors: Set<Tensor>;
}

export interface PinRegistry {
  readonly pinned: Set<Tensor>;
  readonly deferred: Set<Tensor>;
}

const tidyStack: TidyScope[] = [];
const pinStack: PinRegistry[] = [];

/** Called by every tensor constructor: the innermost tidy scope owns the new tensor. */
export function trackTensor(t: Tensor): void {
  const scope = tidyStack[tidyStack.length - 1];
  if (scope) scope.tensors.add(t);
}

/** Called by every tensor's dispose(): true when a recording tape still needs it (freed when backward ends). */
export function deferDispose(t: Tensor): boolean {
  for (let i = pinStack.length - 1; i >= 0; i--) {
    const reg = pinStack[i];
    if (reg.pinned.has(t)) {
      reg.deferred.add(t);
      return true;
    }
  }
  return false;
}

/** Opens a pin registry (the tape's); returns it so the tape can add the tensors it saves. */
export function openPins(): PinRegistry {
  const reg: PinRegistry = { pinned: new Set(), deferred: new Set() };
  pinStack.push(reg);
  return reg;
}

/**
 * Closes a pin registry and frees every tensor whose dispose() was deferred by it — unless a registry still open
 * (an enclosing gradient scope) pinned it too: then that one's close frees it.
 */
export function closePins(reg: PinRegistry): void {
  const i = pinStack.lastIndexOf(reg);
  if (i >= 0) pinStack.splice(i, 1);
  reg.pinned.clear();
  const deferred = [...reg.deferred];
  reg.deferred.clear();
  for (const t of deferred) {
    const outer = pinStack.filter((r) => r.pinned.has(t)).pop();
    if (outer) outer.deferred.add(t);
    else t.dispose();
  }
}

/** Keeps `t` alive past the innermost enclosing tidy (it moves to no scope: the caller owns it). */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of tidyStack) scope.tensors.delete(t);
  return t;
}

/** Every tensor found in a value: a tensor, or arrays / plain objects / Maps of them. */
export function tensorsIn(value: unknown, out: Set<Tensor> = new Set()): Set<Tensor> {
  if (isTensor(value)) out.add(value);
  else if (Array.isArray(value)) for (const v of value) tensorsIn(v, out);
  else if (value instanceof Map) for (const v of value.values()) tensorsIn(v, out);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) tensorsIn(v, out);
  return out;
}

export function isTensor(value: unknown): value is Tensor {
  return (
    value !== null &&
    typeof value === 'object' &&
    'shape' in value &&
    'dtype' in value &&
    'backend' in value &&
    typeof (value as Tensor).dispose === 'function'
  );
}

function openTidy(): TidyScope {
  const scope: TidyScope = { tensors: new Set() };
  tidyStack.push(scope);
  return scope;
}

function closeTidy(scope: TidyScope, result: unknown): void {
  const i = tidyStack.lastIndexOf(scope);
  if (i >= 0) tidyStack.splice(i, 1);
  const survivors = tensorsIn(result);
  const parent = tidyStack[tidyStack.length - 1];
  for (const t of scope.tensors) {
    if (survivors.has(t)) parent?.tensors.add(t);
    else if (!t.disposed) t.dispose();
  }
}

/**
 * Runs `fn` and disposes every tensor it created that is not part of its result (tensors nested in arrays,
 * plain objects or Maps count) and not `keep`-ed. Synchronous: for async code use `tidyAsync`.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openTidy();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeTidy(scope, undefined);
    throw error;
  }
  if (result instanceof Promise) {
    closeTidy(scope, undefined);
    throw new ArgumentError(
      'tidy',
      'a function returning a Promise',
      'a synchronous function (use tidyAsync)',
    );
  }
  closeTidy(scope, result);
  return result;
}

/**
 * `tidy` for async functions run one at a time: tensors created by other tasks that interleave with `fn`'s
 * awaits would land in this scope too, so do not run two tidyAsync bodies concurrently on one thread.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = openTidy();
  try {
    const result = await fn();
    closeTidy(scope, result);
    return result;
  } catch (error) {
    closeTidy(scope, undefined);
    throw error;
  }
}

/** Disposes every tensor in a value (tensor, array, plain object, Map). */
export function dispose(value: unknown): void {
  for (const t of tensorsIn(value)) if (!t.disposed) t.dispose();
}
