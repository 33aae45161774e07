// Gradient rules of QuantizeLinear and DequantizeLinear (straight-through estimator, LSQ step-size gradient), the
// piecewise-constant ops and the exact stop-gradient. Inside the representable range and away from rounding
// boundaries the true derivative of DequantizeLinear(QuantizeLinear(x)) is 0, so the STE is checked against its
// definition with hand-computed values; DequantizeLinear alone is linear in its scale and gets a finite-difference
// check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType } from '../../src/core/dtype.js';
import { inferShapes } from '../../src/core/shape/infer.js';
import { Tensor } from '../../src/core/tensor.js';
import { addGradients } from '../../src/autograd/gradients.js';
import { registeredGradientOps } from '../../src/autograd/registry.js';
import { stopGradient } from '../../src/autograd/rules/quantize.js';
import { dequantizeValue, integerTensor, quantizeValue, roundHalfEven } from '../../src/compress/quantize/arithmetic.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { checkGradients } from '../helpers/gradcheck.js';
import { seededRandom } from '../helpers/single-op.js';

interface FakeQuantCase {
  dims: number[];
  x: number[];
  /** One scale (per tensor; `scaleDims` [] or [1]) or one per index along `axis`. */
  scales: number[];
  scaleDims: number[];
  zeroPoints: number[];
  type: DataType.INT8 | DataType.UINT8 | DataType.INT4;
  axis?: number;
}

const RANGES = { [DataType.INT8]: [-128, 127], [DataType.UINT8]: [0, 255], [DataType.INT4]: [-8, 7] } as const;

/** Runs loss = sum(w * DQ(Q(x, s, z), s, z)) and its gradients for x and s in onnxruntime. */
async function fakeQuantGradients(c: FakeQuantCase, weights: number[]) {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, c.dims);
  const s = b.input('s', DataType.FLOAT, c.scaleDims);
  const zp = c.type === DataType.INT4
    ? integerTensor('z', c.scaleDims, Int32Array.from(c.zeroPoints), { bits: 4, signed: true })
    : Tensor.fromNumbers('z', c.type, c.scaleDims, c.zeroPoints);
  const z = b.initializer(zp);
  const attrs: Record<string, number> = c.axis === undefined ? {} : { axis: c.axis };
  const q = b.op('QuantizeLinear', [x, s, z], attrs);
  const y = b.op('DequantizeLinear', [q, s, z], attrs, { output: 'y' });
  const w = b.floats('w', c.dims, weights);
  const loss = b.op('ReduceSum', [b.op('Mul', [y, w])], { keepdims: 0 }, { output: 'loss' });
  const model = modelOf(b.graph);
  const grads = addGradients(b.graph, b, loss, [x, s], { facts: inferShapes(model).values });
  b.output('y');
  b.output(b.op('Identity', [grads.get(x)!], {}, { output: 'dx' }));
  b.output(b.op('Identity', [grads.get(s)!], {}, { output: 'ds' }));
  const session = await nodeRuntime.createSession(model, { threads: 1 });
  try {
    const out = await session.run({ x: Tensor.fromFloat32('x', c.dims, c.x), s: Tensor.fromFloat32('s', c.scaleDims, c.scales) });
    return { y: out.y!, dx: out.dx!, ds: out.ds! };
  } finally {
    await session.release();
  }
}

/** Which parameter group element i uses. */
function groupOf(c: FakeQuantCase, i: number): number {
  if (c.scales.length === 1) return 0;
  const axis = (c.axis ?? 1) < 0 ? (c.axis ?? 1) + c.dims.length : (c.axis ?? 1);
  const inner = c.dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  return Math.floor(i / inner) % c.dims[axis]!;
}

/** The STE and LSQ values, by their definitions. */
function expected(c: FakeQuantCase, weights: number[]) {
  const [qmin, qmax] = RANGES[c.type];
  const dx: number[] = [];
  const ds = new Array<number>(c.scales.length).fill(0);
  const y: number[] = [];
  c.x.forEach((value, i) => {
    const k = groupOf(c, i);
    // the graph computes in float32
    const v = Math.fround(value), s = Math.fround(c.scales[k]!), z = c.zeroPoints[k]!;
    const q = quantizeValue(v, s, z, qmin, qmax);
    y.push(dequantizeValue(q, s, z));
    const lo = Math.fround(s * (qmin - z)), hi = Math.fround(s * (qmax - z));
    const inside = v >= lo && v <= hi;
    dx.push(inside ? weights[i]! : 0);
    // LSQ: -x/s + round(x/s) inside, (qmin - z) below, (qmax - z) above
    const step = inside ? roundHalfEven(Math.fround(v / s)) - v / s : v < lo ? qmin - z : qmax - z;
    ds[k]! += weights[i]! * step;
  });
  return { y, dx, ds };
}

function assertClose(actual: ArrayLike<number>, want: number[], tol: number, label: string) {
  assert.equal(actual.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(actual[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)), `${label}[${i}] = ${actual[i]}, expected ${want[i]}`);
  }
}

async function checkFakeQuant(c: FakeQuantCase, seed = 3) {
  const rand = seededRandom(seed);
  const weights = c.x.map(() => rand() * 2 - 1);
  const got = await fakeQuantGradients(c, weights);
  const want = expected(c, weights);
  assertClose(got.y.toFloat32(), want.y, 0, 'forward');
  assertClose(got.dx.toFloat32(), want.dx, 1e-6, 'dx');
  assert.deepEqual([...got.ds.dims], c.scaleDims, 'the scale gradient has the scale\'s shape');
  assertClose(got.ds.toFloat32(), want.ds, 1e-5, 'ds');
  return { got, want };
}

test('Q->DQ differentiates to the clipped STE: dx = dy inside [s(qmin - z), s(qmax - z)], 0 outside (int8, per tensor)', async () => {
  // s = 0.1: range [-12.8, 12.7]; 13.3 and -13.1 lie outside, 12.66 and -12.79 inside; the rest between levels
  const x = [0.31, -0.47, 12.66, 13.3, -13.1, -12.79, 2.04, 5.55];
  const { got } = await checkFakeQuant({ dims: [2, 4], x, scales: [0.1], scaleDims: [], zeroPoints: [0], type: DataType.INT8 });
  const dx = got.dx.toFloat32();
  assert.equal(dx[3], 0);
  assert.equal(dx[4], 0);
  assert.notEqual(dx[2], 0);
  assert.notEqual(dx[5], 0);
});

test('STE and LSQ scale gradient with an asymmetric uint8 zero point (range [s(0 - z), s(255 - z)])', async () => {
  // s = 0.05, z = 20: range [-1, 11.75]
  const x = [-1.2, -0.99, 0.013, 3.331, 11.7, 11.8, 20, 6.071, -0.5];
  await checkFakeQuant({ dims: [9], x, scales: [0.05], scaleDims: [], zeroPoints: [20], type: DataType.UINT8 });
  // a one-element scale vector (how trainable per-tensor scales are stored) gets a [1] gradient
  await checkFakeQuant({ dims: [3, 3], x, scales: [0.05], scaleDims: [1], zeroPoints: [20], type: DataType.UINT8 });
});

test('per-channel scales: the STE mask and the LSQ gradient per channel (axis 0 and axis 1, int8 and int4)', async () => {
  const rand = seededRandom(11);
  const x = Array.from({ length: 24 }, () => (rand() * 2 - 1) * 1.1);
  // axis 0 of [3, 8]: int4 range per channel [-8 s, 7 s]; the first channel's is [-0.8, 0.7], so some elements clip
  await checkFakeQuant({ dims: [3, 8], x, scales: [0.1, 0.2, 0.05], scaleDims: [3], zeroPoints: [0, 0, 0], type: DataType.INT4, axis: 0 });
  // axis 1 of [2, 3, 4], int8 with zero points
  await checkFakeQuant({ dims: [2, 3, 4], x, scales: [0.004, 0.01, 0.02], scaleDims: [3], zeroPoints: [-3, 0, 5], type: DataType.INT8, axis: 1 });
  // negative axis
  await checkFakeQuant({ dims: [6, 4], x, scales: [0.01, 0.02, 0.005, 0.03], scaleDims: [4], zeroPoints: [0, 1, 2, 3], type: DataType.INT8, axis: -1 });
});

test('the LSQ scale gradient on a small tensor, by hand', async () => {
  // int8, s = 0.5, z = 0, weights 1: x/s = [0.6, -2.2, 300, -1.0]
  //   0.6  -> round 1:  -0.6 + 1 = 0.4
  //  -2.2  -> round -2: 2.2 - 2 = 0.2
  //   300  -> above qmax: 127
  //  -1.0  -> round -1: 0
  const c: FakeQuantCase = { dims: [4], x: [0.3, -1.1, 150, -0.5], scales: [0.5], scaleDims: [], zeroPoints: [0], type: DataType.INT8 };
  const got = await fakeQuantGradients(c, [1, 1, 1, 1]);
  assert.ok(Math.abs(got.ds.at(0) - (0.4 + 0.2 + 127 + 0)) < 1e-4, `ds = ${got.ds.at(0)}`);
  assert.deepEqual([...got.dx.toFloat32()], [1, 1, 0, 1]);
});

test('DequantizeLinear: its scale gradient matches finite differences (it is linear in the scale)', async () => {
  const q = Tensor.fromNumbers('q', DataType.INT8, [2, 3], [-128, -5, 0, 7, 100, 127]);
  await checkGradients({ op: 'DequantizeLinear', inputs: [{ shape: [2, 3], value: q }, { shape: [], values: () => [0.25] }], eps: 1e-3 });
  await checkGradients({
    op: 'DequantizeLinear',
    inputs: [{ shape: [2, 3], value: q }, { shape: [3], values: () => [0.25, 0.5, 0.125] }, { shape: [3], value: Tensor.fromNumbers('z', DataType.INT8, [3], [1, -2, 3]) }],
    attrs: { axis: 1 },
    eps: 1e-3,
  });
});

test('Sign and Floor have zero derivatives; stopGradient keeps every float32 exactly and cuts the gradient', async () => {
  const have = new Set(registeredGradientOps());
  for (const op of ['Sign', 'Floor', 'QuantizeLinear', 'DequantizeLinear']) assert.ok(have.has(op), op);
  const b = new GraphBuilder();
  const values = [0.1, -3.4e38, 1.4e-45, -1.17e-38, 123.456, 0, 7, -0.5];
  const x = b.input('x', DataType.FLOAT, [values.length]);
  const stopped = stopGradient(b, x);
  // y = stop(x) * x + sign(x) + floor(x): dy/dx = stop(x) = x
  const parts = ['Sign', 'Floor'].map((op) => b.op(op, [x]));
  const y = b.op('Sum', [b.op('Mul', [stopped, x]), ...parts]);
  // STE pattern: forward f(x) = floor(x), gradient identity
  const ste = b.op('Add', [stopGradient(b, b.op('Floor', [x])), b.op('Sub', [x, stopGradient(b, x)])], {}, { output: 'ste' });
  const loss = b.op('ReduceSum', [b.op('Add', [y, ste])], { keepdims: 0 }, { output: 'loss' });
  const model = modelOf(b.graph);
  const grads = addGradients(b.graph, b, loss, [x], { facts: inferShapes(model).values });
  b.output(stopped);
  b.output('ste');
  b.output(b.op('Identity', [grads.get(x)!], {}, { output: 'dx' }));
  const session = await nodeRuntime.createSession(model, { threads: 1 });
  try {
    const feed = Tensor.fromFloat32('x', [values.length], values);
    const out = await session.run({ x: feed });
    const exact = feed.toFloat32();
    assert.deepEqual([...out[stopped]!.toFloat32()], [...exact], 'stopGradient returns its input bit for bit');
    assert.deepEqual([...out.ste!.toFloat32()], [...exact].map((v) => Math.floor(v) + 0), 'floor(x) + (x - x): -0 + 0 is +0');
    // stop(x) from the product, 1 from the STE branch
    assert.deepEqual([...out.dx!.toFloat32()], [...exact].map((v) => Math.fround(v + 1)));
  } finally {
    await session.release();
  }
});
