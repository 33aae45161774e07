import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataType } from '../../src/core/dtype.js';
import { DataLoader } from '../../src/data/loader.js';
import { buildArch } from '../../src/nn/zoo.js';
import { openDataset } from '../../src/node/datasets.js';
import { loadModel, saveModel } from '../../src/node/io.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { pruneUnstructured } from '../../src/compress/prune/index.js';
import { trainModel } from '../../src/compress/prune/schedules.js';
import { clusteredCodebooks } from '../../src/compress/share/cluster.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const base = join(dir, 'pruned.onnx');

/** A cluster run that must fail: exit 1, one line on stderr matching the pattern, and no output file. */
function bad(args: string[], pattern: RegExp) {
  const out = join(dir, 'bad.onnx');
  const r = nnzip(['cluster', base, ...args, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!existsSync(out));
}

test('cluster: a pruned lenet-300-100 at 3 bits with centroid fine-tuning on an MNIST subset; JSON report', async () => {
  const loader = new DataLoader(openDataset('mnist', 'train'), { batchSize: 64, limit: 3000, shuffle: true, seed: 1 });
  const trained = await trainModel(buildArch('lenet-300-100', { seed: 1 }), {}, { runtime: nodeRuntime, loader, epochs: 2, lr: 0.05, threads: 1 });
  const pruned = pruneUnstructured(trained.model, { sparsity: 0.9 }).model;
  saveModel(pruned, base);

  const out = join(dir, 'clustered.onnx');
  const r = nnzip(['cluster', base, '--bits', '3', '--layer', 'fc3*=4', '--finetune-epochs', '1', '--data', 'mnist', '--limit', '2000', '--test-limit', '500', '--threads', '1', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, 'gather');
  assert.equal(j.sharing, 'layer');
  assert.equal(j.init, 'linear');
  for (const k of ['accuracyBefore', 'accuracyClustered', 'accuracyAfter']) assert.ok(j.total[k] > 0.5 && j.total[k] <= 1, `${k} ${j.total[k]}`);
  assert.ok(j.total.accuracyAfter >= j.total.accuracyClustered, `fine-tuning: ${j.total.accuracyClustered} -> ${j.total.accuracyAfter}`);
  assert.equal(j.finetune.epochs, 1);
  assert.equal(j.finetune.history.length, 1);
  assert.equal(j.total.weights, 784 * 300 + 300 * 100 + 100 * 10);
  assert.ok(Math.abs(j.total.nonzeros / j.total.weights - 0.1) < 1e-3);
  assert.equal(j.total.bytesBefore, 4 * j.total.weights);
  assert.ok(j.total.fileBytesAfter < j.total.fileBytesBefore / 3, `${j.total.fileBytesBefore} -> ${j.total.fileBytesAfter}`);
  assert.deepEqual(j.layers.map((l: { name: string; bits: number }) => [l.name, l.bits]), [['fc1.weight', 3], ['fc2.weight', 3], ['fc3.weight', 4]]);
  for (const l of j.layers) {
    for (const k of ['weights', 'nonzeros', 'codebookSize', 'bytesBefore', 'indexBytes', 'codebookBytes', 'bytesAfter', 'packedBytes', 'maxAbsError']) assert.equal(typeof l[k], 'number', k);
    assert.ok(l.codebookSize <= 2 ** l.bits);
  }
  // The written model: uint8 indices through a codebook whose zero entry stayed zero.
  const model = loadModel(out);
  const books = clusteredCodebooks(model);
  assert.equal(books.length, 3);
  for (const book of books) {
    assert.ok(book.zeroEntry);
    assert.ok(Object.is(model.graph.initializers.get(book.codebook)!.at(0), 0));
    assert.equal(model.graph.initializers.get(book.layers[0]!.indices)!.dataType, DataType.UINT8);
  }
  const indices = model.graph.initializers.get('fc1.weight.indices')!;
  const original = pruned.graph.initializers.get('fc1.weight')!.toFloat32();
  for (let i = 0; i < original.length; i++) assert.equal(indices.at(i) === 0, original[i] === 0);

  // Text output; the dense form (fine-tuned in the gather form, then written as plain weights with 8 values).
  const dense = join(dir, 'dense.onnx');
  const t = nnzip(['cluster', base, '--bits', '3', '--format', 'dense', '--finetune-epochs', '1', '--data', 'mnist', '--limit', '640', '--test-limit', '200', '--threads', '1', '-o', dense]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^layer\s+op\s+weights/);
  assert.match(t.stdout, /fc1\.weight\s+Gemm\s+235200\s+10\.00%\s+3\s+[2-8]\s/);
  assert.match(t.stdout, /wrote .*dense\.onnx \(dense, layer codebooks, linear init, 1 epoch of centroid fine-tuning\).*accuracy .* clustered -> .* fine-tuned/);
  const w = loadModel(dense).graph.initializers.get('fc1.weight')!.toFloat32();
  assert.ok(new Set(w).size <= 8 && w.filter((v) => v === 0).length === original.filter((v) => v === 0).length);

  // Global sharing, density initialization, no data: one codebook, no accuracy.
  const g = nnzip(['cluster', base, '--sharing', 'global', '--init', 'density', '--bits', '5', '-o', join(dir, 'global.onnx'), '--json']);
  assert.equal(g.code, 0, g.stderr);
  const gj = JSON.parse(g.stdout);
  assert.equal(gj.codebooks.length, 1);
  assert.deepEqual(gj.codebooks[0].layers, ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  assert.equal(gj.total.accuracyBefore, null);
  assert.equal(gj.finetune, null);
});

test('cluster: bad input gives one-line errors and writes nothing', () => {
  bad(['--bits', '0'], /--bits 0: bits must be a whole number from 1 to 16/);
  bad(['--bits', '17'], /--bits 17: bits must be a whole number from 1 to 16/);
  bad(['--layer', 'fc1*=20'], /--layer fc1\*=20: bits must be/);
  bad(['--layer', 'conv*=4'], /layer pattern 'conv\*' matches no layer/);
  bad(['--finetune-epochs', '1'], /--data is needed for fine-tuning/);
  bad(['--shared', 'fc1*'], /--shared needs --sharing global/);
  bad(['--init', 'kmeans++'], /--init/);
  bad(['--exclude', 'fc*'], /every layer is excluded/);
  const missing = nnzip(['cluster', join(dir, 'none.onnx'), '-o', join(dir, 'x.onnx')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
});
