import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Graph, Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { TensorDataset } from '../../../src/data/dataset.js';
import { DataLoader } from '../../../src/data/loader.js';
import { DistillError, Teacher, distill } from '../../../src/compress/distill/index.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { seededRandom } from '../../helpers/single-op.js';

/** z = x · W, W a trainable 3x3 matrix starting at the identity: the student's logits are its input at step 1. */
function linearStudent(): Model {
  const g = new Graph();
  const b = new GraphBuilder(g);
  b.input('x', DataType.FLOAT, ['batch', 3]);
  const w = b.floats('W', [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  b.op('MatMul', ['x', w], {}, { output: 'z' });
  b.output('z', DataType.FLOAT, ['batch', 3]);
  return modelOf(g);
}

/** Teacher logits = x + shift (a fixed model). */
function shiftTeacher(shift: number[], inputWidth = 3): Model {
  const g = new Graph();
  const b = new GraphBuilder(g);
  b.input('x', DataType.FLOAT, ['batch', inputWidth]);
  const c = b.floats('shift', [shift.length], shift);
  const h = b.op('Add', ['x', c], {}, { output: 'hidden' });
  b.op('Identity', [h], {}, { output: 'logits' });
  b.output('logits', DataType.FLOAT, ['batch', shift.length]);
  return modelOf(g);
}

function oneSample(x: number[], label: number): DataLoader {
  return new DataLoader(new TensorDataset({ inputs: Float32Array.from(x), sampleShape: [x.length], labels: Int32Array.of(label), classes: 3 }), { batchSize: 1 });
}

function blobs(n: number, seed: number): TensorDataset {
  const rand = seededRandom(seed);
  const inputs = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 4; j++) inputs[i * 4 + j] = (labels[i] ? 0.5 : -0.5) + (rand() - 0.5) * 2;
  }
  return new TensorDataset({ inputs, sampleShape: [4], labels, classes: 2 });
}

const weightsOf = (m: Model) => new Map([...m.graph.initializers].map(([k, t]) => [k, Array.from(t.toFloat32())]));

test('soft-target loss and its gradient match a hand computation (1 sample, 3 classes, T=2, alpha=0.7)', async () => {
  const s = [1, 2, 0.5], shift = [2, -1, -0.5], label = 0, T = 2, alpha = 0.7, lr = 0.5;
  const t = s.map((v, i) => v + shift[i]!); // teacher logits [3, 1, 0]
  const softmax = (z: number[], temp: number) => { const e = z.map((v) => Math.exp(v / temp)); const sum = e.reduce((a, b) => a + b); return e.map((v) => v / sum); };
  const ps = softmax(s, T), pt = softmax(t, T), p1 = softmax(s, 1);
  const kl = pt.reduce((a, p, i) => a + p * (Math.log(p) - Math.log(ps[i]!)), 0);
  const expectedLoss = alpha * T * T * kl + (1 - alpha) * -Math.log(p1[label]!);
  // d/ds: alpha·T·(ps − pt) + (1 − alpha)·(softmax(s) − onehot); W' = I − lr·xᵀ·d (plain SGD, batch of one).
  const dz = s.map((_, j) => alpha * T * (ps[j]! - pt[j]!) + (1 - alpha) * (p1[j]! - (j === label ? 1 : 0)));
  const losses: number[] = [];
  const r = await distill(linearStudent(), [shiftTeacher(shift)], { temperature: T, alpha }, {
    runtime: nodeRuntime, loader: oneSample(s, label), epochs: 1, lr, optimizer: { kind: 'sgd' }, threads: 1,
    fit: { onStep: (p) => losses.push(p.loss) },
  });
  assert.ok(Math.abs(losses[0]! - expectedLoss) < 1e-5, `loss ${losses[0]} vs hand-computed ${expectedLoss}`);
  const w = r.model.graph.initializers.get('W')!.toFloat32();
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const expected = (i === j ? 1 : 0) - lr * s[i]! * dz[j]!;
      assert.ok(Math.abs(w[i * 3 + j]! - expected) < 1e-5, `W[${i},${j}] = ${w[i * 3 + j]} vs ${expected}`);
    }
  }
  assert.deepEqual(r.report.losses, [{ kind: 'kl', temperature: 2, weight: 0.7 }, { kind: 'cross-entropy', weight: 0.30000000000000004 }]);
});

test('temperature 1 with alpha 0 gives exactly the weights of plain cross-entropy training', async () => {
  const data = blobs(96, 3);
  const loader = () => new DataLoader(data, { batchSize: 16, shuffle: true, seed: 5 });
  const student = buildArch('mlp:4-8-2', { inputShape: [4], classes: 2, seed: 2 });
  const teacher = buildArch('mlp:4-16-2', { inputShape: [4], classes: 2, seed: 9 });
  const common = { runtime: nodeRuntime, epochs: 2, lr: 0.05, threads: 1 };
  const distilled = await distill(student, [teacher], { temperature: 1, alpha: 0 }, { ...common, loader: loader() });
  const plain = await trainModel(student, { losses: [{ kind: 'cross-entropy' }] }, { ...common, loader: loader() });
  assert.deepEqual(weightsOf(distilled.model), weightsOf(plain.model));
  assert.notDeepEqual(weightsOf(distilled.model), weightsOf(student), 'training changed the weights');
});

test("hard mode equals training on the teacher's argmax labels", async () => {
  const data = blobs(96, 4);
  const student = buildArch('mlp:4-8-2', { inputShape: [4], classes: 2, seed: 2 });
  const teacher = buildArch('mlp:4-16-2', { inputShape: [4], classes: 2, seed: 11 });
  // The teacher's labels, computed here with a plain onnxruntime session.
  const session = await nodeRuntime.createSession(teacher, { threads: 1 });
  const all = new Float32Array(96 * 4), truth = new BigInt64Array(96);
  data.readBatch(Int32Array.from({ length: 96 }, (_, i) => i), all, truth);
  const z = (await session.run({ [session.inputs[0]!.name]: Tensor.fromFloat32('x', [96, 4], all) }))[teacher.graph.outputs[0]!.name]!.toFloat32();
  await session.release();
  const argmax = Int32Array.from({ length: 96 }, (_, i) => (z[i * 2 + 1]! > z[i * 2]! ? 1 : 0));
  const changed = argmax.filter((l, i) => l !== Number(truth[i])).length;
  assert.ok(changed > 0, 'the untrained teacher disagrees with some labels');
  const relabelled = new TensorDataset({ inputs: all, sampleShape: [4], labels: argmax, classes: 2 });
  const common = { runtime: nodeRuntime, epochs: 2, lr: 0.05, threads: 1 };
  const hard = await distill(student, [teacher], { mode: 'hard' }, { ...common, loader: new DataLoader(data, { batchSize: 16, shuffle: true, seed: 5 }) });
  const plain = await trainModel(student, { losses: [{ kind: 'cross-entropy' }] }, { ...common, loader: new DataLoader(relabelled, { batchSize: 16, shuffle: true, seed: 5 }) });
  assert.deepEqual(weightsOf(hard.model), weightsOf(plain.model));
  assert.equal(hard.report.relabelled, changed / 96);
});

test('cached teacher outputs train exactly like online ones, and the teacher runs once per sample', async () => {
  const data = blobs(64, 6);
  const student = buildArch('mlp:4-8-2', { inputShape: [4], classes: 2, seed: 2 });
  const teacher = buildArch('mlp:4-16-2', { inputShape: [4], classes: 2, seed: 9 });
  const common = { runtime: nodeRuntime, epochs: 3, lr: 0.05, threads: 1 };
  const online = await distill(student, [teacher], { temperature: 3, alpha: 0.8 }, { ...common, loader: new DataLoader(data, { batchSize: 16, shuffle: true, seed: 1 }) });
  const cached = await distill(student, [teacher], { temperature: 3, alpha: 0.8, cache: true }, { ...common, loader: new DataLoader(data, { batchSize: 16, shuffle: true, seed: 1 }) });
  assert.deepEqual(weightsOf(cached.model), weightsOf(online.model));
  assert.equal(cached.report.cachedSamples, 64);
  assert.equal(online.report.cachedSamples, 0);
});

test("an ensemble's logits soften to the average of its members' probabilities at T; one teacher passes through", async () => {
  const a = buildArch('mlp:4-8-3', { inputShape: [4], classes: 3, seed: 1 });
  const b = buildArch('mlp:4-8-3', { inputShape: [4], classes: 3, seed: 2 });
  const x = Tensor.fromFloat32('x', [5, 4], Array.from({ length: 20 }, (_, i) => Math.sin(i) * 2));
  const T = 3;
  const logitsOf = async (models: Model[]) => {
    const teacher = await Teacher.create(nodeRuntime, models, { sampleShape: [4] }, { temperature: T, threads: 1 });
    try { return (await teacher.run(x)).logits.toFloat32(); } finally { await teacher.release(); }
  };
  const za = await logitsOf([a]), zb = await logitsOf([b]), ens = await logitsOf([a, b]);
  const session = await nodeRuntime.createSession(a, { threads: 1 });
  const direct = (await session.run({ [session.inputs[0]!.name]: x }))[a.graph.outputs[0]!.name]!.toFloat32();
  await session.release();
  assert.deepEqual(Array.from(za), Array.from(direct));
  const soft = (z: Float32Array, i: number) => { const row = Array.from(z.subarray(i * 3, i * 3 + 3), (v) => Math.exp(v / T)); const s = row.reduce((p, q) => p + q); return row.map((v) => v / s); };
  for (let i = 0; i < 5; i++) {
    const want = soft(za, i).map((p, j) => (p + soft(zb, i)[j]!) / 2);
    soft(ens, i).forEach((p, j) => assert.ok(Math.abs(p - want[j]!) < 1e-6, `row ${i} class ${j}: ${p} vs ${want[j]}`));
  }
});

test('bad input: different output sizes, an input that does not fit the data, hint tensors that do not exist', async () => {
  const fineTune = { runtime: nodeRuntime, loader: oneSample([1, 2, 3], 0), epochs: 1, lr: 0.1, threads: 1 };
  await assert.rejects(distill(linearStudent(), [shiftTeacher([0, 0, 0, 0])], {}, fineTune), (e: Error) => e instanceof DistillError && /4 outputs but the student has 3/.test(e.message));
  await assert.rejects(distill(linearStudent(), [shiftTeacher([0, 0, 0], 5)], {}, fineTune), (e: Error) => e instanceof DistillError && /input 'x' \[batch, 5\] does not fit samples of shape \[3\]/.test(e.message));
  await assert.rejects(distill(linearStudent(), [shiftTeacher([0, 0, 0])], { hints: [{ teacher: 'nope', student: 'z' }] }, fineTune),
    (e: Error) => e instanceof DistillError && /teacher 1 has no tensor 'nope'; available: x, hidden, logits/.test(e.message));
  await assert.rejects(distill(linearStudent(), [shiftTeacher([0, 0, 0])], { hints: [{ teacher: 'hidden', student: 'zz' }] }, fineTune),
    (e: Error) => e instanceof DistillError && /student has no tensor 'zz'.*available: x, z/.test(e.message));
  await assert.rejects(distill(linearStudent(), [shiftTeacher([0, 0, 0])], { alpha: 1.5 }, fineTune), /alpha/);
});

test('hints: the teacher tensor is fed per batch under its own input, and a learned adapter trains but is not exported', async () => {
  const { prepareDistillation, hintInputName } = await import('../../../src/compress/distill/index.js');
  const student = buildArch('mlp:4-8-2', { inputShape: [4], classes: 2, seed: 2 });
  const teacher = shiftTeacher([1, -1, 2, 0.5], 4);
  // The teacher needs [batch, classes] logits: put a 2-class head after its 'hidden' tensor.
  const b = new GraphBuilder(teacher.graph);
  teacher.graph.outputs = [];
  b.op('MatMul', ['logits', b.floats('head', [4, 2], [1, 0, 0, 1, 1, 0, 0, 1])], {}, { output: 'scores' });
  b.output('scores', DataType.FLOAT, ['batch', 2]);
  const hiddenStudent = student.graph.nodes.find((n) => n.opType === 'Relu')!.outputs[0]!;
  const loader = new DataLoader(blobs(32, 7), { batchSize: 8 });
  const setup = await prepareDistillation(student, [teacher], { hints: [{ teacher: 'hidden', student: hiddenStudent }] }, { runtime: nodeRuntime, loader, threads: 1 });
  try {
    const batch = loader.batches(0).next().value!;
    const feeds = await setup.extraFeeds(batch);
    const x = batch.inputs.toFloat32(), fed = feeds[hintInputName(0)]!;
    assert.deepEqual(fed.dims, [8, 4]);
    fed.toFloat32().forEach((v, i) => assert.equal(v, Math.fround(x[i]! + [1, -1, 2, 0.5][i % 4]!)));
    assert.deepEqual(setup.losses[2], { kind: 'hint', student: hiddenStudent, teacher: hintInputName(0), weight: 1, adapter: 'auto', teacherShape: ['batch', 4] });
  } finally {
    await setup.release();
  }
  const r = await distill(student, [teacher], { hints: [{ teacher: 'hidden', student: hiddenStudent }] }, { runtime: nodeRuntime, loader, epochs: 3, lr: 0.05, threads: 1 });
  assert.deepEqual([...r.model.graph.initializers.keys()].sort(), [...student.graph.initializers.keys()].sort(), 'no adapter in the exported student');
  assert.ok(r.fit.history[2]!.trainLoss < r.fit.history[0]!.trainLoss);
});
