// measureModel on lenet-300-100 and a 90%-pruned copy, checked against the library pieces it gathers (modelStats,
// encodeModel, gzip, packModel, evaluateClassifier, FidelityReference); compareMetrics by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'fflate';
import { encodeModel } from '../../src/core/codec.js';
import { modelStats } from '../../src/core/stats.js';
import { pruneUnstructured } from '../../src/compress/prune/index.js';
import { packModel } from '../../src/compress/encode/index.js';
import { DataLoader } from '../../src/data/loader.js';
import { evaluateClassifier } from '../../src/eval/classification.js';
import { FidelityReference, loaderFeeds } from '../../src/eval/fidelity.js';
import { ModelMetrics, compareMetrics, measureModel, metricChange } from '../../src/eval/measure.js';
import { buildArch } from '../../src/nn/zoo.js';
import { openDataset } from '../../src/node/datasets.js';
import { nodeRuntime } from '../../src/runtime/node.js';

const original = buildArch('lenet-300-100', { seed: 1 });
const pruned = pruneUnstructured(original, { sparsity: 0.9 }).model;
const testLoader = new DataLoader(openDataset('mnist', 'test'), { batchSize: 250, limit: 1000 });
const reference = FidelityReference.create(nodeRuntime, original, loaderFeeds(original, testLoader), { threads: 1 });

test('sizes, parameters, non-zeros and MACs match encodeModel, gzip, packModel and modelStats', async () => {
  for (const model of [original, pruned]) {
    const m = await measureModel(model, { runtime: nodeRuntime, threads: 1 });
    const stats = modelStats(model);
    const onnx = encodeModel(model).bytes;
    assert.equal(m.params, stats.params);
    assert.equal(m.nonzeroParams, stats.nonzeroParams);
    assert.equal(m.macs, stats.macs);
    assert.equal(m.bytes.onnx, onnx.byteLength);
    assert.equal(m.bytes.gzip, gzipSync(onnx, { level: 6 }).byteLength);
    assert.equal(m.bytes.gzip, stats.gzipBytes);
    assert.equal(m.bytes.nnz, packModel(model).bytes.byteLength);
    assert.equal(m.accuracy, undefined);
    assert.equal(m.fidelity, undefined);
    assert.equal(m.latency, undefined);
    assert.equal(m.peakMemoryBytes, undefined);
  }
  const a = await measureModel(original, { runtime: nodeRuntime, nnz: false });
  const b = await measureModel(pruned, { runtime: nodeRuntime, nnz: (model) => model.graph.nodes.length });
  assert.equal(a.bytes.nnz, undefined);
  assert.equal(b.bytes.nnz, pruned.graph.nodes.length);
  // 784*300 + 300 + 300*100 + 100 + 100*10 + 10 weights; pruning zeroes about 90% of the three weight matrices.
  assert.equal(a.params, 266610);
  assert.equal(a.macs, 784 * 300 + 300 * 100 + 100 * 10);
  assert.equal(b.params, a.params);
  assert.ok(b.nonzeroParams < 0.15 * a.params, `${b.nonzeroParams}`);
  assert.ok(b.bytes.gzip < a.bytes.gzip * 0.5, `${b.bytes.gzip} vs ${a.bytes.gzip}`);
  assert.ok(b.bytes.nnz! < b.bytes.gzip);
});

test('accuracy equals evaluateClassifier; fidelity against itself is 1, 1, Infinity; against the pruned copy it is below', async () => {
  const ref = await reference;
  const self = await measureModel(original, { runtime: nodeRuntime, threads: 1, testLoader, reference: ref, nnz: false });
  assert.equal(self.accuracy, (await evaluateClassifier(nodeRuntime, original, testLoader, { threads: 1 })).accuracy);
  assert.deepEqual(self.fidelity, { top1Agreement: 1, meanCosine: 1, sqnrDb: Infinity });

  const cut = await measureModel(pruned, { runtime: nodeRuntime, threads: 1, testLoader, reference: ref, nnz: false });
  assert.equal(cut.accuracy, (await evaluateClassifier(nodeRuntime, pruned, testLoader, { threads: 1 })).accuracy);
  assert.deepEqual(cut.fidelity, await ref.compare(pruned).then((f) => ({ top1Agreement: f.top1Agreement, meanCosine: f.meanCosine, sqnrDb: f.sqnrDb })));
  assert.ok(cut.fidelity!.meanCosine < 1 && Number.isFinite(cut.fidelity!.sqnrDb));
});

test('latency gives positive p50 <= p95; the memory callback is read around creation and every run', async () => {
  let reads = 0;
  const memory = () => ++reads * 1000; // rises with each read, so the peak is the last reading
  const m = await measureModel(original, { runtime: nodeRuntime, threads: 1, nnz: false, latency: { batch: 8, runs: 7, warmup: 2 }, memory });
  assert.ok(m.latency!.p50Ms > 0 && m.latency!.p95Ms >= m.latency!.p50Ms, JSON.stringify(m.latency));
  assert.equal(reads, 2 + 2 + 7); // before and after creation, each warm-up and each timed run
  assert.equal(m.peakMemoryBytes, reads * 1000);

  reads = 0;
  const memoryOnly = await measureModel(original, { runtime: nodeRuntime, threads: 1, nnz: false, memory });
  assert.equal(memoryOnly.latency, undefined);
  assert.equal(reads, 3); // one run at batch 1
  assert.equal(memoryOnly.peakMemoryBytes, 3000);

  await assert.rejects(measureModel(original, { runtime: nodeRuntime, nnz: false, latency: { batch: 0, runs: 1, warmup: 0 } }), /latency batch must be an integer of at least 1, got 0/);
});

test('compareMetrics: ratios before/after and differences after-before, computed by hand', () => {
  const before: ModelMetrics = {
    accuracy: 0.98, fidelity: { top1Agreement: 1, meanCosine: 1, sqnrDb: Infinity },
    bytes: { onnx: 1000, gzip: 900, nnz: 800 }, params: 500, nonzeroParams: 500, macs: 400,
    latency: { p50Ms: 2, p95Ms: 3 }, peakMemoryBytes: 4000,
  };
  const after: ModelMetrics = {
    accuracy: 0.95, fidelity: { top1Agreement: 0.9, meanCosine: 0.8, sqnrDb: 12 },
    bytes: { onnx: 250, gzip: 100, nnz: 50 }, params: 500, nonzeroParams: 50, macs: 100,
    latency: { p50Ms: 0.5, p95Ms: 1.5 }, peakMemoryBytes: 2000,
  };
  const c = compareMetrics(before, after);
  assert.deepEqual(c.bytes.onnx, { before: 1000, after: 250, ratio: 4, delta: -750 });
  assert.deepEqual(c.bytes.gzip, { before: 900, after: 100, ratio: 9, delta: -800 });
  assert.deepEqual(c.bytes.nnz, { before: 800, after: 50, ratio: 16, delta: -750 });
  assert.deepEqual(c.params, { before: 500, after: 500, ratio: 1, delta: 0 });
  assert.deepEqual(c.nonzeroParams, { before: 500, after: 50, ratio: 10, delta: -450 });
  assert.deepEqual(c.macs, { before: 400, after: 100, ratio: 4, delta: -300 });
  assert.equal(c.accuracy!.ratio, 0.98 / 0.95);
  assert.ok(Math.abs(c.accuracy!.delta - -0.03) < 1e-12);
  assert.deepEqual(c.latency, { p50Ms: { before: 2, after: 0.5, ratio: 4, delta: -1.5 }, p95Ms: { before: 3, after: 1.5, ratio: 2, delta: -1.5 } });
  assert.deepEqual(c.peakMemoryBytes, { before: 4000, after: 2000, ratio: 2, delta: -2000 });
  assert.ok(Math.abs(c.fidelity!.top1Agreement!.delta - -0.1) < 1e-12);
  assert.ok(Math.abs(c.fidelity!.meanCosine.delta - -0.2) < 1e-12);
  assert.deepEqual(c.fidelity!.sqnrDb, { before: Infinity, after: 12, ratio: Infinity, delta: -Infinity });

  // Metrics missing on either side are left out; a null top-1 agreement too.
  const bare = compareMetrics({ ...before, accuracy: undefined, latency: undefined, bytes: { onnx: 1000, gzip: 900 } },
    { ...after, fidelity: { top1Agreement: null, meanCosine: 1, sqnrDb: 5 }, peakMemoryBytes: undefined });
  assert.equal(bare.accuracy, undefined);
  assert.equal(bare.latency, undefined);
  assert.equal(bare.bytes.nnz, undefined);
  assert.equal(bare.peakMemoryBytes, undefined);
  assert.equal(bare.fidelity!.top1Agreement, undefined);
  assert.deepEqual(metricChange(5, 0), { before: 5, after: 0, ratio: Infinity, delta: -5 });
});
