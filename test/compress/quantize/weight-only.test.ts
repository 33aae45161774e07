import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { encodeModel } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { constantsToInitializers } from '../../../src/core/weights.js';
import { loadModel } from '../../../src/node/io.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import type { Runtime } from '../../../src/runtime/session.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { Granularity, dequantizeArray, quantizeArray } from '../../../src/compress/quantize/arithmetic.js';
import { assertFiniteWeights, assertNotQuantized } from '../../../src/compress/quantize/checks.js';
import { WeightQuantizationOptions, quantizeWeights } from '../../../src/compress/quantize/weight-only.js';
import { fixture } from '../../fixtures/fixtures.js';

// ---------------------------------------------------------------------------------------------------------------
// The float simulation: the quantized model's dequantizing nodes evaluated here, with the shared arithmetic
// (dequantizeArray) and Tensor.at for unpacking, and put back as plain float initializers.

interface Value { dims: number[]; data: number[] }

function broadcastMul(a: Value, b: Value): Value {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...Array(rank - d.length).fill(1), ...d];
  const [da, db] = [pad(a.dims), pad(b.dims)];
  const dims = da.map((x, i) => Math.max(x, db[i]!));
  const size = dims.reduce((x, y) => x * y, 1);
  const index = (d: number[], flat: number) => {
    let i = 0, rest = flat, stride = 1;
    const coords = dims.map((n) => 0 * n);
    for (let k = rank - 1; k >= 0; k--) { coords[k] = rest % dims[k]!; rest = Math.floor(rest / dims[k]!); }
    for (let k = rank - 1; k >= 0; k--) { i += (d[k] === 1 ? 0 : coords[k]!) * stride; stride *= d[k]!; }
    return i;
  };
  const data = Array.from({ length: size }, (_, f) => Math.fround(a.data[index(da, f)]! * b.data[index(db, f)]!));
  return { dims, data };
}

function floatSimulation(quantized: Model): Model {
  const m = quantized.clone();
  const g = m.graph;
  const computed = new Map<string, Value>();
  const valueOf = (name: string): Value | undefined => {
    if (computed.has(name)) return computed.get(name);
    const t = g.initializers.get(name);
    return t ? { dims: [...t.dims], data: t.toNumbers() } : undefined;
  };
  const kept: Node[] = [];
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => (i ? valueOf(i) : undefined));
    const constant = n.inputs.every((i, k) => !i || ins[k]);
    const out = n.outputs[0]!;
    if (constant && n.opType === 'DequantizeLinear') {
      const [x, s, z] = ins as [Value, Value, Value | undefined];
      const axis = n.int('axis', 1), blockSize = n.int('block_size', 0);
      const gran: Granularity = s.dims.length === 0 ? { kind: 'tensor' } : blockSize ? { kind: 'block', axis, blockSize } : { kind: 'channel', axis };
      const values = dequantizeArray({
        values: Int32Array.from(x.data), scales: Float32Array.from(s.data),
        zeroPoints: z ? Int32Array.from(z.data) : new Int32Array(s.data.length), paramDims: s.dims,
      }, x.dims, gran);
      computed.set(out, { dims: x.dims, data: [...values] });
    } else if (constant && n.opType === 'Reshape') {
      computed.set(out, { dims: ins[1]!.data, data: ins[0]!.data });
    } else if (constant && n.opType === 'Cast') {
      computed.set(out, { dims: ins[0]!.dims, data: ins[0]!.data.map((v) => (n.int('to') === DataType.FLOAT ? Math.fround(v) : v)) });
    } else if (constant && n.opType === 'Gather') {
      assert.equal(n.int('axis', 0), 0);
      computed.set(out, { dims: ins[1]!.dims, data: ins[1]!.data.map((i) => ins[0]!.data[i]!) });
    } else if (constant && n.opType === 'Mul') {
      computed.set(out, broadcastMul(ins[0]!, ins[1]!));
    } else {
      kept.push(n);
    }
  }
  g.nodes = kept;
  const read = new Set(kept.flatMap((n) => n.inputs));
  for (const [name, v] of computed) if (read.has(name)) g.initializers.set(name, Tensor.fromFloat32(name, v.dims, v.data));
  g.removeDeadNodes();
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

async function outputsOf(runtime: Runtime, model: Model, feeds: Record<string, Tensor>, level: 'basic' | 'all' = 'all'): Promise<Float32Array> {
  const session = await runtime.createSession(model, { threads: 1, graphOptimizationLevel: level });
  try {
    return Object.values(await session.run(feeds))[0]!.toFloat32();
  } finally {
    await session.release();
  }
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * Asserts the quantized model's outputs equal its float simulation's in onnxruntime-node and -web (1e-5 relative).
 * onnxruntime-node runs at the 'basic' optimization level here: from 'extended' up it rewrites DequantizeLinear +
 * MatMul/Gemm into MatMulNBits with accuracy_level 4, which quantizes the activations to int8 as well (about 1%
 * output error; session option session.qdq_matmulnbits_accuracy_level=0 keeps it float). That rewrite is checked
 * against a looser bound. onnxruntime-web does not rewrite.
 */
async function assertMatchesSimulation(quantized: Model, feeds: Record<string, Tensor>, what: string): Promise<Model> {
  const simulation = floatSimulation(quantized);
  assert.ok(!simulation.graph.nodes.some((n) => n.opType === 'DequantizeLinear' || n.opType === 'Gather'), `${what}: simulation left dequantizing nodes`);
  const expected = await outputsOf(nodeRuntime, simulation, feeds);
  const scale = Math.max(1, maxAbs(expected));
  for (const [runtime, level] of [[nodeRuntime, 'basic'], [webRuntime, 'all']] as const) {
    const worst = maxDifference(await outputsOf(runtime, quantized, feeds, level), expected);
    assert.ok(worst <= 1e-5 * scale, `${what} in ${runtime.name}: max |quantized - simulation| = ${worst} > ${1e-5 * scale}`);
  }
  const rewritten = maxDifference(await outputsOf(nodeRuntime, quantized, feeds, 'all'), expected);
  assert.ok(rewritten <= 3e-2 * scale, `${what} in onnxruntime-node at level 'all': ${rewritten}`);
  return simulation;
}

/** MatMul with a [70, 40] weight (K not a multiple of 32), then Gemm (transB=0, alpha, beta) with a [40, 24] weight. */
function matmulGemmModel(): Model {
  const random = seededRandom(11);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 70]);
  const w1 = b.floats('w1', [70, 40], Array.from({ length: 2800 }, (_, i) => (random() - 0.5) * (1 + (i % 40) / 10)));
  const h = b.op('Relu', [b.op('MatMul', [x, w1], {}, { name: 'mm' })]);
  const w2 = b.floats('w2', [40, 24], Array.from({ length: 960 }, () => random() - 0.3));
  const c = b.floats('c', [24], Array.from({ length: 24 }, () => random()));
  b.output(b.op('Gemm', [h, w2, c], { alpha: floatAttr(0.7), beta: floatAttr(1.3) }, { name: 'gemm', output: 'y' }), DataType.FLOAT, ['batch', 24]);
  return modelOf(b.graph);
}

const CASES: [string, WeightQuantizationOptions][] = [
  ['int8 per tensor', { granularity: 'tensor' }],
  ['int8 per channel', {}],
  ['int4 block 32', { bits: 4, granularity: { block: 32 } }],
  ['int4 block 32, float16 scales', { bits: 4, granularity: { block: 32 }, scaleType: 'float16' }],
  ['3 bits per channel', { bits: 3 }],
  ['2 bits block 16', { bits: 2, granularity: { block: 16 } }],
  ['uint8 asymmetric per channel', { symmetric: false }],
  ['int8 asymmetric per channel', { symmetric: false, signed: true }],
  ['uint4 asymmetric block 32', { bits: 4, symmetric: false, granularity: { block: 32 } }],
  ['6 bits unsigned symmetric', { bits: 6, signed: false }],
  ['log2 4 bits per channel', { levels: 'log2', bits: 4 }],
  ['log2 5 bits per tensor', { levels: 'log2', bits: 5, granularity: 'tensor' }],
];

test('QDQ outputs equal the float simulation in onnxruntime-node and -web, and the report error is the simulated one', async () => {
  for (const [label, model] of [['lenet-300-100', buildArch('lenet-300-100')], ['matmul+gemm', matmulGemmModel()]] as const) {
    const feeds = randomInputs(model, { batch: 3, seed: 5 });
    for (const [name, options] of CASES) {
      const what = `${label}, ${name}`;
      const { model: q, report } = await quantizeWeights(model, options);
      assert.equal(report.weights.length, 3 - (label === 'matmul+gemm' ? 1 : 0), `${what}: weights quantized`);
      const simulation = await assertMatchesSimulation(q, feeds, what);
      for (const w of report.weights) {
        const original = model.graph.initializers.get(w.name)!.toFloat32();
        const simulated = simulation.graph.initializers.get(w.name)!.toFloat32();
        let err = 0;
        for (let i = 0; i < original.length; i++) err = Math.max(err, Math.abs(original[i]! - simulated[i]!));
        assert.equal(w.maxAbsError, err, `${what}: report error of ${w.name}`);
        assert.ok(w.bytesAfter < w.bytesBefore, `${what}: ${w.name} shrank`);
        // A weight is within one quantization step of its original (half a step for uniform levels).
        assert.ok(err < 0.6 * maxAbs(original), `${what}: ${w.name} error ${err}`);
      }
    }
  }
});

test('the fast quantizer gives exactly the shared arithmetic (quantizeArray) values and scales', async () => {
  const lenet = buildArch('lenet-300-100');
  const { model: q8 } = await quantizeWeights(lenet, {});
  const w = lenet.graph.initializers.get('fc1.weight')!;
  const ref = quantizeArray(w.toFloat32(), w.dims, { bits: 8, signed: true, symmetric: true, granularity: { kind: 'channel', axis: 0 } });
  assert.deepEqual(q8.graph.initializers.get('fc1.weight_quantized')!.toNumbers(), [...ref.values]);
  assert.deepEqual([...q8.graph.initializers.get('fc1.weight_scale')!.toFloat32()], [...ref.scales]);
  const dq = q8.graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.outputs[0] === 'fc1.weight')!;
  assert.equal(dq.int('axis'), 0, 'Gemm transB=1: output channels on axis 0');

  const mm = matmulGemmModel();
  const { model: q4 } = await quantizeWeights(mm, { bits: 4, symmetric: false, granularity: { block: 32 } });
  const w1 = mm.graph.initializers.get('w1')!;
  const ref4 = quantizeArray(w1.toFloat32(), w1.dims, { bits: 4, signed: false, granularity: { kind: 'block', axis: 0, blockSize: 32 } });
  assert.deepEqual(q4.graph.initializers.get('w1_quantized')!.toNumbers(), [...ref4.values]);
  assert.deepEqual(q4.graph.initializers.get('w1_zero_point')!.toNumbers(), [...ref4.zeroPoints]);
  assert.deepEqual([...q4.graph.initializers.get('w1_zero_point')!.dims], [3, 40], 'MatMul [K,N]: blocks along K (axis 0)');
  const dq4 = q4.graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.outputs[0] === 'w1')!;
  assert.deepEqual([dq4.int('axis'), dq4.int('block_size')], [0, 32]);
  const { model: qc } = await quantizeWeights(mm, {});
  const dqGemm = qc.graph.nodes.find((n) => n.opType === 'DequantizeLinear' && n.outputs[0] === 'w2')!;
  assert.equal(dqGemm.int('axis'), 1, 'Gemm transB=0: output channels on axis 1');
});

test('lenet-300-100 files shrink about 4x at int8 and about 7x at int4 block 32 (encodeModel bytes)', async (t) => {
  const model = buildArch('lenet-300-100');
  const before = encodeModel(model).bytes.length;
  const ratio = async (options: WeightQuantizationOptions) => before / encodeModel((await quantizeWeights(model, options)).model).bytes.length;
  const int8 = await ratio({});
  const int4 = await ratio({ bits: 4, granularity: { block: 32 } });
  const int4f16 = await ratio({ bits: 4, granularity: { block: 32 }, scaleType: 'float16' });
  t.diagnostic(`fp32 ${before} bytes; int8 per channel ${int8.toFixed(2)}x; int4 block 32: ${int4.toFixed(2)}x with float32 scales, ${int4f16.toFixed(2)}x with float16 scales`);
  assert.ok(int8 > 3.8 && int8 < 4.05, `int8 ${int8}`);
  // int4 + one float32 scale per 32 weights is 5 bits a weight (6.4x at best); float16 scales make it 4.5 (7.1x).
  assert.ok(int4 > 6.0, `int4 float32 scales ${int4}`);
  assert.ok(int4f16 > 6.8, `int4 float16 scales ${int4f16}`);
});

test('exclude patterns, op selection, minElements and per-weight bit widths', async () => {
  const model = buildArch('lenet-300-100');
  const { model: q, report } = await quantizeWeights(model, { exclude: ['fc1*', 'fc3'] });
  assert.deepEqual(report.weights.map((w) => w.name), ['fc2.weight']);
  assert.deepEqual(report.skipped.map((s) => [s.name, s.reason]), [
    ['fc1.weight', "excluded by pattern 'fc1*'"], ['fc3.weight', "excluded by pattern 'fc3'"],
  ]);
  assert.equal(q.graph.initializers.get('fc1.weight')!.dataType, DataType.FLOAT);
  assert.equal(q.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').length, 1);
  // Per-weight bit widths (mixed precision) override `bits`; MatMulNBits falls back to QDQ for widths it lacks.
  const mixed = await quantizeWeights(model, { bits: 8, bitsByWeight: { 'fc1.weight': 4, 'fc3.weight': 3 } });
  assert.deepEqual(mixed.report.weights.map((w) => [w.name, w.bits, w.storage]), [['fc1.weight', 4, 'int4'], ['fc2.weight', 8, 'int8'], ['fc3.weight', 3, 'int4']]);
  await assertMatchesSimulation(mixed.model, randomInputs(model, { batch: 2, seed: 9 }), 'bitsByWeight');
  const mixedNBits = await quantizeWeights(model, { format: 'nbits', bits: 4, bitsByWeight: { 'fc2.weight': 3, 'fc3.weight': 8 } });
  assert.deepEqual(mixedNBits.report.weights.map((w) => [w.name, w.bits, w.format]), [['fc1.weight', 4, 'nbits'], ['fc2.weight', 3, 'qdq'], ['fc3.weight', 8, 'nbits']]);
  assert.match(mixedNBits.report.weights[1]!.note!, /MatMulNBits takes 2, 4, 8 bits, not 3/);
  await assert.rejects(quantizeWeights(model, { bitsByWeight: { 'fc9.weight': 4 } }), /bitsByWeight names 'fc9.weight', which is not a weight of the model/);
  await assert.rejects(quantizeWeights(model, { bitsByWeight: { 'fc1.weight': 1 } }), /bitsByWeight: 1-bit quantization of 'fc1.weight' is not supported/);

  const small = await quantizeWeights(model, { minElements: 1001 });
  assert.deepEqual(small.report.skipped.map((s) => s.reason), ['1000 elements, fewer than minElements 1001']);
  // A weight shared by two MatMuls is quantized once and both read the dequantized value; a 1-D weight has no channels.
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 20]);
  const shared = b.floats('shared', [20, 20], Array.from({ length: 400 }, (_, i) => Math.sin(i)));
  const v = b.floats('v', [20], Array.from({ length: 20 }, (_, i) => Math.cos(i)));
  const h = b.op('MatMul', [b.op('MatMul', ['x', shared], {}, { name: 'first' }), shared], {}, { name: 'second' });
  b.output(b.op('MatMul', [h, v], {}, { name: 'dot', output: 'y' }), DataType.FLOAT);
  const sharedModel = modelOf(b.graph);
  const sq = await quantizeWeights(sharedModel, {});
  assert.deepEqual(sq.report.weights.map((w) => [w.name, w.granularity]), [['shared', 'channel'], ['v', 'tensor']]);
  assert.equal(sq.model.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').length, 2);
  await assertMatchesSimulation(sq.model, randomInputs(sharedModel, { seed: 1 }), 'shared weight');
  const excluded = await quantizeWeights(sharedModel, { exclude: ['second'] });
  assert.deepEqual(excluded.report.weights.map((w) => w.name), ['v'], 'excluding one reader keeps the shared weight float');

  const lenet5 = buildArch('lenet-5');
  const convOnly = await quantizeWeights(lenet5, { ops: ['Conv'] });
  assert.deepEqual(convOnly.report.weights.map((w) => w.name), ['conv1.weight', 'conv2.weight']);
  assert.equal(model.graph.nodes.length, 6, 'the input model is unchanged');
  assert.equal(model.graph.initializers.get('fc1.weight')!.dataType, DataType.FLOAT);
});

test('quantized models, NaN/Inf weights and bad options are refused with one-line errors', async () => {
  const model = buildArch('lenet-300-100');
  const { model: q } = await quantizeWeights(model, {});
  await assert.rejects(quantizeWeights(q, {}), /^QuantizationError: model is already quantized: node 'fc1.weight_DequantizeLinear' \(DequantizeLinear\)$/);
  const { model: nb } = await quantizeWeights(model, { format: 'nbits', bits: 4 });
  assert.throws(() => assertNotQuantized(nb), /model is already quantized: node 'fc1' \(MatMulNBits\)/);
  // An integer weight feeding MatMul (through a Cast) is a quantized weight too.
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2]);
  const w = b.initializer(new Tensor('w8', DataType.INT8, [2, 2], Int8Array.from([1, 2, 3, 4])));
  b.output(b.op('MatMul', [x, b.op('Cast', [w], { to: DataType.FLOAT })], {}, { name: 'mm' }));
  assert.throws(() => assertNotQuantized(modelOf(b.graph)), /^QuantizationError: model is already quantized: node 'mm' \(MatMul\) reads integer weight 'w8' \(int8\)$/);

  const bad = model.clone();
  const data = bad.graph.initializers.get('fc2.weight')!.toFloat32().slice();
  data[7] = NaN;
  bad.graph.initializers.set('fc2.weight', Tensor.fromFloat32('fc2.weight', [100, 300], data));
  await assert.rejects(quantizeWeights(bad, {}), /^QuantizationError: weight 'fc2.weight' holds NaN at index 7: weights must be finite to be quantized$/);
  data[7] = 0;
  data[12] = -Infinity;
  assert.throws(() => assertFiniteWeights(bad), /weight 'fc2.weight' holds -Infinity at index 12/);

  await assert.rejects(quantizeWeights(model, { bits: 9 }), /9-bit quantization is not supported: bit widths are 2 to 8/);
  await assert.rejects(quantizeWeights(model, { granularity: { block: 24 } }), /block size 24 is not supported: blocks are a power of two from 16 to 256/);
  await assert.rejects(quantizeWeights(model, { levels: 'log2', granularity: { block: 32 } }), /levels 'log2' take 'tensor' or 'channel' granularity/);
  await assert.rejects(quantizeWeights(model, { rounding: 'gptq' }), /rounding 'gptq' needs calibration feeds/);
  await assert.rejects(quantizeWeights(model, { ops: ['Gather'] }), /op 'Gather' is not one weight-only quantization handles/);
});

test('Conv models: lenet-5, the PyTorch resnet_small export, and Constant-node weights at opset 9', async () => {
  const lenet5 = buildArch('lenet-5');
  const feeds5 = randomInputs(lenet5, { batch: 2, seed: 3 });
  for (const [name, options] of [
    ['int8 per channel', {}], ['int4 block 32', { bits: 4, granularity: { block: 32 } }], ['log2 4 bits', { levels: 'log2', bits: 4 }],
  ] as [string, WeightQuantizationOptions][]) {
    const { model: q, report } = await quantizeWeights(lenet5, options);
    assert.equal(report.weights.length, 4);
    await assertMatchesSimulation(q, feeds5, `lenet-5 ${name}`);
  }
  // Block-wise Conv weights are stored [M, C·kh·kw] and reshaped back after DequantizeLinear.
  const { model: blocks } = await quantizeWeights(lenet5, { bits: 4, granularity: { block: 32 } });
  assert.deepEqual([...blocks.graph.initializers.get('conv2.weight_quantized')!.dims], [50, 500]);
  assert.deepEqual([...blocks.graph.initializers.get('conv2.weight_scale')!.dims], [50, 16]);
  assert.ok(blocks.graph.nodes.some((n) => n.opType === 'Reshape' && n.outputs[0] === 'conv2.weight'));

  // ConvTranspose (output channels on axis 1, blocks along input channels) and a grouped Conv stored flattened.
  const random = seededRandom(8);
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 32, 5, 5]);
  const wt = b.floats('wt', [32, 6, 3, 3], Array.from({ length: 32 * 54 }, () => random() - 0.5));
  const up = b.op('ConvTranspose', ['x', wt], { strides: [2, 2] }, { name: 'up' });
  const wg = b.floats('wg', [8, 3, 3, 3], Array.from({ length: 216 }, () => random() - 0.5));
  b.output(b.op('Conv', [up, wg], { group: 2, pads: [1, 1, 1, 1] }, { name: 'grouped', output: 'y' }), DataType.FLOAT);
  const convs = modelOf(b.graph);
  const feedsT = randomInputs(convs, { seed: 2 });
  for (const options of [{}, { bits: 4, granularity: { block: 16 } }, { symmetric: false, granularity: 'tensor' }] as WeightQuantizationOptions[]) {
    const { model: q } = await quantizeWeights(convs, options);
    await assertMatchesSimulation(q, feedsT, `ConvTranspose + grouped Conv ${JSON.stringify(options)}`);
    const axes = q.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.int('axis'));
    if (!options.granularity) assert.deepEqual(axes, [1, 0], 'per channel: ConvTranspose axis 1, Conv axis 0');
    else if (options.granularity !== 'tensor') assert.deepEqual(axes, [0, 1], 'blocks: ConvTranspose input channels, Conv flattened C/g·k');
  }

  const resnet = loadModel(fixture('resnet_small.onnx'));
  const feedsR = randomInputs(resnet, { batch: 2, seed: 4 });
  for (const options of [{}, { bits: 4, symmetric: false, granularity: { block: 16 } }] as WeightQuantizationOptions[]) {
    const { model: q, report } = await quantizeWeights(resnet, options);
    assert.equal(q.opset(''), 21, 'upgraded from opset 13');
    assert.equal(report.weights.length, 9, 'eight convs and the fc');
    await assertMatchesSimulation(q, feedsR, `resnet_small ${JSON.stringify(options)}`);
  }

  const constants = loadModel(fixture('mlp_opset9_constants.onnx'));
  assert.ok(constants.graph.nodes.some((n) => n.opType === 'Constant'));
  const { model: qc, report } = await quantizeWeights(constants, { bits: 4, granularity: { block: 16 } });
  assert.deepEqual(report.weights.map((w) => w.name), ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  assert.equal(qc.opset(''), 21);
  assert.ok(!qc.graph.nodes.some((n) => n.opType === 'Constant' && ['fc1.weight', 'fc2.weight', 'fc3.weight'].includes(n.outputs[0]!)));
  const feedsC = randomInputs(constants, { batch: 2, seed: 6 });
  await assertMatchesSimulation(qc, feedsC, 'mlp_opset9_constants int4 block 16');
  // The simulation is also close to the original float model.
  const reference = await outputsOf(nodeRuntime, constantsToInitializers(constants), feedsC);
  const quantized = await outputsOf(nodeRuntime, qc, feedsC);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - quantized[i]!));
  assert.ok(worst < 0.2 * Math.max(1, maxAbs(reference)), `int4 output drift ${worst}`);
});
