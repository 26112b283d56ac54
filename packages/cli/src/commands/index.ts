/**
 * The commands of `duality`, in the order `--help` lists them. A command is one file exporting a CommandModule;
 * adding one is that file plus its line here.
 */
import type { Command } from 'commander';
import type { CommandContext } from '../context';
import { bench } from './bench';
import { convert } from './convert';
import { distillCommand } from './distill';
import { evalCommand } from './eval';
import { exportCommand } from './export';
import { info } from './info';
import { sample } from './sample';
import { trainCommand } from './train';

export interface CommandModule {
  /** Adds the command — name, arguments, options, help text and action — to the program. */
  register(program: Command, context: CommandContext): void;
}

export const COMMANDS: readonly CommandModule[] = [
  trainCommand,
  distillCommand,
  evalCommand,
  exportCommand,
  sample,
  info,
  convert,
  bench,
];
