/**
 * How `duality sample` shows ids: through the model's tokenizer when one fits (brown8, brown-char, gpt2), else
 * as numbers; the mask id as `_`. The live frame marks masked positions (dim `_`), positions the model still
 * reads as noise (uniform diffusion: x_t ≠ argmax x̂0, dim) and tokens that changed at this step (colour).
 */
import { type Tokenizer, tokenizerByName } from '@duality/models';
import type { Colors } from 'picocolors/types';
import { UsageError } from './errors';

export type ProcessKind = 'masked' | 'uniform';

/** Tokenizer of a vocabulary of K ids (the masked process adds its mask after them). */
const BY_SIZE: Readonly<Record<number, string>> = { 27: 'brown8', 96: 'brown-char', 50257: 'gpt2' };

export interface TokenView {
  readonly tokenizer?: Tokenizer;
  /** The mask id (masked process) or undefined. */
  readonly maskId?: number;
  /** One id as display text (for the live view). */
  piece(id: number): string;
  /** A whole sequence as text (masks and ids beyond the tokenizer as `_`). */
  text(ids: ArrayLike<number>): string;
}

/** The tokenizer named (or the one the vocabulary implies) for a model of V ids, checked to fit. */
export async function resolveTokenizer(
  name: string | undefined,
  vocabSize: number,
  kind: ProcessKind,
): Promise<Tokenizer | undefined> {
  const K = kind === 'masked' ? vocabSize - 1 : vocabSize;
  const chosen = name ?? BY_SIZE[K];
  if (!chosen) return undefined;
  const tokenizer = await tokenizerByName(chosen);
  if (tokenizer.vocabSize > vocabSize || tokenizer.vocabSize < vocabSize - 1)
    throw new UsageError(
      'sample --tokenizer',
      `${chosen} (${tokenizer.vocabSize} ids) for a model of ${vocabSize} ids`,
      `a tokenizer of ${K} ids`,
    );
  return tokenizer;
}

export function tokenView(tokenizer: Tokenizer | undefined, maskId: number | undefined): TokenView {
  const known = (id: number) =>
    tokenizer !== undefined && id >= 0 && id < tokenizer.vocabSize && id !== maskId;
  const cache = new Map<number, string>();
  const piece = (id: number): string => {
    if (!tokenizer) return id === maskId || id < 0 ? '_ ' : `${id} `;
    if (!known(id)) return '_';
    let p = cache.get(id);
    if (p === undefined) {
      p = tokenizer.decode([id]).replace(/\n/g, '⏎');
      cache.set(id, p);
    }
    return p;
  };
  const text = (ids: ArrayLike<number>): string => {
    const arr = Array.from(ids);
    if (!tokenizer) return arr.map((id) => (id === maskId || id < 0 ? '_' : String(id))).join(' ');
    let out = '';
    let run: number[] = [];
    const flush = () => {
      if (run.length > 0) out += tokenizer.decode(run);
      run = [];
    };
    for (const id of arr) {
      if (known(id)) run.push(id);
      else {
        flush();
        out += '_';
      }
    }
    flush();
    return out;
  };
  return { tokenizer, maskId, piece, text };
}

export interface FrameRow {
  ids: Int32Array;
  previous?: Int32Array;
  /** argmax x̂0 at each position (uniform diffusion: where it differs from x_t the token is still noise). */
  x0?: Int32Array;
}

/** One row of the live view. */
export function renderRow(view: TokenView, row: FrameRow, colors: Colors): string {
  let out = '';
  for (let i = 0; i < row.ids.length; i++) {
    const id = row.ids[i];
    if (id < 0 || id === view.maskId) {
      out += colors.dim('_');
      continue;
    }
    const p = view.piece(id);
    if (row.previous && row.previous[i] !== id) out += colors.bold(colors.cyan(p));
    else if (row.x0 && row.x0[i] !== id) out += colors.dim(p);
    else out += p;
  }
  return out;
}
