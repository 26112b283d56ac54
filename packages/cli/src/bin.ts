#!/usr/bin/env node
/** The `duality` executable: runs the program on process.argv and exits with its code. */
import { run } from './program';

process.exitCode = await run(process.argv.slice(2));
