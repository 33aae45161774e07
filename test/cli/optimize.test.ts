import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { validateModel } from '../../src/core/validate.js';
import { buildArch } from '../../src/nn/zoo.js';
import { loadModel, saveModel } from '../../src/node/io.js';
import { randomInputs, seededRandom } from '../../src/runtime/inputs.js';
import { runOnce } from '../helpers/run.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();

test('optimize: the opset-9 fixture with Constant weights; JSON report; the output runs and matches', async () => {
  const source = fixture('mlp_opset9_constants.onnx');
  const out = join(dir, 'mlp.onnx');
  const r = nnzip(['optimize', source, '-o', out, '--json', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const original = loadModel(source);
  const constants = original.graph.nodes.filter((n) => n.opType === 'Constant').length;
  assert.ok(constants > 0);
  assert.equal(j.output, out);
  assert.equal(j.nodesBefore, original.graph.nodes.length);
  assert.equal(j.constantsToInitializers, constants);
  for (const key of ['nodesAfter', 'bytesBefore', 'bytesAfter', 'foldedBatchNorms', 'foldedConstantNodes', 'removedIdentities', 'removedDropouts', 'dedupedInitializers', 'dedupedBytes', 'removedNodes', 'removedInitializers']) {
    assert.equal(typeof j[key], 'number', key);
  }
  assert.ok(j.check.maxRelative <= 1e-5 && j.check.tolerance === 1e-4);
  assert.deepEqual(j.check.outputs.map((o: { output: string }) => o.output), original.graph.outputs.map((o) => o.name));

  const optimized = loadModel(out);
  validateModel(optimized);
  assert.equal(optimized.graph.nodes.length, j.nodesAfter);
  assert.equal(optimized.graph.nodes.filter((n) => n.opType === 'Constant').length, 0);
  const feeds = randomInputs(original, { batch: 2, seed: 7 });
  const [a, b] = [await runOnce(original, feeds), await runOnce(optimized, feeds)];
  for (const name of Object.keys(a)) {
    const x = a[name]!.toFloat32(), y = b[name]!.toFloat32();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-5 * Math.max(1, Math.abs(x[i]!)), `${name}[${i}]`);
  }
});

/** resnet-8 with non-trivial BatchNorm statistics, saved to a file. */
function resnetWithStatistics(): string {
  const model: Model = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10 });
  const rand = seededRandom(1);
  for (const n of model.graph.nodes.filter((x) => x.opType === 'BatchNormalization')) {
    for (const [i, name] of n.inputs.slice(1, 5).entries()) {
      const t = model.graph.initializers.get(name)!;
      const lo = i === 3 ? 0.2 : -0.5;
      model.graph.initializers.set(name, Tensor.fromFloat32(name, t.dims, Float32Array.from({ length: t.size }, () => lo + rand())));
    }
  }
  const path = join(dir, 'resnet8.onnx');
  saveModel(model, path);
  return path;
}

test('optimize: text summary on resnet-8; --no-fold-bn keeps the BatchNorms; a tolerance of 0 refuses to write', () => {
  const source = resnetWithStatistics();
  const out = join(dir, 'resnet8-opt.onnx');
  const r = nnzip(['optimize', source, '-o', out, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*resnet8-opt\.onnx: \d+ -> \d+ nodes/);
  assert.match(r.stdout, /BatchNorms folded: [1-9]\d*/);
  assert.match(r.stdout, /largest difference/);
  assert.equal(loadModel(out).graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);

  const keep = join(dir, 'resnet8-keep.onnx');
  const k = nnzip(['optimize', source, '-o', keep, '--no-fold-bn', '--json', '--threads', '1']);
  assert.equal(k.code, 0, k.stderr);
  assert.equal(JSON.parse(k.stdout).foldedBatchNorms, 0);
  assert.ok(loadModel(keep).graph.nodes.some((n) => n.opType === 'BatchNormalization'));

  // Folding changes float rounding, so an exact check fails: one line naming the output, nothing written.
  const strict = join(dir, 'resnet8-strict.onnx');
  const s = nnzip(['optimize', source, '-o', strict, '--tolerance', '0', '--threads', '1']);
  assert.equal(s.code, 1, s.stdout);
  assert.equal(s.stderr.trim().split('\n').length, 1, s.stderr);
  assert.match(s.stderr, /^nnzip: optimized model's output '.+' differs from the original by .* not written/);
  assert.ok(!existsSync(strict));
});

test('optimize: a missing model file is a one-line error', () => {
  const r = nnzip(['optimize', join(dir, 'nope.onnx'), '-o', join(dir, 'x.onnx')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /nope\.onnx/);
});
