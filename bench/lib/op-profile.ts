/**
 * A per-op wall-clock profile for the training suites, installed by the bench only (the packages carry no
 * profiling code): it wraps
 *   - every method of one backend instance (the kernels' primitive ops: matmul, add, softmax, …),
 *   - the cpu kernel of every `defineOp` op found among the given module namespaces (`op.definition.cpu`: the
 *     dispatcher reads it at each call, so replacing it times every later call),
 *   - the backward rule of every Backend method (`BACKEND_GRADIENTS`) and of every defined op found,
 * with timers that record inclusive and self time (inclusive minus the time of wrapped calls made inside it),
 * per phase (`forward`, `backward`, `optimizer`… set by the suite around its stages). A backward rule's self time
 * is the glue around the kernels it calls; the kernels' self times sum to the time spent in ops.
 */
import { BACKEND_GRADIENTS, type Backend, type MatmulOptions, type Tensor } from '@duality/kernels';

export interface OpStat {
  phase: string;
  /**
   * `op`: a kernel (backend method or defineOp cpu kernel); `rule`: a backward rule (gradient of `name`);
   * `detail`: an op's calls split by a finer key (already counted in its `op` row).
   */
  kind: 'op' | 'rule' | 'detail';
  name: string;
  calls: number;
  self_ms: number;
  total_ms: number;
}

/** Backend members that are not ops (or too trivial to time without distorting the figures). */
const SKIP = new Set(['constructor', 'dataOf', 'destroy', 'name', 'supportsF64', 'options']);

export class OpProfiler {
  enabled = false;
  phase = 'forward';
  /** Wall time of top-level wrapped calls (not nested in another wrapped call), per phase. */
  readonly topLevelMs = new Map<string, number>();
  /** Wall time of each phase (between `setPhase` calls). */
  readonly phaseMs = new Map<string, number>();
  private phaseStart = 0;
  private readonly stats = new Map<string, OpStat>();
  private readonly stack: number[] = [];

  /** Starts a phase (closing the current one's wall time); `undefined` closes the current one only. */
  setPhase(phase: string | undefined): void {
    const now = performance.now();
    if (this.phaseStart > 0)
      this.phaseMs.set(this.phase, (this.phaseMs.get(this.phase) ?? 0) + now - this.phaseStart);
    this.phaseStart = phase === undefined ? 0 : now;
    if (phase !== undefined) this.phase = phase;
  }

  /**
   * A timed version of fn (this-preserving); timing happens only while `enabled`. `detail` names a finer key
   * for the call (e.g. a matmul's shapes), recorded as `name detail` beside the op's own row.
   */
  wrap<F extends (...args: never[]) => unknown>(
    kind: OpStat['kind'],
    name: string,
    fn: F,
    detail?: (...args: Parameters<F>) => string,
  ): F {
    const profiler = this;
    return function (this: unknown, ...args: Parameters<F>) {
      if (!profiler.enabled) return fn.apply(this, args);
      const sub = detail?.(...args);
      profiler.stack.push(0);
      const t0 = performance.now();
      try {
        return fn.apply(this, args);
      } finally {
        const dt = performance.now() - t0;
        const inner = profiler.stack.pop() as number;
        profiler.add(kind, name, dt, dt - inner);
        if (sub !== undefined) profiler.add('detail', `${name} ${sub}`, dt, dt - inner);
        const depth = profiler.stack.length;
        if (depth > 0) profiler.stack[depth - 1] += dt;
        else profiler.topLevelMs.set(profiler.phase, (profiler.topLevelMs.get(profiler.phase) ?? 0) + dt);
      }
    } as F;
  }

  private add(kind: OpStat['kind'], name: string, total: number, self: number): void {
    const key = `${this.phase}\u0000${kind}\u0000${name}`;
    let s = this.stats.get(key);
    if (!s) {
      s = { phase: this.phase, kind, name, calls: 0, self_ms: 0, total_ms: 0 };
      this.stats.set(key, s);
    }
    s.calls++;
    s.self_ms += self;
    s.total_ms += total;
  }

  /** Wraps every method of the backend instance (own properties first: the autograd-instrumented ones). */
  instrumentBackend(backend: Backend): void {
    const names = new Set<string>(Object.getOwnPropertyNames(backend));
    for (let p = Object.getPrototypeOf(backend); p && p !== Object.prototype; p = Object.getPrototypeOf(p))
      for (const n of Object.getOwnPropertyNames(p)) names.add(n);
    for (const name of names) {
      if (SKIP.has(name)) continue;
      const desc = findDescriptor(backend, name);
      if (!desc || typeof desc.value !== 'function') continue;
      const fn = desc.value as (...args: never[]) => unknown;
      Object.defineProperty(backend, name, {
        value: this.wrap('op', name, fn, name === 'matmul' ? (matmulKey as never) : undefined),
        configurable: true,
        writable: true,
      });
    }
    for (const [name, rule] of Object.entries(BACKEND_GRADIENTS)) wrapRule(this, name, rule);
  }

  /** Wraps the cpu kernel and backward rule of every defined op among the modules' exports (each once). */
  instrumentDefinedOps(modules: ReadonlyArray<Record<string, unknown>>): string[] {
    const found: string[] = [];
    for (const mod of modules) {
      for (const value of Object.values(mod)) {
        const def = (value as { definition?: Record<string, unknown> } | undefined)?.definition;
        if (typeof value !== 'function' || !def || typeof def.cpu !== 'function' || WRAPPED.has(def))
          continue;
        WRAPPED.add(def);
        const name = String(def.name);
        def.cpu = this.wrap('op', name, def.cpu as (...args: never[]) => unknown);
        if (def.gradient) wrapRule(this, name, def.gradient as { backward: unknown });
        found.push(name);
      }
    }
    return found.sort();
  }

  reset(): void {
    this.stats.clear();
    this.topLevelMs.clear();
    this.phaseMs.clear();
    this.phaseStart = 0;
  }

  /** The stats, largest self time first, each divided by `runs` (per-step figures). */
  table(runs = 1): OpStat[] {
    return [...this.stats.values()]
      .map((s) => ({ ...s, calls: s.calls / runs, self_ms: s.self_ms / runs, total_ms: s.total_ms / runs }))
      .sort((a, b) => b.self_ms - a.self_ms);
  }
}

const WRAPPED = new WeakSet<object>();

/** "[batch×]M×K×N tA/tB" of a matmul call (op(A) is M×K, op(B) K×N). */
function matmulKey(a: Tensor, b: Tensor, o?: MatmulOptions): string {
  const ra = a.shape.length;
  const [ar, ac] = [a.shape[ra - 2], a.shape[ra - 1]];
  const [m, k] = o?.transposeA ? [ac, ar] : [ar, ac];
  const n = o?.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  const batch = Math.max(
    a.size / (ar * ac),
    b.size / (b.shape[b.shape.length - 2] * b.shape[b.shape.length - 1]),
  );
  const t = `${o?.transposeA ? 'tA' : ''}${o?.transposeB ? 'tB' : ''}`;
  return `${batch > 1 ? `${batch}×` : ''}${m}×${k}×${n}${t ? ` ${t}` : ''}`;
}

function wrapRule(profiler: OpProfiler, name: string, rule: { backward: unknown }): void {
  if (WRAPPED.has(rule)) return;
  WRAPPED.add(rule);
  rule.backward = profiler.wrap('rule', name, rule.backward as (...args: never[]) => unknown);
}

function findDescriptor(obj: object, name: string): PropertyDescriptor | undefined {
  for (let p: object | null = obj; p; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d) return d;
  }
  return undefined;
}

export interface ProfileSummary {
  /** Per step: wall time of the whole (profiled) step, per phase its wall time and the time inside wrapped calls. */
  step_ms: number;
  phase_ms: Record<string, number>;
  in_ops_ms: Record<string, number>;
  /** Kernel self times aggregated over phases ("matmul": forward + backward), per step. */
  ops: Array<{ name: string; forward_ms: number; backward_ms: number; other_ms: number; calls: number }>;
  /** Backward rules, inclusive time per step (what differentiating each forward op costs). */
  rules: Array<{ name: string; total_ms: number; self_ms: number; calls: number }>;
  /** Calls split by a finer key (matmul by shape and transposes), self time per step. */
  details: Array<{ name: string; forward_ms: number; backward_ms: number; other_ms: number; calls: number }>;
  /** Every raw stat, per step. */
  raw: OpStat[];
}

/** Folds a profiler's table into per-op rows (forward / backward / other phases) and per-rule rows. */
export function summarize(profiler: OpProfiler, runs: number, stepMs: number): ProfileSummary {
  const raw = profiler.table(runs);
  const ops = new Map<string, ProfileSummary['ops'][number]>();
  const rules = new Map<string, ProfileSummary['rules'][number]>();
  const details = new Map<string, ProfileSummary['details'][number]>();
  for (const s of raw) {
    if (s.kind === 'detail') {
      const d = details.get(s.name) ?? { name: s.name, forward_ms: 0, backward_ms: 0, other_ms: 0, calls: 0 };
      if (s.phase === 'forward') d.forward_ms += s.self_ms;
      else if (s.phase === 'backward') d.backward_ms += s.self_ms;
      else d.other_ms += s.self_ms;
      d.calls += s.calls;
      details.set(s.name, d);
      continue;
    }
    if (s.kind === 'rule') {
      const r = rules.get(s.name) ?? { name: s.name, total_ms: 0, self_ms: 0, calls: 0 };
      r.total_ms += s.total_ms;
      r.self_ms += s.self_ms;
      r.calls += s.calls;
      rules.set(s.name, r);
    }
    const key = s.kind === 'rule' ? `${s.name} (backward rule glue)` : s.name;
    const o = ops.get(key) ?? { name: key, forward_ms: 0, backward_ms: 0, other_ms: 0, calls: 0 };
    if (s.phase === 'forward') o.forward_ms += s.self_ms;
    else if (s.phase === 'backward') o.backward_ms += s.self_ms;
    else o.other_ms += s.self_ms;
    o.calls += s.calls;
    ops.set(key, o);
  }
  const inOps: Record<string, number> = {};
  for (const [phase, ms] of profiler.topLevelMs) inOps[phase] = ms / runs;
  const phases: Record<string, number> = {};
  for (const [phase, ms] of profiler.phaseMs) phases[phase] = ms / runs;
  const total = (o: ProfileSummary['ops'][number]) => o.forward_ms + o.backward_ms + o.other_ms;
  return {
    step_ms: stepMs,
    phase_ms: phases,
    in_ops_ms: inOps,
    ops: [...ops.values()].sort((a, b) => total(b) - total(a)),
    rules: [...rules.values()].sort((a, b) => b.total_ms - a.total_ms),
    details: [...details.values()].sort((a, b) => total(b) - total(a)),
    raw,
  };
}
