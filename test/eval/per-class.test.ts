import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType } from '../../src/core/dtype.js';
import { Tensor } from '../../src/core/tensor.js';
import { TensorDataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { evaluateClassifier } from '../../src/eval/classification.js';
import { ConfusionMatrix, evaluatePerClass } from '../../src/eval/per-class.js';
import { seededRandom } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';

/** Logits [n, classes] whose row i has its maximum at predicted[i] (other entries random below it). */
function logitsFor(predicted: number[], classes: number, random: () => number): Tensor {
  const values: number[] = [];
  for (const p of predicted) {
    for (let j = 0; j < classes; j++) values.push(j === p ? 5 + random() : random() * 4 - 2);
  }
  return Tensor.fromFloat32('logits', [predicted.length, classes], values);
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a}, expected ${b}`);

test('hand-made confusion: precision, recall, F1, support, macro F1 and accuracy as computed by hand', () => {
  // Five classes; pairs (label, predicted). Class 2 is predicted once but never the label; class 3 is the label once
  // and never predicted; class 4 occurs nowhere.
  const pairs: [number, number][] = [
    [0, 0], [0, 0], [0, 1],
    [1, 1], [1, 1], [1, 0], [1, 2],
    [3, 0],
  ];
  const random = seededRandom(5);
  const matrix = new ConfusionMatrix();
  // Two batches: counts accumulate.
  for (const part of [pairs.slice(0, 5), pairs.slice(5)]) {
    matrix.add(logitsFor(part.map(([, p]) => p), 5, random), Tensor.fromInt64('labels', [part.length], part.map(([l]) => l)));
  }
  const r = matrix.result();
  assert.deepEqual(r.confusion, [
    [2, 1, 0, 0, 0],
    [1, 2, 1, 0, 0],
    [0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
  ]);
  assert.equal(r.samples, 8);
  close(r.accuracy, 4 / 8, 'accuracy');
  // Class 0: predicted 4 times, 2 right: P = 1/2; support 3: R = 2/3; F1 = 2·(1/2)(2/3)/(1/2 + 2/3) = 4/7.
  // Class 1: predicted 3 times, 2 right: P = 2/3; support 4: R = 1/2; F1 = 4/7.
  // Class 2: predicted once, wrongly: P = 0; support 0: R = 0/0 = 0; F1 = 0.
  // Class 3: never predicted: P = 0/0 = 0; R = 0/1 = 0; F1 = 0.
  // Class 4: absent from labels and predictions: all 0, and left out of the macro mean.
  const expected = [
    { precision: 1 / 2, recall: 2 / 3, f1: 4 / 7, support: 3 },
    { precision: 2 / 3, recall: 1 / 2, f1: 4 / 7, support: 4 },
    { precision: 0, recall: 0, f1: 0, support: 0 },
    { precision: 0, recall: 0, f1: 0, support: 1 },
    { precision: 0, recall: 0, f1: 0, support: 0 },
  ];
  assert.equal(r.perClass.length, 5);
  r.perClass.forEach((s, k) => {
    assert.equal(s.label, k);
    assert.equal(s.support, expected[k]!.support);
    close(s.precision, expected[k]!.precision, `precision ${k}`);
    close(s.recall, expected[k]!.recall, `recall ${k}`);
    close(s.f1, expected[k]!.f1, `F1 ${k}`);
  });
  // (4/7 + 4/7 + 0 + 0) / 4 classes present.
  close(r.macroF1, 2 / 7, 'macro F1');
});

test('a perfect classifier scores 1 everywhere; ties go to the first class; bad inputs are refused in one line', () => {
  const matrix = new ConfusionMatrix(3);
  matrix.add(Tensor.fromFloat32('z', [4, 3], [9, 0, 0, 0, 9, 0, 0, 0, 9, 1, 1, 1]), Tensor.fromInt64('l', [4], [0, 1, 2, 0]));
  const r = matrix.result();
  assert.deepEqual(r.perClass.map((s) => [s.precision, s.recall, s.f1, s.support]), [[1, 1, 1, 2], [1, 1, 1, 1], [1, 1, 1, 1]]);
  assert.equal(r.macroF1, 1);
  assert.equal(r.accuracy, 1);

  const empty = new ConfusionMatrix(2).result();
  assert.deepEqual([empty.samples, empty.accuracy, empty.macroF1], [0, 0, 0]);

  assert.throws(() => matrix.add(Tensor.fromFloat32('z', [1, 3], [1, 2, 3]), Tensor.fromInt64('l', [1], [3])), /label 3 is outside the model's 3 classes/);
  assert.throws(() => matrix.add(Tensor.fromFloat32('z', [1, 4], [1, 2, 3, 4]), Tensor.fromInt64('l', [1], [0])), /logits have 4 classes, earlier batches had 3/);
  assert.throws(() => matrix.add(Tensor.fromFloat32('z', [1, 3], [1, 2, 3]), Tensor.fromFloat32('t', [1], [0])), /integer class labels/);
});

test('evaluatePerClass on a small model: the confusion matches a direct count, and accuracy agrees with evaluateClassifier', async () => {
  // A linear model y = x W + b on flattened [1, 2, 2] images (its input is [N, 4], so batches get flattened), three
  // classes; labels are the argmax of a different linear map, so the model is right on most samples, not all.
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, ['N', 4]);
  const w = b.floats('w', [4, 3], [1, 0, 0.2, 0, 1, 0, 0.3, 0, 1, -0.5, 0.5, 0.5]);
  const bias = b.floats('b', [3], [0.1, 0, -0.1]);
  b.output(b.op('Gemm', ['x', w, bias], {}, { output: 'logits' }), DataType.FLOAT, ['N', 3]);
  const model = modelOf(b.graph, { '': 21 });

  const random = seededRandom(11);
  const n = 301;
  const images = Array.from({ length: n * 4 }, () => random() * 2 - 1);
  const truth = [[1, 0, 0], [0, 1, 0.3], [0, 0, 1], [-0.2, 0.6, 0.4]];
  const labels = Array.from({ length: n }, (_, i) => {
    const scores = [0, 1, 2].map((c) => truth.reduce((a, row, k) => a + images[i * 4 + k]! * row[c]!, 0));
    return scores.indexOf(Math.max(...scores));
  });
  const data = TensorDataset.fromTensors(Tensor.fromFloat32('images', [n, 1, 2, 2], images), Tensor.fromInt64('labels', [n], labels), { classes: 3 });
  const loader = new DataLoader(data, { batchSize: 64 });

  const r = await evaluatePerClass(nodeRuntime, model, loader, { threads: 1 });
  const reference = await evaluateClassifier(nodeRuntime, model, loader, { threads: 1 });
  assert.equal(r.samples, n);
  assert.equal(r.accuracy, reference.accuracy);
  assert.ok(r.accuracy > 0.6 && r.accuracy < 1, `accuracy ${r.accuracy} should be partial for the test to mean something`);

  // The same confusion counted directly from logits computed here in float64.
  const confusion = [0, 1, 2].map(() => [0, 0, 0]);
  const wv = [...b.graph.initializers.get(w)!.toFloat32()], bv = [...b.graph.initializers.get(bias)!.toFloat32()];
  for (let i = 0; i < n; i++) {
    const z = [0, 1, 2].map((c) => bv[c]! + [0, 1, 2, 3].reduce((a, k) => a + Math.fround(images[i * 4 + k]!) * wv[k * 3 + c]!, 0));
    confusion[labels[i]!]![z.indexOf(Math.max(...z))]!++;
  }
  assert.deepEqual(r.confusion, confusion);
  assert.deepEqual(r.perClass.map((s) => s.support), [0, 1, 2].map((c) => labels.filter((l) => l === c).length));
  const f1s = r.perClass.map((s) => s.f1);
  assert.ok(Math.abs(r.macroF1 - f1s.reduce((a, v) => a + v, 0) / 3) < 1e-12);
});
