/**
 * The training losses as differentiable tensor ops (one `defineOp` each: a cpu kernel over float64 row maths,
 * an f32 WGSL kernel, and a backward rule giving ∂/∂logits): per-token values [...] from logits [..., K].
 *
 *   mdlmLoss(z, xt, x0, w, maskId)      MDLM eq. 10 under SUBS, w = α'/(1 − α)
 *   duoLoss(z, xt, x0, α, α')           UDLM / Duo eq. 8 on log_softmax(z)
 *   klLoss(zS, zT, direction)           KL(S‖T) (the DCD loss, Duo I Alg. 1) or KL(T‖S); gradient to zS only
 *
 * The host NELBO helpers (nelbo.ts, maths/nelbo.ts) stay as these ops' test oracles.
 */
import {
  apply,
  type Code,
  type CpuKernelContext,
  type DefinedOp,
  DTypeError,
  defineOp,
  gridOf,
  IndexOutOfRangeError,
  type RangeKernel,
  type RangeLoop,
  rangeKernelOf,
  runRange,
  ShapeError,
  describeShape as shapeText,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';
import { type KlDirection, ROW_CODE } from './row-maths';
import { DUO_WGSL, KL_WGSL, MDLM_WGSL, WG } from './wgsl';

type DuoValue = (typeof ROW_CODE)['duoValue']['value'];
type DuoGrad = (typeof ROW_CODE)['duoGrad']['value'];
type KlRowFn = (typeof ROW_CODE)['kl']['value'];
type MdlmRowFn = (typeof ROW_CODE)['mdlm']['value'];

const FLOAT = ['f32', 'f64'];
const INDEX = ['i32', 'u32'];

function checkLogits(op: string, z: Tensor): void {
  if (!FLOAT.includes(z.dtype)) throw new DTypeError(op, `logits of dtype ${z.dtype}`, 'f32 | f64');
  if (z.shape.length < 1 || z.shape[z.shape.length - 1] < 1)
    throw new ShapeError(op, `logits ${shapeText(z.shape)}`, 'logits [..., K] with K ≥ 1');
}

/** ids / per-token coefficients must have the logits' leading shape. */
function checkTokens(op: string, z: Tensor, named: Record<string, Tensor>, kind: 'ids' | 'float'): void {
  const lead = z.shape.slice(0, -1);
  for (const [name, t] of Object.entries(named)) {
    if (t.shape.length !== lead.length || t.shape.some((d, i) => d !== lead[i]))
      throw new ShapeError(
        op,
        `${name} ${shapeText(t.shape)} with logits ${shapeText(z.shape)}`,
        `${name} ${shapeText(lead)}`,
      );
    if (kind === 'ids' && !INDEX.includes(t.dtype))
      throw new DTypeError(op, `${name} of dtype ${t.dtype}`, 'i32 | u32');
    if (kind === 'float' && t.dtype !== z.dtype)
      throw new DTypeError(op, `${name} of dtype ${t.dtype}`, `${z.dtype} like the logits`);
  }
}

function checkId(op: string, name: string, v: number, k: number, r: number): void {
  if (!(v >= 0 && v < k)) throw new IndexOutOfRangeError(op, `${name}[${r}] = ${v}`, `ids in [0, ${k})`);
}

/** The arrays of a loss kernel: logits z [rows, K], the op's per-row inputs, gy (gradient pass) and out. */
interface LossArgs {
  z: ArrayLike<number>;
  k: number;
  gy: ArrayLike<number> | null;
  out: Float32Array | Float64Array;
  // biome-ignore lint/suspicious/noExplicitAny: the op's own per-row arrays and numbers
  [input: string]: any;
}

/** A loss row: the value of row r, or (grad given) its gradient into grad; s1, s2 are scratch rows of K. */
type LossRow = (
  p: LossArgs,
  r: number,
  s1: Float64Array,
  s2: Float64Array,
  grad: Float64Array | undefined,
) => number;

/** The loop of a loss kernel: out[r] = value, or out[r, :] = gy[r]·∂/∂z on the gradient pass. */
function lossRowsLoop(row: LossRow): RangeLoop<LossArgs> {
  return (p, r0, r1) => {
    const { k, gy, out } = p;
    const s1 = new Float64Array(k);
    const s2 = new Float64Array(k);
    const grad = gy ? new Float64Array(k) : undefined;
    for (let r = r0; r < r1; r++) {
      if (!grad || !gy) {
        out[r] = row(p, r, s1, s2, undefined);
        continue;
      }
      row(p, r, s1, s2, grad);
      for (let j = 0; j < k; j++) out[r * k + j] = grad[j] * gy[r];
    }
  };
}

/** A loss kernel over row maths of row-maths.ts (ROW_CODE), adapted to LossRow by `adapter` (self-contained). */
// biome-ignore lint/suspicious/noExplicitAny: the row maths functions the adapter wraps
const lossKernel = (adapter: (...rowMaths: any[]) => LossRow, ...rowMaths: Code<unknown>[]) =>
  rangeKernelOf(apply(lossRowsLoop, apply(adapter, ...rowMaths)));

/** Transcendental-heavy rows: ~60 units (≈ ns on one core) per logit, so a few rows already go to the pool. */
const COST_PER_LOGIT = 60;

/**
 * Runs a loss kernel over the rows of z on the cpu pool: value per row, or (with gy) the logits gradient
 * scaled by gy.
 */
function cpuRows(
  ctx: CpuKernelContext,
  kernel: RangeKernel<LossArgs>,
  z: Tensor,
  gy: Tensor | undefined,
  inputs: Record<string, unknown>,
): Tensor {
  const k = z.shape[z.shape.length - 1];
  const rows = z.size / k;
  const { tensor, data } = ctx.output(gy ? z.shape : z.shape.slice(0, -1), z.dtype);
  const args: LossArgs = {
    ...inputs,
    z: ctx.data(z),
    k,
    gy: gy ? ctx.data(gy) : null,
    out: data as Float64Array,
  };
  runRange(kernel, args, rows, rows * k * COST_PER_LOGIT);
  return tensor;
}

/** Refuses ids outside [0, K) (before a kernel runs: workers cannot throw typed errors). */
function checkIds(op: string, k: number, ids: Record<string, ArrayLike<number>>): void {
  for (const [name, values] of Object.entries(ids))
    for (let r = 0; r < values.length; r++) checkId(op, name, values[r], k, r);
}

/** Runs a per-row loss WGSL kernel: mode 0 writes values [rows], mode 1 the gradient [rows, K]. */
function gpuRows(
  ctx: WebGPUKernelContext,
  name: string,
  wgsl: string,
  z: Tensor,
  inputs: Tensor[],
  gy: Tensor | undefined,
  extra: number,
): Tensor {
  const k = z.shape[z.shape.length - 1];
  const rows = z.size / k;
  const out = ctx.output(gy ? z.shape : z.shape.slice(0, -1), 'f32');
  if (rows === 0) return out;
  const [gx, gyy] = gridOf(ctx, rows, WG);
  const params = new ArrayBuffer(16);
  new Uint32Array(params, 0, 3).set([rows, k, gx]);
  new Int32Array(params, 12, 1)[0] = extra;
  const ones = gy ?? ctx.backend.zeros([1], 'f32');
  try {
    ctx.run({
      name: `${name}${gy ? 'Grad' : ''}`,
      wgsl: `const MODE: u32 = ${gy ? '1u' : '0u'};\n${wgsl}`,
      bindings: [
        { tensor: z, access: 'read' },
        ...inputs.map((t) => ({ tensor: t, access: 'read' as const })),
        { tensor: ones, access: 'read' },
        { tensor: out, access: 'read_write' },
        { uniform: params },
      ],
      workgroups: [gx, gyy],
    });
  } finally {
    if (!gy) ones.dispose();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- MDLM

const MDLM_ROWS = lossKernel(
  (mdlmRow: MdlmRowFn): LossRow =>
    (p, r, _s1, _s2, grad) =>
      mdlmRow(p.z, r * p.k, p.k, p.xt[r], p.x0[r], p.w[r], p.maskId, grad),
  ROW_CODE.mdlm,
);

function mdlmKernelCpu(
  ctx: CpuKernelContext,
  z: Tensor,
  xt: Tensor,
  x0: Tensor,
  w: Tensor,
  maskId: number,
  gy?: Tensor,
) {
  const ids = { xt: ctx.data(xt), x0: ctx.data(x0) };
  checkIds('mdlmLoss', z.shape[z.shape.length - 1], ids);
  return cpuRows(ctx, MDLM_ROWS, z, gy, { ...ids, w: ctx.data(w), maskId });
}

function validateMdlm(op: string, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number): void {
  checkLogits(op, z);
  checkTokens(op, z, { xt, x0 }, 'ids');
  checkTokens(op, z, { weight: w }, 'float');
  const k = z.shape[z.shape.length - 1];
  if (!(Number.isInteger(maskId) && maskId >= 0 && maskId < k))
    throw new IndexOutOfRangeError(op, `maskId ${maskId}`, `an id in [0, ${k})`);
}

const mdlmLossGrad = defineOp({
  name: 'mdlmLossGrad',
  cpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number, gy: Tensor) =>
    mdlmKernelCpu(ctx, z, xt, x0, w, maskId, gy),
  webgpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number, gy: Tensor) =>
    gpuRows(ctx, 'mdlmLoss', MDLM_WGSL, z, [xt, x0, w], gy, maskId),
});

/** MDLM per-token loss (MDLM eq. 10, SUBS): w·(z[x0] − logsumexp_{j≠mask} z) where xt = mask, else 0. */
export const mdlmLoss: DefinedOp<[Tensor, Tensor, Tensor, Tensor, number], Tensor> = defineOp({
  name: 'mdlmLoss',
  validate: (_b, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number) =>
    validateMdlm('mdlmLoss', z, xt, x0, w, maskId),
  cpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number) =>
    mdlmKernelCpu(ctx, z, xt, x0, w, maskId),
  webgpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, w: Tensor, maskId: number) =>
    gpuRows(ctx, 'mdlmLoss', MDLM_WGSL, z, [xt, x0, w], undefined, maskId),
  gradient: {
    inputs: ([z]) => [z],
    save: ([z, xt, x0, w]) => [z, xt, x0, w],
    backward: (gy: Tensor, { args: [z, xt, x0, w, maskId] }): Tensor[] => [
      mdlmLossGrad(z, xt, x0, w, maskId, gy),
    ],
  },
});

// ----------------------------------------------------------------------------------------------------- Duo

const DUO_ROWS = lossKernel(
  (value: DuoValue, grad: DuoGrad): LossRow =>
    (p, r, s1, _s2, g) => {
      if (!g) return value(p.z, r * p.k, p.k, p.xt[r], p.x0[r], p.a[r], p.da[r], s1);
      grad(p.z, r * p.k, p.k, p.xt[r], p.x0[r], p.a[r], p.da[r], s1, g);
      return 0;
    },
  ROW_CODE.duoValue,
  ROW_CODE.duoGrad,
);

function duoKernelCpu(
  ctx: CpuKernelContext,
  z: Tensor,
  xt: Tensor,
  x0: Tensor,
  a: Tensor,
  da: Tensor,
  gy?: Tensor,
) {
  const ids = { xt: ctx.data(xt), x0: ctx.data(x0) };
  checkIds('duoLoss', z.shape[z.shape.length - 1], ids);
  return cpuRows(ctx, DUO_ROWS, z, gy, { ...ids, a: ctx.data(a), da: ctx.data(da) });
}

const duoLossGrad = defineOp({
  name: 'duoLossGrad',
  cpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, a: Tensor, da: Tensor, gy: Tensor) =>
    duoKernelCpu(ctx, z, xt, x0, a, da, gy),
  webgpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, a: Tensor, da: Tensor, gy: Tensor) =>
    gpuRows(ctx, 'duoLoss', DUO_WGSL, z, [xt, x0, a, da], gy, 0),
});

/** UDLM / Duo per-token NELBO integrand (Duo eq. 8) on log_softmax(z), α and α' = dα/dt per token. */
export const duoLoss: DefinedOp<[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor> = defineOp({
  name: 'duoLoss',
  validate(_b, z: Tensor, xt: Tensor, x0: Tensor, a: Tensor, da: Tensor) {
    checkLogits('duoLoss', z);
    checkTokens('duoLoss', z, { xt, x0 }, 'ids');
    checkTokens('duoLoss', z, { alpha: a, dalpha: da }, 'float');
  },
  cpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, a: Tensor, da: Tensor) => duoKernelCpu(ctx, z, xt, x0, a, da),
  webgpu: (ctx, z: Tensor, xt: Tensor, x0: Tensor, a: Tensor, da: Tensor) =>
    gpuRows(ctx, 'duoLoss', DUO_WGSL, z, [xt, x0, a, da], undefined, 0),
  gradient: {
    inputs: ([z]) => [z],
    save: ([z, xt, x0, a, da]) => [z, xt, x0, a, da],
    backward: (gy: Tensor, { args: [z, xt, x0, a, da] }): Tensor[] => [duoLossGrad(z, xt, x0, a, da, gy)],
  },
});

// ------------------------------------------------------------------------------------------------------ KL

const KL_ROWS = lossKernel(
  (klRow: KlRowFn): LossRow =>
    (p, r, s1, s2, grad) =>
      klRow(p.z, p.t, r * p.k, p.k, p.direction, s1, s2, grad),
  ROW_CODE.kl,
);

function klKernelCpu(ctx: CpuKernelContext, s: Tensor, t: Tensor, direction: KlDirection, gy?: Tensor) {
  return cpuRows(ctx, KL_ROWS, s, gy, { t: ctx.data(t), direction });
}

const DIRECTIONS: readonly KlDirection[] = ['student-teacher', 'teacher-student'];

const klLossGrad = defineOp({
  name: 'klLossGrad',
  cpu: (ctx, s: Tensor, t: Tensor, direction: KlDirection, gy: Tensor) =>
    klKernelCpu(ctx, s, t, direction, gy),
  webgpu: (ctx, s: Tensor, t: Tensor, direction: KlDirection, gy: Tensor) =>
    gpuRows(ctx, 'klLoss', KL_WGSL, s, [t], gy, DIRECTIONS.indexOf(direction)),
});

/** Per-token KL between student logits s and teacher logits t (DCD, Duo I Alg. 1); gradient to s only. */
export const klLoss: DefinedOp<[Tensor, Tensor, KlDirection], Tensor> = defineOp({
  name: 'klLoss',
  validate(_b, s: Tensor, t: Tensor, direction: KlDirection) {
    checkLogits('klLoss', s);
    if (t.dtype !== s.dtype || t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]))
      throw new ShapeError(
        'klLoss',
        `teacher ${t.dtype} ${shapeText(t.shape)}`,
        `${s.dtype} ${shapeText(s.shape)} like the student`,
      );
    if (!DIRECTIONS.includes(direction))
      throw new ShapeError('klLoss', `direction ${String(direction)}`, DIRECTIONS.join(' | '));
  },
  cpu: (ctx, s: Tensor, t: Tensor, direction: KlDirection) => klKernelCpu(ctx, s, t, direction),
  webgpu: (ctx, s: Tensor, t: Tensor, direction: KlDirection) =>
    gpuRows(ctx, 'klLoss', KL_WGSL, s, [t], undefined, DIRECTIONS.indexOf(direction)),
  gradient: {
    inputs: ([s]) => [s, undefined],
    save: ([s, t]) => [s, t],
    backward: (gy: Tensor, { args: [s, t, direction] }): Array<Tensor | undefined> => [
      klLossGrad(s, t, direction, gy),
      undefined,
    ],
  },
});
