/**
 * A training run in its own process (for the kill-and-resume test): `train-child.ts <config.json> <outDir>`.
 * Resumes from the newest checkpoint under outDir when there is one. Prints a line per progress event and "done <step>" at the end.
 */
import { readFileSync } from 'node:fs';
import { train } from '../../src/index';

const [configPath, outDir] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const result = await train(config, {
  outDir,
  onProgress: (p) => console.log(`progress ${p.step} ${p.phase}`),
});
console.log(`done ${result.step}`);
