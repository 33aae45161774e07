// Binary and ternary weights trained with the training engine: accuracy on an MNIST subset, the values the weights
// take, the export against the training forward (onnxruntime-node and -web), and the straight-through gradient
// against a peer that trains the binarized weights directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { TrainingSession } from '../../../src/train/session.js';
import { buildTrainingProgram } from '../../../src/train/training-graph.js';
import { QuantizationError } from '../../../src/compress/quantize/arithmetic.js';
import { BinaryKind, binarizedForward, binaryHooks, exportBinary, trainBinary } from '../../../src/compress/quantize/binary.js';

const train = openDataset('mnist', 'train');
const testSet = openDataset('mnist', 'test');
const loader = new DataLoader(train, { batchSize: 64, limit: 6400, shuffle: true, seed: 1 });
const testLoader = new DataLoader(testSet, { batchSize: 500, limit: 2000 });
const WEIGHTS = ['fc1.weight', 'fc2.weight', 'fc3.weight'];

async function logits(runtime: typeof nodeRuntime, model: Model, input: Tensor): Promise<Float32Array> {
  const session = await runtime.createSession(model, { threads: 1 });
  try {
    return (await session.run({ input: input.renamed('input') })).logits!.toFloat32();
  } finally {
    await session.release();
  }
}

/** Codes and alpha of an exported layer (the DequantizeLinear the layer reads). */
function exported(model: Model, weight: string) {
  const g = model.graph;
  const dq = g.nodes.find((n) => n.opType === 'DequantizeLinear' && n.name === `${weight}_DequantizeLinear`)!;
  assert.ok(dq, `${weight} is read through a DequantizeLinear`);
  assert.equal(dq.int('axis', 1), 0);
  return { codes: g.initializers.get(dq.inputs[0]!)!, alpha: g.initializers.get(dq.inputs[1]!)!.toFloat32() };
}

/** By the definitions: binary alpha = mean |w| per row; ternary delta = 0.7 mean |w|, alpha = mean |w| above delta. */
function expectedRow(row: Float32Array, kind: BinaryKind): { alpha: number; codes: number[] } {
  const mean = row.reduce((s, v) => s + Math.abs(v), 0) / row.length;
  if (kind === 'binary') return { alpha: mean, codes: [...row].map((v) => (v < 0 ? -1 : 1)) };
  const delta = 0.7 * mean;
  const kept = [...row].filter((v) => Math.abs(v) > delta);
  return { alpha: kept.reduce((s, v) => s + Math.abs(v), 0) / kept.length, codes: [...row].map((v) => (Math.abs(v) > delta ? Math.sign(v) : 0)) };
}

async function checkTrained(kind: BinaryKind) {
  const r = await trainBinary(buildArch('lenet-300-100', { seed: 1 }), { kind }, { runtime: nodeRuntime, loader, epochs: 2, lr: 0.05, threads: 1 });
  const accuracy = (await evaluateClassifier(nodeRuntime, r.model, testLoader, { threads: 1 })).accuracy;
  assert.ok(accuracy > 0.8, `${kind} lenet-300-100 after 200 steps: test accuracy ${accuracy} (chance is 0.1)`);

  for (const name of WEIGHTS) {
    assert.ok(!r.model.graph.initializers.has(name), `float ${name} is gone`);
    const { codes, alpha } = exported(r.model, name);
    assert.equal(codes.dataType, DataType.INT4);
    const latent = r.latent.graph.initializers.get(name)!;
    const [rows, cols] = latent.dims as [number, number];
    const w = latent.toFloat32();
    if (kind === 'binary') assert.ok(w.every((v) => v >= -1 && v <= 1), 'BinaryConnect keeps the latent weights in [-1, 1]');
    let mismatched = 0;
    for (let c = 0; c < rows; c++) {
      const want = expectedRow(w.subarray(c * cols, (c + 1) * cols), kind);
      assert.ok(Math.abs(alpha[c]! - want.alpha) <= 1e-6 * want.alpha, `${name} channel ${c}: alpha ${alpha[c]} vs ${want.alpha}`);
      const values = new Set<number>();
      for (let k = 0; k < cols; k++) {
        const code = codes.at(c * cols + k);
        values.add(code);
        // a weight within float rounding of the ternary threshold may land on either side
        if (code !== want.codes[k]) mismatched++;
      }
      if (kind === 'binary') assert.deepEqual([...values].sort(), [-1, 1], `${name} channel ${c} takes two values`);
      else assert.ok([...values].every((v) => v === -1 || v === 0 || v === 1) && values.size <= 3, `${name} channel ${c}: ${[...values]}`);
    }
    assert.ok(mismatched <= (kind === 'binary' ? 0 : 2), `${name}: ${mismatched} codes differ from the definition`);
  }
  const layers = r.report.layers.map((l) => [l.weight, l.valuesPerChannel]);
  assert.deepEqual(layers, WEIGHTS.map((w) => [w, kind === 'binary' ? 2 : 3]));
  if (kind === 'ternary') for (const l of r.report.layers) assert.ok(l.zeros > 0.2 && l.zeros < 0.7, `${l.weight}: ${l.zeros} zeros`);
  assert.ok(r.report.bytes.after * 6 < r.report.bytes.before, JSON.stringify(r.report.bytes));

  // The export computes the training forward (in inference form), in onnxruntime-node and -web.
  const forward = binarizedForward(r.latent, { kind });
  const input = [...testLoader.batches(0)][0]!.inputs;
  const reference = await logits(nodeRuntime, forward, input);
  for (const runtime of [nodeRuntime, webRuntime]) {
    const out = await logits(runtime, r.model, input);
    let d = 0;
    for (let i = 0; i < out.length; i++) d = Math.max(d, Math.abs(out[i]! - reference[i]!));
    assert.ok(d <= 1e-4, `${runtime.name}: export vs training forward differ by ${d}`);
  }
}

test('binary lenet-300-100 (XNOR-style alpha * sign(w) per channel) trains on an MNIST subset; two values per channel', async () => {
  await checkTrained('binary');
});

test('ternary lenet-300-100 (TWN thresholds) trains on an MNIST subset; values {-alpha, 0, +alpha} per channel', async () => {
  await checkTrained('ternary');
});

/** A one-layer model: Gemm(x, W^T) + b, W [3, 4]. */
function tinyModel(w: number[]): Model {
  const b = new GraphBuilder();
  const x = b.input('input', DataType.FLOAT, ['batch', 4]);
  b.graph.initializers.set('w', Tensor.fromFloat32('w', [3, 4], w));
  b.graph.initializers.set('bias', Tensor.fromFloat32('bias', [3], [0.1, -0.2, 0.05]));
  b.op('Gemm', [x, 'w', 'bias'], { transB: 1 }, { name: 'fc', output: 'logits' });
  b.output('logits', DataType.FLOAT, ['batch', 3]);
  return modelOf(b.graph);
}

/** One plain SGD step with learning rate 1; returns the new value of 'w'. */
async function sgdStep(model: Model, hooks: Parameters<typeof buildTrainingProgram>[1]['hooks']): Promise<Float32Array> {
  const optimizer = { kind: 'sgd' as const };
  const program = buildTrainingProgram(model, { optimizer, hooks });
  const session = await TrainingSession.create(nodeRuntime, program, optimizer, { threads: 1 });
  try {
    const data = Tensor.fromFloat32('input', [2, 4], [0.5, -1, 2, 0.25, -0.3, 0.8, 0.1, -1.5]);
    await session.run(data, { labels: Tensor.fromInt64('labels', [2], [2, 0]) }, 1);
    return session.values.get('w')!.toFloat32();
  } finally {
    await session.release();
  }
}

test('straight-through gradients: the latent weights move by the gradient of the binarized weights (clipped to |w| <= 1 for binary)', async () => {
  // rows with weights beyond 1, exactly 1, and a zero
  const w = [0.5, -1.5, 0.25, 0, 1, -0.2, 0.6, -0.1, 2, 0.3, -0.4, 0.05];
  for (const kind of ['binary', 'ternary'] as const) {
    const rows = [0, 1, 2].map((r) => expectedRow(Float32Array.from(w.slice(r * 4, r * 4 + 4)), kind));
    // Peer: the same model with the binarized weights as plain weights; its SGD step is minus their gradient.
    const quantized = rows.flatMap((r) => r.codes.map((c) => Math.fround(r.alpha) * c));
    const peer = tinyModel(quantized);
    const peerAfter = await sgdStep(peer, undefined);
    const grad = quantized.map((v, i) => Math.fround(v) - peerAfter[i]!);
    const { hooks } = binaryHooks(tinyModel(w), { kind });
    // The gradient alone (without BinaryConnect's clip of the update): the latent step is the peer's, masked.
    const gradientOnly = Object.fromEntries(Object.entries(hooks).map(([k, list]) => [k, list.map((h) => ({ ...h, update: undefined }))]));
    const stepped = await sgdStep(tinyModel(w), gradientOnly);
    const clipped = await sgdStep(tinyModel(w), hooks);
    w.forEach((v, i) => {
      const pass = kind === 'ternary' || Math.abs(v) <= 1 ? 1 : 0;
      const want = Math.fround(Math.fround(v) - grad[i]! * pass);
      assert.ok(Math.abs(stepped[i]! - want) < 1e-6, `${kind} w[${i}] = ${v}: ${stepped[i]} after the step, expected ${want}`);
      const bounded = kind === 'binary' ? Math.min(1, Math.max(-1, want)) : want;
      assert.ok(Math.abs(clipped[i]! - bounded) < 1e-6, `${kind} w[${i}] = ${v}: ${clipped[i]} after the clipped step, expected ${bounded}`);
    });
    if (kind === 'binary') assert.deepEqual([stepped[1], stepped[8]], [-1.5, 2], 'weights beyond 1 get no gradient');
    assert.ok(grad.some((g) => Math.abs(g) > 1e-3), 'the gradient is not zero');
  }
});

test('skipFirst, skipLast and exclude leave layers in float; bad kinds and models with nothing to binarize fail', () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  const r = exportBinary(model, { kind: 'ternary', skipFirst: true, skipLast: true });
  assert.deepEqual(r.layers.map((l) => l.weight), ['fc2.weight']);
  assert.deepEqual(r.skipped, ['fc1', 'fc3']);
  assert.equal(r.model.graph.initializers.get('fc1.weight')!.dataType, DataType.FLOAT);
  assert.equal(r.model.graph.initializers.get('fc3.weight')!.dataType, DataType.FLOAT);
  assert.equal(exported(r.model, 'fc2.weight').codes.dataType, DataType.INT4);
  assert.deepEqual(exportBinary(model, { kind: 'binary', exclude: ['fc2'] }).layers.map((l) => l.weight), ['fc1.weight', 'fc3.weight']);
  assert.throws(() => binaryHooks(model, { kind: 'quaternary' as BinaryKind }), (e: Error) => e instanceof QuantizationError && /binary' or 'ternary/.test(e.message));
  assert.throws(() => binaryHooks(model, { kind: 'binary', exclude: ['*'] }), (e: Error) => e instanceof QuantizationError && /no Conv, Gemm or MatMul/.test(e.message));
});
