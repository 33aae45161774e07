// nnzip hash: a trained lenet-300-100 hashed at 1/8 (one layer at 1/4) and fine-tuned; the written model runs in
// onnxruntime-node and -web and computes the hash the report describes; bad input gives one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/node/io.js';
import { randomInputs } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { webRuntime } from '../../src/runtime/web.js';
import { hashKey, virtualWeights } from '../../src/compress/share/hash.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const base = join(dir, 'base.onnx');

/** Runs a hash that must fail: exit 1, one line on stderr matching the pattern, and no output file. */
function bad(args: string[], pattern: RegExp) {
  const out = join(dir, 'bad.onnx');
  const r = nnzip(['hash', base, ...args, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!existsSync(out));
}

test('hash: 1/8 with one layer at 1/4, fine-tuned; reports layers, bytes and accuracy; the file runs in node and web', async () => {
  assert.equal(nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '6000', '--test-limit', '500', '--epochs', '2', '--lr', '0.05', '--threads', '1', '-o', base, '--quiet']).code, 0);
  const out = join(dir, 'hashed.onnx');
  const r = nnzip(['hash', base, '--ratio', '1/8', '--layer', 'fc3*=0.25', '--seed', '3', '--data', 'mnist', '--limit', '6400', '--test-limit', '500',
    '--finetune-epochs', '2', '--lr', '0.05', '--threads', '1', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.layers.map((l: { weight: string; virtualWeights: number; buckets: number; ratio: number }) => [l.weight, l.virtualWeights, l.buckets, l.ratio]),
    [['fc1.weight', 235200, 29400, 0.125], ['fc2.weight', 30000, 3750, 0.125], ['fc3.weight', 1000, 250, 0.25]]);
  assert.ok(j.total.weightBytesBefore / j.total.weightBytesAfter > 7.8, `weight bytes ${j.total.weightBytesBefore} -> ${j.total.weightBytesAfter}`);
  assert.ok(j.total.fileBytesBefore / j.total.fileBytesAfter > 7.2, `file bytes ${j.total.fileBytesBefore} -> ${j.total.fileBytesAfter}`);
  assert.equal(statSync(out).size, j.total.fileBytesAfter);
  assert.ok(j.total.accuracyBefore > 0.85, `accuracy before ${j.total.accuracyBefore}`);
  assert.ok(j.total.accuracyAfter > 0.8 && j.total.accuracyAfter > j.total.accuracyHashed, `accuracy ${j.total.accuracyBefore} -> ${j.total.accuracyHashed} hashed -> ${j.total.accuracyAfter} fine-tuned`);

  // The written model computes the virtual weights the report's layout gives, from its (trained) buckets.
  const model = loadModel(out);
  for (const l of j.layers) model.graph.outputs.push({ name: l.weight });
  const feeds = randomInputs(model, { batch: 2, seed: 1 });
  const logits: Float32Array[] = [];
  for (const runtime of [nodeRuntime, webRuntime]) {
    const s = await runtime.createSession(model, { threads: 1 });
    const o = await s.run(feeds);
    await s.release();
    logits.push(o[model.graph.outputs[0]!.name]!.toFloat32());
    for (const l of j.layers) {
      const layout = { virtualWeights: l.virtualWeights, buckets: l.buckets, bucketKey: hashKey(3, l.weight, 0), signKey: hashKey(3, l.weight, 1) };
      const expected = virtualWeights(layout, model.graph.initializers.get(`${l.weight}.buckets`)!.toFloat32());
      assert.deepEqual(o[l.weight]!.toFloat32(), expected, `${runtime.name}: ${l.weight}`);
    }
  }
  assert.ok(Math.max(...logits[0]!.map((v, i) => Math.abs(v - logits[1]![i]!))) < 1e-4);

  // Text output: one line per layer and a summary.
  const text = nnzip(['hash', base, '--ratio', '0.25', '--no-sign-hash', '--threads', '1', '-o', join(dir, 'text.onnx')]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /fc1\.weight \(Gemm \[300x784\]\): 235200 weights -> 58800 buckets/);
  assert.match(text.stdout, /wrote .*text\.onnx: weights 1\.02 MiB -> 260 KiB \(4\.00x\), file 1\.02 MiB -> 2\d\d KiB/);
});

test('hash: bad input gives one-line errors and writes nothing', () => {
  bad(['--ratio', '0'], /ratio of buckets to weights must be in \(0, 1\]/);
  bad(['--ratio', '1.5'], /must be in \(0, 1\]/);
  bad(['--ratio', 'lots'], /'lots'/);
  bad(['--ratio', '0.5', '--layer', 'conv*=0.5'], /layer pattern 'conv\*' matches no Gemm, MatMul or Conv weight/);
  bad(['--ratio', '0.5', '--layer', 'fc1*=2'], /--layer fc1\*=2: the ratio/);
  bad(['--ratio', '0.5', '--exclude', 'nothing'], /exclude pattern 'nothing' matches no/);
  bad(['--ratio', '0.5', '--finetune-epochs', '1'], /--finetune-epochs needs --data/);
});
