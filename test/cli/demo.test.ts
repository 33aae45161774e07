import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { nnzip, tempDir } from '../helpers/cli.js';

// The demo on a 512-sample subset: the plumbing (train, cache, recipe, pack, report) without the full run's minutes.
test('demo: trains, compresses with the Deep Compression recipe, reports; a second run reuses the baseline', () => {
  const dir = join(tempDir(), 'demo');
  const args = ['demo', '--dir', dir, '--limit', '512', '--test-limit', '500', '--threads', '1', '--json'];
  const first = nnzip(args);
  assert.equal(first.code, 0, first.stderr);
  const j = JSON.parse(first.stdout);
  assert.equal(j.baseline.reused, false);
  // The .nnz is the packed result: its size on disk is the reported one, 92% pruned + 5 bits make it ~40x smaller.
  assert.equal(statSync(j.compressed.path).size, j.compressed.bytes);
  assert.ok(j.compressionRatio > 30, `ratio ${j.compressionRatio}`);
  assert.deepEqual(j.stages.map((s: { name: string }) => s.name), ['original', '0: optimize', '1: prune', '2: cluster', '3: pack']);
  // The accuracies agree with nnzip eval of the files (same 500 test samples).
  for (const [path, accuracy] of [[j.baseline.path, j.baseline.accuracy], [j.compressed.path, j.compressed.accuracy]] as const) {
    const e = nnzip(['eval', path, '--data', 'mnist', '--limit', '500', '--json']);
    assert.equal(e.code, 0, e.stderr);
    assert.ok(Math.abs(JSON.parse(e.stdout).accuracy - accuracy) < 1e-9, `${path}: ${JSON.parse(e.stdout).accuracy} vs ${accuracy}`);
  }
  const html = readFileSync(j.report, 'utf8');
  assert.ok(html.includes('id="chart-size"') && html.includes('id="chart-confusion"') && html.includes('id="chart-robustness-fgsm"'));
  assert.ok(existsSync(join(dir, 'report', 'report.json')) && existsSync(join(dir, 'report', 'report.md')));

  const again = nnzip(args);
  assert.equal(again.code, 0, again.stderr);
  const k = JSON.parse(again.stdout);
  assert.equal(k.baseline.reused, true);
  assert.equal(k.baseline.accuracy, j.baseline.accuracy);
  assert.equal(k.compressed.bytes, j.compressed.bytes, 'same baseline, same seeds: the same result');
});
