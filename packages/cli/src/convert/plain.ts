/**
 * Unpickled values → plain JSON-able data: dicts become objects, omegaconf DictConfig / ListConfig (what the
 * reference's hydra config pickles into) become their content, tensors and other recorded objects become short
 * descriptions. Interpolations (`${…}`) stay strings; nothing is resolved or run.
 */
import { PyGlobal, PyObject } from './pickle';
import { TorchTensor } from './torch-archive';

export type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

const MAX_DEPTH = 64;

/** omegaconf's pickled containers and nodes keep their value in `_content` (containers) or `_val` (nodes). */
function omegaconfContent(obj: PyObject): { found: boolean; value?: unknown } {
  if (!obj.cls.module.startsWith('omegaconf')) return { found: false };
  const state = obj.state instanceof Map ? obj.state : undefined;
  if (!state) return { found: false };
  if (state.has('_content')) return { found: true, value: state.get('_content') };
  if (state.has('_val')) return { found: true, value: state.get('_val') };
  return { found: false };
}

export function toPlain(value: unknown, depth = 0): Plain {
  if (depth > MAX_DEPTH) return '<nested too deeply>';
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (Array.isArray(value)) return value.map((v) => toPlain(v, depth + 1));
  if (value instanceof Set) return [...value].map((v) => toPlain(v, depth + 1));
  if (value instanceof Map) {
    const out: { [key: string]: Plain } = {};
    for (const [k, v] of value) out[String(k)] = toPlain(v, depth + 1);
    return out;
  }
  if (value instanceof TorchTensor) {
    return value.numel === 1 ? `<tensor ${value.dtype} scalar>` : `<tensor ${value.dtype} [${value.shape}]>`;
  }
  if (value instanceof PyGlobal) return `<${value.qualified}>`;
  if (value instanceof PyObject) {
    const content = omegaconfContent(value);
    if (content.found) return toPlain(content.value, depth + 1);
    if (value.dictItems.size > 0) return toPlain(value.dictItems, depth + 1);
    if (value.listItems.length > 0) return toPlain(value.listItems, depth + 1);
    return `<${value.cls.qualified}>`;
  }
  return String(value);
}

/** A plain object (not an array or a scalar), or undefined. */
export const asObject = (v: unknown): { [key: string]: Plain } | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as { [key: string]: Plain }) : undefined;
