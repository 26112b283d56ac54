/**
 * The fused-Ψ capability: which closed form of Ψ (Chapter II) a process offers the fused kernels of
 * @duality/posteriors. Only the built-in masked and uniform processes carry it, set by their own constructors;
 * a process's `kind` never selects a kernel, so a researcher's process (whatever its `kind`, whatever its shape)
 * goes through the generic path over the NoiseProcess contract.
 */

/** The closed form a fused Ψ kernel may use for a process (Ψ row affine in x̂0, `posteriors/src/affine.ts`). */
export type FusedPsi = { readonly kind: 'uniform' } | { readonly kind: 'masked'; readonly maskId: number };

const FUSED_PSI: unique symbol = Symbol('@duality/noise fusedPsi');

/**
 * Marks a built-in process: an own, non-enumerable, read-only symbol property, so object spreads do not copy it,
 * objects made with Object.create(process) do not own it, and nothing reassigns it.
 */
export function markFusedPsi(process: object, descriptor: FusedPsi): void {
  Object.defineProperty(process, FUSED_PSI, {
    value: Object.freeze({ ...descriptor }),
    enumerable: false,
    writable: false,
    configurable: false,
  });
}

/**
 * The fused-Ψ capability of a process, or undefined: set by `masked(...)` / `new MaskedProcess(...)` and
 * `uniform(...)` / `new UniformProcess(...)` only (not by subclasses, which may override the maths).
 */
export function fusedPsiOf(process: unknown): FusedPsi | undefined {
  if (process === null || typeof process !== 'object') return undefined;
  return Object.getOwnPropertyDescriptor(process, FUSED_PSI)?.value as FusedPsi | undefined;
}
