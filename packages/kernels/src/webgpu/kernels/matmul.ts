/**
 * WGSL for batched matmul: 32×64 output tiles, 128 invocations each computing a 4×4 block of outputs (held in
 * registers: the accumulation is unrolled), with 32×16 slices of op(A) and 16×64 slices of op(B) staged in
 * workgroup memory. Every output accumulates in
 * k order starting from its bias (the cpu reference order). Transposes and the bias are run-time flags (one
 * pipeline, compiled once); batch item p reads
 * A at offsets[2p] and B at offsets[2p + 1] (broadcast batch axes).
 */
import tgpu, { d } from 'typegpu';
import type { KernelSpec } from '../runtime';

/** Output tile: TILE_M rows × TILE_N columns. */
export const TILE_M = 32;
export const TILE_N = 64;
/** k-slice staged per step. */
const TK = 16;
export const MM_WG = 128;
/** Invocation (tx, ty) owns rows ty + 8·r (r < 4) and columns tx + 16·c (c < 4) of the tile. */
const ROWS_PER = 4;
const COLS_PER = 4;

export const MatmulParams = d.struct({
  m: d.u32,
  k: d.u32,
  n: d.u32,
  tilesN: d.u32,
  tilesM: d.u32,
  batch: d.u32,
  /** 1 = use Aᵀ / Bᵀ / add the bias (run-time flags: one pipeline serves every variant). */
  transposeA: d.u32,
  transposeB: d.u32,
  hasBias: d.u32,
});

const tileA = tgpu.workgroupVar(d.arrayOf(d.f32, TILE_M * TK));
const tileB = tgpu.workgroupVar(d.arrayOf(d.f32, TK * TILE_N));

export function matmulSpec(): Omit<KernelSpec, 'key'> {
  // element (i, q) of op(A) and (q, j) of op(B) inside batch item p
  const aAt = 'select(ao + i * P.k + q, ao + q * P.m + i, P.transposeA == 1u)';
  const bAt = 'select(bo + q * P.n + j, bo + j * P.k + q, P.transposeB == 1u)';
  const bias = true;
  const storage: KernelSpec['storage'] = {
    a: { type: 'f32', access: 'readonly' },
    b: { type: 'f32', access: 'readonly' },
    offsets: { type: 'u32', access: 'readonly' },
    out: { type: 'f32', access: 'mutable' },
    bias: { type: 'f32', access: 'readonly' },
  };
  const colStride = TILE_N / COLS_PER;
  const rowStride = TILE_M / ROWS_PER;
  const loads = /* wgsl */ `
    for (var e = lid; e < ${TILE_M * TK}u; e += ${MM_WG}u) {
      let i = row0 + e / ${TK}u;
      let q = k0 + e % ${TK}u;
      tileA[e] = select(0.0, L.$.a[${aAt}], i < P.m && q < P.k);
    }
    for (var e = lid; e < ${TK * TILE_N}u; e += ${MM_WG}u) {
      let q = k0 + e / ${TILE_N}u;
      let j = col0 + e % ${TILE_N}u;
      tileB[e] = select(0.0, L.$.b[${bAt}], q < P.k && j < P.n);
    }`;
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
  let row0 = (t / P.tilesN) * ${TILE_M}u;
  let col0 = (t % P.tilesN) * ${TILE_N}u;
  let ao = L.$.offsets[2u * p];
  let bo = L.$.offsets[2u * p + 1u];
  let tx = lid % ${colStride}u;
  let ty = lid / ${colStride}u;
${unrolled(bias, colStride, rowStride, loads)}`,
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The accumulation, unrolled so each of the 4×4 accumulators is a plain register (no private array). */
function unrolled(bias: boolean, colStride: number, rowStride: number, loads: string): string {
  const cells = range(ROWS_PER).flatMap((r) => range(COLS_PER).map((c) => ({ r, c })));
  const cols = range(COLS_PER)
    .map((c) => `  let j${c} = col0 + tx + ${colStride * c}u;`)
    .join('\n');
  const init = cells
    .map(
      ({ r, c }) =>
        `  var acc${r}${c} = ${bias ? `select(0.0, L.$.bias[min(j${c}, P.n - 1u)], j${c} < P.n && P.hasBias == 1u)` : '0.0'};`,
    )
    .join('\n');
  const step = [
    ...range(COLS_PER).map((c) => `      let b${c} = tileB[q * ${TILE_N}u + tx + ${colStride * c}u];`),
    ...range(ROWS_PER).map((r) => `      let a${r} = tileA[(ty + ${rowStride * r}u) * ${TK}u + q];`),
    ...cells.map(({ r, c }) => `      acc${r}${c} += a${r} * b${c};`),
  ].join('\n');
  const store = cells
    .map(
      ({ r, c }) =>
        `  if (row0 + ty + ${rowStride * r}u < P.m && j${c} < P.n) { L.$.out[oo + (row0 + ty + ${rowStride * r}u) * P.n + j${c}] = acc${r}${c}; }`,
    )
    .join('\n');
  return `${cols}
${init}
  let tilesK = (P.k + ${TK - 1}u) / ${TK}u;
  for (var kt = 0u; kt < tilesK; kt++) {
    let k0 = kt * ${TK}u;${loads}
    workgroupBarrier();
    for (var q = 0u; q < ${TK}u; q++) {
${step}
    }
    workgroupBarrier();
  }
  let oo = p * P.m * P.n;
${store}`;
}
