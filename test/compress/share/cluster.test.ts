import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { NnzipError } from '../../../src/core/errors.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { accumulateGradients, fineTuneMasked, pruneUnstructured } from '../../../src/compress/prune/index.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import { clusterWeights, clusteredCodebooks, denseFromClustered, fineTuneClustered } from '../../../src/compress/share/cluster.js';
import { maxAbs, maxDiff, runInBothRuntimes } from '../../helpers/compare.js';
import { runOnce } from '../../helpers/run.js';

const mnist = openDataset('mnist', 'train');
const mnistTest = openDataset('mnist', 'test');
const trainLoader = (limit: number, seed = 1) => new DataLoader(mnist, { batchSize: 64, limit, shuffle: true, seed });
const testLoader = new DataLoader(mnistTest, { batchSize: 500, limit: 1000 });
const accuracy = async (m: Model) => (await evaluateClassifier(nodeRuntime, m, testLoader, { threads: 1 })).accuracy;

/** The float weight the gather form computes: codebook[indices]. */
function sharedWeight(model: Model, weight: string): Float32Array {
  const book = clusteredCodebooks(model).find((c) => c.layers.some((l) => l.weight === weight))!;
  const codebook = model.graph.initializers.get(book.codebook)!.toFloat32();
  const indices = model.graph.initializers.get(book.layers.find((l) => l.weight === weight)!.indices)!;
  return Float32Array.from(indices.toNumbers(), (i) => codebook[i]!);
}

test('gather form: small-integer indices, a codebook and Gather compute exactly the dense form, in onnxruntime node and web', async () => {
  for (const arch of ['lenet-300-100', 'lenet-5']) {
    const pruned = pruneUnstructured(buildArch(arch, { seed: 3 }), { sparsity: 0.8 }).model;
    const gather = clusterWeights(pruned);
    const dense = clusterWeights(pruned, { format: 'dense' });
    const feeds = randomInputs(pruned, { seed: 1, dims: { batch: 4 } });
    const [node, web] = await runInBothRuntimes(gather.model, feeds);
    const reference = (await runOnce(dense.model, feeds)).logits!.toFloat32();
    const n = node!.logits!.toFloat32(), w = web!.logits!.toFloat32();
    assert.ok(maxDiff(n, reference) <= 1e-6 * Math.max(1, maxAbs(reference)), `${arch}: gather vs dense ${maxDiff(n, reference)}`);
    assert.ok(maxDiff(w, reference) <= 1e-5 * Math.max(1, maxAbs(reference)), `${arch}: web vs dense ${maxDiff(w, reference)}`);
    // And close to the unclustered model (the sharing is an approximation, not a different network).
    const original = (await runOnce(pruned, feeds)).logits!.toFloat32();
    assert.ok(maxDiff(original, reference) < 0.1 * maxAbs(original), `${arch}: clustered outputs drift ${maxDiff(original, reference)}`);

    for (const layer of gather.report.layers) {
      // Default bits: 8 for Conv, 5 for Gemm (the paper's); 2^b entries with the fixed zero of a pruned layer.
      assert.equal(layer.bits, layer.op === 'Conv' ? 8 : 5, layer.name);
      assert.ok(layer.zeroEntry && layer.codebookSize <= 2 ** layer.bits, `${layer.name}: ${layer.codebookSize} entries`);
      const stored = gather.model.graph.initializers.get(`${layer.name}.indices`)!;
      assert.equal(stored.dataType, DataType.UINT8);
      assert.equal(layer.indexBytes, layer.weights);
      assert.equal(layer.codebookBytes, 4 * layer.codebookSize);
      assert.equal(layer.packedBytes, Math.ceil((layer.weights * layer.bits) / 8) + 4 * layer.codebookSize);
      assert.ok(!gather.model.graph.initializers.has(layer.name), 'the float weight is gone');
      // Zeros are exactly zero, through index 0; the dense form takes the codebook's values and no others.
      const before = pruned.graph.initializers.get(layer.name)!.toFloat32();
      const after = dense.model.graph.initializers.get(layer.name)!.toFloat32();
      assert.deepEqual(after, sharedWeight(gather.model, layer.name));
      let zeros = 0, maxErr = 0;
      for (let i = 0; i < before.length; i++) {
        if (before[i] === 0) { zeros++; assert.ok(after[i] === 0 && stored.at(i) === 0); } else assert.notEqual(stored.at(i), 0);
        maxErr = Math.max(maxErr, Math.abs(before[i]! - after[i]!));
      }
      assert.equal(layer.nonzeros, before.length - zeros);
      assert.equal(layer.maxAbsError, maxErr);
      assert.ok(new Set(after).size <= layer.codebookSize);
    }
    const { total } = gather.report;
    assert.equal(total.bytesAfter, gather.report.layers.reduce((a, l) => a + l.bytesAfter, 0));
    assert.ok(total.bytesAfter < total.bytesBefore / 3.5, `${total.bytesBefore} -> ${total.bytesAfter}`);
    assert.ok(encodeModel(gather.model).bytes.length < encodeModel(pruned).bytes.length / 3, 'the file shrinks');
  }
});

test('a dense (unpruned) layer has no zero entry: 2^b centroids; bits per layer by pattern; uint16 indices past 256 entries', async () => {
  const model = buildArch('lenet-300-100', { seed: 4 });
  const r = clusterWeights(model, { bits: 4, layerBits: [{ pattern: 'fc3*', bits: 10 }], exclude: ['fc2'] });
  const [fc1, fc3] = r.report.layers;
  assert.deepEqual(r.report.layers.map((l) => l.name), ['fc1.weight', 'fc3.weight']);
  assert.deepEqual(r.report.skipped, [{ name: 'fc2.weight', node: 'fc2', reason: "excluded by pattern 'fc2'" }]);
  assert.equal(fc1!.zeroEntry, false);
  assert.equal(fc1!.codebookSize, 16);
  assert.equal(fc3!.bits, 10);
  assert.ok(fc3!.codebookSize > 256 && fc3!.codebookSize <= 1000, `${fc3!.codebookSize}`);
  assert.equal(r.model.graph.initializers.get('fc3.weight.indices')!.dataType, DataType.UINT16);
  assert.ok(r.model.graph.initializers.has('fc2.weight'), 'excluded layer left as it was');
  const feeds = randomInputs(model, { seed: 2, dims: { batch: 2 } });
  const dense = clusterWeights(model, { bits: 4, layerBits: { 'fc3*': 10 }, exclude: ['fc2'], format: 'dense' });
  assert.deepEqual((await runOnce(r.model, feeds)).logits!.toFloat32(), (await runOnce(dense.model, feeds)).logits!.toFloat32());
  // The gather form turned back into plain weights is the dense form.
  const densified = denseFromClustered(r.model);
  for (const name of ['fc1.weight', 'fc2.weight', 'fc3.weight']) assert.deepEqual(densified.graph.initializers.get(name)!.data, dense.model.graph.initializers.get(name)!.data);
  assert.equal(densified.graph.nodes.length, model.graph.nodes.length);
  assert.equal(densified.graph.initializers.size, model.graph.initializers.size);
  // Saved and loaded: the codebooks are found again from the graph.
  const reloaded = decodeModel(encodeModel(r.model).bytes);
  assert.deepEqual(clusteredCodebooks(reloaded).map((c) => [c.codebook, c.zeroEntry, c.layers.length]), [['fc1.weight.codebook', false, 1], ['fc3.weight.codebook', false, 1]]);
});

test('global sharing: one codebook for the matched layers', async () => {
  const pruned = pruneUnstructured(buildArch('lenet-300-100', { seed: 5 }), { sparsity: 0.5 }).model;
  const all = clusterWeights(pruned, { sharing: 'global', bits: 6 });
  assert.equal(all.report.codebooks.length, 1);
  assert.deepEqual(all.report.codebooks[0]!.layers, ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  const books = clusteredCodebooks(all.model);
  assert.equal(books.length, 1);
  assert.equal(books[0]!.layers.length, 3);
  assert.equal(all.model.graph.nodes.filter((n) => n.opType === 'Gather' && n.inputs[0] === books[0]!.codebook).length, 3);
  assert.ok(all.report.codebooks[0]!.size <= 64);
  // Counted once in the total.
  assert.equal(all.report.total.bytesAfter, all.report.layers.reduce((a, l) => a + l.indexBytes, 0) + 4 * all.report.codebooks[0]!.size);

  const some = clusterWeights(pruned, { sharing: 'global', sharedLayers: ['fc1*', 'fc2*'] });
  assert.deepEqual(some.report.codebooks.map((c) => c.layers), [['fc1.weight', 'fc2.weight'], ['fc3.weight']]);
  assert.equal(some.report.layers[0]!.codebook, some.report.layers[1]!.codebook);
  const feeds = randomInputs(pruned, { seed: 3, dims: { batch: 2 } });
  const dense = clusterWeights(pruned, { sharing: 'global', sharedLayers: ['fc1*', 'fc2*'], format: 'dense' });
  assert.deepEqual((await runOnce(some.model, feeds)).logits!.toFloat32(), (await runOnce(dense.model, feeds)).logits!.toFloat32());
  // A shared codebook's values are the union: fc1 and fc2 draw from the same set.
  const values = new Set(dense.model.graph.initializers.get('fc1.weight')!.toFloat32());
  for (const v of dense.model.graph.initializers.get('fc2.weight')!.toFloat32()) values.add(v);
  assert.ok(values.size <= 32);
});

test('the gradient of a centroid is the sum of the gradients of the weights in its cluster', async () => {
  const pruned = pruneUnstructured(buildArch('lenet-300-100', { seed: 6 }), { sparsity: 0.7 }).model;
  const options = { bits: 3, sharing: 'global' as const, sharedLayers: ['fc2*', 'fc3*'] };
  const gather = clusterWeights(pruned, options);
  const dense = clusterWeights(pruned, { ...options, format: 'dense' });
  const books = clusteredCodebooks(gather.model);
  const loader = trainLoader(256);
  const bookGrads = await accumulateGradients(nodeRuntime, gather.model, loader, books.map((b) => b.codebook), { batches: 2, threads: 1 });
  const weightGrads = await accumulateGradients(nodeRuntime, dense.model, loader, ['fc1.weight', 'fc2.weight', 'fc3.weight'], { batches: 2, threads: 1 });
  for (const book of books) {
    const expected = new Float64Array(gather.model.graph.initializers.get(book.codebook)!.size);
    let scale = 0;
    for (const { weight, indices } of book.layers) {
      const idx = gather.model.graph.initializers.get(indices)!.toNumbers();
      const g = weightGrads.get(weight)!;
      for (let i = 0; i < idx.length; i++) { expected[idx[i]!] += g[i]!; scale += Math.abs(g[i]!); }
    }
    const got = bookGrads.get(book.codebook)!;
    assert.ok(expected.some((v) => v !== 0));
    for (let j = 0; j < expected.length; j++) {
      assert.ok(Math.abs(got[j]! - expected[j]!) <= 1e-5 * scale, `${book.codebook}[${j}]: ${got[j]} vs summed ${expected[j]} (scale ${scale})`);
    }
  }
});

test('centroid fine-tuning on MNIST: centroids move, zeros stay zero, loss falls, accuracy recovers (lenet-300-100, 90% pruned, 3 bits)', async () => {
  const trained = await trainModel(buildArch('lenet-300-100', { seed: 7 }), {}, { runtime: nodeRuntime, loader: trainLoader(4000), epochs: 2, lr: 0.05, threads: 1 });
  const pruned = pruneUnstructured(trained.model, { sparsity: 0.9 });
  const tunedPrune = await fineTuneMasked(pruned.model, pruned.masks, { runtime: nodeRuntime, loader: trainLoader(4000, 2), epochs: 1, lr: 0.02, threads: 1 });
  const clustered = clusterWeights(tunedPrune.model, { bits: 3 });
  const accClustered = await accuracy(clustered.model);
  const tuned = await fineTuneClustered(clustered.model, { runtime: nodeRuntime, loader: trainLoader(4000, 3), epochs: 2, lr: 0.01, threads: 1 });
  const accTuned = await accuracy(tuned.model);
  const accPruned = await accuracy(tunedPrune.model);
  console.log(`# accuracy: pruned ${accPruned}, clustered 3 bits ${accClustered}, fine-tuned ${accTuned}`);
  assert.ok(accTuned >= accClustered, `accuracy after fine-tuning ${accTuned} < after clustering ${accClustered}`);
  const [first, second] = tuned.fit.history;
  assert.ok(second!.trainLoss < first!.trainLoss, `training loss ${first!.trainLoss} -> ${second!.trainLoss}`);
  assert.equal(tuned.codebooks.length, 3);
  for (const book of tuned.codebooks) {
    const before = clustered.model.graph.initializers.get(book.codebook)!.toFloat32();
    const after = tuned.model.graph.initializers.get(book.codebook)!.toFloat32();
    assert.ok(book.zeroEntry);
    assert.ok(before.length <= 8, `${book.codebook}: ${before.length} entries`);
    assert.ok(Object.is(after[0], 0), `${book.codebook}[0] = ${after[0]} after fine-tuning`);
    assert.ok(after.some((v, j) => j > 0 && v !== before[j]), `${book.codebook}: centroids moved`);
    for (const { weight, indices } of book.layers) {
      assert.deepEqual(tuned.model.graph.initializers.get(indices)!.data, clustered.model.graph.initializers.get(indices)!.data, 'indices fixed');
      const mask = pruned.masks.get(weight)!.toFloat32();
      const w = sharedWeight(tuned.model, weight);
      for (let i = 0; i < w.length; i++) if (mask[i] === 0) assert.equal(w[i], 0);
      assert.ok(new Set(w).size <= 8, 'the weights still share 8 values');
    }
  }
});

test('fine-tuning keeps the zeros of pruned layers left out of clustering; models with no codebook are refused', async () => {
  const pruned = pruneUnstructured(buildArch('lenet-300-100', { seed: 8 }), { sparsity: 0.8 });
  const clustered = clusterWeights(pruned.model, { bits: 4, exclude: ['fc1*'] });
  const tuned = await fineTuneClustered(clustered.model, { runtime: nodeRuntime, loader: trainLoader(640), epochs: 1, lr: 0.05, threads: 1 });
  const mask = pruned.masks.get('fc1.weight')!.toFloat32();
  const before = clustered.model.graph.initializers.get('fc1.weight')!.toFloat32();
  const w = tuned.model.graph.initializers.get('fc1.weight')!.toFloat32();
  for (let i = 0; i < w.length; i++) if (mask[i] === 0) assert.equal(w[i], 0);
  assert.ok(w.some((v, i) => v !== before[i]), 'the unclustered layer trained');
  await assert.rejects(fineTuneClustered(pruned.model, { runtime: nodeRuntime, loader: trainLoader(64), epochs: 1, lr: 0.01 }), /no clustered weights to fine-tune/);
});

test('bad options: one-line errors', () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  const oneLine = (pattern: RegExp) => (e: Error) => e instanceof NnzipError && !e.message.includes('\n') && pattern.test(e.message);
  assert.throws(() => clusterWeights(model, { bits: 0 }), oneLine(/bits 0 is not supported: weight sharing takes 1 to 16 bits/));
  assert.throws(() => clusterWeights(model, { bits: 17 }), oneLine(/bits 17 is not supported/));
  assert.throws(() => clusterWeights(model, { bits: 2.5 }), oneLine(/bits 2.5/));
  assert.throws(() => clusterWeights(model, { layerBits: { 'fc1*': 20 } }), oneLine(/bits for layers 'fc1\*': 20 is not supported/));
  assert.throws(() => clusterWeights(model, { layerBits: { 'conv*': 4 } }), oneLine(/layer pattern 'conv\*' matches no layer \(layers: fc1, fc2, fc3\)/));
  assert.throws(() => clusterWeights(model, { init: 'kmeans++' as 'linear' }), oneLine(/unknown centroid initialization 'kmeans\+\+'/));
  assert.throws(() => clusterWeights(model, { format: 'packed' as 'dense' }), oneLine(/unknown format 'packed'/));
  assert.throws(() => clusterWeights(model, { sharedLayers: ['fc1'] }), oneLine(/sharedLayers needs sharing 'global'/));
  assert.throws(() => clusterWeights(model, { exclude: ['fc*'] }), oneLine(/every layer is excluded/));
  const clustered = clusterWeights(model).model;
  assert.throws(() => clusterWeights(clustered), oneLine(/no weights to cluster/));
  const bad = model.clone();
  const w = bad.graph.initializers.get('fc2.weight')!;
  const data = Float32Array.from(w.toFloat32());
  data[5] = NaN;
  bad.graph.initializers.set('fc2.weight', new Tensor('fc2.weight', DataType.FLOAT, w.dims, data));
  assert.throws(() => clusterWeights(bad), oneLine(/weight 'fc2.weight' holds NaN at position 5/));
  // The input model is not changed.
  assert.ok(model.graph.initializers.has('fc1.weight') && model.graph.nodes.every((n) => n.opType !== 'Gather'));
});
