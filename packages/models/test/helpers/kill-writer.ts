/**
 * Child process for the SIGKILL test of atomic writes: writes `<path>` over and over, each time a safetensors
 * file whose tensor `x` holds `iteration + j / 1024` (j = 0 … n-1) and whose metadata names the iteration, so
 * the parent can tell a complete file from a mix. Prints "wrote <i>" after each write. Run with tsx.
 */
import { writeSafetensorsFile } from '../../src/safetensors';

const [path, elementsArg] = process.argv.slice(2);
const n = Number(elementsArg);
for (let i = 0; ; i++) {
  const data = Float32Array.from({ length: n }, (_, j) => i + j / 1024);
  await writeSafetensorsFile(path, { x: { dtype: 'F32', shape: [n], data } }, { iteration: String(i) });
  process.stdout.write(`wrote ${i}\n`);
}
