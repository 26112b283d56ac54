/**
 * WGSL for gathers and scatters. Ids live on the device, so a bad id cannot be refused before the dispatch:
 * the kernel writes 0 for it and records (1, op code, id, limit) in the backend's fault buffer, which the
 * backend checks at the next read()/sync() and turns into IndexOutOfRangeError.
 */
import { d } from 'typegpu';
import type { KernelSpec, Scalar } from '../runtime';
import { EW_WG } from './elementwise';

export const GatherParams = d.struct({
  size: d.u32,
  rows: d.u32,
  n: d.u32,
  k: d.u32,
  limit: d.u32,
  code: d.u32,
});

/** Op codes written into the fault buffer. */
export const FAULT_OPS = [
  'none',
  'embedding',
  'embeddingBag',
  'gatherLast',
  'oneHot',
  'scatterAdd',
  'topK',
  'topP',
  'sampleCategorical',
] as const;
export type FaultOp = (typeof FAULT_OPS)[number];
export const faultCode = (op: FaultOp): number => FAULT_OPS.indexOf(op);

/** Fault kinds (word 0 of the fault buffer). */
export const FAULT_INDEX = 1;
export const FAULT_NAN = 2;
/** A row whose logits are all −∞ (word 2: the row). */
export const FAULT_EMPTY = 3;

/**
 * Records (2, op code, row, index) when `value` is NaN (tested on the bits, so no fast-math assumption can drop
 * it): logits with NaN are refused like on the cpu backend, at the next read()/sync().
 */
export const nanCheck = (op: FaultOp, row: string, index: string, value: string) => /* wgsl */ `
  if ((bitcast<u32>(${value}) & 0x7fffffffu) > 0x7f800000u) {
    L.$.fault[0] = ${FAULT_NAN}u;
    L.$.fault[1] = ${faultCode(op)}u;
    L.$.fault[2] = ${row};
    L.$.fault[3] = ${index};
  }`;

/** Records (3, op code, row, 0) when `max`, the row's largest logit, is −∞ (tested on the bits). */
export const emptyRowCheck = (op: FaultOp, row: string, max: string) => /* wgsl */ `
  if (bitcast<u32>(${max}) == 0xff800000u) {
    L.$.fault[0] = ${FAULT_EMPTY}u;
    L.$.fault[1] = ${faultCode(op)}u;
    L.$.fault[2] = ${row};
    L.$.fault[3] = 0u;
  }`;

/** Reads id `expr` as u32 and whether it is inside [0, limit); records a fault if not. */
const checkedId = (idType: Scalar, expr: string) => /* wgsl */ `
  let rawId = ${expr};
  let id = u32(rawId);
  let inRange = ${idType === 'i32' ? 'rawId >= 0 &&' : ''} id < P.limit;
  if (!inRange) {
    L.$.fault[0] = ${FAULT_INDEX}u;
    L.$.fault[1] = P.code;
    L.$.fault[2] = bitcast<u32>(rawId);
    L.$.fault[3] = P.limit;
  }`;

const HEAD = /* wgsl */ `
  let P = L.$.params;
  let i = group * ${EW_WG}u + lid;
  if (i >= P.size) { return; }`;

const fault = { type: 'u32' as const, access: 'mutable' as const };

/** out[r, c] = table[ids[r], c]: table [V, n], size = rows·n, limit = V. */
export function embeddingSpec(t: Scalar, idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      table: { type: t, access: 'readonly' },
      ids: { type: idType, access: 'readonly' },
      out: { type: t, access: 'mutable' },
      fault,
    },
    params: GatherParams,
    workgroupSize: EW_WG,
    body: `${HEAD}
  let r = i / P.n;
  let c = i % P.n;
  ${checkedId(idType, 'L.$.ids[r]')}
  L.$.out[i] = select(${t}(0), L.$.table[id * P.n + c], inRange);`,
  };
}

/**
 * One vocab window of `embedding` (tables bigger than one binding): table = rows [P.k, P.k + P.rows) of the full
 * [V, n] table; ids inside the window are copied, others left as they are; bad ids (outside [0, V), limit = V)
 * give 0 and a fault in every window.
 */
export function embeddingWindowSpec(t: Scalar, idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    ...embeddingSpec(t, idType),
    body: `${HEAD}
  let r = i / P.n;
  let c = i % P.n;
  ${checkedId(idType, 'L.$.ids[r]')}
  if (!inRange) {
    L.$.out[i] = ${t}(0);
  } else if (id >= P.k && id - P.k < P.rows) {
    L.$.out[i] = L.$.table[(id - P.k) * P.n + c];
  }`,
  };
}

/** out[r, c] = Σ_q weights[r, q]·table[indices[r, q], c] in order q = 0 … k − 1. */
export function embeddingBagSpec(idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      table: { type: 'f32', access: 'readonly' },
      ids: { type: idType, access: 'readonly' },
      weights: { type: 'f32', access: 'readonly' },
      out: { type: 'f32', access: 'mutable' },
      fault,
    },
    params: GatherParams,
    workgroupSize: EW_WG,
    body: `${HEAD}
  let r = i / P.n;
  let c = i % P.n;
  var acc = 0.0;
  for (var q = 0u; q < P.k; q++) {
    ${checkedId(idType, 'L.$.ids[r * P.k + q]')}
    if (inRange) { acc += L.$.weights[r * P.k + q] * L.$.table[id * P.n + c]; }
  }
  L.$.out[i] = acc;`,
  };
}

/** out[r] = x[r, ids[r]]: x [rows, n], limit = n. */
export function gatherLastSpec(t: Scalar, idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      x: { type: t, access: 'readonly' },
      ids: { type: idType, access: 'readonly' },
      out: { type: t, access: 'mutable' },
      fault,
    },
    params: GatherParams,
    workgroupSize: EW_WG,
    body: `${HEAD}
  ${checkedId(idType, 'L.$.ids[i]')}
  L.$.out[i] = select(${t}(0), L.$.x[i * P.n + id], inRange);`,
  };
}

/** out[r, c] = (ids[r] == c): size = rows·depth, n = depth = limit. */
export function oneHotSpec(idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: { ids: { type: idType, access: 'readonly' }, out: { type: 'f32', access: 'mutable' }, fault },
    params: GatherParams,
    workgroupSize: EW_WG,
    body: `${HEAD}
  let r = i / P.n;
  let c = i % P.n;
  ${checkedId(idType, 'L.$.ids[r]')}
  L.$.out[i] = select(0.0, 1.0, inRange && id == c);`,
  };
}

/**
 * out (a copy of target [V, n]) gets src[q] added to row indices[q], q = 0 … k − 1 in order: one invocation per
 * column walks the indices sequentially, so the sums are deterministic and in the cpu backend's order.
 */
export function scatterAddSpec(t: Scalar, idType: Scalar): Omit<KernelSpec, 'key'> {
  return {
    storage: {
      ids: { type: idType, access: 'readonly' },
      src: { type: t, access: 'readonly' },
      out: { type: t, access: 'mutable' },
      fault,
    },
    params: GatherParams,
    workgroupSize: EW_WG,
    body: `${HEAD}
  let c = i;
  for (var q = 0u; q < P.k; q++) {
    ${checkedId(idType, 'L.$.ids[q]')}
    if (inRange) { L.$.out[id * P.n + c] = L.$.out[id * P.n + c] + L.$.src[q * P.n + c]; }
  }`,
  };
}
