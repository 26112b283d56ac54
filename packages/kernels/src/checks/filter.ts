/** Checks of the logit filters (topK, topP), shared by every backend. NaN logits are refused where they are seen. */
import type { Backend, Tensor } from '../types';
import { checkDtype, checkTensor, checkTopK, checkTopP, FLOAT, lastAxis } from '../validate';

/** topK(logits [..., n] float, k in [1, n]). */
export function validateTopK(backend: Backend, logits: Tensor, k: number): { rows: number; n: number } {
  const rows = filterRows(backend, 'topK', logits);
  checkTopK('topK', k, rows.n);
  return rows;
}

/** topP(logits [..., n] float, p in (0, 1]). */
export function validateTopP(backend: Backend, logits: Tensor, p: number): { rows: number; n: number } {
  const rows = filterRows(backend, 'topP', logits);
  checkTopP('topP', p);
  return rows;
}

function filterRows(backend: Backend, op: string, logits: Tensor): { rows: number; n: number } {
  checkTensor(op, 'logits', logits, backend);
  checkDtype(op, 'logits', logits, FLOAT);
  return lastAxis(op, 'logits', logits);
}
