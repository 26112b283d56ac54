/**
 * The commands of `duality`, in the order `--help` lists them. A command is one file exporting a CommandModule;
 * adding one (train, distill, eval once @duality/train exports them) is that file plus its line here.
 */
import type { Command } from 'commander';
import type { CommandContext } from '../context';
import { bench } from './bench';
import { convert } from './convert';
import { info } from './info';
import { sample } from './sample';
import { trainCommand } from './train';

export interface CommandModule {
  /** Adds the command — name, arguments, options, help text and action — to the program. */
  register(program: Command, context: CommandContext): void;
}

export const COMMANDS: readonly CommandModule[] = [trainCommand, sample, info, convert, bench];
