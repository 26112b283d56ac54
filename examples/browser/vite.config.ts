/**
 * Vite config of the demo page.
 *
 * Headers: `Cross-Origin-Opener-Policy: same-origin` + `Cross-Origin-Embedder-Policy: require-corp` make the page
 * cross-origin isolated (`crossOriginIsolated === true`), which is what browsers require before they expose
 * SharedArrayBuffer. The cpu backend's worker pool shares its typed arrays with its threads through
 * SharedArrayBuffer and waits on them with Atomics.wait; without isolation the cpu Web Worker runs the kernels
 * inline on one thread. Every resource of the page is same-origin, so require-corp blocks nothing. Static hosts
 * must send the same two headers for the threaded cpu path (the page works without them, single-threaded).
 *
 * Resolution: the `@duality/source` export condition points the workspace packages at their `src/` (no build
 * needed, never a stale dist), like the tests and `pnpm start`.
 */
import { defaultClientConditions, defineConfig } from 'vite';

const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  resolve: { conditions: ['@duality/source', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { headers: isolation },
  preview: { headers: isolation },
});
