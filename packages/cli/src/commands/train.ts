/**
 * `duality train --config <file.json> --out <dir>`: trains per a @duality/train config (validated before any
 * work: a bad key is one line naming it), resuming from the newest checkpoint under <dir> unless --fresh. A
 * progress bar shows loss, validation BPC, tokens/s and the ETA; Ctrl-C writes a checkpoint and exits cleanly.
 */
import { parseTrainConfig, type TrainProgress, train } from '@duality/train';
import type { Command } from 'commander';
import { readJsonFile } from '../config-file';
import type { CommandContext } from '../context';
import { integer } from '../options';
import { progressBar } from '../progress';
import type { CommandModule } from './index';

interface TrainOptions {
  config: string;
  out: string;
  fresh: boolean;
  steps?: number;
  until?: number;
}

/** One plain line per validation / checkpoint (for logs and pipes, where no bar is drawn). */
export function progressLine(p: TrainProgress): string {
  const val = p.valBpc === undefined ? '' : ` val ${p.valBpc.toFixed(4)} bpc`;
  return `step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)}${val} lr ${p.lr.toExponential(2)} ${p.tokensPerSecond.toFixed(0)} tok/s`;
}

export const trainCommand: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('train')
      .description(
        'train a diffusion (mdlm, udlm, duo, duo-efficient) or autoregressive model on brown8 / brown-char',
      )
      .requiredOption('-c, --config <file>', 'training config (JSON; see @duality/train README for the keys)')
      .requiredOption('-o, --out <dir>', 'run directory: checkpoints/, metrics.jsonl, metrics.svg')
      .option(
        '--fresh',
        'start over even if <dir> holds checkpoints (default: resume from the newest)',
        false,
      )
      .option(
        '--steps <n>',
        'override the config’s total steps (a constant-LR run resumed with more steps continues as one longer run)',
        integer(1),
      )
      .option(
        '--until <step>',
        'stop after this update, with a checkpoint, keeping the run’s schedule (the same command resumes)',
        integer(1),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality train -c models/duo-brown8/config.json -o models/duo-brown8/run\n  duality train --json -c cfg.json -o run   # one JSON line per progress event',
      )
      .action(async (options: TrainOptions) => {
        const raw = (await readJsonFile(options.config)) as Record<string, unknown>;
        const input = options.steps === undefined ? raw : { ...raw, steps: options.steps };
        const config = parseTrainConfig(input);
        const bar = progressBar(context, 'train', config.steps, ['loss', 'bpc', 'tok_s']);
        const result = await train(input, {
          outDir: options.out,
          ...(options.until === undefined ? {} : { stopAfter: options.until }),
          resume: !options.fresh,
          signal: context.io.interrupt(),
          onProgress: (p) => {
            bar.update(p.step, {
              loss: Number.isFinite(p.loss) ? p.loss.toFixed(4) : '-',
              bpc: p.valBpc === undefined ? '-' : p.valBpc.toFixed(3),
              tok_s: p.tokensPerSecond.toFixed(0),
              stage: p.phase,
            });
            if (context.globals.json) context.print(JSON.stringify(p));
            else if (
              !(context.io.stderr as { isTTY?: boolean }).isTTY &&
              (p.valBpc !== undefined || p.phase === 'checkpoint')
            )
              context.note(progressLine(p));
          },
        });
        bar.stop();
        if (context.globals.json) context.printJson(result);
        else
          context.print(
            `${result.aborted ? 'interrupted at' : 'trained to'} step ${result.step}` +
              `${result.valBpc === undefined ? '' : `, validation ${result.valBpc.toFixed(4)} bpc`}` +
              `${result.checkpoint ? `; checkpoint ${result.checkpoint}` : ''}`,
          );
      });
  },
};
