/**
 * `duality convert <input> <out>`: a reference checkpoint (Lightning .ckpt, torch.save state dict, Hugging Face
 * export folder) → one safetensors file with the reference's names and the config in its metadata, which
 * loadDiT, `duality sample` and `duality info` read. The output is checked by loading it.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createBackend } from '@duality/kernels';
import { loadDiT } from '@duality/models';
import { type Command, Option } from 'commander';
import * as v from 'valibot';
import { readConfigFile } from '../config-file';
import type { CommandContext } from '../context';
import { ALGO_NAMES, type OutputDType, readReferenceCheckpoint, writeConverted } from '../convert/index';
import { outputPath } from '../convert/model';
import { UsageError } from '../errors';
import { integer } from '../options';
import { progressBar } from '../progress';
import type { CommandModule } from './index';

interface ConvertOptions {
  weights: 'ema' | 'raw';
  dtype: OutputDType;
  config?: string;
  length?: number;
  algo?: string;
  force: boolean;
  verify: boolean;
}

/** Loads the written file on a cpu backend (shapes, rotary buffer, config all checked by loadDiT). */
async function verify(path: string): Promise<void> {
  const backend = await createBackend('cpu', { threads: 0 });
  try {
    (await loadDiT(backend, path)).dispose();
  } finally {
    backend.destroy();
  }
}

export const convert: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('convert')
      .description('convert a reference checkpoint (Lightning .ckpt or Hugging Face folder) to safetensors')
      .argument('<input>', 'a Lightning .ckpt, a torch.save state dict, or a Hugging Face export folder')
      .argument('<out>', 'the .safetensors file to write (or a directory: <out>/model.safetensors)')
      .addOption(
        new Option(
          '--weights <which>',
          'Lightning checkpoints: EMA weights (what the reference samples with) or raw',
        )
          .choices(['ema', 'raw'])
          .default('ema'),
      )
      .addOption(
        new Option('--dtype <dtype>', 'storage dtype of the weights')
          .choices(['keep', 'f32', 'f16', 'bf16'])
          .default('keep'),
      )
      .option(
        '--config <file>',
        'a reference config JSON (hydra groups or config.json names) when the input has none',
      )
      .option('--length <n>', 'context length (when the config is inferred from the shapes)', integer(1))
      .addOption(
        new Option('--algo <name>', 'the reference algo, when the input does not say').choices(ALGO_NAMES),
      )
      .option('--force', 'overwrite <out> if it exists', false)
      .option('--no-verify', 'skip loading the written file back')
      .addHelpText(
        'after',
        '\nExamples:\n  duality convert outputs/checkpoints/last.ckpt duo-owt.safetensors\n' +
          '  duality convert --weights raw last.ckpt raw.safetensors\n' +
          '  duality convert ./mdlm-owt mdlm-owt.safetensors --dtype bf16',
      )
      .action(async (input: string, out: string, options: ConvertOptions) => {
        if (!(await stat(input).catch(() => undefined)))
          throw new UsageError(
            'convert',
            `${input} (no such file or directory)`,
            'a checkpoint file or folder',
          );
        const target = await outputPath(out);
        if (existsSync(target) && !options.force)
          throw new UsageError('convert', `${target}, which exists`, 'a new path (or --force)');
        const config = options.config
          ? await readConfigFile(options.config, v.record(v.string(), v.unknown()))
          : undefined;
        const bar = progressBar(context, 'convert', 1);
        const t0 = performance.now();
        let total = 0;
        const model = await readReferenceCheckpoint(input, {
          weights: options.weights,
          config,
          length: options.length,
          algo: options.algo,
          onTensor: (done, n) => {
            if (n + 2 !== total) {
              total = n + 2; // + writing + the check
              bar.setTotal(total);
            }
            bar.update(done, { stage: 'reading tensors' });
          },
        });
        bar.update(model.tensors.size, { stage: 'writing' });
        const path = await writeConverted(model, input, target, options.dtype);
        const tensors = model.tensors.size;
        model.tensors.clear(); // the written copy is all that is needed now: free it before the check loads one
        bar.update(tensors + 1, { stage: options.verify ? 'loading it back' : 'done' });
        if (options.verify) await verify(path);
        bar.update(tensors + 2, { stage: 'done' });
        bar.stop();
        const summary = {
          input,
          output: path,
          source: model.source,
          weights: model.weights ?? null,
          dtype: options.dtype,
          config: model.config,
          reference: model.reference,
          tensors,
          ignored: model.ignored,
          tokenizer: model.tokenizer ?? null,
          bytes: (await stat(path)).size,
          seconds: (performance.now() - t0) / 1000,
          verified: options.verify,
        };
        if (context.globals.json) return context.printJson(summary);
        const w = model.weights ? `${model.weights} weights, ` : '';
        context.print(`wrote ${path} (${summary.tensors} tensors, ${w}${model.source} → safetensors)`);
        if (model.ignored.length > 0)
          context.note(
            `ignored ${model.ignored.length} tensors: ${model.ignored.slice(0, 5).join(', ')}${model.ignored.length > 5 ? ', …' : ''}`,
          );
      });
  },
};
