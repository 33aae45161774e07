import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import { factorizeLinear } from '../../../src/compress/lowrank/index.js';
import { Model } from '../../../src/core/ir.js';

const train = openDataset('mnist', 'train');
const testSet = new DataLoader(openDataset('mnist', 'test'), { batchSize: 500, limit: 2000 });
const loader = () => new DataLoader(train, { batchSize: 64, limit: 6000, shuffle: true, seed: 3 });
const accuracy = async (m: Model) => (await evaluateClassifier(nodeRuntime, m, testSet, { threads: 1 })).accuracy;

test('a factorized lenet-300-100 (rank ratio 0.25) is an ordinary model: trainModel fine-tunes its factors and recovers accuracy', async () => {
  const baseline = (await trainModel(buildArch('lenet-300-100', { seed: 1 }), {}, { runtime: nodeRuntime, loader: loader(), epochs: 3, lr: 0.05, threads: 1 })).model;
  const base = await accuracy(baseline);
  assert.ok(base > 0.88, `baseline ${base}`);

  // The 10-class classifier stays whole (at rank 3 of 10 no fine-tuning brings it back).
  const { model: factorized, report } = factorizeLinear(baseline, { rankRatio: 0.25, exclude: ['fc3'] });
  // fc1 [300, 784] -> rank 75, fc2 [100, 300] -> 25: 75·1084 + 25·400 (+ fc3's 1000) MACs of 266,200.
  assert.deepEqual(report.layers.map((l) => [l.rank[0], l.factorized]), [[75, true], [25, true], [10, false]]);
  assert.deepEqual([report.total.macsBefore, report.total.macsAfter], [266200, 81300 + 10000 + 1000]);
  const cut = await accuracy(factorized);

  const tuned = await trainModel(factorized, {}, { runtime: nodeRuntime, loader: loader(), epochs: 2, lr: 0.02, threads: 1 });
  const recovered = await accuracy(tuned.model);
  // Every factor was trained (both sides of every layer), and the structure stayed as it was.
  for (const name of factorized.graph.initializers.keys()) {
    if (!/\.(u|v)$/.test(name)) continue;
    const a = factorized.graph.initializers.get(name)!.toFloat32(), b = tuned.model.graph.initializers.get(name)!.toFloat32();
    assert.ok(a.some((x, i) => x !== b[i]), `${name} trained`);
  }
  assert.deepEqual(tuned.model.graph.nodes.map((n) => n.name), factorized.graph.nodes.map((n) => n.name));
  // Truncation costs accuracy; two epochs of fine-tuning win it back.
  assert.ok(cut < base - 0.01, `factorizing alone: ${base} -> ${cut}`);
  assert.ok(recovered > cut + 0.01 && recovered >= base - 0.005, `baseline ${base}, factorized ${cut}, fine-tuned ${recovered}`);
});
