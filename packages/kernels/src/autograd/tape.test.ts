/**
 * Laws of the tape and of the ownership model: inference records nothing, integer inputs get no gradient,
 * repeated uses accumulate, fused ops are one node, every tensor a gradient scope made is freed when backward
 * ends (except the value and the gradients), errors leave no open tape, nested scopes, tidy/keep/tidyAsync.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCpuBackend } from '../cpu/backend';
import { ArgumentError } from '../errors';
import { defineOp } from '../ops/define';
import type { Backend, Tensor } from '../types';
import { dispose, isTensor, keep, tensorsIn, tidy, tidyAsync } from './engine';
import { grad, valueAndGrad } from './grad';
import { GradientRuleError, isRecording, Tape } from './tape';

const b = createCpuBackend({ threads: 0 });
const t64 = (data: number[], shape = [data.length]) => b.tensor(data, shape, 'f64');
const read = async (t: Tensor) => [...(await t.read())];

afterEach(() => {
  vi.restoreAllMocks();
});
const originalRecord = Tape.prototype.record;
/** Names of the nodes the tapes append from now on (until mocks are restored). */
function recordedNames(): string[] {
  const names: string[] = [];
  vi.spyOn(Tape.prototype, 'record').mockImplementation(function (this: Tape, ...a) {
    const before = this.nodes.length;
    originalRecord.apply(this, a);
    if (this.nodes.length > before) names.push(a[0]);
  });
  return names;
}

/**
 * Every tensor any method of `backend` returns while `fn` runs (kernels, backward rules and the tape all create
 * tensors through backend methods or defineOp kernels, whose outputs come from `zeros`).
 */
async function creations<T>(backend: Backend, fn: () => Promise<T>): Promise<{ result: T; made: Tensor[] }> {
  const made: Tensor[] = [];
  const target = backend as unknown as Record<string, unknown>;
  const names = new Set<string>();
  for (let o: object | null = backend; o && o !== Object.prototype; o = Object.getPrototypeOf(o))
    for (const k of Object.getOwnPropertyNames(o))
      if (k !== 'constructor' && typeof target[k] === 'function') names.add(k);
  const originals = new Map<string, unknown>();
  for (const k of names) {
    const own = Object.getOwnPropertyDescriptor(backend, k);
    originals.set(k, own);
    const f = target[k] as (...a: unknown[]) => unknown;
    Object.defineProperty(backend, k, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) => {
        const out = f.apply(backend, args);
        for (const t of tensorsIn(out)) made.push(t);
        return out;
      },
    });
  }
  try {
    return { result: await fn(), made };
  } finally {
    for (const [k, own] of originals) {
      if (own) Object.defineProperty(backend, k, own as PropertyDescriptor);
      else delete target[k];
    }
  }
}

/** A fused op x ↦ Σ exp(x)·x over the last axis whose cpu kernel is built from backend ops. */
const fused = defineOp({
  name: 'fusedExpDot',
  cpu: (ctx, x: Tensor) => {
    const e = ctx.backend.exp(x);
    const p = ctx.backend.mul(e, x);
    const s = ctx.backend.sum(p);
    e.dispose();
    p.dispose();
    return s;
  },
  gradient: {
    inputs: ([x]) => [x],
    backward: (gy: Tensor, { backend, args: [x] }) => {
      // d/dx Σ eˣx = eˣ(1 + x)
      const e = backend.exp(x);
      const x1 = backend.scale(x, 1, 1);
      const d = backend.mul(e, x1);
      const g1 = backend.reshape(gy, [...gy.shape, 1]);
      const g = backend.mul(d, g1);
      for (const t of [e, x1, d, g1]) t.dispose();
      return [g];
    },
  },
});

describe('recording', () => {
  it('records nothing outside a gradient scope (inference pays nothing)', async () => {
    const record = vi.spyOn(Tape.prototype, 'record');
    const x = t64([1, 2, 3]);
    const y = tidy(() => b.sum(b.mul(b.exp(x), fused(b.reshape(x, [3, 1])))));
    expect(record).not.toHaveBeenCalled();
    expect(isRecording()).toBe(false);
    const { value, grads } = await valueAndGrad((p: Tensor) => b.sum(b.exp(p)))(x);
    expect(record).toHaveBeenCalledTimes(2);
    record.mockClear();
    dispose([y, b.exp(x), value, grads]);
    expect(record).not.toHaveBeenCalled();
  });

  it('records a node only for ops that touch a tracked tensor', async () => {
    const nodes = recordedNames();
    const x = t64([1, 2]);
    const c = t64([3, 4]);
    const { value, grads } = await valueAndGrad((p: Tensor) =>
      tidy(() => {
        const k = b.exp(c); // a constant: not on the tape
        return b.sum(b.mul(p, k));
      }),
    )(x);
    expect(nodes).toEqual(['mul', 'sum']);
    expect(await read(grads)).toEqual((await read(c)).map(Math.exp));
    dispose([x, c, value, grads]);
  });

  it('an op built from other ops inside its kernel or backward is one node', async () => {
    const names = recordedNames();
    const x = t64([0.5, -1, 2, 0.1], [2, 2]);
    const { value, grads } = await valueAndGrad((p: Tensor) => b.sum(fused(p)))(x);
    expect(names).toEqual(['fusedExpDot', 'sum']);
    const xs = await read(x);
    expect(await read(grads)).toEqual(xs.map((v) => Math.exp(v) * (1 + v)));
    dispose([x, value, grads]);
  });

  it('integer inputs get no gradient and are not tracked; float leaves the value ignores get zeros', async () => {
    const table = t64([1, 2, 3, 4, 5, 6], [3, 2]);
    const ids = b.tensor([2, 0, 2], [3], 'i32');
    const unused = t64([7, 8]);
    const tracked: Tensor[][] = [];
    vi.spyOn(Tape.prototype, 'track').mockImplementation(function (this: Tape, t) {
      tracked.push([t]);
      this.tracked.add(t);
    });
    const { value, grads } = await valueAndGrad((p: { table: Tensor; ids: Tensor; unused: Tensor }) =>
      tidy(() => b.sum(b.reshape(b.embedding(p.table, p.ids), [6]))),
    )({ table, ids, unused });
    expect(grads.ids).toBeUndefined();
    expect(tracked.flat()).not.toContain(ids);
    expect(await read(grads.table)).toEqual([1, 1, 0, 0, 2, 2]);
    expect(await read(grads.unused)).toEqual([0, 0]);
    dispose([table, ids, unused, value, grads]);
  });

  it('a parameter used several times accumulates every use', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 6 }),
        async (xs) => {
          const x = t64(xs);
          // L = Σ (x·x + x + x + 2·exp(x)): dL/dx = 2x + 2 + 2eˣ (mul(x, x), add(x, x), two uses of exp's output)
          const { value, grads } = await valueAndGrad((p: Tensor) =>
            tidy(() => {
              const e = b.exp(p);
              return b.sum(b.add(b.add(b.mul(p, p), b.add(p, p)), b.add(e, e)));
            }),
          )(x);
          const g = await read(grads);
          for (const [i, v] of xs.entries()) expect(g[i]).toBeCloseTo(2 * v + 2 + 2 * Math.exp(v), 12);
          dispose([x, value, grads]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('a rule may return one tensor for several inputs, even when one already holds a gradient', async () => {
    const pair = defineOp({
      name: 'addPair',
      cpu: (ctx, a: Tensor, c: Tensor) => ctx.backend.add(a, c),
      gradient: {
        inputs: ([a, c]) => [a, c],
        backward: (gy: Tensor, { backend }) => {
          const g = backend.scale(gy, 1);
          return [g, g];
        },
      },
    });
    const x = t64([1, 2]);
    const y = t64([3, 4]);
    const k = t64([5, 7]);
    // L = Σ (x + y) + Σ x·k: the later mul gives x a gradient before addPair's backward runs
    const { value, grads } = await valueAndGrad((p: { x: Tensor; y: Tensor }) =>
      tidy(() => b.sum(b.add(pair(p.x, p.y), b.mul(p.x, k)))),
    )({ x, y });
    expect(await read(grads.x)).toEqual([6, 8]);
    expect(await read(grads.y)).toEqual([1, 1]);
    dispose([x, y, k, value, grads]);
  });

  it('a tensor appearing twice in the parameter tree gets the (whole) gradient at both places', async () => {
    const w = t64([1, 2]);
    const { value, grads } = await valueAndGrad((p: { a: Tensor; b: Tensor }) => b.sum(b.mul(p.a, p.a)))({
      a: w,
      b: w,
    });
    expect(await read(grads.a)).toEqual([2, 4]);
    expect(await read(grads.b)).toEqual([2, 4]);
    expect(grads.a).not.toBe(grads.b);
    dispose([w, value, grads]);
  });
});

describe('ownership under a tape', () => {
  it('frees every tensor made in the scope (saved ones once backward ends) except the value and the grads', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        async (m, n, useTidy) => {
          const x = b.tensor(
            Float64Array.from({ length: m * n }, (_, i) => Math.sin(i)),
            [m, n],
            'f64',
          );
          const w = b.tensor(
            Float64Array.from({ length: n }, (_, i) => Math.cos(i)),
            [n],
            'f64',
          );
          const ids = b.tensor(
            Int32Array.from({ length: m }, (_, i) => i % n),
            [m],
            'i32',
          );
          // by hand: each temporary is disposed right after its last use, as a forward would (saved ones wait)
          const body = (p: { x: Tensor; w: Tensor }, manual: boolean) => {
            const free = (...ts: Tensor[]) => {
              if (manual) for (const t of ts) t.dispose();
            };
            const h = b.layerNorm(p.x, p.w);
            const wcol = b.reshape(p.w, [n, 1]);
            const mm = b.matmul(h, wcol);
            const gl = b.geluTanh(mm);
            const s = b.softmax(gl);
            const ls = b.logSoftmax(h);
            const y = b.add(ls, s);
            const e = b.exp(h);
            const gat = b.gatherLast(e, ids);
            free(wcol, mm, gl, s, ls, e, h);
            const yy = b.mul(y, y);
            const flat = b.reshape(yy, [m * n]);
            const tot = b.sum(flat);
            const sg = b.sum(gat);
            free(y, yy, flat, gat);
            const out = b.add(tot, sg);
            free(tot, sg);
            return out;
          };
          const fn = (p: { x: Tensor; w: Tensor }) => (useTidy ? tidy(() => body(p, false)) : body(p, true));
          const { result, made } = await creations(b, () => valueAndGrad(fn)({ x, w }));
          const keepSet = new Set<Tensor>([result.value, result.grads.x, result.grads.w, x, w, ids]);
          const alive = made.filter((t) => !keepSet.has(t) && !t.disposed);
          expect(alive.map((t) => `[${t.shape}] ${t.dtype}`)).toEqual([]);
          expect(made.length).toBeGreaterThan(10);
          dispose([x, w, ids, result.value, result.grads]);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('an error thrown inside fn closes the tape and frees what it pinned', async () => {
    const record = vi.spyOn(Tape.prototype, 'record');
    const x = t64([1, 2]);
    let saved: Tensor | undefined;
    await expect(
      valueAndGrad(async (p: Tensor) => {
        saved = b.exp(p);
        const s = b.sum(saved);
        saved.dispose(); // deferred: exp saved its output
        expect(saved.disposed).toBe(false);
        s.dispose();
        await Promise.resolve();
        throw new Error('boom');
      })(x),
    ).rejects.toThrow('boom');
    expect(saved?.disposed).toBe(true);
    expect(isRecording()).toBe(false);
    record.mockClear();
    b.exp(x).dispose();
    expect(record).not.toHaveBeenCalled();
    x.dispose();
  });

  it('an error in a backward rule closes the tape and frees every gradient made so far', async () => {
    const broken = defineOp({
      name: 'brokenGrad',
      cpu: (ctx, x: Tensor) => ctx.backend.scale(x, 2),
      gradient: {
        inputs: ([x]) => [x],
        backward: (gy: Tensor, { backend }) => [backend.reshape(gy, [gy.size, 1])], // wrong shape
      },
    });
    const x = t64([1, 2, 3]);
    const { result, made } = await creations(b, async () => {
      try {
        await valueAndGrad((p: Tensor) => tidy(() => b.sum(b.exp(broken(b.mul(p, p))))))(x);
        return undefined;
      } catch (error) {
        return error;
      }
    });
    expect(result).toBeInstanceOf(GradientRuleError);
    expect(isRecording()).toBe(false);
    expect(made.filter((t) => t !== x && !t.disposed).map((t) => `[${t.shape}]`)).toEqual([]);
    x.dispose();
  });

  it('a value that is not a float tensor is refused and freed; grad never frees a parameter fn returns', async () => {
    const x = t64([1, 2]);
    let made: Tensor | undefined;
    await expect(
      valueAndGrad((p: Tensor) => {
        made = b.cast(p, 'i32');
        return made;
      })(x),
    ).rejects.toThrow(ArgumentError);
    expect(made?.disposed).toBe(true);
    const g = await grad((p: Tensor) => p)(x);
    expect(x.disposed).toBe(false);
    expect(await read(g)).toEqual([1, 1]);
    dispose([x, g]);
  });

  it('refuses a parameter tree with a non-tensor leaf before running fn', async () => {
    const fn = vi.fn((p: { w: Tensor }) => b.sum(p.w));
    const w = t64([1]);
    await expect(valueAndGrad(fn)({ w, lr: 3 } as unknown as { w: Tensor })).rejects.toThrow(ArgumentError);
    expect(fn).not.toHaveBeenCalled();
    w.dispose();
  });
});

describe('nested gradient scopes', () => {
  it('the inner scope differentiates its own fn; the outer sees the inner forward ops but not its backward', async () => {
    // outer: L(x) = (Σ x)·v + Σ g, where (v, g) = valueAndGrad(w ↦ Σ w·x²)(w): v = Σ w·x² depends on x; the
    // inner gradient g = x² is made by the inner backward, a constant to the outer tape. So
    // dL/dxᵢ = v + (Σ x)·2wᵢxᵢ, and g contributes nothing.
    const x = t64([0.5, -1, 2]);
    const w = t64([1.5, 0.25, -2]);
    const xs = await read(x);
    const ws = await read(w);
    const v = xs.reduce((a, xi, i) => a + ws[i] * xi * xi, 0);
    const sx = xs.reduce((a, xi) => a + xi, 0);
    const { value, grads } = await valueAndGrad(async (p: Tensor) => {
      const inner = await valueAndGrad((q: Tensor) => b.sum(b.mul(q, b.mul(p, p))))(w);
      expect(await read(inner.grads)).toEqual(xs.map((xi) => xi * xi));
      const left = b.mul(b.sum(p), inner.value);
      return b.add(left, b.sum(inner.grads));
    })(x);
    const g = await read(grads);
    // had the outer tape recorded the inner backward, g = x² would add 2x here
    for (const [i, xi] of xs.entries()) expect(g[i]).toBeCloseTo(v + sx * 2 * ws[i] * xi, 12);
    expect((await read(value))[0]).toBeCloseTo(sx * v + xs.reduce((a, xi) => a + xi * xi, 0), 12);
    dispose([x, w, value, grads]);
  });

  it('a tensor saved by both tapes survives the inner backward until the outer one ends', async () => {
    const x = t64([0.5, 1]);
    const { grads } = await valueAndGrad(async (p: Tensor) => {
      const e = b.exp(p); // saved by the outer tape (exp keeps its output) and by the inner one (mul's operand)
      const ones = t64([1, 1]);
      const inner = await grad((q: Tensor) => {
        const r = b.sum(b.mul(q, e));
        e.dispose(); // deferred by both tapes: the inner one must not free it when its backward ends
        return r;
      })(ones);
      expect(e.disposed).toBe(false);
      dispose([inner, ones]);
      return b.sum(b.mul(e, e));
    })(x);
    const xs = await read(x);
    expect(await read(grads)).toEqual(xs.map((v) => 2 * Math.exp(v) * Math.exp(v)));
  });
});

describe('tidy / keep / tidyAsync', () => {
  /** A random program: create `n` tensors, return some (in arrays/objects/Maps), keep some. */
  const program = fc.record({
    n: fc.integer({ min: 0, max: 8 }),
    fate: fc.array(fc.constantFrom('drop', 'return', 'keep', 'nested'), { minLength: 8, maxLength: 8 }),
    shape: fc.constantFrom('array', 'object', 'map', 'single'),
  });

  function run(p: { n: number; fate: string[]; shape: string }) {
    const outside = t64([9]);
    const made: Tensor[] = [];
    const kept: Tensor[] = [];
    const nestedReturned: Tensor[] = [];
    const result = tidy(() => {
      const returned: Tensor[] = [];
      for (let i = 0; i < p.n; i++) {
        const fate = p.fate[i];
        if (fate === 'nested') {
          // made in a nested tidy and returned from it: released into this scope, so the outer tidy frees it
          const t = tidy(() => b.exp(b.add(outside, outside)));
          nestedReturned.push(t);
          made.push(t);
          continue;
        }
        const t = b.scale(outside, i);
        made.push(t);
        if (fate === 'return') returned.push(t);
        if (fate === 'keep') kept.push(keep(t));
      }
      b.add(outside, outside).dispose(); // already disposed inside: fine
      if (p.shape === 'array') return [returned, 1];
      if (p.shape === 'object') return { a: { list: returned } };
      if (p.shape === 'map') return new Map(returned.map((t, i) => [i, t]));
      return returned[0];
    });
    return { outside, made, kept, nestedReturned, result };
  }

  it('tidy frees what fn made except what it returns (nested in arrays, objects, Maps) and what keep marks', () => {
    fc.assert(
      fc.property(program, (p) => {
        const { outside, made, kept, result } = run(p);
        const survivors = tensorsIn(result);
        for (const t of made) expect(t.disposed).toBe(!survivors.has(t) && !kept.includes(t));
        expect(outside.disposed).toBe(false);
        dispose([outside, kept, result]);
      }),
    );
  });

  it('a nested tidy releases its result into the parent, which frees it unless it returns it too', () => {
    const x = t64([1]);
    let inner: Tensor | undefined;
    const out = tidy(() => {
      inner = tidy(() => b.exp(x));
      expect(inner.disposed).toBe(false);
      return b.add(inner, inner);
    });
    expect(inner?.disposed).toBe(true);
    expect(out.disposed).toBe(false);
    const both = tidy(() => tidy(() => [b.exp(x)]));
    expect(both[0].disposed).toBe(false);
    dispose([x, out, both]);
  });

  it('keep escapes every enclosing tidy', () => {
    const x = t64([1]);
    let k: Tensor | undefined;
    tidy(() => {
      tidy(() => {
        k = keep(b.exp(x));
      });
    });
    expect(k?.disposed).toBe(false);
    dispose([x, k]);
  });

  it('a throwing tidy frees everything it made and rethrows; a Promise-returning fn is refused', () => {
    const x = t64([1]);
    let t: Tensor | undefined;
    expect(() =>
      tidy(() => {
        t = b.exp(x);
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(t?.disposed).toBe(true);
    expect(() => tidy(async () => b.exp(x))).toThrow(ArgumentError);
    expect(x.disposed).toBe(false);
    x.dispose();
  });

  it('tidyAsync follows the same laws across awaits', async () => {
    const x = t64([1]);
    const made: Tensor[] = [];
    const out = await tidyAsync(async () => {
      made.push(b.exp(x));
      await Promise.resolve();
      made.push(b.exp(x));
      const k = keep(b.exp(x));
      made.push(k);
      return { r: made[1] };
    });
    expect(made.map((t) => t.disposed)).toEqual([true, false, false]);
    expect(out.r).toBe(made[1]);
    let failed: Tensor | undefined;
    await expect(
      tidyAsync(async () => {
        failed = b.exp(x);
        await Promise.resolve();
        throw new Error('late');
      }),
    ).rejects.toThrow('late');
    expect(failed?.disposed).toBe(true);
    dispose([x, made]);
  });

  it('isTensor recognises tensors only', () => {
    const x = t64([1]);
    expect(isTensor(x)).toBe(true);
    expect(isTensor({ shape: [1], dtype: 'f64' })).toBe(false);
    expect(isTensor(null)).toBe(false);
    x.dispose();
  });
});
