// The core and the runtime interface must run in browsers: no Node-only modules or globals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const nodeOnly = /from\s+['"](node:|fs|path|os|child_process|worker_threads|zlib|crypto|url|util|stream)(\/[^'"]*)?['"]|\brequire\(|\bBuffer\b|\bprocess\./;

test('the isomorphic library (core, nn, autograd, train, data, eval, the runtime interface) imports nothing Node-only', () => {
  const files = [
    ...sources(join(repoRoot, 'src', 'core')),
    ...['nn', 'autograd', 'train', 'data', 'eval', 'compress', 'recipe', 'report'].flatMap((d) => sources(join(repoRoot, 'src', d))),
    join(repoRoot, 'src', 'runtime', 'session.ts'),
    join(repoRoot, 'src', 'runtime', 'web.ts'),
    join(repoRoot, 'src', 'runtime', 'inputs.ts'),
    join(repoRoot, 'src', 'runtime', 'probe.ts'),
  ];
  assert.ok(files.length > 20);
  const offenders: string[] = [];
  for (const f of files) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (nodeOnly.test(code)) offenders.push(`${relative(repoRoot, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offenders, []);
});
