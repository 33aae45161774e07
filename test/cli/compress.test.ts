import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpackModel } from '../../src/compress/encode/index.js';
import { encodeModel } from '../../src/core/codec.js';
import { buildArch } from '../../src/nn/zoo.js';
import { saveModel } from '../../src/node/io.js';
import { nnzip, repoRoot, tempDir } from '../helpers/cli.js';
import { runOnce } from '../helpers/run.js';
import { randomInputs } from '../../src/runtime/inputs.js';

const dir = tempDir();
const base = join(dir, 'mlp.onnx');
saveModel(buildArch('lenet-300-100', { seed: 5 }), base);

test('compress: the web recipe measures every stage, writes the .nnz and a report; the .nnz runs', async () => {
  const out = join(dir, 'web.nnz');
  const r = nnzip(['compress', base, '--recipe', join(repoRoot, 'recipes', 'web.yaml'), '--test-limit', '128', '--latency-runs', '5', '--threads', '1', '-o', out, '--report', join(dir, 'report'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.entries.map((s: { name: string }) => s.name), ['original', '0: optimize', '1: quantize', '2: pack']);
  const [original, , quantized] = j.entries;
  assert.equal(original.metrics.fidelity.top1Agreement, 1, 'the original agrees with itself');
  assert.ok(quantized.metrics.bytes.onnx < original.metrics.bytes.onnx / 5, `${original.metrics.bytes.onnx} -> ${quantized.metrics.bytes.onnx}`);
  assert.ok(quantized.metrics.fidelity.meanCosine > 0.9 && quantized.metrics.latency.p50Ms > 0);
  assert.ok(j.extra.comparison.bytes.onnx.ratio > 5);
  // Per-layer figures follow the weights into the 4-bit MatMulNBits form.
  assert.deepEqual(original.layers.map((l: { storageBits: number }) => l.storageBits), [32, 32, 32]);
  assert.deepEqual(quantized.layers.map((l: { storageBits: number }) => l.storageBits), [4, 4, 4]);
  assert.ok(existsSync(join(dir, 'report', 'report.json')) && readFileSync(join(dir, 'report', 'report.md'), 'utf8').includes('1: quantize'));
  const html = readFileSync(join(dir, 'report', 'report.html'), 'utf8');
  assert.equal(j.html, join(dir, 'report', 'report.html'));
  assert.ok((html.match(/<svg/g) ?? []).length >= 4, 'the HTML report holds the charts as inline SVG');
  const model = unpackModel(new Uint8Array(readFileSync(out)));
  assert.equal(encodeModel(model).bytes.byteLength > 0, true);
  const y = Object.values(await runOnce(model, randomInputs(model, { batch: 2, seed: 1 })))[0]!.toFloat32();
  assert.ok(y.every(Number.isFinite));
});

test('compress: bad recipes and outputs give one-line errors', () => {
  const bad = (args: string[], pattern: RegExp) => {
    const r = nnzip(['compress', base, ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
    const out = args[args.indexOf('-o') + 1]!;
    assert.ok(!existsSync(out), `${out} was written`);
  };
  const recipe = join(dir, 'bad.yaml');
  writeFileSync(recipe, 'stages:\n  - stage: cluster\n    bits: 20\n');
  bad(['--recipe', recipe, '-o', join(dir, 'x.onnx')], /bad.yaml: stages\[0\]\.bits: expected a whole number from 1 to 16, got 20/);
  bad(['--recipe', join(repoRoot, 'recipes', 'web.yaml'), '-o', join(dir, 'x.onnx')], /ends with pack, so the output is a \.nnz file/);
  bad(['--recipe', join(dir, 'missing.yaml'), '-o', join(dir, 'x.onnx')], /missing.yaml: cannot read the recipe/);
  bad(['--recipe', join(repoRoot, 'recipes', 'deep-compression-lenet-300-100.json'), '-o', join(dir, 'x.nnz')], /needs training data/);
});
