import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseLayerRule } from '../../src/cli/lowrank.js';
import { loadModel } from '../../src/node/io.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const base = join(dir, 'base.onnx');

/** Runs a lowrank command that must fail: exit 1, one line on stderr matching the pattern, and no output file. */
function bad(model: string, args: string[], pattern: RegExp) {
  const out = join(dir, 'bad.onnx');
  const r = nnzip(['lowrank', model, ...args, '-o', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.ok(!existsSync(out));
}

test('lowrank: rank ratio with fine-tuning reports layers, params, MACs, accuracy and latency before and after', () => {
  assert.equal(nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '6000', '--test-limit', '500', '--epochs', '2', '--lr', '0.05', '--threads', '1', '-o', base]).code, 0);
  const out = join(dir, 'lowrank.onnx');
  const r = nnzip(['lowrank', base, '--rank-ratio', '0.25', '--layer', 'fc2=rank:10', '--exclude', 'fc3', '--data', 'mnist', '--limit', '2000',
    '--test-limit', '500', '--finetune-epochs', '1', '--threads', '1', '--latency-runs', '20', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.layers.map((l: { node: string; rank: number[]; factorized: boolean }) => [l.node, l.rank[0], l.factorized]), [['fc1', 75, true], ['fc2', 10, true], ['fc3', 10, false]]);
  // Whole-model figures: fc1 75·(784+300), fc2 10·(300+100), fc3 1000 weights, plus the 410 biases.
  assert.equal(j.total.paramsAfter, 81300 + 4000 + 1000 + 410);
  assert.equal(j.total.macsBefore, 266200);
  assert.equal(j.total.macsAfter, 81300 + 4000 + 1000);
  assert.ok(j.total.accuracyBefore > 0.85 && j.total.accuracyAfter > 0.8, `accuracy ${j.total.accuracyBefore} -> ${j.total.accuracyFactorized} -> ${j.total.accuracyAfter}`);
  assert.equal(j.finetune.epochs, 1);
  assert.equal(j.total.latencyBefore.batch, 32);
  assert.ok(j.total.latencyBefore.p50Ms > 0 && j.total.latencyAfter.p50Ms > 0 && j.total.speedup > 0);
  // The written model is the fine-tuned factorized one.
  const model = loadModel(out);
  assert.deepEqual(model.graph.nodes.filter((n) => n.opType === 'Gemm').map((n) => n.name), ['fc1.u', 'fc1.v', 'fc2.u', 'fc2.v', 'fc3']);
  assert.deepEqual([...model.graph.initializers.get('fc2.weight.u')!.dims], [10, 300]);

  // Text output: one line per layer and the totals.
  const text = nnzip(['lowrank', base, '--energy', '0.6', '--latency-runs', '0', '-o', join(dir, 'energy.onnx')]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /fc1 \[300x784\]: svd rank \d+ of 300, energy 6\d\.\d\d%/);
  assert.match(text.stdout, /MACs per sample 266K -> /);
});

test('lowrank: convolutions by Tucker-2 or spatial separation, or left alone', () => {
  const resnet = fixture('resnet_small.onnx');
  for (const conv of ['tucker', 'spatial', 'none']) {
    const r = nnzip(['lowrank', resnet, '--rank-ratio', '0.5', '--conv', conv, '--latency-runs', '0', '-o', join(dir, `${conv}.onnx`), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const convs = j.layers.filter((l: { opType: string }) => l.opType === 'Conv');
    if (conv === 'none') assert.equal(convs.length, 0);
    else assert.ok(convs.some((l: { method: string; factorized: boolean }) => l.method === conv && l.factorized), JSON.stringify(convs.map((l: { method: string }) => l.method)));
    assert.ok(j.total.macsAfter < j.total.macsBefore || conv === 'none');
  }
});

test('lowrank: bad input gives one-line errors and writes nothing', () => {
  const mlp = fixture('mlp.onnx');
  bad(mlp, [], /give one of --energy E or --rank-ratio R/);
  bad(mlp, ['--energy', '0.9', '--rank-ratio', '0.5'], /give one of --energy E or --rank-ratio R/);
  bad(mlp, ['--energy', '1.5'], /--energy must be in \(0, 1\]/);
  bad(mlp, ['--rank-ratio', '0'], /--rank-ratio must be in \(0, 1\]/);
  bad(mlp, ['--energy', '0.9', '--layer', '/fc1/Gemm=rank:65'], /layer '\/fc1\/Gemm': rank 65 is larger than its weight \[64, 784\] allows \(at most 64\)/);
  bad(mlp, ['--energy', '0.9', '--layer', 'conv*=0.5'], /layers pattern 'conv\*' matches no/);
  bad(mlp, ['--energy', '0.9', '--layer', 'x=big'], /--layer x=big: the value must be a number/);
  bad(mlp, ['--energy', '0.9', '--finetune-epochs', '1'], /--data is needed for fine-tuning/);
  bad(mlp, ['--energy', '0.9', '--conv', 'cp'], /--conv/);
  bad(fixture('dwconv.onnx'), ['--energy', '0.9', '--layer', '/block1/block1.0/Conv=rank:2'], /only group=1 convolutions are decomposed/);
});

test('--layer values: the model-wide kind by default, or energy:, ratio:, rank:', () => {
  assert.deepEqual(parseLayerRule('fc1', '0.5', 'energy'), { pattern: 'fc1', energy: 0.5 });
  assert.deepEqual(parseLayerRule('fc1', '0.5', 'rankRatio'), { pattern: 'fc1', rankRatio: 0.5 });
  assert.deepEqual(parseLayerRule('fc*', 'rank:12', 'energy'), { pattern: 'fc*', rank: 12 });
  assert.deepEqual(parseLayerRule('fc1', 'ratio:0.1', 'energy'), { pattern: 'fc1', rankRatio: 0.1 });
  assert.deepEqual(parseLayerRule('fc1', 'energy:1', 'rankRatio'), { pattern: 'fc1', energy: 1 });
  assert.throws(() => parseLayerRule('fc1', 'rank:0', 'energy'), /--layer fc1=rank:0: the rank must be a positive whole number/);
  assert.throws(() => parseLayerRule('fc1', '1.5', 'energy'), /--layer fc1=1\.5: the energy must be in \(0, 1\]/);
});
