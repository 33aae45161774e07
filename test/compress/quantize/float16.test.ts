// float16 conversion (computing in float16, casts where float32 regions meet) and bfloat16 storage, run in
// onnxruntime-node and onnxruntime-web.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { encodeModel } from '../../../src/core/codec.js';
import { DataType, bfloat16BitsToNumber, numberToBfloat16Bits, numberToFloat16Bits } from '../../../src/core/dtype.js';
import { Graph, Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { loadModel } from '../../../src/node/io.js';
import { constantsToInitializers } from '../../../src/core/weights.js';
import { convertFloat16 } from '../../../src/compress/quantize/float16.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { maxAbs, maxDiff, runInBothRuntimes } from '../../helpers/compare.js';

/** Feeds converted to the types the model declares (float16 inputs get float16 bits). */
function feedsFor(model: Model, feeds: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const v of model.graph.inputs) {
    const t = feeds[v.name];
    if (!t) continue;
    const type = v.type?.kind === 'tensor' ? v.type.elemType : DataType.FLOAT;
    out[v.name] = type === DataType.FLOAT16 ? new Tensor(v.name, DataType.FLOAT16, t.dims, Uint16Array.from(t.toFloat32(), numberToFloat16Bits)) : t;
  }
  return out;
}

async function runBoth(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>[]> {
  return runInBothRuntimes(model, feedsFor(model, feeds));
}

function opCount(graph: Graph, op: string): number {
  return graph.nodes.filter((n) => n.opType === op).length;
}

// Each float16 op rounds its result to 11 significant bits (relative 2^-11 ≈ 4.9e-4; onnxruntime computes ops it
// has no float16 kernel for in float32 and rounds the result), and weights are rounded the same way. A chain of L
// ops stays within about L · 2^-11 of the output range; the fixtures have at most 21 ops, 10 on any path to the
// output, so 1% of the output range bounds them (measured 0.03% to 0.05%).
const FP16_TOLERANCE = 1e-2;

test('fixtures in float16 with float32 or float16 inputs and outputs, in both runtimes', async () => {
  for (const file of ['mlp.onnx', 'resnet_small.onnx', 'dwconv.onnx', 'mlp_opset9_constants.onnx']) {
    const model = await loadModel(fixture(file));
    const before = encodeModel(model).bytes;
    const feeds = randomInputs(model, { batch: 2, seed: 6 });
    const reference = Object.values((await runBoth(model, feeds))[0]!)[0]!.toFloat32();
    for (const keepIoFloat32 of [true, false]) {
      const { model: half, report } = convertFloat16(model, { keepIoFloat32 });
      validateModel(half);
      assert.equal(report.bytesAfter * 2, report.bytesBefore);
      assert.equal(report.keptNodes.length, 0);
      assert.equal(report.castsInserted, keepIoFloat32 ? 2 : 0, file);
      const io = [...half.graph.inputs, ...half.graph.outputs].map((v) => (v.type?.kind === 'tensor' ? v.type.elemType : undefined));
      assert.ok(io.every((t) => t === (keepIoFloat32 ? DataType.FLOAT : DataType.FLOAT16)));
      for (const t of half.graph.initializers.values()) assert.notEqual(t.dataType, DataType.FLOAT, `${file}: ${t.name} still float32`);
      for (const outputs of await runBoth(half, feeds)) {
        const y = Object.values(outputs)[0]!;
        assert.equal(y.dataType, keepIoFloat32 ? DataType.FLOAT : DataType.FLOAT16);
        assert.ok(maxDiff(y.toFloat32(), reference) <= FP16_TOLERANCE * maxAbs(reference), `${file} ${keepIoFloat32}: ${maxDiff(y.toFloat32(), reference)}`);
      }
    }
    assert.deepEqual(encodeModel(model).bytes, before, 'the input model is unchanged');
  }
});

test('kept ops and nodes, Resize scales, Cast, ConstantOfShape, shared outputs and subgraphs get the right casts', async () => {
  const random = seededRandom(2);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
  const cond = b.input('cond', DataType.BOOL, []);
  const w = b.floats('w', [2, 2, 3, 3], Float32Array.from({ length: 36 }, () => random() - 0.5));
  const conv = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const soft = b.op('Softmax', [conv], { axis: 1 }, { name: 'keep_me' });
  const up = b.op('Resize', [soft, '', b.floats('scales', [4], [1, 1, 2, 2])], { mode: 'nearest' }, { name: 'resize' });
  const asFloat = b.op('Cast', [b.op('Shape', [up])], { to: DataType.FLOAT }, { name: 'shape_as_float' });
  const filled = b.op('ConstantOfShape', [b.int64s('two', [2])], { value: Tensor.fromFloat32('v', [1], [0.5]) }, { name: 'fill' });
  const sum = b.op('ReduceSum', [asFloat], { keepdims: 0 });
  const scaled = b.op('Mul', [sum, b.op('ReduceSum', [filled], { keepdims: 0 })], {}, { name: 'scaled' });
  // An If whose branches read the float16 value `conv` from the enclosing graph.
  const branch = (op: string) => {
    const g = new GraphBuilder();
    g.graph.name = `${op}_branch`;
    g.output(g.op(op, [conv], {}, { output: `${op}_out` }), DataType.FLOAT);
    return g.graph;
  };
  const chosen = b.op('If', [cond], { then_branch: branch('Neg'), else_branch: branch('Abs') }, { name: 'if' });
  const y = b.op('Add', [chosen, conv], {}, { name: 'add', output: 'y' });
  b.output(y, DataType.FLOAT);
  b.output(up, DataType.FLOAT); // a graph output that other nodes also read
  b.output(b.op('Mul', [scaled, b.floats('k', [], [floatAttr(1.5).value])], {}, { output: 'z' }), DataType.FLOAT);
  const model = modelOf(b.graph, { '': 17 });
  const feeds = { x: Tensor.fromFloat32('x', [1, 2, 4, 4], Float32Array.from({ length: 32 }, () => random() * 2 - 1)), cond: new Tensor('cond', DataType.BOOL, [], Uint8Array.from([1])) };
  const [reference] = await runBoth(model, feeds);

  const { model: half, report } = convertFloat16(model, { keepIoFloat32: true, keepNodes: ['keep_*'] });
  validateModel(half);
  assert.deepEqual(report.keptNodes.map((k) => [k.node, k.reason]), [['keep_me', "kept by 'keep_*'"], ['if', 'has subgraphs, which are left in float32']]);
  const g = half.graph;
  const node = (name: string) => g.nodes.find((n) => n.name === name)!;
  assert.equal(g.initializers.get('scales')!.dataType, DataType.FLOAT, 'Resize scales stay float32');
  assert.equal(g.initializers.get('w')!.dataType, DataType.FLOAT16);
  assert.equal(node('shape_as_float').int('to'), DataType.FLOAT16);
  assert.equal(node('fill').tensor('value')!.dataType, DataType.FLOAT16);
  // The kept Softmax reads float32 (a Cast from the float16 Conv) and its output is cast back for Resize.
  const softInput = g.producers().get(node('keep_me').inputs[0]!)!;
  assert.equal(softInput.opType, 'Cast');
  assert.equal(softInput.int('to'), DataType.FLOAT);
  assert.equal(g.producers().get(node('resize').inputs[0]!)!.int('to'), DataType.FLOAT16);
  // The branches read a float32 copy of `conv`.
  const thenReads = node('if').subgraphs()[0]!.nodes[0]!.inputs[0]!;
  assert.notEqual(thenReads, conv);
  assert.equal(g.producers().get(thenReads)!.int('to'), DataType.FLOAT);
  for (const outputs of await runBoth(half, feeds)) {
    for (const name of ['y', up, 'z']) {
      assert.equal(outputs[name]!.dataType, DataType.FLOAT, name);
      const r = reference![name]!.toFloat32();
      assert.ok(maxDiff(outputs[name]!.toFloat32(), r) <= FP16_TOLERANCE * maxAbs(r), `${name}: ${maxDiff(outputs[name]!.toFloat32(), r)}`);
    }
  }
  const keptSoftmax = convertFloat16(model, { keepOps: ['Softmax'] }).report.keptNodes[0]!;
  assert.deepEqual([keptSoftmax.node, keptSoftmax.reason], ['keep_me', 'op kept by keepOps']);
});

test('a graph of common ops (some without float16 CPU kernels, some without nnzip shape rules) runs in float16', async () => {
  const random = seededRandom(1);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 8, 16]);
  let h = b.op('MatMul', [x, b.floats('w', [16, 16], Float32Array.from({ length: 256 }, () => random() - 0.5))]);
  h = b.op('LayerNormalization', [h, b.floats('gamma', [16], Array(16).fill(1)), b.floats('beta', [16], Array(16).fill(0))], { axis: -1 });
  const erf = b.op('Erf', [b.op('Div', [h, b.floats('sqrt2', [], [Math.SQRT2])])]);
  h = b.op('Mul', [b.op('Mul', [h, b.floats('half', [], [0.5])]), b.op('Add', [erf, b.floats('one', [], [floatAttr(1).value])])]);
  h = b.op('Softmax', [h], { axis: -1 });
  h = b.op('Reshape', [b.op('Transpose', [h], { perm: [0, 2, 1] }), b.int64s('shape', [2, 16, 2, 4])]);
  h = b.op('Resize', [h, '', b.floats('scales', [4], [1, 1, 2, 2])], { mode: 'linear' });
  h = b.op('Pad', [h, b.int64s('pads', [0, 0, 1, 1, 0, 0, 1, 1]), b.floats('pad_value', [], [0.25])]);
  h = b.op('Sub', [h, b.op('ReduceMean', [h, b.int64s('axes', [2, 3])], { keepdims: 1 })]);
  h = b.op('Where', [b.op('Greater', [h, b.floats('zero', [], [0])]), b.op('Sigmoid', [h]), b.op('Tanh', [h])]);
  h = b.op('Pow', [b.op('Abs', [h]), b.floats('p', [], [1.5])]);
  h = b.op('Gather', [b.op('Concat', [h, b.op('Sqrt', [h])], { axis: 1 }), b.int64s('idx', [0, 3, 5])], { axis: 1 });
  h = b.op('AveragePool', [b.op('MaxPool', [h], { kernel_shape: [2, 2] })], { kernel_shape: [2, 2] });
  h = b.op('CumSum', [b.op('Clip', [h, b.floats('lo', [], [0]), b.floats('hi', [], [0.9])]), b.int64s('axis', [3], [])]);
  b.output(b.op('Max', [h, b.op('Min', [h, b.floats('c', [], [0.5])])], {}, { output: 'y' }), DataType.FLOAT);
  const model = modelOf(b.graph, { '': 18 });
  const feeds = { x: Tensor.fromFloat32('x', [2, 8, 16], Float32Array.from({ length: 256 }, () => random() * 2 - 1)) };
  const reference = (await runBoth(model, feeds))[0]!.y!.toFloat32();
  const { model: half, report } = convertFloat16(model, { keepIoFloat32: true });
  assert.equal(report.keptNodes.length, 0);
  assert.equal(half.graph.initializers.get('scales')!.dataType, DataType.FLOAT);
  for (const outputs of await runBoth(half, feeds)) {
    assert.ok(maxDiff(outputs.y!.toFloat32(), reference) <= FP16_TOLERANCE * maxAbs(reference), `${maxDiff(outputs.y!.toFloat32(), reference)}`);
  }
});

test('weights beyond the float16 range are refused or clamped; tiny values flushing to zero are reported', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 3]);
  const values = [70000, 1, -2, 1e-9, 3e-8, 0.5, ...Array(12).fill(0.25)];
  b.output(b.op('MatMul', [x, b.floats('big', [3, 6], values)], {}, { output: 'y' }), DataType.FLOAT);
  const model = modelOf(b.graph, { '': 13 });
  assert.throws(() => convertFloat16(model), /weight 'big' holds 70000 at index 0, outside the float16 range \(±65504\)/);
  const { model: half, report } = convertFloat16(model, { outOfRange: 'clamp', keepIoFloat32: true });
  assert.deepEqual(report.clamped, [{ tensor: 'big', count: 1 }]);
  // 1e-9 is below half the smallest float16 subnormal (2^-25 ≈ 3e-8) and becomes 0; 3e-8 rounds up to 2^-24.
  assert.deepEqual(report.flushedToZero, [{ tensor: 'big', count: 1 }]);
  assert.deepEqual(half.graph.initializers.get('big')!.toNumbers().slice(0, 5), [65504, 1, -2, 0, 2 ** -24]);
  for (const outputs of await runBoth(half, { x: Tensor.fromFloat32('x', [1, 3], [1, 0, 0]) })) {
    assert.deepEqual([...outputs.y!.toFloat32()], [65504, 1, -2, 0, 2 ** -24, 0.5]);
  }
  // bfloat16 has float32's range: nothing to clamp.
  assert.equal(convertFloat16(model, { type: 'bfloat16' }).report.clamped.length, 0);
});

test('bfloat16 storage: weights stored bfloat16 behind a Cast; outputs equal the float32 model with bfloat16-rounded weights', async () => {
  for (const file of ['mlp.onnx', 'resnet_small.onnx', 'mlp_opset9_constants.onnx']) {
    const model = await loadModel(fixture(file));
    const { model: stored, report } = convertFloat16(model, { type: 'bfloat16' });
    validateModel(stored);
    assert.equal(report.type, 'bfloat16');
    assert.equal(report.castsInserted, report.convertedTensors);
    assert.equal(report.bytesAfter * 2, report.bytesBefore);
    const bf16 = [...stored.graph.initializers.values()].filter((t) => t.dataType === DataType.BFLOAT16);
    assert.equal(bf16.length, report.convertedTensors);
    // The float simulation: the original graph (Constant nodes made initializers, as the pass does) with every
    // converted weight rounded to bfloat16, run in float32.
    const rounded = constantsToInitializers(model);
    for (const t of bf16) {
      const name = t.name.replace(/_bf16$/, '');
      const values = Float32Array.from(t.toNumbers());
      assert.ok([...values].every((v) => bfloat16BitsToNumber(numberToBfloat16Bits(v)) === v));
      rounded.graph.initializers.set(name, Tensor.fromFloat32(name, rounded.graph.initializers.get(name)!.dims, values));
    }
    const feeds = randomInputs(model, { batch: 2, seed: 3 });
    const expected = Object.values((await runBoth(rounded, feeds))[0]!)[0]!.toFloat32();
    // Same float32 arithmetic on the same weights: only summation order may differ.
    const tolerance = 1e-5 * maxAbs(expected);
    for (const outputs of await runBoth(stored, feeds)) {
      const y = Object.values(outputs)[0]!;
      assert.equal(y.dataType, DataType.FLOAT);
      assert.ok(maxDiff(y.toFloat32(), expected) <= tolerance, `${file}: ${maxDiff(y.toFloat32(), expected)}`);
    }
  }
});

test('bad input: types, patterns matching nothing, models already in float16, NaN weights', async () => {
  const model = await loadModel(fixture('mlp.onnx'));
  assert.throws(() => convertFloat16(model, { type: 'float8' as 'float16' }), /type 'float8' is not supported/);
  assert.throws(() => convertFloat16(model, { keepNodes: ['/nothing/*'] }), /keep pattern '\/nothing\/\*' matches no node/);
  assert.throws(() => convertFloat16(convertFloat16(model).model), /no float32 computation to convert/);
  assert.throws(() => convertFloat16(convertFloat16(model, { type: 'bfloat16' }).model, { type: 'bfloat16' }), /no float32 weights to store/);
  const broken = model.clone();
  const w = broken.graph.initializers.get('fc1.bias')!;
  broken.graph.initializers.set('fc1.bias', Tensor.fromFloat32('fc1.bias', w.dims, w.toFloat32().map((v, i) => (i === 5 ? Infinity : v))));
  assert.throws(() => convertFloat16(broken), /weight 'fc1.bias' holds Infinity at index 5/);
});
