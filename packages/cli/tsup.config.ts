import { defineConfig } from 'tsup';

// Two entries: the library (index) and the executable (bin, with its shebang kept by esbuild). Node-only.
export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  external: ['webgpu'],
});
