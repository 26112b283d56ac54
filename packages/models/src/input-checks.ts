/**
 * Value checks of the DiT's float inputs (soft weights, dense logits): a NaN there would turn every logit of its
 * row into NaN. On cpu the data is scanned in place (one pass, cheaper than the softmax that follows); on other
 * backends reading the tensor back costs a transfer, so the check runs only when asked (`checkValues: true`).
 */
import { ArgumentError, defineOp, isCpuBackend, type Tensor } from '@duality/kernels';

/** The cpu scan as a cpu-only op: reads the tensor through the kernel context (no copy). */
const scanFinite = defineOp<[Tensor, string, boolean], void>({
  name: 'checkFiniteValues',
  cpu: (ctx, t, op, allowNegativeInfinity) => refuseNonFinite(op, ctx.data(t), allowNegativeInfinity),
});

/**
 * Refuses NaN and +∞ (and −∞ unless `allowNegativeInfinity`, which dense logits may hold: probability 0).
 * Scans on cpu always, elsewhere only with `readBack`.
 */
export async function checkFiniteValues(
  op: string,
  t: Tensor,
  options: { allowNegativeInfinity: boolean; readBack: boolean },
): Promise<void> {
  if (isCpuBackend(t.backend)) scanFinite(t, op, options.allowNegativeInfinity);
  else if (options.readBack) refuseNonFinite(op, await t.read(), options.allowNegativeInfinity);
}

function refuseNonFinite(op: string, data: ArrayLike<number>, allowNegativeInfinity: boolean): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === Number.NEGATIVE_INFINITY && allowNegativeInfinity) continue;
    if (!Number.isFinite(v)) {
      const allowed = allowNegativeInfinity ? 'finite values or −∞' : 'finite values';
      throw new ArgumentError(op, `${v} at flat index ${i}`, allowed);
    }
  }
}

/** Sigma as given: a Tensor or an array of numbers (a plain number is the common slip). */
export function checkSigmaKind(op: string, sigma: unknown, batch: number): void {
  const arrayLike =
    typeof sigma === 'object' && sigma !== null && typeof (sigma as ArrayLike<number>).length === 'number';
  if (!arrayLike) {
    const got = sigma === null ? 'null' : `a ${typeof sigma} (${String(sigma)})`;
    throw new ArgumentError(op, got, `a Tensor [${batch}] or an array of ${batch} numbers (one σ per row)`);
  }
}
