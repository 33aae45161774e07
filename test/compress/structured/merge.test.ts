// Filter merging: k-means finds duplicate filters (BatchNorm folded in) and merging them leaves outputs unchanged in
// onnxruntime, also across residual groups; consumers' weights become sums over each cluster (Flatten->Gemm blocks
// included); merged zoo and PyTorch-exported models validate and run with fewer MACs; refusals and bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { analyzeChannels } from '../../../src/compress/structured/dependency.js';
import { kMeans, mergeChannels, mergeClusters } from '../../../src/compress/structured/merge.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { loadModel } from '../../../src/node/io.js';
import { readNpy } from '../../../src/node/npy.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture, maxAbsDifference } from '../../fixtures/fixtures.js';
import { runOnce } from '../../helpers/run.js';
import { NetBuilder, copyChannel, predictedMacs, setValues } from './helpers.js';

async function outputOf(model: Model, feeds: Record<string, Tensor>): Promise<Tensor> {
  return Object.values(await runOnce(model, feeds))[0]!;
}

/** Largest output difference relative to the largest output (random weights give outputs in the hundreds). */
async function relativeChange(before: Model, after: Model, feeds: Record<string, Tensor>): Promise<number> {
  const expected = await outputOf(before, feeds);
  const scale = Math.max(1, ...expected.toFloat32().map(Math.abs));
  return maxAbsDifference(await outputOf(after, feeds), expected) / scale;
}

/** conv1 3x3 (8, bias) + BN -> Relu -> conv2 3x3 (6, bias) -> Relu -> MaxPool 2 -> Flatten (6*4*4) -> fc (10). */
function plainNet(): Model {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [2, 3, 8, 8]);
  const r1 = n.b.op('Relu', [n.bn('bn1', n.conv('conv1', x, 3, 8, 3, { bias: true }), 8)]);
  const r2 = n.b.op('Relu', [n.conv('conv2', r1, 8, 6, 3, { bias: true })]);
  const pooled = n.b.op('MaxPool', [r2], { kernel_shape: [2, 2], strides: [2, 2] });
  return n.finish(n.gemm('fc', n.b.op('Flatten', [pooled], { axis: 1 }), 96, 10));
}

/**
 * conv1 channels 3, 5 copy 0, 1; channel 6 computes what channel 2 does with its filter and bias doubled, BN mean
 * doubled and scale halved (equal only with the BatchNorm folded in). conv2 channels 4, 5 copy 0, 1.
 */
function withDuplicates(): Model {
  const m = plainNet();
  for (const [from, to] of [[0, 3], [1, 5]]) for (const t of ['conv1.w', 'conv1.b', 'bn1.scale', 'bn1.bias', 'bn1.mean', 'bn1.var']) copyChannel(m, t, from, to);
  for (const [t, scale] of [['conv1.w', 2], ['conv1.b', 2], ['bn1.mean', 2], ['bn1.scale', 0.5], ['bn1.bias', 1], ['bn1.var', 1]] as const) copyChannel(m, t, 2, 6, scale);
  for (const [from, to] of [[0, 4], [1, 5]]) for (const t of ['conv2.w', 'conv2.b']) copyChannel(m, t, from, to);
  return m;
}

test('merging duplicate filters (BatchNorm folded in) finds exactly them and leaves the outputs unchanged', async () => {
  const model = withDuplicates();
  // 3 of conv1's 8 and floor(0.375*6) = 2 of conv2's 6 channels go: exactly the copies.
  const { model: merged, report } = mergeChannels(model, { ratio: 0.375 });
  validateModel(merged);
  const clusters = (producer: string) => report.groups.find((g) => g.producers.includes(producer))!.clusters;
  assert.deepEqual(clusters('conv1'), [[0, 3], [1, 5], [2, 6], [4], [7]]);
  assert.deepEqual(clusters('conv2'), [[0, 4], [1, 5], [2], [3]]);
  const fc = report.groups.find((g) => g.producers.includes('fc'))!;
  assert.equal(fc.merged, false);
  assert.match(fc.reason!, /graph output/);
  const dims = (name: string) => [...merged.graph.initializers.get(name)!.dims];
  assert.deepEqual(dims('conv1.w'), [5, 3, 3, 3]);
  assert.deepEqual(dims('bn1.var'), [5]);
  assert.deepEqual(dims('conv2.w'), [4, 5, 3, 3]);
  assert.deepEqual(dims('fc.w'), [10, 64], 'Flatten into Gemm: 16 columns per channel');
  const change = await relativeChange(model, merged, randomInputs(model, { seed: 3 }));
  assert.ok(change < 1e-5, `outputs moved by ${change} of their size`);
  assert.ok(report.macsAfter < report.macsBefore && report.paramsAfter < report.paramsBefore);
  assert.equal(report.macsAfter, predictedMacs(model, merged));
});

test('merging distinct filters does change the outputs (the check above can fail)', async () => {
  const model = plainNet();
  const { model: merged } = mergeChannels(model, { ratio: 0.375 });
  assert.ok(await relativeChange(model, merged, randomInputs(model, { seed: 3 })) > 1e-3);
});

/** Sets every BatchNorm's parameters to seeded values away from the identity (the zoo starts at scale 1, mean 0). */
function randomizeBatchNorms(model: Model, seed: number): void {
  const random = seededRandom(seed);
  for (const node of model.graph.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    const ranges = [[0.5, 1.5], [-0.5, 0.5], [-0.3, 0.3], [0.5, 2]];
    node.inputs.slice(1, 5).forEach((name, i) => {
      const size = model.graph.initializers.get(name)!.size;
      setValues(model, name, Array.from({ length: size }, () => ranges[i]![0]! + (ranges[i]![1]! - ranges[i]![0]!) * random()));
    });
  }
}

test('merging duplicates across every producer of a residual group leaves the outputs unchanged (zoo resnet-8 with BN, PyTorch resnet_small)', async () => {
  const resnet = buildArch('resnet-8', { inputShape: [1, 12, 12], seed: 2, width: 0.5 });
  randomizeBatchNorms(resnet, 5);
  const analysis = analyzeChannels(resnet);
  const residual = analysis.groups.find((g) => g.producers.includes('conv1'))!;
  assert.deepEqual(residual.producers.sort(), ['conv1', 'layer1.0.conv2']);
  const bn = (prefix: string) => ['scale', 'bias', 'running_mean', 'running_var'].map((p) => `${prefix}.${p}`);
  for (const t of ['conv1.weight', ...bn('bn1'), 'layer1.0.conv2.weight', ...bn('layer1.0.bn2')]) copyChannel(resnet, t, 1, 5);
  for (const t of ['conv1.weight', ...bn('bn1')]) copyChannel(resnet, t, 2, 6);
  // The second producer's copy is scaled: filter x2, mean x2, scale /2 (the same response after its BatchNorm).
  for (const [t, s] of [['weight', 2], ['bn2.running_mean', 2], ['bn2.scale', 0.5], ['bn2.bias', 1], ['bn2.running_var', 1]] as const) {
    copyChannel(resnet, t === 'weight' ? 'layer1.0.conv2.weight' : `layer1.0.${t}`, 2, 6, s);
  }
  const merged = mergeClusters(resnet, analysis, new Map([[residual.id, [[0], [1, 5], [2, 6], [3], [4], [7]]]]));
  validateModel(merged);
  assert.deepEqual([...merged.graph.initializers.get('layer2.0.downsample.0.weight')!.dims], [16, 6, 1, 1]);
  const change = await relativeChange(resnet, merged, randomInputs(resnet, { seed: 4, batch: 2 }));
  assert.ok(change < 1e-5, `resnet-8 outputs moved by ${change}`);

  // resnet_small: the 32-channel group joins layer2's conv2 and shortcut and layer3's conv2 (identity shortcut).
  const small = loadModel(fixture('resnet_small.onnx'));
  const smallAnalysis = analyzeChannels(small);
  const three = smallAnalysis.groups.find((g) => g.producers.length === 3)!;
  for (const m of three.members.filter((m) => m.role.startsWith('producer'))) copyChannel(small, m.tensor, 4, 20);
  const smallMerged = mergeClusters(small, smallAnalysis, new Map([[three.id, [...Array(32).keys()].filter((c) => c !== 20).map((c) => (c === 4 ? [4, 20] : [c]))]]));
  validateModel(smallMerged);
  const feeds = { [small.graph.inputs[0]!.name]: readNpy(fixture('resnet_small.input.npy')) };
  const smallChange = await relativeChange(small, smallMerged, feeds);
  assert.ok(smallChange < 1e-5, `resnet_small outputs moved by ${smallChange}`);
  assert.ok(await relativeChange(small, mergeClusters(loadModel(fixture('resnet_small.onnx')), smallAnalysis, new Map([[three.id, [...Array(32).keys()].filter((c) => c !== 21).map((c) => (c === 4 ? [4, 21] : [c]))]])), feeds) > 1e-4,
    'merging two different channels does change the outputs');
});

test('lenet-5 merged by half: fewer MACs and parameters; kept filters are cluster means, consumer columns cluster sums', async () => {
  const model = buildArch('lenet-5', { seed: 3, width: 0.5 });
  const { model: merged, report } = mergeChannels(model, { ratio: 0.5, seed: 1 });
  validateModel(merged);
  assert.deepEqual(report.groups.map((g) => [g.channelsBefore, g.channelsAfter, g.merged]), [[10, 5, true], [25, 13, true], [250, 125, true], [10, 10, false]]);
  assert.ok(Math.abs(report.macsAfter - predictedMacs(model, merged)) < 1e-6 * report.macsBefore);
  assert.ok(report.macsAfter < 0.35 * report.macsBefore && report.paramsAfter < 0.35 * report.paramsBefore);
  for (const g of report.groups.filter((x) => x.merged)) {
    assert.deepEqual(g.clusters!.flat().sort((a, b) => a - b), [...Array(g.channelsBefore).keys()], 'clusters partition the channels');
  }
  // fc1's rows are the means of its clusters (no BatchNorm) and its columns, 16 per conv2 channel after Flatten, the
  // sums over conv2's clusters.
  const [conv2, fc1] = [report.groups[1]!.clusters!, report.groups[2]!.clusters!];
  const w = model.graph.initializers.get('fc1.weight')!.toFloat32();
  const expected: number[] = [];
  for (const rows of fc1) {
    for (const columns of conv2) {
      for (let p = 0; p < 16; p++) {
        let s = 0;
        for (const r of rows) for (const c of columns) s += w[r * 400 + c * 16 + p]!;
        expected.push(s / rows.length);
      }
    }
  }
  const got = merged.graph.initializers.get('fc1.weight')!;
  assert.deepEqual([...got.dims], [125, 13 * 16]);
  got.toFloat32().forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `fc1.weight[${i}] = ${v}, expected ${expected[i]}`));
  const out = await outputOf(merged, randomInputs(merged, { batch: 3 }));
  assert.deepEqual([...out.dims], [3, 10]);
});

test('resnet_small.onnx merged at 0.5 validates and runs; its residual groups are merged too', async () => {
  const model = loadModel(fixture('resnet_small.onnx'));
  const { model: merged, report } = mergeChannels(model, { ratio: 0.5, channelMultiple: 8 });
  validateModel(merged);
  const residual = report.groups.filter((g) => g.producers.length > 1);
  assert.equal(residual.length, 2);
  for (const g of residual) assert.deepEqual([g.merged, g.channelsAfter], [true, g.channelsBefore / 2]);
  const input = readNpy(fixture('resnet_small.input.npy'));
  const out = await outputOf(merged, { [model.graph.inputs[0]!.name]: input });
  assert.deepEqual([...out.dims], [...(await outputOf(model, { [model.graph.inputs[0]!.name]: input })).dims]);
  assert.ok(report.macsAfter / report.macsBefore < 0.3, `MACs kept ${report.macsAfter / report.macsBefore}`);
});

test('a group feeding a depthwise conv is left whole with the reason; bad options are refused in one line', async () => {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 3, 6, 6]);
  const r1 = n.b.op('Relu', [n.conv('conv1', x, 3, 8, 3, { bias: true })]);
  const r2 = n.b.op('Relu', [n.conv('dw', r1, 8, 8, 3, { bias: true, group: 8 })]);
  const r3 = n.b.op('Relu', [n.conv('conv2', r2, 8, 6, 3)]);
  const model = n.finish(n.conv('conv3', r3, 6, 4, 1));
  const { model: merged, report } = mergeChannels(model, { ratio: 0.5 });
  const conv1 = report.groups.find((g) => g.producers.includes('conv1'))!;
  assert.deepEqual([conv1.merged, conv1.channelsAfter], [false, 8]);
  assert.match(conv1.reason!, /node 'dw' \(depthwise Conv\)/);
  assert.deepEqual([...merged.graph.initializers.get('conv2.w')!.dims], [3, 8, 3, 3]);
  validateModel(merged);
  assert.deepEqual([...(await outputOf(merged, randomInputs(merged))).dims], [1, 4, 6, 6]);

  for (const ratio of [1, -0.1, Number.NaN]) {
    assert.throws(() => mergeChannels(model, { ratio }), (e: Error) => /^filter merging: ratio .* must be in \[0, 1\)$/.test(e.message) && !e.message.includes('\n'));
  }
  assert.throws(() => mergeChannels(model, { ratio: 0.5, channelMultiple: 0 }), /channelMultiple 0/);
  assert.throws(() => mergeChannels(model, { ratio: 0.5, minChannels: 1.5 }), /minChannels 1\.5/);
  const b = new NetBuilder();
  const onlyClassifier = b.finish(b.gemm('fc', b.b.input('x', 1, [1, 8]), 8, 10));
  assert.throws(() => mergeChannels(onlyClassifier, { ratio: 0.5 }), /no channel group can be merged/);
});

test('k-means: a seeded partition into k non-empty clusters that puts copies together', () => {
  const p = (...v: number[]) => Float64Array.from(v);
  const points = [p(0, 0), p(10, 0), p(0, 0), p(0.1, 0.1), p(10, 0.2), p(5, 5), p(5, 5)];
  assert.deepEqual(kMeans(points, 3, seededRandom(1)), [[0, 2, 3], [1, 4], [5, 6]]);
  for (let seed = 0; seed < 5; seed++) assert.deepEqual(kMeans(points, 3, seededRandom(seed)), kMeans(points, 3, seededRandom(seed)));
  // More clusters than distinct points: still k non-empty clusters.
  const same = [p(1), p(1), p(1), p(2)];
  const clusters = kMeans(same, 3, seededRandom(0));
  assert.equal(clusters.length, 3);
  assert.deepEqual(clusters.flat().sort(), [0, 1, 2, 3]);
  assert.throws(() => kMeans(same, 5, seededRandom(0)), /cannot make 5 clusters of 4 points/);
});
