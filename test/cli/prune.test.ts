import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/node/io.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const base = join(dir, 'base.onnx');

/** Runs a prune that must fail: exit 1, one line on stderr matching the pattern, and no output file. */
function bad(args: string[], pattern: RegExp) {
  const out = join(dir, 'bad.onnx');
  const r = nnzip(['prune', base, ...args, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!existsSync(out));
}

test('prune: magnitude 90% with masked fine-tuning keeps pruned weights at zero and reports before and after', () => {
  assert.equal(nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '6000', '--test-limit', '500', '--epochs', '2', '--lr', '0.05', '--threads', '1', '-o', base]).code, 0);
  const out = join(dir, 'pruned.onnx');
  const r = nnzip(['prune', base, '--sparsity', '0.9', '--data', 'mnist', '--limit', '2000', '--test-limit', '500', '--finetune-epochs', '1', '--threads', '1', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(Math.abs(j.total.weightsRemoved - 0.9) < 1e-3, `removed ${j.total.weightsRemoved}`);
  assert.ok(j.total.accuracyBefore > 0.85 && j.total.accuracyAfter > 0.7, `accuracy ${j.total.accuracyBefore} -> ${j.total.accuracyAfter}`);
  for (const k of ['paramsBefore', 'paramsAfter', 'nonzerosBefore', 'nonzerosAfter', 'macsBefore', 'macsAfter']) assert.ok(k in j.total, k);
  assert.equal(j.layers.length, 3);
  const model = loadModel(out);
  for (const name of ['fc1.weight', 'fc2.weight', 'fc3.weight']) {
    const w = model.graph.initializers.get(name)!.toFloat32();
    const zeros = w.filter((v) => v === 0).length;
    assert.ok(Math.abs(zeros / w.length - 0.9) < 2e-3, `${name}: ${zeros / w.length} zeros after fine-tuning`);
  }
});

test('prune: structured channels shrink the graph and its MACs; N:M keeps N of every M', () => {
  const s = nnzip(['prune', base, '--sparsity', '0.5', '--structured', '-o', join(dir, 'structured.onnx'), '--json']);
  assert.equal(s.code, 0, s.stderr);
  const sj = JSON.parse(s.stdout);
  assert.ok(sj.total.macsAfter < 0.6 * sj.total.macsBefore, `MACs ${sj.total.macsBefore} -> ${sj.total.macsAfter}`);
  // half of 300 neurons is 150, rounded to the default multiple of 8
  assert.deepEqual([...loadModel(join(dir, 'structured.onnx')).graph.initializers.get('fc1.weight')!.dims], [152, 784]);
  const n = nnzip(['prune', base, '--sparsity', '0.5', '--method', 'nm', '--nm', '2:4', '-o', join(dir, 'nm.onnx'), '--json']);
  assert.equal(n.code, 0, n.stderr);
  const w = loadModel(join(dir, 'nm.onnx')).graph.initializers.get('fc1.weight')!.toFloat32();
  for (let g = 0; g < w.length; g += 4) assert.equal([0, 1, 2, 3].filter((i) => w[g + i] !== 0).length, 2);
});

test('prune: bad input gives one-line errors and writes nothing', () => {
  bad(['--sparsity', '1'], /--sparsity must be in \[0, 1\)/);
  bad(['--sparsity', '0.5', '--layer', 'conv*=0.5'], /conv\*/);
  bad(['--sparsity', '0.5', '--method', 'nm', '--nm', '3:7'], /multiple of 7/);
  bad(['--sparsity', '0.5', '--finetune-epochs', '1'], /--data is needed/);
  bad(['--sparsity', '0.5', '--schedule', 'sometimes'], /--schedule 'sometimes'/);
});

test('prune: l1-reg trains with the penalty first; scope sensitivity allocates per-layer sparsities for the global target', () => {
  const l1 = nnzip(['prune', base, '--sparsity', '0.8', '--method', 'l1-reg', '--penalty-epochs', '1', '--penalty', '0.001', '--data', 'mnist', '--limit', '640', '--test-limit', '200', '--threads', '1', '-o', join(dir, 'l1.onnx'), '--json']);
  assert.equal(l1.code, 0, l1.stderr);
  const lj = JSON.parse(l1.stdout);
  assert.ok(lj.stages.penalty.meanAbsAfter < lj.stages.penalty.meanAbsBefore, JSON.stringify(lj.stages.penalty));
  assert.ok(Math.abs(lj.total.weightsRemoved - 0.8) < 1e-3);

  const s = nnzip(['prune', base, '--sparsity', '0.8', '--scope', 'sensitivity', '--sensitivities', '0.5,0.8,0.95', '--data', 'mnist', '--test-limit', '200', '--threads', '1', '-o', join(dir, 'sens.onnx'), '--json']);
  assert.equal(s.code, 0, s.stderr);
  const sj = JSON.parse(s.stdout);
  assert.ok(Math.abs(sj.total.weightsRemoved - 0.8) < 1e-3, `removed ${sj.total.weightsRemoved}`);
  const layers = sj.stages.sensitivity.layers as { weight: string; sparsity: number }[];
  assert.equal(layers.length, 3);
  assert.ok(new Set(layers.map((l) => l.sparsity.toFixed(3))).size > 1, `per-layer sparsities differ: ${JSON.stringify(layers)}`);
  // The written model has each layer at its allocated sparsity.
  const model = loadModel(join(dir, 'sens.onnx'));
  for (const l of layers) {
    const w = model.graph.initializers.get(l.weight)!.toFloat32();
    assert.ok(Math.abs(w.filter((v) => v === 0).length / w.length - l.sparsity) < 2e-3, `${l.weight}`);
  }
});

test('prune: sparse training from scratch with RigL keeps the exact sparsity', () => {
  const r = nnzip(['prune', base, '--sparsity', '0.9', '--schedule', 'rigl', '--update-every', '2', '--finetune-epochs', '1', '--data', 'mnist', '--limit', '640', '--test-limit', '200', '--threads', '1', '-o', join(dir, 'rigl.onnx'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.stages.sparseTraining.updates.length >= 2, JSON.stringify(j.stages.sparseTraining.updates));
  assert.ok(Math.abs(j.total.weightsRemoved - 0.9) < 2e-3, `removed ${j.total.weightsRemoved}`);
});

test('prune: residual blocks, FPGM, Taylor and bn-slim channels, and filter merging on a ResNet', () => {
  const resnet = join(dir, 'resnet8.onnx');
  assert.equal(nnzip(['train', '--arch', 'resnet-8', '--data', 'mnist', '--limit', '256', '--test-limit', '100', '--epochs', '1', '--threads', '1', '-o', resnet]).code, 0);
  const run = (args: string[]) => {
    const r = nnzip(['prune', resnet, ...args, '--threads', '1', '-o', join(dir, 'r.onnx'), '--force', '--json']);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.ok(j.total.macsAfter < j.total.macsBefore, `${args.join(' ')}: MACs ${j.total.macsBefore} -> ${j.total.macsAfter}`);
    return j;
  };
  const blocks = run(['--blocks', '1']);
  assert.equal(blocks.stages.blocks.removed, 1);
  const fpgm = run(['--sparsity', '0.5', '--method', 'fpgm']);
  assert.equal(fpgm.stages.channels.criterion, 'fpgm');
  run(['--sparsity', '0.5', '--structured', '--method', 'taylor', '--data', 'mnist', '--limit', '128', '--test-limit', '100']);
  const slim = run(['--sparsity', '0.5', '--method', 'bn-slim', '--penalty-epochs', '1', '--penalty', '0.01', '--data', 'mnist', '--limit', '256', '--test-limit', '100']);
  assert.ok(slim.stages.penalty.meanAbsAfter < slim.stages.penalty.meanAbsBefore);
  run(['--sparsity', '0.5', '--structured', '--merge']);
});

test('prune: bad combinations of the new methods give one-line errors', () => {
  bad(['--blocks', '1'], /no removable residual block/);
  bad(['--sparsity', '0.5', '--schedule', 'set', '--data', 'mnist'], /trains from scratch/);
  bad(['--sparsity', '0.5', '--method', 'l1-reg'], /--data is needed for training with the L1 penalty/);
  bad(['--sparsity', '0.5', '--structured', '--schedule', 'agp', '--data', 'mnist'], /structured pruning runs one-shot/);
  bad(['--method', 'fpgm'], /give --sparsity/);
});

test('prune --teacher distills from a teacher while fine-tuning (soft targets change the result; zeros stay zero)', () => {
  const common = ['prune', base, '--sparsity', '0.8', '--finetune-epochs', '1', '--data', 'mnist', '--limit', '640', '--test-limit', '200', '--threads', '1', '--json'];
  const plain = nnzip([...common, '-o', join(dir, 'plain.onnx')]);
  const taught = nnzip([...common, '--teacher', base, '--temperature', '2', '--alpha', '0.7', '-o', join(dir, 'taught.onnx')]);
  assert.equal(taught.code, 0, taught.stderr);
  assert.ok(Math.abs(JSON.parse(taught.stdout).total.weightsRemoved - 0.8) < 1e-3);
  const a = loadModel(join(dir, 'plain.onnx')).graph.initializers.get('fc2.weight')!.toFloat32();
  const b = loadModel(join(dir, 'taught.onnx')).graph.initializers.get('fc2.weight')!.toFloat32();
  assert.ok(a.some((v, i) => v !== b[i]), 'the teacher changed the fine-tuning');
  assert.deepEqual([...a].map((v) => v === 0), [...b].map((v) => v === 0), 'the same weights are pruned, and stay zero');
  bad(['--sparsity', '0.5', '--teacher', base], /--teacher distills while training: give --data/);
});
