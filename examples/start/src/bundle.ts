/**
 * The bundled models the main job uses (models/<name>/ as `duality export` writes them: model.safetensors and
 * metrics.json): the DCD-distilled student when one exists, its Duo teacher, and the AR judge.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExportedMetrics } from '@duality/cli';
import { openSafetensorsFile } from '@duality/models';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODELS = join(REPO, 'models');

/** models/<name> of the distilled student (absent until a DCD run is exported), its teacher and the judge. */
export const NAMES = { student: 'duo-dcd-brown8', teacher: 'duo-brown8', judge: 'ar-brown8' } as const;

export interface Bundled {
  name: string;
  /** models/<name>/model.safetensors, absolute. */
  file: string;
  /** The same, relative to the repository (for what is printed). */
  shown: string;
  metrics: ExportedMetrics;
}

/** The bundled model `name`, or undefined when its model.safetensors or metrics.json is not there. */
export function bundled(name: string, models = MODELS): Bundled | undefined {
  const file = join(models, name, 'model.safetensors');
  const metricsFile = join(models, name, 'metrics.json');
  if (!existsSync(file) || !existsSync(metricsFile)) return undefined;
  return {
    name,
    file,
    shown: relative(REPO, file),
    metrics: JSON.parse(readFileSync(metricsFile, 'utf8')) as ExportedMetrics,
  };
}

/** "Duo (curriculum), 559,323 parameters, 350 of 2000 training steps, validation 3.964 BPC". */
export function describeModel(m: Bundled): string {
  const what: Record<string, string> = {
    duo: 'Duo (Gaussian curriculum)',
    'duo-efficient': 'Duo (efficient curriculum)',
    mdlm: 'MDLM (masked)',
    udlm: 'UDLM (uniform)',
    ar: 'autoregressive',
  };
  const x = m.metrics;
  const kind = x.kind === 'distill' ? `DCD student of ${x.teacher}` : (what[x.algorithm] ?? x.algorithm);
  const val = x.validation ? `, validation ${x.validation.bpc.toFixed(3)} BPC` : '';
  return `${kind}, ${x.parameters.toLocaleString('en-US')} parameters, ${x.step} of ${x.steps} ${x.kind === 'distill' ? 'distillation' : 'training'} steps${val}`;
}

/** Whether the run behind the model stopped before its planned steps. */
export const partial = (m: Bundled): boolean => m.metrics.step < m.metrics.steps;

/** The model's context length, from the config card in its file's metadata. */
export async function contextOf(m: Bundled): Promise<number> {
  const reader = await openSafetensorsFile(m.file);
  try {
    return Number(JSON.parse(reader.metadata.config ?? '{}')?.model?.length);
  } finally {
    await reader.close();
  }
}
