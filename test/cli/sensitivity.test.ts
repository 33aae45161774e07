import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Tensor } from '../../src/core/tensor.js';
import { layerSensitivity } from '../../src/compress/prune/sensitivity.js';
import { FidelityReference, generatedFeeds } from '../../src/eval/fidelity.js';
import { buildArch } from '../../src/nn/zoo.js';
import { saveModel } from '../../src/node/io.js';
import { writeNpy } from '../../src/node/npy.js';
import { seededRandom } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const model = buildArch('mlp:12-10-8-5', { inputShape: [12], classes: 5, seed: 4 });
const modelPath = join(dir, 'mlp.onnx');
saveModel(model, modelPath);

test('sensitivity --metric fidelity without --data: a row per prunable layer, top-1 agreement with the unpruned model, as the library computes it', async () => {
  const r = nnzip(['sensitivity', modelPath, '--metric', 'fidelity', '--sparsities', '0.5,0.8', '--samples', '100', '--seed', '7', '--threads', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.metric, 'top1-agreement');
  assert.equal(j.data, null);
  assert.equal(j.samples, 100);
  assert.equal(j.baseline, 1);
  assert.equal(j.baselineExtras.sqnrDb, null, 'identical outputs: infinite SQNR, written as null');
  assert.deepEqual(j.layers.map((l: { weight: string }) => l.weight), ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  for (const l of j.layers) {
    assert.equal(l.metrics.length, 2);
    assert.ok(l.metrics.every((v: number) => v >= 0 && v <= 1), `${l.weight}: ${l.metrics}`);
    assert.ok(l.cosine.every((v: number) => v >= -1 && v <= 1) && l.sqnrDb.every((v: number) => Number.isFinite(v)), l.weight);
  }
  // The same numbers in-process: the library's reference on the same seeded inputs.
  const reference = await FidelityReference.create(nodeRuntime, model, generatedFeeds(model, 100, { seed: 7, batchSize: 128 }), { threads: 1 });
  const peer = await layerSensitivity(model, [0.5, 0.8], async (m) => {
    const f = await reference.compare(m);
    return { value: f.top1Agreement!, extras: { cosine: f.meanCosine, sqnrDb: f.sqnrDb } };
  });
  for (const [i, l] of peer.layers.entries()) {
    assert.deepEqual(j.layers[i].metrics, l.metrics);
    for (let k = 0; k < 2; k++) assert.ok(Math.abs(j.layers[i].sqnrDb[k] - l.extras!.sqnrDb![k]!) < 1e-6);
  }
  // Fidelity is also the default without --data; the table names the layers.
  const text = nnzip(['sensitivity', modelPath, '--sparsities', '0.5,0.8', '--samples', '100', '--seed', '7', '--threads', '1']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /top-1 agreement with the unpruned model on 100 generated inputs \(seed 7\): 100\.00% unpruned/);
  for (const l of peer.layers) assert.match(text.stdout, new RegExp(`${l.node}.*${l.weight}.*${(100 * l.metrics[1]!).toFixed(2)}%`));
});

test('sensitivity with data: accuracy when it has labels, fidelity when asked or when it has none', () => {
  const rand = seededRandom(5);
  const x = Tensor.fromFloat32('x', [60, 12], Array.from({ length: 720 }, () => rand() * 2 - 1));
  writeNpy(x, join(dir, 'labelled.npy'));
  writeNpy(Tensor.fromInt64('y', [60], Array.from({ length: 60 }, (_, i) => i % 5)), join(dir, 'labelled.labels.npy'));
  writeNpy(x, join(dir, 'targets.npy'));
  writeNpy(Tensor.fromFloat32('y', [60], Array.from({ length: 60 }, (_, i) => i / 60)), join(dir, 'targets.labels.npy'));
  const run = (...args: string[]) => {
    const r = nnzip(['sensitivity', modelPath, '--sparsities', '0.5', '--threads', '1', '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const accuracy = run('--data', join(dir, 'labelled.npy'));
  assert.equal(accuracy.metric, 'accuracy');
  assert.equal(accuracy.samples, 60);
  assert.ok(accuracy.layers.every((l: { cosine?: number[] }) => l.cosine === undefined));
  const fidelity = run('--data', join(dir, 'labelled.npy'), '--metric', 'fidelity', '--samples', '40');
  assert.equal(fidelity.metric, 'top1-agreement');
  assert.equal(fidelity.samples, 40);
  assert.equal(fidelity.baseline, 1);
  assert.equal(run('--data', join(dir, 'targets.npy')).metric, 'top1-agreement');

  const bad = (args: string[], pattern: RegExp) => {
    const r = nnzip(['sensitivity', modelPath, ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  bad(['--metric', 'accuracy'], /--metric accuracy needs --data with class labels/);
  bad(['--data', join(dir, 'targets.npy'), '--metric', 'accuracy'], /accuracy needs class labels.*--metric fidelity/);
  bad(['--metric', 'loss'], /--metric/);
});
