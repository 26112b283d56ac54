import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

// Packages import each other by name; the '@duality/source' export condition points at src/ so tests
// run against the sources without a build.
const resolve = { conditions: ['@duality/source', 'module', 'browser', 'import', 'default'] };

/** Headless Debian Chromium with WebGPU (SwiftShader) for the browser projects. */
const chromium = () => ({
  enabled: true,
  headless: true,
  provider: playwright({
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--enable-unsafe-webgpu',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  }),
  instances: [{ browser: 'chromium' as const }],
});

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  resolve,
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        resolve: { conditions: ['@duality/source', 'node', 'import', 'default'] },
        ssr: { resolve: { conditions: ['@duality/source', 'node', 'import', 'default'] } },
        test: {
          name: 'node',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'examples/**/*.test.ts',
            'bench/lib/**/*.test.ts',
          ],
          exclude: ['**/*.browser.test.ts', '**/node_modules/**', '**/dist/**'],
          testTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        resolve,
        test: {
          name: 'browser',
          include: ['packages/*/src/**/*.browser.test.ts', 'packages/*/test/**/*.browser.test.ts'],
          testTimeout: 120_000,
          browser: chromium(),
        },
      },
      {
        // the cpu backend in a Web Worker of a cross-origin-isolated page (COOP/COEP, as a static host would send
        // them): SharedArrayBuffer exists there, so the worker runs the pool's threads
        resolve,
        server: { headers: ISOLATION_HEADERS },
        test: {
          name: 'browser-isolated',
          include: ['packages/kernels/src/cpu/worker.browser.test.ts'],
          testTimeout: 120_000,
          browser: chromium(),
        },
      },
    ],
  },
});
