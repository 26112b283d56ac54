/**
 * The two layout ops attention needs, defined once through `defineOp` (a cpu loop in f32/f64 and a WGSL kernel,
 * each with its backward rule):
 *
 *   splitHeadsRotary  qkv [B, L, 3·H·Dh] (three, head, dim) → q, k, v [B, H, L, Dh]; rope on q and k, q·qScale
 *   joinHeadsRotary   its adjoint: (gq, gk, gv) → gqkv — the inverse rotation (rope is orthogonal: Rᵀ = R(−θ))
 *   mergeHeads        o [B, H, L, Dh] → [B, L, H·Dh]   (a permutation; adjoint: splitHeads)
 *   splitHeads        [B, L, H·Dh] → [B, H, L, Dh]     (adjoint: mergeHeads)
 *
 * rope(x) = x·[cos, cos] + [−x2, x1]·[sin, sin] over non-interleaved halves x1 = x[:Dh/2], x2 = x[Dh/2:]
 * (GPT-NeoX / flash-attn `apply_rotary_emb_torch(interleaved=False)`, RoFormer §3.4.2).
 */
import {
  ArgumentError,
  type Backend,
  type CpuKernelContext,
  type DefinedOp,
  DisposedTensorError,
  DTypeError,
  defineOp,
  gridOf,
  ShapeError,
  type Tensor,
  type WebGPUKernelContext,
} from '@duality/kernels';

export interface HeadLayout {
  batch: number;
  length: number;
  heads: number;
  headDim: number;
}

export interface SplitHeads {
  /** [B, H, L, Dh], rotated and multiplied by `qScale`. */
  q: Tensor;
  /** [B, H, L, Dh], rotated. */
  k: Tensor;
  /** [B, H, L, Dh]. */
  v: Tensor;
}

type FloatArray = Float32Array | Float64Array;
const isFloat = (t: Tensor) => t.dtype === 'f32' || t.dtype === 'f64';

function layoutOfQkv(op: string, qkv: Tensor, heads: number): HeadLayout {
  if (!Number.isSafeInteger(heads) || heads < 1)
    throw new ShapeError(op, `heads ${heads}`, 'a positive integer number of heads');
  if (qkv.shape.length !== 3 || qkv.shape[2] % (6 * heads) !== 0) {
    throw new ShapeError(op, `qkv [${qkv.shape}]`, `[B, L, 3·H·Dh] with H = ${heads} and Dh even`);
  }
  const [batch, length, width] = qkv.shape;
  return { batch, length, heads, headDim: width / 3 / heads };
}

function layoutOfHeads(op: string, t: Tensor): HeadLayout {
  if (t.shape.length !== 4) throw new ShapeError(op, `[${t.shape}]`, '[B, H, L, Dh]');
  const [batch, heads, length, headDim] = t.shape;
  return { batch, heads, length, headDim };
}

function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!isFloat(t)) throw new DTypeError(op, t.dtype, 'f32 or f64');
    if (t.dtype !== ts[0].dtype)
      throw new DTypeError(op, `${ts[0].dtype} and ${t.dtype}`, 'one float dtype for every tensor');
  }
}

function checkRotary(op: string, cos: Tensor, sin: Tensor, { length, headDim }: HeadLayout): void {
  const want = [length, headDim / 2];
  for (const t of [cos, sin]) {
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new ShapeError(op, `rotary table [${t.shape}]`, `[${want}]`);
    }
  }
}

function checkScale(op: string, qScale: number): void {
  if (!Number.isFinite(qScale)) throw new ArgumentError(op, `qScale ${qScale}`, 'a finite number');
}

function sameBackend(op: string, backend: Backend, t: Tensor): void {
  if (t.backend !== backend)
    throw new DisposedTensorError(
      op,
      `a tensor of the ${t.backend.name} backend`,
      `one of this ${backend.name} backend`,
    );
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** The gradient of one output of a multi-output op, zeros when none arrived. */
const orZeros = (b: Backend, g: Tensor | undefined, like: Tensor): Tensor =>
  g ?? b.zeros(like.shape, like.dtype);

// ------------------------------------------------------------------------------------------- cpu loops

/**
 * One loop for both directions of the rotary split: dir = +1 reads qkv and writes rotated q, k, v (rotation by
 * +θ); dir = −1 reads q, k, v and writes qkv rotated by −θ (the adjoint). q is scaled by qScale either way.
 */
function rotaryLoop(
  dir: 1 | -1,
  qkv: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  l: HeadLayout,
  qScale: number,
): void {
  const { batch: B, length: L, heads: H, headDim: Dh } = l;
  const D = H * Dh;
  const half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      const row = (b * L + t) * 3 * D;
      const tab = t * half;
      for (let h = 0; h < H; h++) {
        const o = ((b * H + h) * L + t) * Dh;
        const iq = row + h * Dh;
        const ik = iq + D;
        const iv = ik + D;
        for (let j = 0; j < half; j++) {
          const c = cos[tab + j];
          const s = dir * sin[tab + j];
          if (dir === 1) {
            const q1 = qkv[iq + j];
            const q2 = qkv[iq + j + half];
            q[o + j] = (q1 * c - q2 * s) * qScale;
            q[o + j + half] = (q2 * c + q1 * s) * qScale;
            const k1 = qkv[ik + j];
            const k2 = qkv[ik + j + half];
            k[o + j] = k1 * c - k2 * s;
            k[o + j + half] = k2 * c + k1 * s;
          } else {
            const q1 = q[o + j];
            const q2 = q[o + j + half];
            qkv[iq + j] = (q1 * c - q2 * s) * qScale;
            qkv[iq + j + half] = (q2 * c + q1 * s) * qScale;
            const k1 = k[o + j];
            const k2 = k[o + j + half];
            qkv[ik + j] = k1 * c - k2 * s;
            qkv[ik + j + half] = k2 * c + k1 * s;
          }
        }
        if (dir === 1) for (let j = 0; j < Dh; j++) v[o + j] = qkv[iv + j];
        else for (let j = 0; j < Dh; j++) qkv[iv + j] = v[o + j];
      }
    }
  }
}

/** [B, H, L, Dh] ↔ [B, L, H·Dh]: merge copies head rows into token rows, split the reverse. */
function headsLoop(merge: boolean, src: FloatArray, dst: FloatArray, l: HeadLayout): void {
  const { batch: B, length: L, heads: H, headDim: Dh } = l;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < L; t++) {
        const headRow = ((b * H + h) * L + t) * Dh;
        const tokenRow = ((b * L + t) * H + h) * Dh;
        if (merge) dst.set(src.subarray(headRow, headRow + Dh), tokenRow);
        else dst.set(src.subarray(tokenRow, tokenRow + Dh), headRow);
      }
    }
  }
}

const floatData = (ctx: CpuKernelContext, t: Tensor) => ctx.data(t) as FloatArray;
const floatOutput = (ctx: CpuKernelContext, shape: number[], like: Tensor) => {
  const { tensor, data } = ctx.output(shape, like.dtype as 'f32' | 'f64');
  return { tensor, data: data as FloatArray };
};

// ------------------------------------------------------------------------------------------- WGSL

const WORKGROUP = 64;

/** Workgroups for n threads, spilling into y beyond the per-dimension limit; gridX goes in the uniform. */
const grid = (ctx: WebGPUKernelContext, n: number): [number, number] => gridOf(ctx, n, WORKGROUP);

function layoutUniform(l: HeadLayout, qScale: number, gridX: number): ArrayBuffer {
  const buf = new ArrayBuffer(32);
  new Uint32Array(buf).set([l.batch, l.length, l.heads, l.headDim, 0, gridX]);
  new Float32Array(buf)[4] = qScale;
  return buf;
}

const PARAMS = /* wgsl */ `
struct Params { batch: u32, length: u32, heads: u32, headDim: u32, qScale: f32, gridX: u32, pad0: u32, pad1: u32 };`;

/** Shared index maths of the rotary kernels: i enumerates (b, t, h, j < Dh/2), j fastest. */
const ROTARY_INDEX = /* wgsl */ `
  let half = p.headDim / 2u;
  let i = gid.x + gid.y * p.gridX * ${WORKGROUP}u;
  if (i >= p.batch * p.length * p.heads * half) { return; }
  let j = i % half;
  let h = (i / half) % p.heads;
  let t = (i / (half * p.heads)) % p.length;
  let b = i / (half * p.heads * p.length);
  let width = p.heads * p.headDim;
  let iq = (b * p.length + t) * 3u * width + h * p.headDim;
  let ik = iq + width;
  let iv = ik + width;
  let o = ((b * p.heads + h) * p.length + t) * p.headDim;
  let c = cosT[t * half + j];`;

const SPLIT_ROTARY_WGSL = /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {${ROTARY_INDEX}
  let s = sinT[t * half + j];
  let q1 = qkv[iq + j];
  let q2 = qkv[iq + j + half];
  q[o + j] = (q1 * c - q2 * s) * p.qScale;
  q[o + j + half] = (q2 * c + q1 * s) * p.qScale;
  let k1 = qkv[ik + j];
  let k2 = qkv[ik + j + half];
  k[o + j] = k1 * c - k2 * s;
  k[o + j + half] = k2 * c + k1 * s;
  v[o + j] = qkv[iv + j];
  v[o + j + half] = qkv[iv + j + half];
}`;

const JOIN_ROTARY_WGSL = /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> cosT: array<f32>;
@group(0) @binding(4) var<storage, read> sinT: array<f32>;
@group(0) @binding(5) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {${ROTARY_INDEX}
  let s = -sinT[t * half + j];
  let q1 = q[o + j];
  let q2 = q[o + j + half];
  qkv[iq + j] = (q1 * c - q2 * s) * p.qScale;
  qkv[iq + j + half] = (q2 * c + q1 * s) * p.qScale;
  let k1 = k[o + j];
  let k2 = k[o + j + half];
  qkv[ik + j] = k1 * c - k2 * s;
  qkv[ik + j + half] = k2 * c + k1 * s;
  qkv[iv + j] = v[o + j];
  qkv[iv + j + half] = v[o + j + half];
}`;

/** i enumerates the token layout [b, t, h, d] (d fastest); `flow` moves one element between the layouts. */
const headsWgsl = (flow: string) => /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gridX * ${WORKGROUP}u;
  if (i >= p.batch * p.length * p.heads * p.headDim) { return; }
  let d = i % p.headDim;
  let h = (i / p.headDim) % p.heads;
  let t = (i / (p.headDim * p.heads)) % p.length;
  let b = i / (p.headDim * p.heads * p.length);
  let head = ((b * p.heads + h) * p.length + t) * p.headDim + d;
  ${flow}
}`;
const MERGE_WGSL = headsWgsl('dst[i] = src[head];');
const SPLIT_WGSL = headsWgsl('dst[head] = src[i];');

// ------------------------------------------------------------------------------------------- the ops

type SplitArgs = [Tensor, Tensor, Tensor, number, number];
type JoinArgs = [Tensor, Tensor, Tensor, Tensor, Tensor, number];

/** qkv → [q, k, v] (see the module comment). Backward: joinHeadsRotary of the three gradients. */
export const splitHeadsRotaryOp: DefinedOp<SplitArgs, Tensor[]> = defineOp<SplitArgs, Tensor[]>({
  name: 'splitHeadsRotary',
  validate(_b, qkv, cos, sin, heads, qScale) {
    const op = 'splitHeadsRotary';
    checkFloat(op, qkv, cos, sin);
    checkRotary(op, cos, sin, layoutOfQkv(op, qkv, heads));
    checkScale(op, qScale);
  },
  cpu(ctx, qkv, cos, sin, heads, qScale) {
    const l = layoutOfQkv('splitHeadsRotary', qkv, heads);
    const shape = [l.batch, l.heads, l.length, l.headDim];
    const [q, k, v] = [0, 1, 2].map(() => floatOutput(ctx, shape, qkv));
    const [c, s] = [floatData(ctx, cos), floatData(ctx, sin)];
    rotaryLoop(1, floatData(ctx, qkv), q.data, k.data, v.data, c, s, l, qScale);
    return [q.tensor, k.tensor, v.tensor];
  },
  webgpu(ctx, qkv, cos, sin, heads, qScale) {
    const l = layoutOfQkv('splitHeadsRotary', qkv, heads);
    const shape = [l.batch, l.heads, l.length, l.headDim];
    const [q, k, v] = [0, 1, 2].map(() => ctx.output(shape, 'f32'));
    const groups = grid(ctx, (l.batch * l.length * l.heads * l.headDim) / 2);
    ctx.run({
      name: 'models.splitHeadsRotary',
      wgsl: SPLIT_ROTARY_WGSL,
      bindings: [
        { tensor: qkv, access: 'read' },
        { tensor: cos, access: 'read' },
        { tensor: sin, access: 'read' },
        { tensor: q, access: 'read_write' },
        { tensor: k, access: 'read_write' },
        { tensor: v, access: 'read_write' },
        { uniform: layoutUniform(l, qScale, groups[0]) },
      ],
      workgroups: groups,
    });
    return [q, k, v];
  },
  gradient: {
    inputs: ([qkv]) => [qkv],
    save: ([, cos, sin]) => [cos, sin],
    backward: (gys, { backend: b, args: [, cos, sin, , qScale], output }): Tensor[] => {
      const g = gys.map((gy, i) => orZeros(b, gy, output[i]));
      const gqkv = joinHeadsRotaryOp(g[0], g[1], g[2], cos, sin, qScale);
      g.forEach((t, i) => {
        if (t !== gys[i]) t.dispose();
      });
      return [gqkv];
    },
  },
});

/** The adjoint of splitHeadsRotary: (gq, gk, gv) [B, H, L, Dh] → gqkv [B, L, 3·H·Dh]. Backward: the split. */
export const joinHeadsRotaryOp: DefinedOp<JoinArgs, Tensor> = defineOp<JoinArgs, Tensor>({
  name: 'joinHeadsRotary',
  validate(_b, q, k, v, cos, sin, qScale) {
    const op = 'joinHeadsRotary';
    checkFloat(op, q, k, v, cos, sin);
    const l = layoutOfHeads(op, q);
    for (const t of [k, v])
      if (!sameShape(t.shape, q.shape)) throw new ShapeError(op, `[${t.shape}]`, `[${q.shape}] like q`);
    if (l.headDim % 2 !== 0) throw new ShapeError(op, `head dim ${l.headDim}`, 'an even head dim');
    checkRotary(op, cos, sin, l);
    checkScale(op, qScale);
  },
  cpu(ctx, q, k, v, cos, sin, qScale) {
    const l = layoutOfHeads('joinHeadsRotary', q);
    const out = floatOutput(ctx, [l.batch, l.length, 3 * l.heads * l.headDim], q);
    const [qs, ks, vs] = [q, k, v].map((t) => floatData(ctx, t));
    rotaryLoop(-1, out.data, qs, ks, vs, floatData(ctx, cos), floatData(ctx, sin), l, qScale);
    return out.tensor;
  },
  webgpu(ctx, q, k, v, cos, sin, qScale) {
    const l = layoutOfHeads('joinHeadsRotary', q);
    const out = ctx.output([l.batch, l.length, 3 * l.heads * l.headDim], 'f32');
    const groups = grid(ctx, (l.batch * l.length * l.heads * l.headDim) / 2);
    ctx.run({
      name: 'models.joinHeadsRotary',
      wgsl: JOIN_ROTARY_WGSL,
      bindings: [
        ...[q, k, v, cos, sin].map((tensor) => ({ tensor, access: 'read' as const })),
        { tensor: out, access: 'read_write' },
        { uniform: layoutUniform(l, qScale, groups[0]) },
      ],
      workgroups: groups,
    });
    return out;
  },
  gradient: {
    inputs: ([q, k, v]) => [q, k, v],
    save: ([, , , cos, sin]) => [cos, sin],
    backward: (gy, { args: [q, , , cos, sin, qScale] }): Tensor[] =>
      splitHeadsRotaryOp(gy, cos, sin, q.shape[1], qScale),
  },
});

type HeadsArgs = [Tensor, number];

function headsOp(
  merge: boolean,
  name: string,
  wgsl: string,
  adjoint: () => (...a: HeadsArgs) => Tensor,
): DefinedOp<HeadsArgs, Tensor> {
  /** The layout of the [B, H, L, Dh] side and the output shape. */
  const plan = (x: Tensor, heads: number): { l: HeadLayout; shape: number[] } => {
    if (merge) {
      const l = layoutOfHeads(name, x);
      return { l, shape: [l.batch, l.length, l.heads * l.headDim] };
    }
    if (x.shape.length !== 3 || !Number.isSafeInteger(heads) || heads < 1 || x.shape[2] % heads !== 0)
      throw new ShapeError(
        name,
        `[${x.shape}] into ${heads} heads`,
        '[B, L, H·Dh] with H dividing the width',
      );
    const [batch, length, width] = x.shape;
    const l = { batch, length, heads, headDim: width / heads };
    return { l, shape: [batch, heads, length, l.headDim] };
  };
  return defineOp<HeadsArgs, Tensor>({
    name,
    validate(_b, x, heads) {
      checkFloat(name, x);
      plan(x, heads);
    },
    cpu(ctx, x, heads) {
      const { l, shape } = plan(x, heads);
      const out = floatOutput(ctx, shape, x);
      headsLoop(merge, floatData(ctx, x), out.data, l);
      return out.tensor;
    },
    webgpu(ctx, x, heads) {
      const { l, shape } = plan(x, heads);
      const out = ctx.output(shape, 'f32');
      const groups = grid(ctx, x.size);
      ctx.run({
        name: `models.${name}`,
        wgsl,
        bindings: [
          { tensor: x, access: 'read' },
          { tensor: out, access: 'read_write' },
          { uniform: layoutUniform(l, 1, groups[0]) },
        ],
        workgroups: groups,
      });
      return out;
    },
    gradient: {
      inputs: ([x]) => [x],
      save: () => [],
      backward: (gy, { args: [x] }): Tensor[] => [adjoint()(gy, merge ? x.shape[1] : 0)],
    },
  });
}

/** o [B, H, L, Dh] → [B, L, H·Dh] (heads argument unused). Backward: splitHeads. */
export const mergeHeadsOp: DefinedOp<HeadsArgs, Tensor> = headsOp(
  true,
  'mergeHeads',
  MERGE_WGSL,
  () => splitHeadsOp,
);
/** x [B, L, H·Dh] → [B, H, L, Dh]. Backward: mergeHeads. */
export const splitHeadsOp: DefinedOp<HeadsArgs, Tensor> = headsOp(
  false,
  'splitHeads',
  SPLIT_WGSL,
  () => mergeHeadsOp,
);

/**
 * qkv [B, L, 3·H·Dh] laid out as (three, head, dim) → q, k, v [B, H, L, Dh]; rotary (non-interleaved halves,
 * GPT-NeoX style) on q and k: rope(x) = x·[cos, cos] + [−x2, x1]·[sin, sin]; q also scaled by `qScale`.
 * Differentiable (w.r.t. qkv).
 */
export function splitHeadsRotary(
  backend: Backend,
  qkv: Tensor,
  cos: Tensor,
  sin: Tensor,
  heads: number,
  qScale: number,
): SplitHeads {
  sameBackend('splitHeadsRotary', backend, qkv);
  const [q, k, v] = splitHeadsRotaryOp(qkv, cos, sin, heads, qScale);
  return { q, k, v };
}

/** o [B, H, L, Dh] → [B, L, H·Dh]. Differentiable. */
export function mergeHeads(backend: Backend, o: Tensor): Tensor {
  sameBackend('mergeHeads', backend, o);
  return mergeHeadsOp(o, 0);
}
