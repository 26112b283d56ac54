/**
 * The document-level train / validation split: documents ranked by SHA-256 of their id, the first
 * round(fraction · N) go to validation. Deterministic, independent of the order the ids come in, and a document
 * never straddles the two sets.
 */
import { createHash } from 'node:crypto';
import { ArgumentError } from '@duality/kernels';

export interface DocumentSplit {
  /** Training document ids, in sorted order. */
  train: string[];
  /** Validation document ids, in sorted order. */
  validation: string[];
}

/** The default validation fraction (~5%: 25 of the Brown corpus' 500 documents). */
export const VALIDATION_FRACTION = 0.05;

const rankKey = (id: string): string => createHash('sha256').update(`duality-split:${id}`).digest('hex');

/** Splits document ids into train and validation by the hash rank of each id. */
export function splitDocuments(ids: readonly string[], fraction = VALIDATION_FRACTION): DocumentSplit {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new ArgumentError('splitDocuments', `fraction ${fraction}`, 'a number in [0, 1)');
  }
  const unique = [...new Set(ids)];
  if (unique.length !== ids.length) {
    throw new ArgumentError('splitDocuments', `${ids.length - unique.length} repeated ids`, 'distinct ids');
  }
  const ranked = unique.map((id) => ({ id, key: rankKey(id) })).sort((a, b) => (a.key < b.key ? -1 : 1));
  const count = Math.round(fraction * unique.length);
  const validation = new Set(ranked.slice(0, count).map((r) => r.id));
  const sorted = [...unique].sort();
  return {
    train: sorted.filter((id) => !validation.has(id)),
    validation: sorted.filter((id) => validation.has(id)),
  };
}
