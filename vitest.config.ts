import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

// Packages import each other by name; the '@duality/source' export condition points at src/ so tests
// run against the sources without a build.
const resolve = { conditions: ['@duality/source', 'module', 'browser', 'import', 'default'] };

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
          browser: {
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
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
