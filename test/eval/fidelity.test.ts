import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType } from '../../src/core/dtype.js';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { TensorDataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { FidelityReference, generatedFeeds, loaderFeeds, measureFidelity } from '../../src/eval/fidelity.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { Runtime } from '../../src/runtime/session.js';

/** y = op(x, constant) (or op(x) without a constant) for x of shape [N, ...sample]. */
function elementwise(op: string, sample: number[], constant?: { dims: number[]; values: number[] }): Model {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, ['N', ...sample]);
  const inputs = ['x'];
  if (constant) inputs.push(b.initializer(Tensor.fromFloat32('c', constant.dims, constant.values)));
  b.output(b.op(op, inputs, {}, { output: 'y' }), DataType.FLOAT, ['N', ...sample]);
  return modelOf(b.graph, { '': 21 });
}

const identity = elementwise('Identity', [5]);
const feeds = () => generatedFeeds(identity, 40, { seed: 3, batchSize: 16 });
/** The generated inputs, as [rows of 5]. */
const rowsOf = (batches: Iterable<Record<string, Tensor>>) => [...batches].flatMap((f) => {
  const x = f.x!.toFloat32();
  return Array.from({ length: f.x!.dims[0]! }, (_, i) => Array.from(x.subarray(i * 5, (i + 1) * 5)));
});
const argmax = (row: number[]) => row.indexOf(Math.max(...row));

test('identical models agree on every sample and have infinite SQNR', async () => {
  const r = await measureFidelity(nodeRuntime, identity, elementwise('Identity', [5]), feeds(), { threads: 1 });
  assert.equal(r.samples, 40);
  assert.equal(r.top1Agreement, 1);
  assert.ok(Math.abs(r.meanCosine - 1) < 1e-12, `${r.meanCosine}`);
  assert.equal(r.sqnrDb, Infinity);
});

test('scaling by 2 keeps direction and argmax: cosine 1, SQNR 10 log10(1/1) = 0 dB; a sign flip gives cosine -1 and -6.02 dB', async () => {
  const double = await measureFidelity(nodeRuntime, identity, elementwise('Mul', [5], { dims: [], values: [2] }), feeds(), { threads: 1 });
  assert.equal(double.top1Agreement, 1);
  assert.ok(Math.abs(double.meanCosine - 1) < 1e-12);
  assert.ok(Math.abs(double.sqnrDb) < 1e-9, `${double.sqnrDb}`);

  const flipped = await measureFidelity(nodeRuntime, identity, elementwise('Neg', [5]), feeds(), { threads: 1 });
  assert.ok(Math.abs(flipped.meanCosine + 1) < 1e-12);
  // sum x^2 / sum (x - (-x))^2 = 1/4
  assert.ok(Math.abs(flipped.sqnrDb - 10 * Math.log10(1 / 4)) < 1e-9, `${flipped.sqnrDb}`);
  // The flipped argmax is the original argmin: agreement only where a row's max and min coincide (never, here).
  const rows = rowsOf(feeds());
  const agree = rows.filter((r) => argmax(r) === argmax(r.map((v) => -v))).length;
  assert.equal(flipped.top1Agreement, agree / rows.length);
});

test('an added offset: agreement, cosine and SQNR match a direct computation', async () => {
  const offset = [0.3, -0.2, 0.5, 0, -0.4];
  const r = await measureFidelity(nodeRuntime, identity, elementwise('Add', [5], { dims: [5], values: offset }), feeds(), { threads: 1 });
  const rows = rowsOf(feeds());
  let agree = 0, cosine = 0, signal = 0, noise = 0;
  for (const x of rows) {
    const y = x.map((v, j) => Math.fround(v + Math.fround(offset[j]!)));
    if (argmax(x) === argmax(y)) agree++;
    const dot = x.reduce((a, v, j) => a + v * y[j]!, 0);
    cosine += dot / Math.sqrt(x.reduce((a, v) => a + v * v, 0) * y.reduce((a, v) => a + v * v, 0));
    signal += x.reduce((a, v) => a + v * v, 0);
    noise += x.reduce((a, v, j) => a + (v - y[j]!) ** 2, 0);
  }
  assert.ok(agree > 0 && agree < rows.length, `agreement ${agree}/${rows.length} should be partial for the test to mean something`);
  assert.equal(r.top1Agreement, agree / rows.length);
  assert.ok(Math.abs(r.meanCosine - cosine / rows.length) < 1e-9, `${r.meanCosine} vs ${cosine / rows.length}`);
  assert.ok(Math.abs(r.sqnrDb - 10 * Math.log10(signal / noise)) < 1e-9);
});

test('a reference runs once; compare() runs only the candidate, and async batches work too', async () => {
  let sessions = 0;
  const counting: Runtime = { name: 'counting', version: nodeRuntime.version, createSession: (m, o) => { sessions++; return nodeRuntime.createSession(m, o); } };
  async function* asyncFeeds() { yield* feeds(); }
  const reference = await FidelityReference.create(counting, identity, asyncFeeds(), { threads: 1 });
  assert.equal(sessions, 1);
  assert.equal(reference.samples, 40);
  assert.equal(reference.comparesTop1, true);
  const a = await reference.compare(elementwise('Mul', [5], { dims: [], values: [2] }));
  const b = await reference.compare(identity);
  assert.equal(sessions, 3);
  assert.ok(Math.abs(a.sqnrDb) < 1e-9);
  assert.equal(b.sqnrDb, Infinity);
});

test('outputs that are not [N, classes] have no top-1 agreement; the cosine is per sample over all its elements', async () => {
  const ref = elementwise('Identity', [2, 3]);
  // Sample 0: x; sample 1: -x. Cosine per sample 1 and -1: mean 0 (per-sample vectors, not per row of 3).
  const x = Tensor.fromFloat32('x', [2, 2, 3], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  const sign = elementwise('Mul', [2, 3], { dims: [2, 1, 1], values: [1, -1] });
  const r = await measureFidelity(nodeRuntime, ref, sign, [{ x }], { threads: 1 });
  assert.equal(r.samples, 2);
  assert.equal(r.top1Agreement, null);
  assert.ok(Math.abs(r.meanCosine) < 1e-12);
  // signal 2 * 91, noise: sample 1 differs by 2x: 4 * 91
  assert.ok(Math.abs(r.sqnrDb - 10 * Math.log10(182 / 364)) < 1e-9);
});

test('a candidate whose output shape differs is refused with both shapes named', async () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, ['N', 5]);
  b.output(b.op('Concat', ['x', 'x'], { axis: 1 }, { output: 'y' }), DataType.FLOAT, ['N', 10]);
  await assert.rejects(measureFidelity(nodeRuntime, identity, modelOf(b.graph), feeds()), /candidate's output 'y' has shape \[16, 10\], the reference's 'y' \[16, 5\]/);
});

test('loaderFeeds flattens image batches for a flat model and ignores labels; generatedFeeds follows a fixed batch dimension', () => {
  const data = TensorDataset.fromTensors(
    Tensor.fromFloat32('images', [5, 1, 2, 2], Array.from({ length: 20 }, (_, i) => i)),
    Tensor.fromInt64('labels', [5], [0, 1, 0, 1, 0]), { classes: 2 });
  const flat = elementwise('Identity', [4]);
  const batches = [...loaderFeeds(flat, new DataLoader(data, { batchSize: 2 }))];
  assert.deepEqual(batches.map((f) => [Object.keys(f), f.x!.dims]), [[['x'], [2, 4]], [['x'], [2, 4]], [['x'], [1, 4]]]);
  assert.deepEqual(Array.from(batches[2]!.x!.toFloat32()), [16, 17, 18, 19]);
  assert.throws(() => [...loaderFeeds(flat, new DataLoader(data, { batchSize: 2, reuseBuffers: true }))], /reuseBuffers/);

  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [3, 5]);
  b.output(b.op('Identity', ['x'], {}, { output: 'y' }));
  const fixed = [...generatedFeeds(modelOf(b.graph), 7)];
  assert.deepEqual(fixed.map((f) => f.x!.dims), [[3, 5], [3, 5], [3, 5]]);
  // Seeded: the same seed gives the same inputs, batches differ from each other.
  const again = [...generatedFeeds(identity, 40, { seed: 3, batchSize: 16 })];
  assert.deepEqual(rowsOf(again), rowsOf(feeds()));
  assert.notDeepEqual(again[0]!.x!.toFloat32().subarray(0, 5), again[1]!.x!.toFloat32().subarray(0, 5));
});
