import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  // no reference to @webgpu/types in the declarations: TypeScript 6's DOM lib declares WebGPU itself and the two
  // clash without skipLibCheck; src/types.ts takes the WebGPU interfaces from the program's globals instead
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  external: ['webgpu', 'node:worker_threads', 'node:os'],
});
