// Layer pruning (whole residual blocks): blocks found in zoo ResNets and a PyTorch export match their architecture;
// removing a block drops exactly its branch's MACs and parameters, validates and runs; a block whose branch outputs
// zero removed leaves the outputs unchanged (y = x + 0); errors for impossible requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType } from '../../../src/core/dtype.js';
import { NnzipError } from '../../../src/core/errors.js';
import { Model, Node } from '../../../src/core/ir.js';
import { modelStats } from '../../../src/core/stats.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import {
  blockImportance, blockSensitivity, findResidualBlocks, pruneBlocks, sensitivityScores,
} from '../../../src/compress/structured/blocks.js';
import { StructuredPruningError } from '../../../src/compress/structured/dependency.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { loadModel } from '../../../src/node/io.js';
import { readNpy } from '../../../src/node/npy.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { fixture, maxAbsDifference } from '../../fixtures/fixtures.js';
import { runOnce } from '../../helpers/run.js';
import { NetBuilder } from './helpers.js';

const SIDE = 16;
const resnet = (name: string, shortcut: 'A' | 'B' = 'B') => buildArch(name, { inputShape: [3, SIDE, SIDE], classes: 10, shortcut });

async function outputOf(model: Model, feeds: Record<string, Tensor>): Promise<Tensor> {
  return Object.values(await runOnce(model, feeds))[0]!;
}

const stats = (m: Model) => modelStats(m, { gzipLimit: 0 });

function setZeros(model: Model, name: string): void {
  const t = model.graph.initializers.get(name);
  assert.ok(t, `no initializer '${name}'`);
  model.graph.initializers.set(name, Tensor.fromFloat32(name, [...t.dims], new Float32Array(t.size)));
}

/** Removes the named block alone (its score lowest, every other block's higher). */
function removeOnly(model: Model, add: string) {
  const scores = new Map(findResidualBlocks(model).filter((b) => b.removable).map((b) => [b.add, b.add === add ? 0 : 1]));
  return pruneBlocks(model, { count: 1, scores });
}

function assertOneLine(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StructuredPruningError && e instanceof NnzipError, `not a StructuredPruningError: ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('zoo ResNets: one block per identity shortcut, the first block of stages 2 and 3 (downsampling) not removable', () => {
  // A CIFAR ResNet of depth 6n+2 has 3 stages of n basic blocks; stages 2 and 3 open with a stride-2 block whose
  // shortcut projects (B) or subsamples and pads (A): 3n blocks in all, 3n - 2 with an identity shortcut.
  for (const [name, n] of [['resnet-8', 1], ['resnet-20', 3]] as const) {
    for (const shortcut of ['A', 'B'] as const) {
      const blocks = findResidualBlocks(resnet(name, shortcut));
      const what = `${name} shortcut ${shortcut}`;
      assert.equal(blocks.length, 3 * n, what);
      assert.deepEqual(blocks.filter((b) => !b.removable).map((b) => b.add), ['layer2.0.add', 'layer3.0.add'], what);
      assert.equal(blocks.filter((b) => b.removable).length, 3 * n - 2, what);
      for (const b of blocks.filter((b) => !b.removable)) {
        assert.match(b.reason!, /shortcut is not the identity/);
        assert.deepEqual(b.shortcut, shortcut === 'B' ? [`${b.add.slice(0, -4)}.downsample.0`, `${b.add.slice(0, -4)}.downsample.1`]
          : [`${b.add.slice(0, -4)}.shortcut/subsample`, `${b.add.slice(0, -4)}.shortcut`]);
      }
    }
  }
  // The branch of an identity block: conv3x3-BN-ReLU-conv3x3-BN over c channels at the stage's size.
  const blocks = findResidualBlocks(resnet('resnet-20'));
  const b = blocks.find((x) => x.add === 'layer2.1.add')!;
  assert.equal(b.input, 'layer2.0.relu2');
  assert.deepEqual(b.nodes, ['conv1', 'bn1', 'relu1', 'conv2', 'bn2'].map((l) => `layer2.1.${l}`));
  const side = SIDE / 2, c = 32;
  assert.equal(b.macs, 2 * side * side * c * c * 9);
  assert.equal(b.params, 2 * c * c * 9 + 2 * 4 * c, 'two conv weights (no bias) and two BNs (4 vectors each)');
});

test('removing one block drops exactly its branch MACs and parameters (modelStats), validates and runs', async () => {
  const model = resnet('resnet-20');
  const feeds = randomInputs(model, { batch: 2, seed: 1 });
  const before = stats(model);
  for (const block of findResidualBlocks(model).filter((b) => b.removable)) {
    const { model: pruned, report } = removeOnly(model, block.add);
    validateModel(pruned);
    const after = stats(pruned);
    assert.equal(before.macs - after.macs, block.macs, block.add);
    assert.equal(before.params - after.params, block.params, block.add);
    assert.deepEqual([report.macsBefore, report.macsAfter, report.paramsBefore, report.paramsAfter], [before.macs, after.macs, before.params, after.params]);
    assert.deepEqual(report.blocks.filter((b) => b.removed).map((b) => b.add), [block.add]);
    assert.equal(pruned.graph.nodes.length, model.graph.nodes.length - block.nodes.length - 1, 'branch and Add gone');
    assert.ok(!pruned.graph.nodes.some((n) => n.name.startsWith(block.add.slice(0, -4) + '.') && n.opType !== 'Relu'));
    assert.ok(![...pruned.graph.initializers.keys()].some((k) => k.startsWith(block.add.slice(0, -3))), 'its weights dropped');
    assert.equal(findResidualBlocks(pruned).length, findResidualBlocks(model).length - 1);
    const out = await outputOf(pruned, feeds);
    assert.deepEqual([...out.dims], [2, 10]);
    assert.ok(out.toFloat32().every(Number.isFinite));
  }
});

test('a block whose branch outputs zero is removed first and leaves the outputs unchanged (y = x + 0)', async () => {
  const model = resnet('resnet-20');
  for (const name of ['scale', 'bias', 'running_mean']) setZeros(model, `layer2.2.bn2.${name}`);
  const feeds = randomInputs(model, { batch: 2, seed: 2 });
  const expected = await outputOf(model, feeds);
  const zeroed = findResidualBlocks(model).find((b) => b.add === 'layer2.2.add')!;
  assert.equal(blockImportance(model, zeroed, 'bn-scale'), 0);

  const { model: pruned, report } = pruneBlocks(model, { count: 1, criterion: 'bn-scale' });
  assert.deepEqual(report.blocks.filter((b) => b.removed).map((b) => b.add), ['layer2.2.add']);
  assert.ok(maxAbsDifference(await outputOf(pruned, feeds), expected) < 1e-5);

  // The check can fail: removing a live block moves the outputs.
  const live = removeOnly(model, 'layer2.1.add').model;
  assert.ok(maxAbsDifference(await outputOf(live, feeds), expected) > 1e-3);
});

test('l1 ranks by the last conv: a block whose last conv is zero goes first, outputs unchanged', async () => {
  const model = resnet('resnet-8');
  const l1 = findResidualBlocks(model).filter((b) => b.removable).map((b) => blockImportance(model, b, 'l1'));
  // Mean |w| of layer1.0.conv2, computed directly.
  const w = model.graph.initializers.get('layer1.0.conv2.weight')!.toFloat32();
  assert.ok(Math.abs(l1[0]! - w.reduce((s, v) => s + Math.abs(v), 0) / w.length) < 1e-9);

  const big = resnet('resnet-20');
  setZeros(big, 'layer3.1.conv2.weight');
  for (const name of ['bias', 'running_mean']) setZeros(big, `layer3.1.bn2.${name}`);
  const feeds = randomInputs(big, { batch: 2, seed: 3 });
  const { model: pruned, report } = pruneBlocks(big, { count: 1, criterion: 'l1' });
  assert.deepEqual(report.blocks.filter((b) => b.removed).map((b) => b.add), ['layer3.1.add']);
  assert.equal(report.blocks.find((b) => b.removed)!.score, 0);
  assert.ok(maxAbsDifference(await outputOf(pruned, feeds), await outputOf(big, feeds)) < 1e-5);
});

test('ratio, exclude patterns and the report', () => {
  const model = resnet('resnet-20');
  const { report } = pruneBlocks(model, { ratio: 0.5 });
  assert.equal(report.removed, 4, 'round(0.5 * 7)');
  assert.equal(report.blocks.length, 9);
  assert.ok(report.blocks.filter((b) => !b.removable).every((b) => b.score === null && !b.removed));

  const excluded = pruneBlocks(model, { ratio: 0.5, exclude: ['layer3.*'] }).report;
  assert.equal(excluded.removed, 3, 'round(0.5 * 5): the two layer3 identity blocks are excluded');
  for (const b of excluded.blocks.filter((x) => x.add.startsWith('layer3.') && x.removable)) {
    assert.equal(b.removed, false);
    assert.equal(b.reason, "excluded by 'layer3.*'");
  }
  const removedMacs = excluded.blocks.filter((b) => b.removed).reduce((s, b) => s + b.macs, 0);
  assert.equal(excluded.macsBefore - excluded.macsAfter, removedMacs);
  // A branch node's name excludes its block too.
  const byNode = pruneBlocks(model, { count: 6, exclude: ['layer1.1.bn1'] }).report;
  assert.equal(byNode.blocks.find((b) => b.add === 'layer1.1.add')!.removed, false);
  assert.equal(pruneBlocks(model, { ratio: 0 }).report.removed, 0);
});

test('resnet_small.onnx (PyTorch export): blocks found, one removed, it runs; a zero branch removed is exact', async () => {
  const model = loadModel(fixture('resnet_small.onnx'));
  const feeds = { [model.graph.inputs[0]!.name]: readNpy(fixture('resnet_small.input.npy')) };
  const expected = await outputOf(model, feeds);
  const blocks = findResidualBlocks(model);
  assert.deepEqual(blocks.map((b) => [b.add, b.removable]), [['/layer1/Add', true], ['/layer2/Add', false], ['/layer3/Add', true]]);
  assert.deepEqual(blocks[1]!.shortcut, ['/layer2/shortcut/shortcut.0/Conv']);
  assert.deepEqual(blocks[0]!.nodes, ['/layer1/conv1/Conv', '/layer1/Relu', '/layer1/conv2/Conv']);
  // BN is folded into the convs: bn-scale falls back to l1.
  assert.equal(blockImportance(model, blocks[0]!, 'bn-scale'), blockImportance(model, blocks[0]!, 'l1'));

  const { model: pruned, report } = pruneBlocks(model, { count: 1 });
  validateModel(pruned);
  const removed = report.blocks.find((b) => b.removed)!;
  assert.equal(stats(model).macs - stats(pruned).macs, removed.macs);
  const out = await outputOf(pruned, feeds);
  assert.deepEqual([...out.dims], [...expected.dims]);
  assert.ok(maxAbsDifference(out, expected) > 1e-4, 'a live block was removed');

  // layer3's last conv (weight and bias) zeroed: its branch adds nothing, so removing it is exact.
  const conv2 = model.graph.nodes.find((n) => n.name === '/layer3/conv2/Conv')!;
  const zeroed = loadModel(fixture('resnet_small.onnx'));
  for (const name of conv2.inputs.slice(1)) setZeros(zeroed, name);
  const base = await outputOf(zeroed, feeds);
  const exact = removeOnly(zeroed, '/layer3/Add').model;
  assert.ok(maxAbsDifference(await outputOf(exact, feeds), base) < 1e-5);
});

test('weights in Constant nodes (older exporters): same blocks, and their Constants go with the branch', async () => {
  const model = loadModel(fixture('resnet_small.onnx'));
  const withConstants = model.clone();
  const g = withConstants.graph;
  g.nodes.unshift(...[...g.initializers].map(([name, t]) => new Node('Constant', [], [name], `const:${name}`, '', [{ name: 'value', type: 'TENSOR', value: t }])));
  g.initializers.clear();
  const strip = (bs: ReturnType<typeof findResidualBlocks>) => bs.map(({ add, removable, params, macs, nodes }) => ({ add, removable, params, macs, nodes }));
  assert.deepEqual(strip(findResidualBlocks(withConstants)), strip(findResidualBlocks(model)));

  const { model: pruned } = pruneBlocks(withConstants, { count: 2 });
  validateModel(pruned);
  const read = new Set(pruned.graph.nodes.flatMap((n) => n.inputs));
  const constants = pruned.graph.nodes.filter((n) => n.opType === 'Constant');
  assert.ok(constants.every((n) => read.has(n.outputs[0]!)), 'no Constant left unread');
  assert.equal(constants.length, withConstants.graph.nodes.filter((n) => n.opType === 'Constant').length - 8, 'four convs (weight and bias) gone');
  const feeds = { [model.graph.inputs[0]!.name]: readNpy(fixture('resnet_small.input.npy')) };
  assert.deepEqual([...(await outputOf(pruned, feeds)).dims], [2, 10]);
});

/** x -> [Relu] -> Conv 3x3 (zero weights) -> Add(x', conv) as the graph output named 'y'. */
function outputBlock(relu: boolean): Model {
  const n = new NetBuilder();
  const input = n.b.input('x', DataType.FLOAT, [1, 4, 5, 5]);
  const x = relu ? n.b.op('Relu', [input], {}, { name: 'relu' }) : input;
  const conv = n.conv('conv', x, 4, 4, 3, { bias: true });
  n.b.op('Add', [x, conv], {}, { name: 'add', output: 'y' });
  const model = n.finish('y');
  setZeros(model, 'conv.w');
  setZeros(model, 'conv.b');
  return model;
}

test('a block whose Add is the graph output keeps the output name (renamed producer, or an Identity)', async () => {
  for (const relu of [true, false]) {
    const model = outputBlock(relu);
    const feeds = randomInputs(model, { seed: 4 });
    const { model: pruned } = pruneBlocks(model, { count: 1 });
    validateModel(pruned);
    assert.deepEqual(pruned.graph.outputs.map((o) => o.name), ['y']);
    assert.deepEqual(pruned.graph.nodes.map((n) => n.opType), [relu ? 'Relu' : 'Identity']);
    assert.equal(pruned.graph.initializers.size, 0);
    const out = (await runOnce(pruned, feeds)).y!;
    assert.ok(maxAbsDifference(out, (await runOnce(model, feeds)).y!) < 1e-6);
  }
});

test('a block whose branch values are read elsewhere is found but not removable', () => {
  const n = new NetBuilder();
  const x = n.b.op('Relu', [n.b.input('x', DataType.FLOAT, [1, 4, 5, 5])], {}, { name: 'relu' });
  const a = n.b.op('Relu', [n.conv('convA', x, 4, 4, 3)], {}, { name: 'reluA' });
  const sum = n.b.op('Add', [x, n.conv('convB', a, 4, 4, 3)], {}, { name: 'add' });
  n.b.op('Add', [sum, a], {}, { name: 'tap' }); // reads the branch's inner value
  const model = n.finish('tap_out');
  const blocks = findResidualBlocks(model);
  const add = blocks.find((b) => b.add === 'add')!;
  assert.equal(add.removable, false);
  assert.match(add.reason!, /branch value 'reluA_out' is also read by node 'tap'/);
  assertOneLine(() => pruneBlocks(model, { count: 1 }), /no removable residual block: no Add with an identity shortcut that can be removed .*'add': branch value/);
});

test('errors: too many blocks, ratio out of range, no residual block, bad options', () => {
  const model = resnet('resnet-8');
  assertOneLine(() => pruneBlocks(model, { count: 2 }), /cannot remove 2 blocks: the model has 1 removable residual block$/);
  assertOneLine(() => pruneBlocks(model, { ratio: 1 }), /ratio 1 must be in \[0, 1\)/);
  assertOneLine(() => pruneBlocks(model, { ratio: -0.1 }), /ratio -0.1 must be in \[0, 1\)/);
  assertOneLine(() => pruneBlocks(model, {}), /exactly one of count and ratio/);
  assertOneLine(() => pruneBlocks(model, { count: 1, ratio: 0.5 }), /exactly one of count and ratio/);
  assertOneLine(() => pruneBlocks(model, { count: 1, exclude: ['nothing*'] }), /exclude pattern 'nothing\*' matches no residual block/);
  assertOneLine(() => pruneBlocks(model, { count: 1, exclude: ['layer1.*'] }), /has 0 removable residual blocks, 1 more excluded/);
  assertOneLine(() => pruneBlocks(model, { count: 1, scores: new Map() }), /no score for residual block 'layer1.0.add'/);
  const lenet = buildArch('lenet-5');
  assert.deepEqual(findResidualBlocks(lenet), []);
  assertOneLine(() => pruneBlocks(lenet, { count: 1 }), /no removable residual block: no Add with an identity shortcut was found$/);
});

test('blockSensitivity removes each block alone; its scores remove the block that matters least', async () => {
  const model = resnet('resnet-20');
  for (const name of ['scale', 'bias', 'running_mean']) setZeros(model, `layer3.2.bn2.${name}`);
  const feeds = randomInputs(model, { batch: 2, seed: 5 });
  const reference = await outputOf(model, feeds);
  // Fidelity: minus the largest output change (0 for an exact removal, higher is better).
  const sensitivity = await blockSensitivity(model, async (m) => -maxAbsDifference(await outputOf(m, feeds), reference));
  assert.deepEqual(sensitivity.map((s) => s.add), findResidualBlocks(model).filter((b) => b.removable).map((b) => b.add));
  const best = sensitivity.reduce((p, q) => (q.metric > p.metric ? q : p));
  assert.equal(best.add, 'layer3.2.add');
  assert.ok(best.metric > -1e-5);
  assert.ok(sensitivity.filter((s) => s !== best).every((s) => s.metric < -1e-3));
  const { report } = pruneBlocks(model, { count: 1, scores: sensitivityScores(sensitivity) });
  assert.equal(report.criterion, 'scores');
  assert.deepEqual(report.blocks.filter((b) => b.removed).map((b) => b.add), ['layer3.2.add']);
});
