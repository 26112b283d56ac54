#!/usr/bin/env node
/**
 * Checks the published packages as a consumer meets them (`pnpm check:packages`):
 *
 *   1. builds every package (skip with --skip-build when `pnpm build` just ran, as in .ci/run);
 *   2. per package: the package.json metadata (repository, homepage, bugs, keywords, engines ≥ 20.16, a
 *      `default` export condition, MIT license), then `pnpm pack` (which turns workspace:* into versions),
 *      `publint run <tarball> --strict` and `attw <tarball> --profile esm-only` on that tarball (= `attw --pack`,
 *      but on the tarball pnpm publishes: `npm pack` would keep workspace:* specifiers); the tarball must hold
 *      LICENSE and no tests, test helpers or .wat sources, and every `node <file>` script must be shipped;
 *   3. a fresh TypeScript app in a temporary folder gets every tarball installed (nothing from the workspace)
 *      and must compile with `strict` and WITHOUT skipLibCheck, then run the kernels README example (cpu
 *      backend) and import every package in Node.
 *
 * The install is offline-safe by default: `--installer pnpm` (default) installs the tarballs with
 * `pnpm install --offline`, so third-party dependencies come from the pnpm store the workspace install filled.
 * `--installer npm` uses `npm install` instead (the tarballs, plus third-party dependencies from the registry or
 * npm's cache: it needs the network on a machine whose npm cache is cold). Optional dependencies (the `webgpu`
 * package, Dawn binaries) are left out: the example runs on the cpu backend.
 *
 * Options: --skip-build, --installer pnpm|npm, --keep (leave the temporary folder and print it).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);

const { values: args } = parseArgs({
  options: {
    'skip-build': { type: 'boolean', default: false },
    installer: { type: 'string', default: 'pnpm' },
    keep: { type: 'boolean', default: false },
  },
});
if (!['pnpm', 'npm'].includes(args.installer)) fail(`--installer must be pnpm or npm, got ${args.installer}`);

const failures = [];
const started = performance.now();
const elapsed = (from) => `${((performance.now() - from) / 1000).toFixed(1)} s`;

function fail(message) {
  console.error(`check:packages: ${message}`);
  process.exit(2);
}

/** Runs a command; returns its output, or records a failure (with the output) and returns undefined. */
function run(label, command, commandArgs, options = {}) {
  try {
    return execFileSync(command, commandArgs, { encoding: 'utf8', stdio: 'pipe', ...options });
  } catch (error) {
    failures.push(label);
    console.error(`✗ ${label}\n${error.stdout ?? ''}${error.stderr ?? ''}`.trimEnd());
    return undefined;
  }
}

function step(title, body) {
  const from = performance.now();
  console.log(`— ${title}`);
  body();
  console.log(`  (${elapsed(from)})`);
}

/** The publishable packages: packages/* that are not private. */
function packages() {
  return readdirSync(join(root, 'packages'))
    .map((name) => ({ name, dir: join(root, 'packages', name) }))
    .filter(({ dir }) => existsSync(join(dir, 'package.json')))
    .map((p) => ({ ...p, json: JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8')) }))
    .filter((p) => !p.json.private);
}

/** The metadata every published package needs (one list, one place). */
function metadataProblems({ name, json }, rootJson) {
  const problems = [];
  const repo = rootJson.repository?.url;
  if (json.repository?.url !== repo)
    problems.push(`repository.url ${json.repository?.url} ≠ the root's ${repo}`);
  if (json.repository?.directory !== `packages/${name}`) problems.push('repository.directory');
  if (!json.homepage) problems.push('homepage');
  if (!json.bugs?.url) problems.push('bugs.url');
  if (!Array.isArray(json.keywords) || json.keywords.length === 0) problems.push('keywords');
  if (json.engines?.node !== '>=20.16') problems.push(`engines.node ${json.engines?.node} (want >=20.16)`);
  if (json.license !== 'MIT') problems.push('license MIT');
  if (!existsSync(join(root, 'packages', name, 'LICENSE'))) problems.push('a LICENSE file');
  for (const [entry, conditions] of Object.entries(json.exports ?? {})) {
    if (!conditions.default) problems.push(`a default condition on exports["${entry}"]`);
  }
  return problems;
}

/** Paths a tarball must not hold: tests, test helpers, fixtures, the wasm text source. */
const UNSHIPPABLE = [/\.test\.ts$/, /test-utils\.ts$/, /(^|\/)test\//, /(^|\/)fixtures\//, /\.wat$/];

function checkTarball(pkg, tarball) {
  const listing = run(`list ${pkg.json.name}`, 'tar', ['-tzf', tarball]);
  if (!listing) return;
  const files = listing.split('\n').filter(Boolean);
  const bad = files.filter((f) => UNSHIPPABLE.some((re) => re.test(f)));
  if (!files.includes('package/LICENSE')) bad.push('(no LICENSE)');
  if (bad.length > 0) {
    failures.push(`${pkg.json.name} tarball`);
    console.error(
      `✗ ${pkg.json.name}: the tarball holds what it must not (or lacks LICENSE):\n  ${bad.join('\n  ')}`,
    );
  }
  for (const [, script] of Object.entries(pkg.json.scripts ?? {})) {
    const file = /node (\S+\.m?js)/.exec(script)?.[1];
    if (file && !files.includes(`package/${file}`)) {
      failures.push(`${pkg.json.name} scripts`);
      console.error(`✗ ${pkg.json.name}: script "${script}" runs ${file}, which the tarball does not ship`);
    }
  }
}

// --- 1. build ---------------------------------------------------------------------------------------------
if (!args['skip-build'])
  step('build', () => run('build', 'pnpm', ['build'], { cwd: root, stdio: 'inherit' }));

// --- 2. per-package checks and tarballs --------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'duality-check-packages-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const rootJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pkgs = packages();
const packed = {};

for (const pkg of pkgs) {
  step(`${pkg.json.name}: metadata, pack, publint, attw`, () => {
    const problems = metadataProblems(pkg, rootJson);
    if (problems.length > 0) {
      failures.push(`${pkg.json.name} metadata`);
      console.error(`✗ ${pkg.json.name} package.json lacks: ${problems.join('; ')}`);
    }
    const out = run(`pack ${pkg.json.name}`, 'pnpm', ['pack', '--pack-destination', tarballs], {
      cwd: pkg.dir,
    });
    const prefix = `${pkg.json.name.replace('@', '').replace('/', '-')}-${pkg.json.version}.tgz`;
    const file = out && readdirSync(tarballs).find((f) => f === prefix);
    if (!file) return;
    const tarball = join(tarballs, file);
    packed[pkg.json.name] = tarball;
    checkTarball(pkg, tarball);
    run(`publint ${pkg.json.name}`, bin('publint'), ['run', tarball, '--strict']);
    run(`attw ${pkg.json.name}`, bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table']);
  });
}

// --- 3. a fresh TypeScript app -----------------------------------------------------------------------------
const app = join(work, 'app');
mkdirSync(join(app, 'src'), { recursive: true });

/** The first ```ts block of a README. */
function readmeExample(pkgDir) {
  const readme = readFileSync(join(pkgDir, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme);
  if (!block) fail(`no \`\`\`ts example in ${pkgDir}/README.md`);
  return block[1];
}

step(`a fresh TypeScript app (installer: ${args.installer})`, () => {
  const deps = Object.fromEntries(Object.entries(packed).map(([name, file]) => [name, `file:${file}`]));
  const typesNode = rootJson.devDependencies['@types/node'];
  const pkgJson = {
    name: 'duality-consumer',
    private: true,
    type: 'module',
    dependencies: deps,
    devDependencies: { '@types/node': typesNode },
  };
  // the packages depend on each other by version (0.0.0, not published): point those at the tarballs too
  if (args.installer === 'npm')
    pkgJson.overrides = Object.fromEntries(Object.keys(deps).map((n) => [n, `$${n}`]));
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkgJson, null, 2)}\n`);
  if (args.installer === 'pnpm') {
    const overrides = Object.entries(deps).map(([n, spec]) => `  '${n}': '${spec}'`);
    writeFileSync(join(app, 'pnpm-workspace.yaml'), `overrides:\n${overrides.join('\n')}\n`);
  }
  // two consumers, both strict and WITHOUT skipLibCheck: a DOM-lib app (browser, or TypeScript's default lib),
  // which emits the JS run below, and a Node app without the DOM lib (type-checked only)
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022', 'DOM'],
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    rootDir: 'src',
    outDir: 'dist',
  };
  const tsconfig = (options) =>
    `${JSON.stringify({ compilerOptions: options, include: ['src'] }, null, 2)}\n`;
  writeFileSync(join(app, 'tsconfig.json'), tsconfig(compilerOptions));
  writeFileSync(
    join(app, 'tsconfig.node.json'),
    tsconfig({ ...compilerOptions, lib: ['ES2022'], noEmit: true }),
  );
  writeFileSync(join(app, 'src/readme-kernels.ts'), readmeExample(join(root, 'packages/kernels')));
  const imports = Object.keys(packed).map((n, i) => `import * as p${i} from '${n}';`);
  const listed = Object.keys(packed).map((n, i) => `  ['${n}', Object.keys(p${i}).length],`);
  writeFileSync(
    join(app, 'src/imports.ts'),
    `${imports.join('\n')}\n\nconst entries: Array<[string, number]> = [\n${listed.join('\n')}\n];\n` +
      `for (const [name, count] of entries) {\n  if (count === 0) throw new Error(\`\${name} exports nothing\`);\n` +
      `  console.log(\`\${name}: \${count} exports\`);\n}\n`,
  );
  const install =
    args.installer === 'pnpm'
      ? ['pnpm', ['install', '--offline', '--no-optional', '--config.confirmModulesPurge=false']]
      : ['npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional']];
  if (run(`${args.installer} install`, install[0], install[1], { cwd: app }) === undefined) return;
  if (run('tsc, DOM lib (no skipLibCheck)', bin('tsc'), ['-p', 'tsconfig.json'], { cwd: app }) === undefined)
    return;
  run('tsc, Node without DOM lib (no skipLibCheck)', bin('tsc'), ['-p', 'tsconfig.node.json'], { cwd: app });
  const example = run('README example', 'node', [join(app, 'dist/readme-kernels.js')], { cwd: app });
  if (example !== undefined)
    console.log(`  kernels README example printed:\n    ${example.trim().split('\n').join('\n    ')}`);
  const listing = run('import every package', 'node', [join(app, 'dist/imports.js')], { cwd: app });
  if (listing !== undefined) console.log(`    ${listing.trim().split('\n').join('\n    ')}`);
});

if (args.keep) console.log(`check:packages: kept ${work}`);
else rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`check:packages: FAILED (${failures.join(', ')}) after ${elapsed(started)}`);
  process.exit(1);
}
console.log(`check:packages: ok, ${pkgs.length} packages, ${elapsed(started)}`);
