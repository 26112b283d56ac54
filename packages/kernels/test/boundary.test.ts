/**
 * The layering rule of docs/architecture.md: no package above kernels touches tensor storage, GPU buffers or
 * device APIs — fused ops go through `defineOp`, whose kernel contexts are the only door. This test parses every
 * source file under packages/{noise,posteriors,samplers,models,train,cli}/src with the TypeScript compiler (so
 * comments, strings and WGSL text do not count) and fails naming file:line of each use of a storage, buffer or
 * device API, of a WebGPU type, of the `webgpu` package, or of a path into the kernels' sources.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PACKAGES = ['noise', 'posteriors', 'samplers', 'models', 'train', 'cli'];

/** Members of CpuBackend / WebGPUBackend / GPUDevice & co. that only kernels may use. */
const MEMBERS = new Set([
  'dataOf',
  'fromArray',
  'runKernel',
  'bufferOf',
  'fromBuffer',
  'device',
  'queue',
  'createBuffer',
  'createCommandEncoder',
  'copyBufferToBuffer',
  'writeBuffer',
  'mapAsync',
  'getMappedRange',
  'createBindGroup',
  'createComputePipeline',
  'createShaderModule',
  'requestAdapter',
  'requestDevice',
]);

/** WebGPU globals and types (and the kernels' aliases of them); the kernels' GPUValidationError is fine. */
const GLOBALS = /^(GPU(?!\w*Error$)[A-Z]\w*|WebGPU(Buffer|Device|Entry))$/;

/** Module specifiers nobody above kernels imports: Dawn for Node, WebGPU typings, the kernels' own files. */
const MODULES = /^(webgpu|@webgpu\/types)$|kernels\/src|^@duality\/kernels\/./;

interface Violation {
  line: number;
  what: string;
}

/** Every use of a forbidden API in one source text. */
function scanSource(fileName: string, text: string): Violation[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: Violation[] = [];
  const at = (node: ts.Node, what: string) =>
    out.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, what });
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && MEMBERS.has(node.name.text))
      at(node.name, `.${node.name.text}`);
    else if (
      ts.isPropertyAccessExpression(node) &&
      node.name.text === 'gpu' &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'navigator'
    )
      at(node, 'navigator.gpu');
    else if (
      ts.isElementAccessExpression(node) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      MEMBERS.has(node.argumentExpression.text)
    )
      at(node.argumentExpression, `['${node.argumentExpression.text}']`);
    else if (ts.isBindingElement(node)) {
      const name = node.propertyName ?? node.name;
      if (ts.isIdentifier(name) && MEMBERS.has(name.text) && ts.isObjectBindingPattern(node.parent))
        at(name, `{ ${name.text} } destructured`);
    } else if (ts.isIdentifier(node) && GLOBALS.test(node.text)) at(node, node.text);
    else if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier) &&
      MODULES.test(node.moduleSpecifier.text)
    )
      at(node.moduleSpecifier, `import '${node.moduleSpecifier.text}'`);
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0]) &&
      MODULES.test(node.arguments[0].text)
    )
      at(node.arguments[0], `import('${node.arguments[0].text}')`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|mts|cts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('no package above kernels touches storage, buffers or device APIs', () => {
  it('the scanner finds every kind of use it looks for (and ignores comments, strings and WGSL)', () => {
    const text = [
      "import { create } from 'webgpu';",
      'const a = backend.dataOf(t);',
      "const b = be['runKernel'](k);",
      'const { bufferOf, fromArray: wrap } = backend;',
      'const q = backend.device.queue;',
      'const u = GPUBufferUsage.STORAGE;',
      'let buf: GPUBuffer;',
      'const g = navigator.gpu;',
      "import { x } from '../../kernels/src/cpu/storage';",
      "// backend.dataOf(t) in a comment, 'x.runKernel()' in a string, `fn main() { device.queue }` in WGSL",
      'throw new GPUValidationError(op, got, expected);',
      "const fine = { 'torch.device': 1, dataOfRow: 2 }; fine.dataOfRow; backend.tensor(d, s, 'f32');",
    ].join('\n');
    const found = scanSource('example.ts', text)
      .map((v) => `${v.line}:${v.what}`)
      .sort();
    expect(found).toEqual(
      [
        "1:import 'webgpu'",
        '2:.dataOf',
        "3:['runKernel']",
        '4:{ bufferOf } destructured',
        '4:{ fromArray } destructured',
        '5:.device',
        '5:.queue',
        '6:GPUBufferUsage',
        '7:GPUBuffer',
        '8:navigator.gpu',
        "9:import '../../kernels/src/cpu/storage'",
      ].sort(),
    );
  });

  it(`packages/{${PACKAGES.join(',')}}/src use none of them`, () => {
    const violations: string[] = [];
    let files = 0;
    for (const pkg of PACKAGES) {
      for (const file of sourceFiles(join(ROOT, 'packages', pkg, 'src'))) {
        files++;
        for (const v of scanSource(file, readFileSync(file, 'utf8')))
          violations.push(`${relative(ROOT, file)}:${v.line}: ${v.what}`);
      }
    }
    expect(files).toBeGreaterThan(50); // the walk found the sources
    expect(
      violations,
      `storage/buffer/device APIs above kernels (use defineOp):\n${violations.join('\n')}`,
    ).toEqual([]);
  });
});
