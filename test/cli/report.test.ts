import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '../../src/nn/zoo.js';
import { saveModel } from '../../src/node/io.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const a = join(dir, 'a.onnx');
saveModel(buildArch('lenet-300-100', { seed: 1 }), a);

test('report: two models side by side with labelled data: accuracy as nnzip eval, per-class, robustness, charts', () => {
  const b = join(dir, 'b.nnz');
  assert.equal(nnzip(['prune', a, '--sparsity', '0.9', '-o', join(dir, 'p.onnx')]).code, 0);
  assert.equal(nnzip(['pack', join(dir, 'p.onnx'), '-o', b]).code, 0);
  const out = join(dir, 'report');
  const r = nnzip(['report', a, b, '--data', 'mnist', '--test-limit', '300', '--report-samples', '200', '--latency-runs', '3', '--threads', '1', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.entries.map((e: { name: string }) => e.name), ['a.onnx', 'b.nnz']);
  for (const [i, path] of [a, b].entries()) {
    const e = JSON.parse(nnzip(['eval', path, '--data', 'mnist', '--limit', '300', '--json']).stdout);
    assert.ok(Math.abs(j.entries[i].metrics.accuracy - e.accuracy) < 1e-9);
    assert.equal(j.entries[i].perClass.samples, 200);
    assert.equal(j.entries[i].robustness.noise.length, 3);
  }
  assert.ok(j.entries[1].layers.every((l: { sparsity: number }) => l.sparsity > 0.85), 'per-layer sparsity of the pruned model');
  assert.equal(j.sensitivity.layers.length, 3);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (const id of ['size', 'accuracy-size', 'layer-sparsity', 'weight-histogram', 'sensitivity', 'confusion', 'per-class-f1', 'robustness-noise', 'robustness-fgsm']) {
    assert.ok(html.includes(`id="chart-${id}"`), `chart ${id}`);
  }
  assert.ok(existsSync(join(out, 'report.md')) && existsSync(join(out, 'report.json')));
});

test('report: without data, fidelity to the first model; bad input is one line', () => {
  const out = join(dir, 'fid');
  const r = nnzip(['report', a, a, '--test-limit', '64', '--latency-runs', '0', '--no-sensitivity', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.entries[1].metrics.fidelity.top1Agreement, 1);
  assert.equal(j.entries[0].perClass, undefined);
  const bad = nnzip(['report', a, join(dir, 'missing.onnx'), '-o', join(dir, 'x')]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /missing\.onnx/);
  assert.ok(!existsSync(join(dir, 'x')));
  const strengths = nnzip(['report', a, '--noise', '0.1,x', '-o', join(dir, 'y')]);
  assert.equal(strengths.code, 1);
  assert.match(strengths.stderr, /--noise: expected comma-separated non-negative numbers/);
});
