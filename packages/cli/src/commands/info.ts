/** `duality info <checkpoint>`: config, parameter count, dtype, tokenizer, metrics and size of a checkpoint. */
import type { Command } from 'commander';
import { type Description, describe } from '../checkpoint';
import type { CommandContext } from '../context';
import type { CommandModule } from './index';

const KIND: Readonly<Record<Description['kind'], string>> = {
  safetensors: 'safetensors model',
  huggingface: 'Hugging Face export',
  lightning: 'Lightning checkpoint',
  torch: 'torch.save state dict',
};

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(1)} ${units[i]}`;
}

/** 25704 → "25,704 (25.7 K)". */
export function formatCount(n: number): string {
  const short =
    n >= 1e9
      ? `${(n / 1e9).toFixed(2)} B`
      : n >= 1e6
        ? `${(n / 1e6).toFixed(1)} M`
        : `${(n / 1e3).toFixed(1)} K`;
  return n >= 1000 ? `${n.toLocaleString('en-US')} (${short})` : String(n);
}

const group = (d: Description, key: string): Record<string, unknown> | undefined => {
  const g = d.reference?.[key];
  return g !== null && typeof g === 'object' && !Array.isArray(g)
    ? (g as Record<string, unknown>)
    : undefined;
};

const scalar = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** A long value cut for the terminal (--json has it whole). */
const short = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** state.json of a training run: its step and metrics, not its RNG offsets, cursor and file hashes. */
function summary(file: string, content: unknown): string {
  if (file !== 'state.json' || content === null || typeof content !== 'object') return scalar(content);
  const { step, metrics } = content as { step?: unknown; metrics?: unknown };
  return scalar(metrics === undefined ? { step } : { step, metrics });
}

/** The human-readable report (label column, then value). */
export function formatDescription(d: Description): string[] {
  const rows: Array<[string, string]> = [];
  const c = d.config;
  rows.push([
    'model',
    c
      ? `${c.causal ? 'causal ' : ''}DiT: ${c.nBlocks} blocks, hidden ${c.hiddenSize}, ${c.nHeads} heads, cond ${c.condDim}, context ${c.length}, vocabulary ${c.vocabSize}`
      : 'no config in the file (the loader infers it from the shapes; give the context length)',
  ]);
  if (c)
    rows.push([
      'time cond.',
      c.causal ? 'none (causal)' : c.timeConditioning ? 'on (sigma)' : 'off (sigma ignored)',
    ]);
  rows.push(['parameters', formatCount(d.parameters)]);
  rows.push([
    'dtype',
    Object.entries(d.dtypes)
      .map(([k, n]) => `${k} × ${n}`)
      .join(', ') || 'none',
  ]);
  const algo = group(d, 'algo');
  if (algo?.name || algo?.parameterization)
    rows.push([
      'algo',
      `${algo.name ?? '?'}${algo.parameterization ? ` (parameterization ${algo.parameterization})` : ''}`,
    ]);
  const noise = group(d, 'noise');
  if (noise)
    rows.push([
      'noise',
      Object.entries(noise)
        .map(([k, v]) => `${k} ${scalar(v)}`)
        .join(', '),
    ]);
  rows.push(['tokenizer', d.tokenizer ?? 'unknown (ids are shown as numbers; sample --tokenizer names one)']);
  for (const [k, v] of Object.entries(d.metadata))
    if (v !== null && k !== 'format') rows.push([k, scalar(v)]);
  if (d.metrics)
    for (const [file, content] of Object.entries(d.metrics)) rows.push([file, short(summary(file, content))]);
  else rows.push(['metrics', 'none beside it (state.json, metrics.json, metrics.jsonl)']);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `${d.path}  (${KIND[d.kind]}, ${formatBytes(d.bytes)}${d.files.length > 1 ? ` in ${d.files.length} files` : ''})`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
  ];
}

export const info: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('info')
      .description("show a checkpoint's config, parameter count, dtype, tokenizer, metrics and size")
      .argument(
        '<checkpoint>',
        'a .safetensors file, a checkpoint directory, a Hugging Face folder or a .ckpt',
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality info models/duo-brown8.safetensors\n  duality info --json last.ckpt',
      )
      .action(async (path: string) => {
        const d = await describe(path);
        if (context.globals.json) context.printJson(d);
        else for (const line of formatDescription(d)) context.print(line);
      });
  },
};
