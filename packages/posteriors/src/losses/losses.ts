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
  type CpuKernelContext,
  type DefinedOp,
  DTypeError,
  defineOp,
  gridOf,
  IndexOutOfRangeError,
  ShapeError,
  describeShape as shapeText,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';
import { duoGradRow, duoRow, type KlDirection, klRow, mdlmRow } from './row-maths';
import { DUO_WGSL, KL_WGSL, MDLM_WGSL, WG } from './wgsl';

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

/**
 * Runs a per-row loss kernel on cpu: value per row, or (with gy) the logits gradient scaled by gy (`row` then
 * needs to write only grad: its value is not read).
 */
function cpuRows(
  ctx: CpuKernelContext,
  z: Tensor,
  gy: Tensor | undefined,
  row: (r: number, grad: Float64Array | undefined) => number,
): Tensor {
  const k = z.shape[z.shape.length - 1];
  const rows = z.size / k;
  if (!gy) {
    const { tensor, data } = ctx.output(z.shape.slice(0, -1), z.dtype);
    for (let r = 0; r < rows; r++) data[r] = row(r, undefined);
    return tensor;
  }
  const g = ctx.data(gy);
  const { tensor, data } = ctx.output(z.shape, z.dtype);
  const grad = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    row(r, grad);
    for (let j = 0; j < k; j++) data[r * k + j] = grad[j] * g[r];
  }
  return tensor;
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

function mdlmKernelCpu(
  ctx: CpuKernelContext,
  z: Tensor,
  xt: Tensor,
  x0: Tensor,
  w: Tensor,
  maskId: number,
  gy?: Tensor,
) {
  const zs = ctx.data(z);
  const xs = ctx.data(xt);
  const x0s = ctx.data(x0);
  const ws = ctx.data(w);
  const k = z.shape[z.shape.length - 1];
  return cpuRows(ctx, z, gy, (r, grad) => {
    checkId('mdlmLoss', 'xt', xs[r], k, r);
    checkId('mdlmLoss', 'x0', x0s[r], k, r);
    return mdlmRow(zs, r * k, k, xs[r], x0s[r], ws[r], maskId, grad);
  });
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

function duoKernelCpu(
  ctx: CpuKernelContext,
  z: Tensor,
  xt: Tensor,
  x0: Tensor,
  a: Tensor,
  da: Tensor,
  gy?: Tensor,
) {
  const zs = ctx.data(z);
  const xs = ctx.data(xt);
  const x0s = ctx.data(x0);
  const as = ctx.data(a);
  const das = ctx.data(da);
  const k = z.shape[z.shape.length - 1];
  const logp = new Float64Array(k);
  return cpuRows(ctx, z, gy, (r, grad) => {
    checkId('duoLoss', 'xt', xs[r], k, r);
    checkId('duoLoss', 'x0', x0s[r], k, r);
    if (!grad) return duoRow(zs, r * k, k, xs[r], x0s[r], as[r], das[r], logp, undefined);
    duoGradRow(zs, r * k, k, xs[r], x0s[r], as[r], das[r], logp, grad);
    return Number.NaN; // not read on the gradient pass
  });
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

function klKernelCpu(ctx: CpuKernelContext, s: Tensor, t: Tensor, direction: KlDirection, gy?: Tensor) {
  const ss = ctx.data(s);
  const ts = ctx.data(t);
  const k = s.shape[s.shape.length - 1];
  const ls = new Float64Array(k);
  const lt = new Float64Array(k);
  return cpuRows(ctx, s, gy, (r, grad) => klRow(ss, ts, r * k, k, direction, ls, lt, grad));
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
