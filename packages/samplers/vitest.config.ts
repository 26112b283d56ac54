import { defineConfig } from 'vitest/config';

/**
 * Runs this package's node tests against the workspace sources. The root config sets the '@duality/source'
 * condition for the client environment only; Node (SSR) resolution needs it too, else packages without a build
 * (dist/) fail to resolve. `npx vitest run -c packages/samplers/vitest.config.ts`
 */
const conditions = ['@duality/source', 'node', 'import', 'default'];
export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@duality/source'] } },
  test: {
    include: ['packages/samplers/test/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['**/*.browser.test.ts', '**/node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
