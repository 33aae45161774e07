// Nothing broken reaches the disk: a malformed graph, a NaN weight or a model onnxruntime refuses fails naming the
// pass (and the node or weight), and no file is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType } from '../../src/core/dtype.js';
import { ValidationError } from '../../src/core/errors.js';
import { Model } from '../../src/core/ir.js';
import { saveCheckedModel } from '../../src/node/checked-save.js';
import { loadModel, saveModel } from '../../src/node/io.js';
import { runRecipe } from '../../src/recipe/runner.js';
import { validateRecipe } from '../../src/recipe/schema.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();

function gemmModel(weights: number[] = [1, 2, 3, 4, 5, 6], weightDims = [2, 3]): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 3]);
  const w = b.floats('fc.weight', weightDims, Float32Array.from(weights));
  const y = b.op('Gemm', [x, w], { transB: 1 }, { name: 'fc' });
  b.output(b.op('Relu', [y], {}, { name: 'relu' }), DataType.FLOAT, ['batch', 2]);
  return modelOf(b.graph, { '': 21 });
}

async function refused(model: Model, pattern: RegExp): Promise<void> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}.onnx`);
  await assert.rejects(saveCheckedModel(model, out, { pass: 'prune' }), (e: Error) => {
    assert.ok(e instanceof ValidationError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.equal(e.message.split('\n').length, 1);
    return true;
  });
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
}

test('a sound model is written and reads back the same', async () => {
  const out = join(dir, 'sound.onnx');
  await saveCheckedModel(gemmModel(), out, { pass: 'prune' });
  assert.deepEqual([...loadModel(out).graph.initializers.get('fc.weight')!.toFloat32()], [1, 2, 3, 4, 5, 6]);
});

test('a node reading a value nothing defines: the pass and the node are named', async () => {
  const m = gemmModel();
  m.graph.nodes.find((n) => n.name === 'relu')!.inputs[0] = 'fc_output_renamed_by_a_bug';
  await refused(m, /^the prune pass produced an invalid model: node 'relu' \(Relu\) reads 'fc_output_renamed_by_a_bug', which no node/);
});

test('a NaN or infinite weight: the weight and the index are named', async () => {
  await refused(gemmModel([1, 2, 3, 4, NaN, 6]), /^the prune pass produced a model whose weight 'fc\.weight' holds NaN at index 4$/);
  await refused(gemmModel([1, 2, -Infinity, 4, 5, 6]), /weight 'fc\.weight' holds -Infinity at index 2$/);
});

test('a well-formed graph onnxruntime refuses (a weight of the wrong shape): the pass and onnxruntime\'s reason', async () => {
  await refused(gemmModel([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]), /^the prune pass produced a model onnxruntime refuses: .*fc/);
});

test('a recipe stage that hands on a NaN weight stops there, naming the stage', async () => {
  const recipe = validateRecipe({ stages: [{ stage: 'optimize' }] });
  await assert.rejects(runRecipe(gemmModel([1, NaN, 3, 4, 5, 6]), recipe, { runtime: nodeRuntime }),
    /: stages\[0\] \(optimize\): the stage produced a model whose weight 'fc\.weight' holds NaN at index 1$/);
});

test('the CLI: one line, exit 1, nothing written', () => {
  const input = join(dir, 'nan.onnx');
  saveModel(gemmModel([1, 2, 3, Infinity, 5, 6]), input);
  const out = join(dir, 'nan-optimized.onnx');
  const r = nnzip(['optimize', input, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /optimize pass produced a model whose weight 'fc\.weight' holds Infinity at index 3/);
  assert.ok(!existsSync(out));
});
