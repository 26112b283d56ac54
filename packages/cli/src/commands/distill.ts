/**
 * `duality distill --config <file.json> --out <dir>`: Discrete Consistency Distillation (Duo I, Algorithm 1) of a
 * trained uniform-state checkpoint per a @duality/train distillation config (validated, and the teacher read and
 * checked, before any work: a bad key is one line naming it). Resumes from the newest checkpoint under <dir>
 * unless --fresh. A progress bar shows the round, δ, loss, validation BPC, tokens/s and the ETA; Ctrl-C writes a
 * checkpoint and exits cleanly.
 */
import { type DistillProgress, distill, loadDistillTeacher } from '@duality/train';
import type { Command } from 'commander';
import { readJsonFile } from '../config-file';
import type { CommandContext } from '../context';
import { ConfigError } from '../errors';
import { integer } from '../options';
import { progressBar } from '../progress';
import type { CommandModule } from './index';
import { progressLine } from './train';

interface DistillOptions {
  config: string;
  out: string;
  fresh: boolean;
  teacher?: string;
  until?: number;
}

/** One plain line per validation / checkpoint: train's line with the round and δ. */
export function distillLine(p: DistillProgress): string {
  return `${progressLine(p)} round ${p.round} δ ${p.delta.toPrecision(3)}`;
}

export const distillCommand: CommandModule = {
  register(program: Command, context: CommandContext) {
    program
      .command('distill')
      .description(
        'distil a trained duo / duo-efficient / udlm checkpoint into a few-step student (DCD, Duo I Algorithm 1)',
      )
      .requiredOption(
        '-c, --config <file>',
        'distillation config (JSON: teacher, distill, data, optimizer, …; see @duality/train README)',
      )
      .requiredOption('-o, --out <dir>', 'run directory: checkpoints/, teachers/, metrics.jsonl, metrics.svg')
      .option('--teacher <dir>', 'the teacher checkpoint, instead of the config’s `teacher`')
      .option(
        '--fresh',
        'start over even if <dir> holds checkpoints (default: resume from the newest)',
        false,
      )
      .option(
        '--until <step>',
        'stop after this update, with a checkpoint, keeping the run’s schedule (the same command resumes)',
        integer(1),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  duality distill -c models/duo-dcd-brown8/config.json -o models/duo-dcd-brown8/run\n' +
          '  duality distill -c dcd.json -o runs/dcd --teacher runs/duo   # one JSON line per event with --json',
      )
      .action(async (options: DistillOptions) => {
        const raw = await readJsonFile(options.config);
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
          throw new ConfigError(options.config, JSON.stringify(raw), 'a JSON object (a distillation config)');
        const input = options.teacher === undefined ? raw : { ...raw, teacher: options.teacher };
        const { config } = await loadDistillTeacher(input); // every check, before the bar appears
        context.note(
          `distilling ${config.algorithm} from ${config.teacher}: ${config.distill.rounds} rounds of ${config.distill.stepsPerRound} steps`,
        );
        const bar = progressBar(context, 'distill', config.steps, ['round', 'delta', 'loss', 'bpc', 'tok_s']);
        const tty = (context.io.stderr as { isTTY?: boolean }).isTTY === true;
        const result = await distill(input, {
          outDir: options.out,
          ...(options.until === undefined ? {} : { stopAfter: options.until }),
          resume: !options.fresh,
          signal: context.io.interrupt(),
          onProgress: (p) => {
            bar.update(p.step, {
              round: p.round,
              delta: p.delta.toPrecision(3),
              loss: Number.isFinite(p.loss) ? p.loss.toFixed(4) : '-',
              bpc: p.valBpc === undefined ? '-' : p.valBpc.toFixed(3),
              tok_s: p.tokensPerSecond.toFixed(0),
              stage: p.phase,
            });
            if (context.globals.json) context.print(JSON.stringify(p));
            else if (!tty && (p.valBpc !== undefined || p.phase === 'checkpoint'))
              context.note(distillLine(p));
          },
        });
        bar.stop();
        if (context.globals.json) context.printJson(result);
        else
          context.print(
            `${result.aborted ? 'interrupted at' : 'distilled to'} step ${result.step} (round ${result.round})` +
              `${result.valBpc === undefined ? '' : `, validation ${result.valBpc.toFixed(4)} bpc`}` +
              `${result.checkpoint ? `; checkpoint ${result.checkpoint}` : ''}`,
          );
      });
  },
};
