import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { loadModel, saveModel } from '../../src/node/io.js';
import { randomInputs } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { webRuntime } from '../../src/runtime/web.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const base = join(dir, 'lenet5.onnx');

/** Runs the model in onnxruntime-node and onnxruntime-web on the same inputs; returns the largest difference. */
async function runsInBoth(model: Model): Promise<number> {
  const feeds = randomInputs(model, { batch: 2, seed: 1 });
  const outputs: Float32Array[] = [];
  for (const runtime of [nodeRuntime, webRuntime]) {
    const session = await runtime.createSession(model, { threads: 1 });
    const out = await session.run(feeds);
    await session.release();
    const first = Object.values(out)[0] as Tensor;
    outputs.push(first.toFloat32());
  }
  return Math.max(...outputs[0]!.map((v, i) => Math.abs(v - outputs[1]![i]!)));
}

test('quantize: every mode writes a model that onnxruntime-node and -web run, smaller, with accuracy before and after', async () => {
  assert.equal(nnzip(['train', '--arch', 'lenet-5', '--data', 'mnist', '--limit', '2000', '--test-limit', '200', '--epochs', '1', '--threads', '1', '-o', base, '--quiet']).code, 0);
  const cases: { args: string[]; minRatio: number }[] = [
    { args: ['--mode', 'weight'], minRatio: 3.8 },
    { args: ['--mode', 'weight', '--bits', '4', '--block', '32'], minRatio: 6 },
    { args: ['--mode', 'weight', '--format', 'nbits', '--bits', '4'], minRatio: 4 },
    { args: ['--mode', 'weight', '--levels', 'log2', '--bits', '4'], minRatio: 6 },
    { args: ['--mode', 'dynamic'], minRatio: 3.8 },
    { args: ['--mode', 'static', '--calib', 'mnist', '--calib-samples', '128', '--calib-method', 'entropy'], minRatio: 3.8 },
    { args: ['--mode', 'fp16'], minRatio: 1.9 },
    { args: ['--mode', 'bf16'], minRatio: 1.9 },
    { args: ['--mode', 'qat', '--epochs', '1', '--limit', '256'], minRatio: 3.8 },
    { args: ['--mode', 'ternary', '--epochs', '1', '--limit', '256'], minRatio: 6 },
    { args: ['--mode', 'weight', '--size-budget', '400000', '--bits-candidates', '4,8'], minRatio: 4 },
    { args: ['--preset', 'q4f16'], minRatio: 4 },
  ];
  for (const c of cases) {
    const out = join(dir, `q-${c.args.join('_').replace(/[^a-z0-9_]/gi, '')}.onnx`);
    const r = nnzip(['quantize', base, ...c.args, '--data', 'mnist', '--test-limit', '200', '--threads', '1', '-o', out, '--json']);
    assert.equal(r.code, 0, `${c.args.join(' ')}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.ok(j.bytesBefore / j.bytesAfter >= c.minRatio, `${c.args.join(' ')}: ${j.bytesBefore} -> ${j.bytesAfter} bytes`);
    assert.equal(j.metric, 'accuracy');
    assert.ok(j.before > 0.5 && j.after.accuracy > 0.4, `${c.args.join(' ')}: accuracy ${j.before} -> ${j.after.accuracy}`);
    const diff = await runsInBoth(loadModel(out));
    assert.ok(diff < 0.05, `${c.args.join(' ')}: node and web outputs differ by ${diff}`);
  }
  // Mixed precision reports the bits it chose per layer.
  const mixed = JSON.parse(nnzip(['quantize', base, '--mode', 'weight', '--size-budget', '400000', '--bits-candidates', '4,8', '--threads', '1', '-o', join(dir, 'mixed.onnx'), '--json']).stdout);
  assert.ok(mixed.layers.length >= 4 && mixed.layers.every((l: { bits: number }) => l.bits === 4 || l.bits === 8), JSON.stringify(mixed.layers));
  assert.ok(mixed.bytesAfter <= 400000);
  assert.equal(mixed.metric, 'top1-agreement', 'without --data the comparison is fidelity on generated inputs');
});

test('quantize: a repository folder gets transformers.js variants beside each model', () => {
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, 'onnx'), { recursive: true });
  copyFileSync(fixture('mlp.onnx'), join(repo, 'onnx', 'model.onnx'));
  for (const preset of ['q8', 'fp16', 'q4', 'bnb4']) assert.equal(nnzip(['quantize', repo, '--preset', preset, '--threads', '1']).code, 0, preset);
  for (const name of ['model_quantized.onnx', 'model_fp16.onnx', 'model_q4.onnx', 'model_bnb4.onnx']) assert.ok(existsSync(join(repo, 'onnx', name)), name);
  // Variants are not quantized again on a second pass.
  const again = nnzip(['quantize', repo, '--preset', 'int8', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).models.length, 1);
});

test('quantize: bad input gives one-line errors and writes nothing', () => {
  const bad = (args: string[], pattern: RegExp) => {
    const out = join(dir, 'bad.onnx');
    const r = nnzip(['quantize', ...args, '-o', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.ok(!existsSync(out));
  };
  bad([base, '--mode', 'weight', '--bits', '9'], /--bits 9: bit widths are 2 to 8/);
  bad([join(dir, 'q-mode_weight.onnx'), '--mode', 'weight'], /already quantized: node '.*' \(DequantizeLinear\)/);
  bad([base, '--mode', 'static'], /needs calibration inputs/);
  bad([base, '--mode', 'weight', '--block', '24', '--bits', '4'], /block/);
  bad([base, '--mode', 'qat'], /--mode qat trains the model: give --data/);
  const nan = loadModel(base);
  const w = nan.graph.initializers.get('conv1.weight')!;
  const data = Float32Array.from(w.toFloat32());
  data[3] = NaN;
  nan.graph.initializers.set('conv1.weight', Tensor.fromFloat32('conv1.weight', w.dims, data));
  saveModel(nan, join(dir, 'nan.onnx'));
  bad([join(dir, 'nan.onnx'), '--mode', 'weight'], /'conv1.weight' holds NaN at index 3/);
  bad([base, '--mode', 'static', '--calib', 'mnist', '--exclude', 'nothing*'], /nothing\*/);
});

test('quantize --mode qat --teacher distills from the float model during QAT', async () => {
  const common = ['quantize', base, '--mode', 'qat', '--epochs', '1', '--limit', '256', '--data', 'mnist', '--test-limit', '200', '--threads', '1', '--json'];
  const plain = nnzip([...common, '-o', join(dir, 'qat-plain.onnx')]);
  const taught = nnzip([...common, '--teacher', base, '--temperature', '2', '--alpha', '0.7', '-o', join(dir, 'qat-taught.onnx')]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(taught.code, 0, taught.stderr);
  const weights = (m: Model) => [...m.graph.initializers.values()].filter((t) => t.dims.length === 1 && t.dims[0]! > 16).map((t) => t.toFloat32());
  const a = weights(loadModel(join(dir, 'qat-plain.onnx'))), b = weights(loadModel(join(dir, 'qat-taught.onnx')));
  assert.ok(a.some((x, i) => x.some((v, j) => v !== b[i]![j])), 'the teacher changed QAT training');
  assert.ok((await runsInBoth(loadModel(join(dir, 'qat-taught.onnx')))) < 0.05);
  const r = nnzip(['quantize', base, '--mode', 'static', '--calib', 'mnist', '--teacher', base, '-o', join(dir, 'x.onnx')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--teacher distills while training: it goes with --mode qat, binary or ternary/);
});
