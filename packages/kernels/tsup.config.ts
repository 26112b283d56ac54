import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  // the declarations use GPUDevice, GPUBuffer, GPU: a consumer compiling without skipLibCheck needs their types
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  clean: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  external: ['webgpu', 'node:worker_threads', 'node:os'],
});
