'use strict';
// index.d.ts as a TypeScript user meets it: `tsc --strict` accepts test/types/usage.ts (a typed
// program over the whole API) and rejects each line of test/types/misuse.ts marked MISUSE, and no
// other line. TypeScript and @types/node are devDependencies: ctest's `npm ci` installs them and
// sets CORQ_NODE_TYPES_REQUIRED=1, so there a missing compiler fails the test instead of skipping.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function resolve(request) {
  try {
    return require.resolve(request);
  } catch {
    return null;
  }
}

const tsc = resolve('typescript/lib/tsc.js');
const nodeTypes = resolve('@types/node/package.json');
const missing = tsc === null || nodeTypes === null;
const required = process.env.CORQ_NODE_TYPES_REQUIRED === '1';

function compile(file) {
  const args = [tsc, '--noEmit', '--strict', '--pretty', 'false', '--target', 'es2022',
    '--lib', 'es2022,esnext.disposable', '--module', 'commonjs', '--moduleResolution', 'node',
    '--types', 'node', '--typeRoots', path.dirname(path.dirname(nodeTypes)),
    path.join(__dirname, 'types', file)];
  return spawnSync(process.execPath, args, { encoding: 'utf8' });
}

test('typescript and @types/node are installed where the build needs them', (t) => {
  if (missing && !required) return t.skip('devDependencies not installed (npm install)');
  assert.ok(!missing, 'typescript and @types/node must resolve (npm ci installs them)');
});

test('index.d.ts accepts a typed program over the whole API under --strict', (t) => {
  if (missing) return t.skip('no typescript');
  const result = compile('usage.ts');
  assert.equal(result.status, 0, `tsc rejected usage.ts:\n${result.stdout}${result.stderr}`);
});

test('index.d.ts rejects every misuse, and only those lines', (t) => {
  if (missing) return t.skip('no typescript');
  const result = compile('misuse.ts');
  assert.notEqual(result.status, 0, 'tsc accepted misuse.ts');
  const source = fs.readFileSync(path.join(__dirname, 'types', 'misuse.ts'), 'utf8').split('\n');
  const marked = source.flatMap((line, i) => (line.includes('// MISUSE') ? [i + 1] : []));
  const reported = new Set([...result.stdout.matchAll(/misuse\.ts\((\d+),\d+\): error TS\d+/g)]
    .map((m) => Number(m[1])));
  assert.ok(marked.length >= 4, 'misuse.ts marks its lines');
  assert.deepEqual([...reported].sort((a, b) => a - b), marked,
    `errors on other lines than the marked ones:\n${result.stdout}`);
});
