// Channel criteria FPGM (geometric median) and group Taylor: scores against hand-computed values on hand-built
// convs, and Taylor pruning end to end from gradients accumulated on MNIST batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../../src/core/ir.js';
import { validateModel } from '../../../src/core/validate.js';
import { DataLoader } from '../../../src/data/loader.js';
import { accumulateGradients } from '../../../src/compress/prune/criteria.js';
import { analyzeChannels } from '../../../src/compress/structured/dependency.js';
import { pruneChannels } from '../../../src/compress/structured/prune.js';
import { CHANNEL_CRITERIA, channelImportance, taylorTensors } from '../../../src/compress/structured/rank.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { runOnce } from '../../helpers/run.js';
import { NetBuilder, setValues } from './helpers.js';

/** x [1, cin, 3, 3] -> 1x1 conv1 (cout, given filters) -> Relu -> 1x1 conv2 (2, the graph output). */
function oneByOne(filters: number[][]): Model {
  const n = new NetBuilder();
  const cin = filters[0]!.length, cout = filters.length;
  const x = n.b.input('x', 1, [1, cin, 3, 3]);
  const r = n.b.op('Relu', [n.conv('conv1', x, cin, cout, 1)]);
  const model = n.finish(n.conv('conv2', r, cout, 2, 1));
  setValues(model, 'conv1.w', filters.flat());
  return model;
}

const groupOf = (model: Model, producer: string) => analyzeChannels(model).groups.find((g) => g.producers.includes(producer))!;
const close = (got: Float64Array, expected: number[], tolerance = 1e-6) => {
  assert.equal(got.length, expected.length);
  got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= tolerance * Math.max(1, Math.abs(expected[i]!)), `channel ${i}: ${v}, expected ${expected[i]}`));
};

test('FPGM scores are summed distances to the other filters; the redundant pair goes first', () => {
  // A=(0,0), B=(3,4), C=B, D=(0,4): |AB|=5, |AD|=4, |BD|=3, |BC|=0.
  const model = oneByOne([[0, 0], [3, 4], [3, 4], [0, 4]]);
  close(channelImportance(model, groupOf(model, 'conv1'), 'fpgm'), [5 + 5 + 4, 5 + 0 + 3, 5 + 0 + 3, 4 + 3 + 3]);
  const { model: pruned } = pruneChannels(model, { ratio: 0.5, criterion: 'fpgm' });
  assert.deepEqual([...pruned.graph.initializers.get('conv1.w')!.toFloat32()], [0, 0, 0, 4], 'A and D stay');
  // One to remove: of the tied copies the higher index goes.
  const { model: one } = pruneChannels(model, { ratio: 0.25, criterion: 'fpgm' });
  assert.deepEqual([...one.graph.initializers.get('conv1.w')!.toFloat32()], [0, 0, 3, 4, 0, 4]);
});

test('FPGM prunes the filter at the geometric median, where L1 prunes the smallest', () => {
  // Corners of a 4x4 square and its centre: the centre is 2*sqrt(2) from each corner.
  const model = oneByOne([[0, 0], [4, 0], [0, 4], [4, 4], [2, 2]]);
  const corner = 4 + 4 + Math.hypot(4, 4) + Math.hypot(2, 2);
  close(channelImportance(model, groupOf(model, 'conv1'), 'fpgm'), [corner, corner, corner, corner, 4 * Math.hypot(2, 2)]);
  const rows = (criterion: 'fpgm' | 'l1') => [...pruneChannels(model, { ratio: 0.2, criterion }).model.graph.initializers.get('conv1.w')!.toFloat32()];
  assert.deepEqual(rows('fpgm'), [0, 0, 4, 0, 0, 4, 4, 4]);
  assert.deepEqual(rows('l1'), [4, 0, 0, 4, 4, 4, 2, 2]);
});

test('FPGM sums the distances over the producers of a residual group', () => {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 1, 2, 2]);
  const sum = n.b.op('Add', [n.conv('a', x, 1, 4, 1), n.conv('b', x, 1, 4, 1)]);
  const model = n.finish(n.conv('c', n.b.op('Relu', [sum]), 4, 2, 1));
  setValues(model, 'a.w', [0, 1, 3, 7]);
  setValues(model, 'b.w', [0, 0, 10, 10]);
  const group = groupOf(model, 'a');
  assert.deepEqual(group.producers, ['a', 'b']);
  // a: 0 -> 1+3+7, 1 -> 1+2+6, 3 -> 3+2+4, 7 -> 7+6+4; b: every filter is 0 or 10 from the others twice, 0 once.
  close(channelImportance(model, group, 'fpgm'), [11 + 20, 9 + 20, 9 + 20, 17 + 20]);
});

/** x [1,2,3,3] -> 1x1 conv1 (3, bias) -> BN -> Relu -> 1x1 conv2 (2, output), with the values the Taylor test uses. */
function taylorNet(): Model {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 2, 3, 3]);
  const r = n.b.op('Relu', [n.bn('bn1', n.conv('conv1', x, 2, 3, 1, { bias: true }), 3)]);
  const model = n.finish(n.conv('conv2', r, 3, 2, 1));
  setValues(model, 'conv1.w', [1, 2, 3, -1, 0.5, 0.5]);
  setValues(model, 'conv1.b', [1, -2, 0]);
  setValues(model, 'bn1.scale', [2, 1, -1]);
  setValues(model, 'bn1.bias', [0.5, 0, 1]);
  return model;
}

const taylorGradients = () => new Map([
  ['conv1.w', Float32Array.from([0.1, 0.2, -0.3, 0.4, 2, 2])],
  ['conv1.b', Float32Array.from([0.5, 0.25, 1])],
  ['bn1.scale', Float32Array.from([-0.1, 0.2, 0.3])],
  ['bn1.bias', Float32Array.from([0.2, -0.5, 0.1])],
  // Running statistics are not parameters: huge "gradients" for them must change nothing.
  ['bn1.mean', Float32Array.from([100, 100, 100])],
  ['bn1.var', Float32Array.from([100, 100, 100])],
]);

test('group Taylor is (sum of g*w over filter, bias, BN scale and BN bias)^2 per channel', () => {
  const model = taylorNet();
  assert.deepEqual(taylorTensors(model).sort(), ['bn1.bias', 'bn1.scale', 'conv1.b', 'conv1.w']);
  // channel 0: 1*0.1 + 2*0.2 + 1*0.5 + 2*(-0.1) + 0.5*0.2 = 0.9
  // channel 1: 3*(-0.3) + (-1)*0.4 + (-2)*0.25 + 1*0.2 + 0*(-0.5) = -1.6
  // channel 2: 0.5*2 + 0.5*2 + 0*1 + (-1)*0.3 + 1*0.1 = 1.8
  close(channelImportance(model, groupOf(model, 'conv1'), 'taylor', taylorGradients()), [0.81, 2.56, 3.24]);
  // Taylor drops channel 0; L1 (filter sums 3, 4, 1) would drop channel 2.
  const { model: pruned, report } = pruneChannels(model, { ratio: 1 / 3, criterion: 'taylor', gradients: taylorGradients() });
  assert.equal(report.criterion, 'taylor');
  assert.deepEqual([...pruned.graph.initializers.get('conv1.w')!.toFloat32()], [3, -1, 0.5, 0.5]);
  assert.deepEqual([...pruned.graph.initializers.get('bn1.scale')!.toFloat32()], [1, -1]);
});

test('Taylor without gradients, or without one it needs, is refused naming the tensor', () => {
  const model = taylorNet();
  assert.throws(() => pruneChannels(model, { ratio: 0.3, criterion: 'taylor' }), /taylor criterion needs gradient sums/);
  const partial = taylorGradients();
  partial.delete('bn1.bias');
  assert.throws(() => pruneChannels(model, { ratio: 0.3, criterion: 'taylor', gradients: partial }), /no gradient for 'bn1\.bias' \(node 'bn1'\)/);
  const wrong = taylorGradients();
  wrong.set('conv1.b', new Float32Array(2));
  assert.throws(() => pruneChannels(model, { ratio: 0.3, criterion: 'taylor', gradients: wrong }), /gradient for 'conv1\.b' has 2 values, the tensor 3/);
  assert.ok(CHANNEL_CRITERIA.includes('fpgm') && CHANNEL_CRITERIA.includes('taylor'));
});

const mnist = openDataset('mnist', 'train');

test('lenet-5: Taylor pruning from gradients of MNIST batches keeps the highest (sum g*w)^2 channels, validates and runs', async () => {
  const model = buildArch('lenet-5', { seed: 1, width: 0.5 });
  const loader = new DataLoader(mnist, { batchSize: 32, limit: 96 });
  const gradients = await accumulateGradients(nodeRuntime, model, loader, taylorTensors(model), { batches: 3, threads: 1 });
  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5, criterion: 'taylor', gradients });
  validateModel(pruned);
  assert.ok(report.macsAfter < 0.5 * report.macsBefore, `MACs ${report.macsBefore} -> ${report.macsAfter}`);

  // Peer: conv2's 25 channels scored by direct loops over its filter rows and bias.
  const w = model.graph.initializers.get('conv2.weight')!.toFloat32(), b = model.graph.initializers.get('conv2.bias')!.toFloat32();
  const gw = gradients.get('conv2.weight')!, gb = gradients.get('conv2.bias')!;
  const per = w.length / 25;
  const scores = Array.from({ length: 25 }, (_, c) => {
    let s = gb[c]! * b[c]!;
    for (let i = c * per; i < (c + 1) * per; i++) s += gw[i]! * w[i]!;
    return s * s;
  });
  const kept = [...scores.keys()].sort((x, y) => scores[y]! - scores[x]!).slice(0, 13).sort((x, y) => x - y);
  // conv1 sees one input channel, so its rows are whole filters; conv2 keeps the peer's rows at conv1's kept columns.
  const conv1Kept = keptRows(model, pruned, 'conv1.weight');
  assert.equal(conv1Kept.length, 5);
  const expected = kept.flatMap((c) => conv1Kept.flatMap((j) => [...w.subarray(c * per + j * 25, c * per + (j + 1) * 25)]));
  assert.deepEqual([...pruned.graph.initializers.get('conv2.weight')!.toFloat32()], expected);

  const out = Object.values(await runOnce(pruned, randomInputs(pruned, { batch: 4 })))[0]!;
  assert.deepEqual([...out.dims], [4, 10]);
});

/** Which rows (axis-0 channels) of the original tensor the pruned one kept, found by matching rows. */
function keptRows(before: Model, after: Model, name: string): number[] {
  const a = before.graph.initializers.get(name)!, p = after.graph.initializers.get(name)!;
  const per = a.size / a.dims[0]!;
  const row = (t: Float32Array, r: number) => t.subarray(r * per, (r + 1) * per).join();
  const original = Array.from({ length: a.dims[0]! }, (_, r) => row(a.toFloat32(), r));
  return Array.from({ length: p.dims[0]! }, (_, r) => original.indexOf(row(p.toFloat32(), r)));
}

test('resnet-8: Taylor gradients reach BatchNorm scale and bias, and residual groups prune and run', async () => {
  const model = buildArch('resnet-8', { inputShape: [1, 28, 28], seed: 1, width: 0.5 });
  const loader = new DataLoader(mnist, { batchSize: 16, limit: 32 });
  const names = taylorTensors(model);
  assert.ok(names.includes('bn1.scale') && names.includes('layer2.0.downsample.1.bias') && !names.some((n) => /running/.test(n)));
  const gradients = await accumulateGradients(nodeRuntime, model, loader, names, { batches: 2, threads: 1 });
  assert.ok(gradients.get('layer1.0.bn2.scale')!.some((g) => g !== 0), 'BatchNorm scale gradients are not all zero');
  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5, criterion: 'taylor', gradients });
  validateModel(pruned);
  assert.ok(report.macsAfter < report.macsBefore && report.paramsAfter < report.paramsBefore);
  const out = Object.values(await runOnce(pruned, randomInputs(pruned, { batch: 2 })))[0]!;
  assert.deepEqual([...out.dims], [2, 10]);
});
