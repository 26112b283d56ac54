/**
 * The two layout ops attention needs and the Backend lacks: split the fused QKV projection into per-head
 * q, k, v with rotary embedding applied to q and k, and merge heads back. A fused loop on cpu
 * (CpuBackend.dataOf / fromArray, f32 and f64), a WGSL kernel on webgpu (WebGPUBackend.runKernel).
 */
import {
  type Backend,
  type CpuBackend,
  DTypeError,
  ShapeError,
  type Tensor,
  type WebGPUBackend,
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

function layoutOf(op: string, qkv: Tensor, heads: number): HeadLayout {
  if (qkv.shape.length !== 3 || qkv.shape[2] % (3 * heads) !== 0) {
    throw new ShapeError(op, `qkv [${qkv.shape}]`, `[B, L, 3·H·Dh] with H = ${heads}`);
  }
  const [batch, length, width] = qkv.shape;
  return { batch, length, heads, headDim: width / 3 / heads };
}

function checkRotary(op: string, cos: Tensor, sin: Tensor, { length, headDim }: HeadLayout): void {
  const want = [length, headDim / 2];
  for (const t of [cos, sin]) {
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new ShapeError(op, `rotary table [${t.shape}]`, `[${want}]`);
    }
  }
}

/**
 * qkv [B, L, 3·H·Dh] laid out as (three, head, dim) → q, k, v [B, H, L, Dh]; rotary (non-interleaved halves,
 * GPT-NeoX style) on q and k: rope(x) = x·[cos, cos] + [−x2, x1]·[sin, sin]; q also scaled by `qScale`.
 */
export function splitHeadsRotary(
  backend: Backend,
  qkv: Tensor,
  cos: Tensor,
  sin: Tensor,
  heads: number,
  qScale: number,
): SplitHeads {
  const op = 'splitHeadsRotary';
  const layout = layoutOf(op, qkv, heads);
  checkRotary(op, cos, sin, layout);
  if (cos.dtype !== qkv.dtype || sin.dtype !== qkv.dtype) {
    throw new DTypeError(op, `qkv ${qkv.dtype}, rotary ${cos.dtype}/${sin.dtype}`, 'one float dtype');
  }
  if (backend.name === 'cpu') return splitHeadsCpu(backend as CpuBackend, qkv, cos, sin, layout, qScale);
  return splitHeadsWebGPU(backend as WebGPUBackend, qkv, cos, sin, layout, qScale);
}

/** o [B, H, L, Dh] → [B, L, H·Dh]. */
export function mergeHeads(backend: Backend, o: Tensor): Tensor {
  if (o.shape.length !== 4) throw new ShapeError('mergeHeads', `[${o.shape}]`, '[B, H, L, Dh]');
  const [batch, heads, length, headDim] = o.shape;
  const layout = { batch, heads, length, headDim };
  if (backend.name === 'cpu') return mergeHeadsCpu(backend as CpuBackend, o, layout);
  return mergeHeadsWebGPU(backend as WebGPUBackend, o, layout);
}

// ------------------------------------------------------------------------------------------------ cpu

type FloatArray = Float32Array | Float64Array;

function splitHeadsCpu(
  cpu: CpuBackend,
  qkv: Tensor,
  cosT: Tensor,
  sinT: Tensor,
  l: HeadLayout,
  qScale: number,
): SplitHeads {
  const { batch: B, length: L, heads: H, headDim: Dh } = l;
  const src = cpu.dataOf(qkv) as FloatArray;
  const cos = cpu.dataOf(cosT) as FloatArray;
  const sin = cpu.dataOf(sinT) as FloatArray;
  const shape = [B, H, L, Dh];
  const dtype = qkv.dtype as 'f32' | 'f64';
  const [qT, kT, vT] = [cpu.zeros(shape, dtype), cpu.zeros(shape, dtype), cpu.zeros(shape, dtype)];
  const [q, k, v] = [cpu.dataOf(qT), cpu.dataOf(kT), cpu.dataOf(vT)];
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
          const s = sin[tab + j];
          const q1 = src[iq + j];
          const q2 = src[iq + j + half];
          q[o + j] = (q1 * c - q2 * s) * qScale;
          q[o + j + half] = (q2 * c + q1 * s) * qScale;
          const k1 = src[ik + j];
          const k2 = src[ik + j + half];
          k[o + j] = k1 * c - k2 * s;
          k[o + j + half] = k2 * c + k1 * s;
        }
        for (let j = 0; j < Dh; j++) v[o + j] = src[iv + j];
      }
    }
  }
  return { q: qT, k: kT, v: vT };
}

function mergeHeadsCpu(cpu: CpuBackend, oT: Tensor, l: HeadLayout): Tensor {
  const { batch: B, length: L, heads: H, headDim: Dh } = l;
  const src = cpu.dataOf(oT) as FloatArray;
  const result = cpu.zeros([B, L, H * Dh], oT.dtype as 'f32' | 'f64');
  const out = cpu.dataOf(result);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < L; t++) {
        const from = ((b * H + h) * L + t) * Dh;
        out.set(src.subarray(from, from + Dh), ((b * L + t) * H + h) * Dh);
      }
    }
  }
  return result;
}

// ------------------------------------------------------------------------------------------------ webgpu

const WORKGROUP = 64;
const MAX_GROUPS = 65535;

/** Workgroups for n threads, spilling into y when x would exceed the per-dimension limit. */
function dispatch(n: number): [number, number] {
  const groups = Math.ceil(n / WORKGROUP);
  return groups <= MAX_GROUPS ? [Math.max(groups, 1), 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)];
}

function layoutUniform(l: HeadLayout, qScale: number): ArrayBuffer {
  const buf = new ArrayBuffer(32);
  const u = new Uint32Array(buf);
  u.set([l.batch, l.length, l.heads, l.headDim]);
  new Float32Array(buf)[4] = qScale;
  return buf;
}

const PARAMS = /* wgsl */ `
struct Params { batch: u32, length: u32, heads: u32, headDim: u32, qScale: f32, pad0: u32, pad1: u32, pad2: u32 };`;

const SPLIT_WGSL = /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.headDim / 2u;
  let i = gid.x + gid.y * ${MAX_GROUPS * WORKGROUP}u;
  if (i >= p.batch * p.length * p.heads * half) { return; }
  // i enumerates (b, t, h, j) with j fastest.
  let j = i % half;
  let h = (i / half) % p.heads;
  let t = (i / (half * p.heads)) % p.length;
  let b = i / (half * p.heads * p.length);
  let width = p.heads * p.headDim;
  let iq = (b * p.length + t) * 3u * width + h * p.headDim;
  let ik = iq + width;
  let iv = ik + width;
  let o = ((b * p.heads + h) * p.length + t) * p.headDim;
  let c = cosT[t * half + j];
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

const MERGE_WGSL = /* wgsl */ `${PARAMS}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ${MAX_GROUPS * WORKGROUP}u;
  if (i >= p.batch * p.length * p.heads * p.headDim) { return; }
  // i enumerates the output [b, t, h, d] with d fastest.
  let d = i % p.headDim;
  let h = (i / p.headDim) % p.heads;
  let t = (i / (p.headDim * p.heads)) % p.length;
  let b = i / (p.headDim * p.heads * p.length);
  dst[i] = src[((b * p.heads + h) * p.length + t) * p.headDim + d];
}`;

function checkF32(op: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new DTypeError(op, t.dtype, 'f32 (WGSL has no f64)');
}

function splitHeadsWebGPU(
  gpu: WebGPUBackend,
  qkv: Tensor,
  cos: Tensor,
  sin: Tensor,
  l: HeadLayout,
  qScale: number,
): SplitHeads {
  checkF32('splitHeadsRotary', qkv);
  const shape = [l.batch, l.heads, l.length, l.headDim];
  const q = gpu.zeros(shape, 'f32');
  const k = gpu.zeros(shape, 'f32');
  const v = gpu.zeros(shape, 'f32');
  gpu.runKernel({
    name: 'models.splitHeadsRotary',
    wgsl: SPLIT_WGSL,
    bindings: [
      { tensor: qkv, access: 'read' },
      { tensor: cos, access: 'read' },
      { tensor: sin, access: 'read' },
      { tensor: q, access: 'read_write' },
      { tensor: k, access: 'read_write' },
      { tensor: v, access: 'read_write' },
      { uniform: layoutUniform(l, qScale) },
    ],
    workgroups: dispatch((l.batch * l.length * l.heads * l.headDim) / 2),
  });
  return { q, k, v };
}

function mergeHeadsWebGPU(gpu: WebGPUBackend, o: Tensor, l: HeadLayout): Tensor {
  checkF32('mergeHeads', o);
  const out = gpu.zeros([l.batch, l.length, l.heads * l.headDim], 'f32');
  gpu.runKernel({
    name: 'models.mergeHeads',
    wgsl: MERGE_WGSL,
    bindings: [
      { tensor: o, access: 'read' },
      { tensor: out, access: 'read_write' },
      { uniform: layoutUniform(l, 1) },
    ],
    workgroups: dispatch(o.size),
  });
  return out;
}
