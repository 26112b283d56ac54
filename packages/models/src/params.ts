/**
 * The DiT's trainable tensors, named as the reference's `DIT.state_dict()` keys minus the rotary buffer
 * `rotary_emb.inv_freq` (it has no gradient): a plain object, so `valueAndGrad` returns gradients by the same
 * names (`grads['blocks.0.attn_qkv.weight']`).
 */
import {
  DisposedTensorError,
  DTypeError,
  describeShape,
  type FloatDType,
  type Tensor,
} from '@duality/kernels';
import { type DiTConfig, referenceStateDictShapes } from './config';
import { MissingTensorError, TensorShapeMismatchError } from './errors';

/** Reference state-dict name → tensor, every trainable tensor of the network. */
export type DiTParameters = Record<string, Tensor>;

export const ROTARY_BUFFER = 'rotary_emb.inv_freq';

/** Names and shapes of the trainable tensors of `config`, in state-dict order. */
export function parameterShapes(config: DiTConfig): Array<[string, number[]]> {
  return referenceStateDictShapes(config).filter(([name]) => name !== ROTARY_BUFFER);
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Checks tensors against the config: known names, reference shapes, one float dtype, one backend, alive. With
 * `complete`, every parameter must be present. Returns the common dtype (undefined for an empty partial set).
 */
export function checkParameters(
  op: string,
  config: DiTConfig,
  params: Readonly<Record<string, Tensor | undefined>>,
  complete: boolean,
  like?: { dtype: FloatDType; backend: Tensor['backend'] },
): FloatDType | undefined {
  const shapes = new Map(parameterShapes(config));
  for (const name of Object.keys(params)) {
    if (!shapes.has(name))
      throw new MissingTensorError(op, `an unknown parameter "${name}"`, 'a name of parameterShapes(config)');
  }
  let ref = like;
  for (const [name, shape] of shapes) {
    const t = params[name];
    if (!t) {
      if (complete)
        throw new MissingTensorError(op, `no tensor "${name}"`, `a tensor of shape ${describeShape(shape)}`);
      continue;
    }
    if (t.disposed) throw new DisposedTensorError(op, `"${name}" disposed`, 'a live tensor');
    if (!sameShape(t.shape, shape))
      throw new TensorShapeMismatchError(
        op,
        `"${name}" of shape ${describeShape(t.shape)}`,
        describeShape(shape),
      );
    if (t.dtype !== 'f32' && t.dtype !== 'f64')
      throw new DTypeError(op, `"${name}" ${t.dtype}`, 'f32 or f64');
    if (!ref) ref = { dtype: t.dtype, backend: t.backend };
    if (t.dtype !== ref.dtype)
      throw new DTypeError(op, `"${name}" ${t.dtype}`, `${ref.dtype} like the others`);
    if (t.backend !== ref.backend)
      throw new DisposedTensorError(
        op,
        `"${name}" on another backend`,
        `every parameter on the ${ref.backend.name} backend`,
      );
  }
  return ref?.dtype;
}
