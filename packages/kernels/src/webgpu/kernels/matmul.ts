/**
 * WGSL for batched matmul: 16×16 output tiles, 128 invocations (each computes two rows of a column), A and B
 * tiles staged in workgroup memory. Transposes are pipeline variants; the bias is fused as the accumulator's
 * start value. Batch item p reads A at offsets[2p] and B at offsets[2p + 1] (broadcast batch axes).
 */
import tgpu, { d } from 'typegpu';
import type { KernelSpec } from '../runtime';

export const TILE = 16;
export const MM_WG = 128;

export const MatmulParams = d.struct({
  m: d.u32,
  k: d.u32,
  n: d.u32,
  tilesN: d.u32,
  tilesM: d.u32,
  batch: d.u32,
});

const tileA = tgpu.workgroupVar(d.arrayOf(d.f32, TILE * TILE));
const tileB = tgpu.workgroupVar(d.arrayOf(d.f32, TILE * TILE));

export function matmulSpec(transposeA: boolean, transposeB: boolean, bias: boolean): Omit<KernelSpec, 'key'> {
  // element (i, q) of op(A) and (q, j) of op(B) inside batch item p
  const aAt = transposeA ? 'ao + q * P.m + i' : 'ao + i * P.k + q';
  const bAt = transposeB ? 'bo + j * P.k + q' : 'bo + q * P.n + j';
  const storage: KernelSpec['storage'] = {
    a: { type: 'f32', access: 'readonly' },
    b: { type: 'f32', access: 'readonly' },
    offsets: { type: 'u32', access: 'readonly' },
    out: { type: 'f32', access: 'mutable' },
  };
  if (bias) storage.bias = { type: 'f32', access: 'readonly' };
  return {
    storage,
    params: MatmulParams,
    workgroupSize: MM_WG,
    uses: { tileA, tileB },
    body: /* wgsl */ `
  let P = L.$.params;
  let perBatch = P.tilesN * P.tilesM;
  let p = group / perBatch;
  if (p >= P.batch) { return; }
  let t = group % perBatch;
  let row0 = (t / P.tilesN) * ${TILE}u;
  let col0 = (t % P.tilesN) * ${TILE}u;
  let ao = L.$.offsets[2u * p];
  let bo = L.$.offsets[2u * p + 1u];
  let tx = lid % ${TILE}u;
  let ty = lid / ${TILE}u;
  let jOut = col0 + tx;
  let biasValue = ${bias ? 'select(0.0, L.$.bias[min(jOut, P.n - 1u)], jOut < P.n)' : '0.0'};
  var acc0 = biasValue;
  var acc1 = biasValue;
  let tilesK = (P.k + ${TILE - 1}u) / ${TILE}u;
  for (var kt = 0u; kt < tilesK; kt++) {
    let k0 = kt * ${TILE}u;
    for (var e = lid; e < ${TILE * TILE}u; e += ${MM_WG}u) {
      let r = e / ${TILE}u;
      let c = e % ${TILE}u;
      {
        let i = row0 + r;
        let q = k0 + c;
        tileA[e] = select(0.0, L.$.a[${aAt}], i < P.m && q < P.k);
      }
      {
        let q = k0 + r;
        let j = col0 + c;
        tileB[e] = select(0.0, L.$.b[${bAt}], q < P.k && j < P.n);
      }
    }
    workgroupBarrier();
    for (var q = 0u; q < ${TILE}u; q++) {
      let bv = tileB[q * ${TILE}u + tx];
      acc0 += tileA[ty * ${TILE}u + q] * bv;
      acc1 += tileA[(ty + 8u) * ${TILE}u + q] * bv;
    }
    workgroupBarrier();
  }
  let i0 = row0 + ty;
  let i1 = i0 + 8u;
  let oo = p * P.m * P.n;
  if (jOut < P.n) {
    if (i0 < P.m) { L.$.out[oo + i0 * P.n + jOut] = acc0; }
    if (i1 < P.m) { L.$.out[oo + i1 * P.n + jOut] = acc1; }
  }`,
  };
}
