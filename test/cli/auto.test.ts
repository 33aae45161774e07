import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '../../src/nn/zoo.js';
import { saveModel } from '../../src/node/io.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const model = join(dir, 'mlp.onnx');
saveModel(buildArch('mlp:784-64-10', { seed: 2 }), model);

// A tiny search (an untrained model, a loose budget): the plumbing from sensitivity to the written recipe, which
// `nnzip compress` must reproduce exactly (same data order, one thread), and a resume that measures nothing again.
test('auto: writes the model, a recipe that nnzip compress reproduces, the log and the report; --resume replays', () => {
  const out = join(dir, 'small.nnz');
  const args = ['auto', model, '--data', 'mnist', '--max-drop', '50', '--objective', 'size', '--trials', '3', '--train-limit', '512', '--validation', '500',
    '--sensitivity-samples', '200', '--final-epochs', '1', '--final-rounds', '1', '--final-runs', '1', '--threads', '1', '-o', out, '--report', join(dir, 'report'), '--json'];
  const r = nnzip(args);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.trials, 3);
  assert.ok(existsSync(out) && existsSync(j.recipe) && existsSync(j.log));
  assert.equal(readFileSync(out).length, j.chosen.bytes);
  const html = readFileSync(j.report, 'utf8');
  assert.ok(html.includes('id="chart-search-front"'));

  const again = join(dir, 'again.nnz');
  const c = nnzip(['compress', model, '--recipe', j.recipe, '--data', 'mnist', '--threads', '1', '--latency-runs', '0', '-o', again, '--json']);
  assert.equal(c.code, 0, c.stderr);
  const entries = JSON.parse(c.stdout).entries;
  assert.equal(readFileSync(again).length, j.chosen.bytes, 'the recipe reproduces the size');
  assert.ok(Math.abs(entries[entries.length - 1].metrics.accuracy - j.chosen.testAccuracy) < 1e-9, 'and the accuracy');

  const resumed = nnzip([...args, '--resume', '--force']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const k = JSON.parse(resumed.stdout);
  assert.equal(k.chosen.bytes, j.chosen.bytes);
  const lines = readFileSync(j.log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1 + 3 + 1, 'the resumed search added nothing to the log');
});

test('auto: bad options are one line', () => {
  const bad = (extra: string[], pattern: RegExp) => {
    const r = nnzip(['auto', model, '--data', 'mnist', '--max-drop', '0.3', ...extra]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  bad(['-o', join(dir, 'x.onnx')], /the size search packs its result: name it \*\.nnz/);
  bad(['--methods', 'prune,arch', '-o', join(dir, 'x.nnz')], /'arch' is not part of the search yet/);
  bad(['--objective', 'latency', '--methods', 'cluster', '-o', join(dir, 'x.onnx')], /include 'prune'/);
  bad(['--resume', '-o', join(dir, 'nothing.nnz')], /no search to resume/);
});
