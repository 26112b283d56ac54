/**
 * Value checks of the DiT's float inputs (soft weights, dense logits): a NaN there would turn every logit of its
 * row into NaN. On cpu the data is scanned in place (one pass, cheaper than the softmax that follows); on other
 * backends reading the tensor back costs a transfer, so the check runs only when asked (`checkValues: true`).
 */
import { ArgumentError, type CpuBackend, type Tensor } from '@duality/kernels';

const isCpu = (t: Tensor): boolean => {
  const b = t.backend as Partial<CpuBackend>;
  return b.name === 'cpu' && typeof b.dataOf === 'function';
};

/**
 * Refuses NaN and +∞ (and −∞ unless `allowNegativeInfinity`, which dense logits may hold: probability 0).
 * Scans on cpu always, elsewhere only with `readBack`.
 */
export async function checkFiniteValues(
  op: string,
  t: Tensor,
  options: { allowNegativeInfinity: boolean; readBack: boolean },
): Promise<void> {
  const cpu = isCpu(t);
  if (!cpu && !options.readBack) return;
  const data = cpu ? (t.backend as CpuBackend).dataOf(t) : await t.read();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === Number.NEGATIVE_INFINITY && options.allowNegativeInfinity) continue;
    if (!Number.isFinite(v)) {
      const allowed = options.allowNegativeInfinity ? 'finite values or −∞' : 'finite values';
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
