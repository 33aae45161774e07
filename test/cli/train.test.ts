import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/node/io.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();

test('train lenet-300-100 on an MNIST subset, then eval the written model with the same accuracy', () => {
  const out = join(dir, 'lenet.onnx');
  const r = nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '3000', '--test-limit', '1000', '--epochs', '2',
    '--lr', '0.05', '--seed', '3', '--threads', '1', '-o', out, '--json', '--checkpoint-dir', join(dir, 'ckpt')]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const k of ['accuracy', 'top5', 'loss', 'samplesPerSec', 'epochs', 'seconds']) assert.ok(k in j, k);
  assert.equal(j.epochs, 2);
  assert.ok(j.accuracy > 0.8, `accuracy ${j.accuracy} after 6000 samples`);
  assert.ok(j.history[1].trainLoss < j.history[0].trainLoss);
  // a plain inference model: no training inputs, runs in onnxruntime through eval
  const model = loadModel(out);
  assert.deepEqual(model.graph.inputs.map((v) => v.name), ['input']);
  const e = nnzip(['eval', out, '--data', 'mnist', '--limit', '1000', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout);
  assert.ok(Math.abs(ej.accuracy - j.accuracy) < 1e-9, `eval ${ej.accuracy} vs train's ${j.accuracy}`);
  assert.ok(Math.abs(ej.loss - j.loss) < 1e-4);
  assert.deepEqual(readdirSync(join(dir, 'ckpt')).sort(), ['epoch-1.onnx', 'epoch-1.optimizer.onnx', 'epoch-2.onnx', 'epoch-2.optimizer.onnx']);
});

test('the same seed and threads give the same model; resuming from epoch 1 gives the uninterrupted result', () => {
  const args = (o: string, extra: string[] = []) => ['train', '--data', 'mnist', '--limit', '1000', '--test-limit', '200', '--lr', '0.05',
    '--seed', '5', '--threads', '1', '--json', '-o', o, ...extra];
  const a = JSON.parse(nnzip(args(join(dir, 'a.onnx'), ['--arch', 'lenet-300-100', '--epochs', '2', '--checkpoint-dir', join(dir, 'ca')])).stdout);
  const b = JSON.parse(nnzip(args(join(dir, 'b.onnx'), ['--arch', 'lenet-300-100', '--epochs', '2'])).stdout);
  assert.equal(a.loss, b.loss);
  const resumed = nnzip(args(join(dir, 'c.onnx'), ['--resume', join(dir, 'ca', 'epoch-1.onnx'), '--epochs', '2']));
  assert.equal(resumed.code, 0, resumed.stderr);
  const c = JSON.parse(resumed.stdout);
  assert.equal(c.epochs, 1, 'only the second epoch ran');
  assert.equal(c.loss, a.loss);
  const wa = loadModel(join(dir, 'a.onnx')).graph.initializers.get('fc1.weight')!.toFloat32();
  const wc = loadModel(join(dir, 'c.onnx')).graph.initializers.get('fc1.weight')!.toFloat32();
  assert.ok(Buffer.from(wa.buffer, wa.byteOffset, wa.byteLength).equals(Buffer.from(wc.buffer, wc.byteOffset, wc.byteLength)));
});

test('fine-tuning with --init starts from the given weights', () => {
  const first = join(dir, 'ft0.onnx');
  assert.equal(nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '2000', '--test-limit', '500', '--epochs', '1', '--lr', '0.05', '-o', first, '--json']).code, 0);
  const r = nnzip(['train', '--init', first, '--data', 'mnist', '--limit', '2000', '--test-limit', '500', '--epochs', '1', '--lr', '0.01', '-o', join(dir, 'ft1.onnx'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const before = JSON.parse(nnzip(['eval', first, '--data', 'mnist', '--limit', '500', '--json']).stdout).accuracy;
  assert.ok(JSON.parse(r.stdout).history[0].trainAccuracy > 0.75, 'the fine-tuned run starts from a trained model');
  assert.ok(before > 0.75);
});

test('bad input: unknown arch, missing data, wrong data shape, output over the input', () => {
  const one = (args: string[], pattern: RegExp) => {
    const r = nnzip(args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  one(['train', '--arch', 'lenet-7', '--data', 'mnist', '-o', join(dir, 'x.onnx')], /unknown architecture.*lenet-300-100/i);
  one(['train', '--arch', 'lenet-5', '--data', join(dir, 'nowhere'), '-o', join(dir, 'x.onnx')], /nowhere/);
  one(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--epochs', '-1', '-o', join(dir, 'x.onnx')], /--epochs/);
  one(['train', '--init', fixture('resnet_small.onnx'), '--data', 'mnist', '--limit', '10', '-o', join(dir, 'x.onnx')],
    /samples of shape \[1, 28, 28\] do not fit the model's input 'input' \[batch, 3, 32, 32\]/);
  one(['train', '--init', join(dir, 'ft0.onnx'), '--data', 'mnist', '-o', join(dir, 'ft0.onnx')], /overwrite the input/);
  assert.ok(!existsSync(join(dir, 'x.onnx')));
});

test('a diverging run stops naming the step and the parameter, and keeps the last good weights', () => {
  const out = join(dir, 'diverge.onnx');
  const r = nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '2000', '--epochs', '1', '--lr', '1e6', '--momentum', '0', '-o', out]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /step \d+: the loss is (NaN|Infinity).*last good weights are in .*diverge\.last-good\.onnx/);
  assert.ok(!existsSync(out));
  const good = loadModel(join(dir, 'diverge.last-good.onnx'));
  for (const t of good.graph.initializers.values()) assert.ok(t.toFloat32().every(Number.isFinite), `${t.name} is finite`);
});

test('an imported PyTorch MLP fine-tunes on MNIST (flat inputs fed from 28x28 images)', () => {
  const r = nnzip(['train', '--init', fixture('mlp.onnx'), '--data', 'mnist', '--limit', '3000', '--test-limit', '500', '--epochs', '2', '--lr', '0.05', '-o', join(dir, 'torch-mlp.onnx'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.accuracy > 0.6, `accuracy ${j.accuracy} (chance is 0.1)`);
  assert.ok(j.history[1].trainLoss < j.history[0].trainLoss);
});

test('labels beyond the model\'s outputs are refused: a 12-class CSV with a 5-class model', () => {
  const csv = join(dir, 'twelve.csv');
  const header = [...Array.from({ length: 20 }, (_, i) => `f${i}`), 'label'].join(',');
  const rows = Array.from({ length: 24 }, (_, r) => [...Array.from({ length: 20 }, (_, i) => ((r * 7 + i) % 5) / 5), r % 12].join(','));
  writeFileSync(csv, [header, ...rows].join('\n'));
  const r = nnzip(['train', '--init', fixture('training/mlp.onnx'), '--data', csv, '-o', join(dir, 'twelve.onnx')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /labels go up to 11, but the model's output '[^']+' has only 5 classes/);
});

test('train --epochs 0 writes the initialized model untrained (the start of sparse training from scratch)', async () => {
  const out = join(dir, 'init.onnx');
  const r = nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--epochs', '0', '--seed', '7', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).epochs, 0);
  const { buildArch } = await import('../../src/nn/zoo.js');
  const fresh = buildArch('lenet-300-100', { inputShape: [1, 28, 28], classes: 10, seed: 7 });
  const written = loadModel(out);
  for (const [name, t] of fresh.graph.initializers) assert.deepEqual(written.graph.initializers.get(name)!.toFloat32(), t.toFloat32(), name);
});
