import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeModel } from '../../../src/core/codec.js';
import { modelStats } from '../../../src/core/stats.js';
import { FAILED_COST, InProcessRunner, TrialContext, canonicalJson, fnv1a64, runTrial, runTrialWithModel, trialId } from '../../../src/compress/auto/trial.js';
import { Trial } from '../../../src/compress/auto/types.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { loadModel } from '../../../src/node/io.js';
import { Recipe, validateRecipe } from '../../../src/recipe/schema.js';
import { runRecipe } from '../../../src/recipe/runner.js';
import { nodeRuntime } from '../../../src/runtime/node.js';

const trialOf = (recipe: Recipe, origin = 'test'): Trial => ({ id: trialId(recipe), origin, recipe });

test('fnv1a64 gives the published FNV-1a 64-bit values', () => {
  const hash = (s: string) => fnv1a64(new TextEncoder().encode(s));
  assert.equal(hash(''), 'cbf29ce484222325');
  assert.equal(hash('a'), 'af63dc4c8601ec8c');
  assert.equal(hash('foobar'), '85944171f73967e8');
});

test('trialId: key order and the recipe name do not matter; stage contents and their order do', () => {
  const a: Recipe = { stages: [{ stage: 'prune', sparsity: 0.5, scope: 'global', layers: { fc1: 0.4, fc2: 0.6 } }, { stage: 'cluster', bits: 4 }, { stage: 'pack' }] };
  const reordered = JSON.parse('{"stages":[{"layers":{"fc2":0.6,"fc1":0.4},"scope":"global","sparsity":0.5,"stage":"prune"},{"bits":4,"stage":"cluster"},{"stage":"pack"}]}') as Recipe;
  assert.equal(canonicalJson(a.stages), canonicalJson(reordered.stages));
  assert.equal(trialId(a), trialId(reordered));
  assert.equal(trialId({ ...a, name: 'candidate 7', description: 'from the allocation' }), trialId(a));
  assert.match(trialId(a), /^[0-9a-f]{16}$/);
  assert.equal(trialId(a), fnv1a64(new TextEncoder().encode(canonicalJson(a.stages))));

  const ids = new Set([
    trialId(a),
    trialId({ stages: [{ stage: 'prune', sparsity: 0.6, scope: 'global', layers: { fc1: 0.4, fc2: 0.6 } }, { stage: 'cluster', bits: 4 }, { stage: 'pack' }] }),
    trialId({ stages: [{ stage: 'prune', sparsity: 0.5, scope: 'global', layers: { fc1: 0.6, fc2: 0.4 } }, { stage: 'cluster', bits: 4 }, { stage: 'pack' }] }),
    trialId({ stages: [{ stage: 'prune', sparsity: 0.5, scope: 'global', layers: { fc1: 0.4, fc2: 0.6 } }, { stage: 'cluster', bits: 5 }, { stage: 'pack' }] }),
    trialId({ stages: [{ stage: 'cluster', bits: 4 }, { stage: 'prune', sparsity: 0.5, scope: 'global', layers: { fc1: 0.4, fc2: 0.6 } }, { stage: 'pack' }] }),
  ]);
  assert.equal(ids.size, 5);
});

function mnistContext(model = buildArch('lenet-300-100', { seed: 7 })): TrialContext {
  const train = openDataset('mnist', 'train');
  const test = openDataset('mnist', 'test');
  return {
    runtime: nodeRuntime, model, threads: 1,
    trainLoader: new DataLoader(train, { batchSize: 32, limit: 256, shuffle: true, seed: 5 }),
    evalLoader: new DataLoader(test, { batchSize: 250, limit: 500 }),
  };
}

test('runTrial: prune + cluster + pack measures what runRecipe produces (accuracy, .nnz bytes, MACs)', async () => {
  const ctx = mnistContext();
  const recipe = validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.5 }, { stage: 'cluster', bits: 4 }, { stage: 'pack' }] });
  const { result, output } = await runTrialWithModel(trialOf(recipe, 'allocation 0.5'), ctx);
  assert.equal(result.error, undefined);
  assert.equal(result.id, trialId(recipe));
  assert.equal(result.origin, 'allocation 0.5');
  assert.deepEqual(result.recipe, recipe);

  const direct = await runRecipe(ctx.model, recipe, { runtime: nodeRuntime, threads: 1 });
  const accuracy = (await evaluateClassifier(nodeRuntime, direct.model, ctx.evalLoader, { threads: 1 })).accuracy;
  assert.equal(result.accuracy, accuracy);
  assert.ok(direct.nnz);
  assert.equal(result.bytes, direct.nnz.byteLength);
  assert.ok(result.bytes < encodeModel(ctx.model).bytes.byteLength / 4, `${result.bytes} bytes`);
  // 784x300 + 300x100 + 100x10 multiply-accumulates per sample; clustering keeps the MatMuls.
  assert.equal(result.macs, 784 * 300 + 300 * 100 + 100 * 10);
  assert.equal(result.macs, modelStats(direct.model).macs);
  assert.equal(result.latencyMs, undefined);
  assert.ok(result.seconds > 0);
  assert.ok(output && output.nnz && output.nnz.byteLength === result.bytes);
  assert.deepEqual(JSON.parse(JSON.stringify(result)), result, 'a result survives a JSON round trip');
});

test('runTrial: prune + 1 fine-tune epoch (256 samples) matches runRecipe run directly; ONNX bytes without pack; latency when asked', async () => {
  const ctx: TrialContext = { ...mnistContext(), latency: { batch: 8, runs: 3, warmup: 1 } };
  const recipe = validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.7 }, { stage: 'finetune', epochs: 1, lr: 0.05 }] });
  const result = await runTrial(trialOf(recipe), ctx);
  assert.equal(result.error, undefined);

  const direct = await runRecipe(ctx.model, recipe, { runtime: nodeRuntime, trainLoader: ctx.trainLoader, threads: 1 });
  const accuracy = (await evaluateClassifier(nodeRuntime, direct.model, ctx.evalLoader, { threads: 1 })).accuracy;
  assert.equal(result.accuracy, accuracy);
  const untuned = await runTrial(trialOf(validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.7 }] })), ctx);
  assert.ok(accuracy > untuned.accuracy + 0.2, `fine-tuned accuracy ${accuracy}, without fine-tuning ${untuned.accuracy}`);
  assert.equal(result.bytes, encodeModel(direct.model).bytes.byteLength);
  assert.equal(result.macs, modelStats(direct.model).macs);
  assert.ok(result.latencyMs !== undefined && result.latencyMs > 0 && Number.isFinite(result.latencyMs), `latency ${result.latencyMs}`);
});

test('runTrial: failures come back as results with error, never as throws', async () => {
  const ctx: TrialContext = { ...mnistContext(), loadModel: (p) => loadModel(p) };
  const cases: [unknown, RegExp][] = [
    // A teacher file that does not exist.
    [{ stages: [{ stage: 'distill', teacher: '/nonexistent/teacher.onnx', epochs: 1, lr: 0.01 }] }, /stages\[0\] \(distill\).*\/nonexistent\/teacher\.onnx: no such file/],
    // Invalid recipes (trials arrive as plain JSON): a prune stage without sparsity, an unknown stage.
    [{ stages: [{ stage: 'prune' }] }, /stages\[0\]\.sparsity: missing/],
    [{ stages: [{ stage: 'shrink' }] }, /stages\[0\]\.stage: unknown stage "shrink"/],
    // A pass that fails inside runRecipe: low-rank factorization of a layer the model does not have.
    [{ stages: [{ stage: 'lowrank', layers: { 'no_such_layer*': 0.9 } }] }, /^stages\[0\] \(lowrank\): .*'no_such_layer\*' matches no/],
    // Static quantization with no training loader and no calibration feeds.
    [{ stages: [{ stage: 'quantize', mode: 'static' }] }, /needs training data for calibration/],
  ];
  for (const [recipe, expected] of cases) {
    const trial: Trial = { id: 'x', origin: 'broken', recipe: recipe as Recipe };
    const c = (recipe as Recipe).stages[0]!.stage === 'quantize' ? { ...ctx, trainLoader: undefined } : ctx;
    const outcome = await runTrialWithModel(trial, c);
    const r = outcome.result;
    assert.match(r.error ?? '', expected);
    assert.equal(outcome.output, undefined);
    assert.equal(r.accuracy, 0);
    assert.equal(r.bytes, FAILED_COST);
    assert.equal(r.macs, FAILED_COST);
    assert.equal(r.latencyMs, undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'a failed result survives a JSON round trip');
  }
});

test('InProcessRunner: one trial at a time, the same results as runTrial, refuses work after close', async () => {
  const ctx = mnistContext();
  const runner = new InProcessRunner(ctx);
  assert.equal(runner.parallelism, 1);
  const recipes = [
    validateRecipe({ stages: [{ stage: 'prune', sparsity: 0.5 }, { stage: 'pack' }] }),
    validateRecipe({ stages: [{ stage: 'quantize', mode: 'weight', bits: 8 }] }),
  ];
  const order: string[] = [];
  const results = await Promise.all(recipes.map((r, i) => runner.run(trialOf(r, `t${i}`)).then((res) => { order.push(res.origin); return res; })));
  assert.deepEqual(order, ['t0', 't1']);
  for (const [i, r] of recipes.entries()) {
    const alone = await runTrial(trialOf(r, `t${i}`), ctx);
    assert.equal(results[i]!.error, undefined);
    assert.equal(results[i]!.accuracy, alone.accuracy);
    assert.equal(results[i]!.bytes, alone.bytes);
    assert.equal(results[i]!.macs, alone.macs);
  }
  await runner.close();
  await assert.rejects(runner.run(trialOf(recipes[0]!)), /closed/);
});
