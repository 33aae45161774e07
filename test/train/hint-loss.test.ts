import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType } from '../../src/core/dtype.js';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { LossError, LossSpec } from '../../src/train/losses.js';
import { TrainingSession } from '../../src/train/session.js';
import { TrainingProgram, buildTrainingProgram, inferenceModelWith } from '../../src/train/training-graph.js';
import { seededRandom } from '../helpers/single-op.js';

const rand = seededRandom(11);
const randoms = (n: number, scale = 1) => Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/** x [batch,3] -> Gemm W1 [4,3] -> 'h' -> Relu 'hr' -> Gemm W2 [2,4] -> logits. */
function mlp(w1: number[], w2: number[]): Model {
  const b = new GraphBuilder();
  const x = b.input('input', DataType.FLOAT, ['batch', 3]);
  const h = b.op('Gemm', [x, b.floats('fc1.weight', [4, 3], w1), b.floats('fc1.bias', [4], [0.1, -0.1, 0.2, 0.05])], { transB: 1 }, { output: 'h' });
  const hr = b.op('Relu', [h], {}, { output: 'hr' });
  b.output(b.op('Gemm', [hr, b.floats('fc2.weight', [2, 4], w2)], { transB: 1 }, { output: 'logits' }), DataType.FLOAT, ['batch', 2]);
  return modelOf(b.graph);
}

/** x [batch,2,4,4] -> Conv 3x3 pad 1 (3 channels) -> 'c' -> Relu 'cr' -> GlobalAveragePool -> Flatten -> Gemm -> logits [batch,2]. */
const convWeights = randoms(54, 0.4), fcWeights = randoms(6);
function convNet(): Model {
  const b = new GraphBuilder();
  const x = b.input('input', DataType.FLOAT, ['batch', 2, 4, 4]);
  const c = b.op('Conv', [x, b.floats('conv.weight', [3, 2, 3, 3], convWeights), b.floats('conv.bias', [3], [0.05, -0.05, 0.1])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { output: 'c' });
  const cr = b.op('Relu', [c], {}, { output: 'cr' });
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [cr])], { axis: 1 });
  b.output(b.op('Gemm', [pooled, b.floats('fc.weight', [2, 3], fcWeights)], { transB: 1 }, { output: 'logits' }), DataType.FLOAT, ['batch', 2]);
  return modelOf(b.graph);
}

/** Runs the training graph once with the given parameter values; returns the loss and each parameter's next value. */
async function runProgram(program: TrainingProgram, feeds: Record<string, Tensor>, values: Map<string, Tensor>, lr: number) {
  const session = await nodeRuntime.createSession(program.model, { threads: 1 });
  const all: Record<string, Tensor> = { ...feeds, lr: Tensor.fromFloat32('lr', [], [lr]) };
  for (const c of program.carried) all[c.input] = values.get(c.input) ?? c.init;
  const out = await session.run(all);
  await session.release();
  return out;
}

/** Gradient of the step's loss w.r.t. each parameter, read off one plain SGD step with lr 1: g = p − p_next. */
async function gradients(program: TrainingProgram, feeds: Record<string, Tensor>): Promise<{ loss: number; grads: Map<string, number[]> }> {
  const out = await runProgram(program, feeds, new Map(), 1);
  const grads = new Map<string, number[]>();
  for (const c of program.carried) {
    if (c.role !== 'param') continue;
    const before = c.init.toNumbers(), after = out[c.output]!.toNumbers();
    grads.set(c.input, before.map((v, i) => v - after[i]!));
  }
  return { loss: out['loss']!.at(0), grads };
}

/** Central difference of the program's loss w.r.t. element i of parameter p. */
async function numericGradient(program: TrainingProgram, feeds: Record<string, Tensor>, p: string, i: number, eps = 1e-2): Promise<number> {
  const init = program.carried.find((c) => c.input === p)!.init;
  const at = async (delta: number) => {
    const v = Float32Array.from(init.toNumbers());
    v[i]! += delta;
    const out = await runProgram(program, feeds, new Map([[p, Tensor.fromFloat32(p, init.dims, v)]]), 0);
    return out['loss']!.at(0);
  };
  return ((await at(eps)) - (await at(-eps))) / (2 * eps);
}

test('hint with a linear adapter: loss value and gradients match a hand computation', async () => {
  const N = 3, DS = 4, DT = 5;
  const w1 = randoms(12), w2 = randoms(8);
  const X = randoms(N * 3), T = randoms(N * DT);
  const program = buildTrainingProgram(mlp(w1, w2), {
    optimizer: { kind: 'sgd' },
    losses: [{ kind: 'hint', student: 'hr', teacher: 'hint0_teacher', teacherShape: ['N', DT], weight: 0.7, seed: 5 }],
  });
  assert.deepEqual(program.lossInputs, [{ name: 'hint0_teacher', elemType: DataType.FLOAT, shape: ['batch', DT] }]);
  assert.equal(program.lossParams.length, 2);
  const A = program.carried.find((c) => c.input === program.lossParams[0])!.init.toNumbers();
  const Ab = program.carried.find((c) => c.input === program.lossParams[1])!.init.toNumbers();
  assert.deepEqual(A.length, DT * DS);
  assert.ok(A.some((v) => v !== 0) && Ab.every((v) => v === 0), 'adapter weights initialized, bias zero');
  // Xavier uniform bound sqrt(6 / (fan_in + fan_out)).
  assert.ok(A.every((v) => Math.abs(v) <= Math.sqrt(6 / (DS + DT))));

  // Hand forward and backward: h = x·W1ᵀ + b1, r = relu(h), a = r·Aᵀ + ab, L = 0.7 · mean((a − t)²).
  const b1 = [0.1, -0.1, 0.2, 0.05];
  let loss = 0;
  const gW1 = new Array(12).fill(0), gA = new Array(DT * DS).fill(0), gAb = new Array(DT).fill(0), gb1 = new Array(DS).fill(0);
  for (let n = 0; n < N; n++) {
    const h = b1.map((bias, o) => bias + [0, 1, 2].reduce((s, i) => s + X[n * 3 + i]! * w1[o * 3 + i]!, 0));
    const r = h.map((v) => Math.max(v, 0));
    const dr = new Array(DS).fill(0);
    for (let t = 0; t < DT; t++) {
      const a = Ab[t]! + r.reduce((s, v, j) => s + v * A[t * DS + j]!, 0);
      const d = a - T[n * DT + t]!;
      loss += 0.7 * d * d / (N * DT);
      const da = 0.7 * 2 * d / (N * DT);
      gAb[t] += da;
      for (let j = 0; j < DS; j++) { gA[t * DS + j] += da * r[j]!; dr[j] += da * A[t * DS + j]!; }
    }
    for (let o = 0; o < DS; o++) {
      const dh = h[o]! > 0 ? dr[o]! : 0;
      gb1[o] += dh;
      for (let i = 0; i < 3; i++) gW1[o * 3 + i] += dh * X[n * 3 + i]!;
    }
  }
  const { loss: got, grads } = await gradients(program, { input: Tensor.fromFloat32('input', [N, 3], X), hint0_teacher: Tensor.fromFloat32('t', [N, DT], T) });
  const close = (a: number[], b: number[], what: string) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-5 + 1e-4 * Math.abs(b[i]!), `${what}[${i}]: ${v} vs ${b[i]}`));
  assert.ok(Math.abs(got - loss) < 1e-6 * Math.max(1, loss), `loss ${got} vs ${loss}`);
  close(grads.get('fc1.weight')!, gW1, 'dL/dW1');
  close(grads.get('fc1.bias')!, gb1, 'dL/db1');
  close(grads.get(program.lossParams[0]!)!, gA, 'dL/dA');
  close(grads.get(program.lossParams[1]!)!, gAb, 'dL/dAb');
  assert.ok(grads.get('fc2.weight')!.every((v) => v === 0), 'layers after the hinted tensor get no gradient from the hint');
});

test('hint (1x1 conv adapter) plus cross-entropy: gradients of the conv below the hint match finite differences', async () => {
  const N = 2, CT = 5;
  const program = buildTrainingProgram(convNet(), {
    optimizer: { kind: 'sgd' },
    losses: [{ kind: 'cross-entropy' }, { kind: 'hint', student: 'cr', teacher: 'hint_t', teacherShape: [null, CT, 4, 4], weight: 2 }],
  });
  assert.deepEqual(program.lossInputs.map((i) => [i.name, i.shape]), [['labels', ['batch']], ['hint_t', ['batch', CT, 4, 4]]]);
  const feeds = {
    input: Tensor.fromFloat32('input', [N, 2, 4, 4], randoms(N * 32)),
    labels: Tensor.fromInt64('labels', [N], [1, 0]),
    hint_t: Tensor.fromFloat32('hint_t', [N, CT, 4, 4], randoms(N * CT * 16)),
  };
  const { grads } = await gradients(program, feeds);
  const adapter = program.lossParams[0]!;
  for (const [p, indices] of [['conv.weight', [0, 7, 20, 40, 53]], ['conv.bias', [0, 1, 2]], [adapter, [0, 6, 14]], ['fc.weight', [0, 5]]] as const) {
    for (const i of indices) {
      const numeric = await numericGradient(program, feeds, p, i);
      const analytic = grads.get(p)![i]!;
      assert.ok(Math.abs(numeric - analytic) < 2e-3 + 2e-2 * Math.abs(numeric), `${p}[${i}]: numeric ${numeric}, analytic ${analytic}`);
    }
  }
});

test('attention transfer: value matches a hand computation and gradients match finite differences', async () => {
  const N = 2, CT = 4;
  const program = buildTrainingProgram(convNet(), {
    optimizer: { kind: 'sgd' },
    losses: [{ kind: 'attention', student: 'cr', teacher: 'at_t', teacherShape: ['batch', CT, 4, 4] }],
  });
  assert.equal(program.lossParams.length, 0);
  const teacher = randoms(N * CT * 16);
  const feeds = { input: Tensor.fromFloat32('input', [N, 2, 4, 4], randoms(N * 32)), at_t: Tensor.fromFloat32('at_t', [N, CT, 4, 4], teacher) };
  // Hand value: read the student tensor from the inference model, build both normalized maps in JavaScript.
  const probe = inferenceModelWith(convNet(), new Map());
  probe.graph.outputs.push({ name: 'cr' });
  const s = await nodeRuntime.createSession(probe, { threads: 1 });
  const cr = (await s.run({ input: feeds.input }))['cr']!.toNumbers();
  await s.release();
  const map = (x: number[], n: number, c: number) => {
    const q = Array.from({ length: 16 }, (_, p) => Array.from({ length: c }, (_, k) => x[(n * c + k) * 16 + p]! ** 2).reduce((a, b) => a + b, 0));
    const norm = Math.sqrt(q.reduce((a, v) => a + v * v, 0));
    return q.map((v) => v / norm);
  };
  let expected = 0;
  for (let n = 0; n < N; n++) {
    const qs = map(cr, n, 3), qt = map(teacher, n, CT);
    expected += qs.reduce((a, v, p) => a + (v - qt[p]!) ** 2, 0) / (N * 16);
  }
  const { loss, grads } = await gradients(program, feeds);
  assert.ok(Math.abs(loss - expected) < 1e-5 * Math.max(1, expected), `attention loss ${loss} vs ${expected}`);
  for (const i of [0, 9, 30, 50]) {
    const numeric = await numericGradient(program, feeds, 'conv.weight', i, 5e-3);
    const analytic = grads.get('conv.weight')![i]!;
    assert.ok(Math.abs(numeric - analytic) < 1e-3 + 3e-2 * Math.abs(numeric), `conv.weight[${i}]: numeric ${numeric}, analytic ${analytic}`);
  }
});

test('the adapter trains with the student and is left out of the inference model', async () => {
  const N = 4, CT = 6;
  const source = convNet();
  const program = buildTrainingProgram(source, {
    optimizer: { kind: 'adam' },
    losses: [{ kind: 'cross-entropy', weight: 0.5 }, { kind: 'hint', student: 'c', teacher: 'hint_t', teacherShape: ['batch', CT, 4, 4] }],
  });
  const session = await TrainingSession.create(nodeRuntime, program, { kind: 'adam' }, { threads: 1 });
  const data = Tensor.fromFloat32('input', [N, 2, 4, 4], randoms(N * 32));
  const feeds = { labels: Tensor.fromInt64('labels', [N], [0, 1, 1, 0]), hint_t: Tensor.fromFloat32('hint_t', [N, CT, 4, 4], randoms(N * CT * 16)) };
  const first = await session.run(data, feeds, 0.01);
  let last = first;
  for (let i = 0; i < 30; i++) last = await session.run(data, feeds, 0.01);
  assert.ok(last.loss < first.loss, `loss fell: ${first.loss} -> ${last.loss}`);
  const [w, bias] = program.lossParams;
  const initW = program.carried.find((c) => c.input === w)!.init.toNumbers();
  assert.notDeepEqual(session.values.get(w!)!.toNumbers(), initW, 'adapter weight changed');
  assert.notDeepEqual(session.values.get(bias!)!.toNumbers(), new Array(CT).fill(0), 'adapter bias changed');

  const exported = inferenceModelWith(source, session.modelValues());
  assert.deepEqual([...exported.graph.initializers.keys()].sort(), [...source.graph.initializers.keys()].sort());
  assert.ok(!exported.graph.nodes.some((n) => n.inputs.some((i) => program.lossParams.includes(i))), 'no node reads the adapter');
  assert.deepEqual(exported.graph.initializers.get('conv.weight')!.toNumbers(), session.values.get('conv.weight')!.toNumbers());
  const inference = await nodeRuntime.createSession(exported, { threads: 1 });
  const out = await inference.run({ input: data });
  assert.deepEqual(out['logits']!.dims, [N, 2]);
  await inference.release();
  await session.release();
});

test('hint errors: a missing tensor lists available names, shapes an adapter cannot bridge name both shapes', () => {
  const build = (loss: LossSpec) => buildTrainingProgram(convNet(), { optimizer: { kind: 'sgd' }, losses: [loss] });
  assert.throws(() => build({ kind: 'hint', student: 'nope', teacher: 't' }), (e: Error) => e instanceof LossError && /no tensor 'nope'/.test(e.message) && /'cr'/.test(e.message));
  assert.throws(() => build({ kind: 'hint', student: 'cr', teacher: 't', teacherShape: ['batch', 8, 2, 2] }),
    (e: Error) => e instanceof LossError && /\[batch,3,4,4\]/.test(e.message) && /\[batch,8,2,2\]/.test(e.message) && /spatial/.test(e.message));
  assert.throws(() => build({ kind: 'hint', student: 'cr', teacher: 't', teacherShape: ['batch', 8, 4, 4], adapter: 'none' }),
    (e: Error) => e instanceof LossError && /differ in shape/.test(e.message) && /\[batch,8,4,4\]/.test(e.message));
  assert.throws(() => build({ kind: 'hint', student: 'cr', teacher: 't', teacherShape: ['batch', 8] }), (e: Error) => e instanceof LossError && /differ in rank/.test(e.message));
  assert.throws(() => build({ kind: 'attention', student: 'cr', teacher: 't', teacherShape: ['batch', 8, 2, 2] }), (e: Error) => e instanceof LossError && /spatial/.test(e.message));
  // Matching shapes with no adapter: no extra parameters, the teacher input shaped like the student tensor.
  const plain = build({ kind: 'hint', student: 'cr', teacher: 't', adapter: 'none' });
  assert.deepEqual(plain.lossParams, []);
  assert.deepEqual(plain.lossInputs, [{ name: 't', elemType: DataType.FLOAT, shape: ['batch', 3, 4, 4] }]);
});
