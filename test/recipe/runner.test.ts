import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../src/core/codec.js';
import { Model } from '../../src/core/ir.js';
import { DataLoader } from '../../src/data/loader.js';
import { unpackModel } from '../../src/compress/encode/nnz.js';
import { denseFromClustered } from '../../src/compress/share/cluster.js';
import { buildArch } from '../../src/nn/zoo.js';
import { openDataset } from '../../src/node/datasets.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { RecipeError, validateRecipe } from '../../src/recipe/schema.js';
import { runRecipe } from '../../src/recipe/runner.js';

/** Zero positions of every 2-D float weight (the fully connected layers), by name. */
function zerosOf(model: Model): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, t] of model.graph.initializers) {
    if (t.dims.length !== 2 || !(t.data instanceof Float32Array)) continue;
    const zeros: number[] = [];
    t.data.forEach((v, i) => { if (v === 0) zeros.push(i); });
    out.set(name, zeros);
  }
  return out;
}

test('a stage that needs data, without data, fails before any work naming the stage', async () => {
  const recipe = validateRecipe({ stages: [{ stage: 'optimize' }, { stage: 'prune', sparsity: 0.5, finetuneEpochs: 1 }] });
  const seen: number[] = [];
  await assert.rejects(runRecipe(buildArch('lenet-300-100'), recipe, { runtime: nodeRuntime, onStage: async (i) => { seen.push(i); } }),
    (e: Error) => e instanceof RecipeError && e.message === 'stages[1] (prune): needs training data for fine-tuning (finetuneEpochs), and none was given');
  assert.deepEqual(seen, []);
});

test('optimize -> prune 0.8 + finetune -> cluster 4 bits -> pack keeps pruned weights zero, runs, and unpacks', async () => {
  const loader = new DataLoader(openDataset('mnist', 'train'), { batchSize: 64, limit: 384, shuffle: true, seed: 1 });
  const model = buildArch('lenet-300-100', { seed: 1 });
  const recipe = validateRecipe({
    stages: [
      { stage: 'optimize' },
      { stage: 'prune', sparsity: 0.8, scope: 'global' },
      { stage: 'finetune', epochs: 1, lr: 0.05 },
      { stage: 'cluster', bits: 4 },
      { stage: 'pack' },
    ],
  });
  const snapshots: Model[] = [];
  const result = await runRecipe(model, recipe, { runtime: nodeRuntime, trainLoader: loader, threads: 1, onStage: async (_, __, m) => { snapshots.push(m); } });
  assert.equal(snapshots.length, 5);
  assert.deepEqual(result.stages.map((s) => s.stage.stage), ['optimize', 'prune', 'finetune', 'cluster', 'pack']);
  for (const s of result.stages) assert.ok(s.seconds >= 0);

  const pruned = zerosOf(snapshots[1]!);
  const totalWeights = [...snapshots[1]!.graph.initializers.values()].filter((t) => t.dims.length === 2).reduce((n, t) => n + t.size, 0);
  const prunedCount = [...pruned.values()].reduce((n, z) => n + z.length, 0);
  assert.ok(Math.abs(prunedCount / totalWeights - 0.8) < 0.01, `global sparsity ${prunedCount / totalWeights}`);
  // Fine-tuning changed the weights but kept every pruned one at zero.
  const tuned = snapshots[2]!;
  let changed = false;
  for (const [name, zeros] of pruned) {
    const before = snapshots[1]!.graph.initializers.get(name)!.data as Float32Array;
    const after = tuned.graph.initializers.get(name)!.data as Float32Array;
    for (const i of zeros) assert.equal(after[i], 0, `${name}[${i}] after finetune`);
    if (after.some((v, i) => v !== before[i])) changed = true;
  }
  assert.ok(changed, 'fine-tuning changed some weight');
  // Clustering (gather form) keeps the zeros: the dense equivalent has them at the same places.
  const dense = denseFromClustered(result.model);
  for (const [name, zeros] of pruned) {
    const w = dense.graph.initializers.get(name);
    assert.ok(w, `dense weight ${name}`);
    for (const i of zeros) assert.equal((w.data as Float32Array)[i], 0, `${name}[${i}] after cluster`);
    assert.ok(new Set(w.data as Float32Array).size <= 16, `${name}: at most 2^4 distinct values`);
  }

  // The final model runs in onnxruntime, and the .nnz bytes unpack to a model giving the same outputs.
  assert.ok(result.nnz && result.nnz.length > 0);
  const batch = loader.batches(0)[Symbol.iterator]().next().value!;
  const input = new ort.Tensor('float32', Float32Array.from(batch.inputs.data as Float32Array), batch.inputs.dims.map(Number));
  const run = async (m: Model) => {
    const session = await ort.InferenceSession.create(encodeModel(m).bytes);
    const out = await session.run({ [session.inputNames[0]!]: input });
    return out[session.outputNames[0]!]!.data as Float32Array;
  };
  const direct = await run(result.model);
  assert.ok(direct.every(Number.isFinite));
  assert.deepEqual(await run(unpackModel(result.nnz)), direct);
});

test('prune with teacher: alpha 0 at T=1 trains exactly as without the teacher; alpha 0.9 trains differently', async () => {
  const loader = () => new DataLoader(openDataset('mnist', 'train'), { batchSize: 64, limit: 256, shuffle: true, seed: 2 });
  const model = buildArch('mlp:784-32-10', { seed: 3 });
  const weightsAfter = async (extra: Record<string, unknown>) => {
    const recipe = validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.5, finetuneEpochs: 1, lr: 0.05, ...extra }] });
    const r = await runRecipe(model, recipe, { runtime: nodeRuntime, trainLoader: loader(), threads: 1 });
    return [...r.model.graph.initializers.values()].filter((t) => t.dims.length === 2).map((t) => Array.from(t.data as Float32Array));
  };
  const plain = await weightsAfter({});
  const alphaZero = await weightsAfter({ teacher: 'original', temperature: 1, alpha: 0 });
  const distilled = await weightsAfter({ teacher: 'original', temperature: 2, alpha: 0.9 });
  assert.deepEqual(alphaZero, plain);
  assert.notDeepEqual(distilled, plain);
  // A teacher file needs a loader of models; the check happens before any work.
  const recipe = validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.5, finetuneEpochs: 1, teacher: 'big.onnx' }] });
  await assert.rejects(runRecipe(model, recipe, { runtime: nodeRuntime, trainLoader: loader() }), /stages\[0\] \(prune\): the teacher 'big.onnx' is a file/);
});
