import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Tensor } from '../../../src/core/tensor.js';
import {
  Granularity, affineParams, dequantizeArray, integerRange, integerTensor, quantizeArray, quantizeValue, roundHalfEven,
} from '../../../src/compress/quantize/arithmetic.js';
import { seededRandom } from '../../../src/runtime/inputs.js';
import { runOnce } from '../../helpers/run.js';

test('round half to even, saturation and zero points by hand', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
  // scale 0.5, zero point 10, uint8: 1.25/0.5 = 2.5 -> 2, +10 = 12; 200 saturates at 255; -10 saturates at 0.
  assert.equal(quantizeValue(1.25, 0.5, 10, 0, 255), 12);
  assert.equal(quantizeValue(1.75, 0.5, 10, 0, 255), 14);
  assert.equal(quantizeValue(200, 0.5, 10, 0, 255), 255);
  assert.equal(quantizeValue(-10, 0.5, 10, 0, 255), 0);
  assert.deepEqual(integerRange({ bits: 8, signed: true }), { qmin: -128, qmax: 127 });
  assert.deepEqual(integerRange({ bits: 8, signed: false, reduceRange: true }), { qmin: 0, qmax: 127 });
  assert.deepEqual(integerRange({ bits: 4, signed: true }), { qmin: -8, qmax: 7 });
  assert.deepEqual(integerRange({ bits: 3, signed: false }), { qmin: 0, qmax: 7 });
  assert.throws(() => integerRange({ bits: 9, signed: true }), /9-bit quantization is not supported/);
  assert.throws(() => integerRange({ bits: 1, signed: true }), /bit widths are 2 to 8/);
  // Asymmetric uint8 over [-1, 3]: scale 4/255, zero point round(255/4) = round(63.75) = 64.
  const a = affineParams(-1, 3, { bits: 8, signed: false });
  assert.equal(a.scale, Math.fround(4 / 255));
  assert.equal(a.zeroPoint, 64);
  // Ranges are widened to include zero: [2, 6] -> [0, 6], zero point 0.
  assert.deepEqual(affineParams(2, 6, { bits: 8, signed: false }), { scale: Math.fround(6 / 255), zeroPoint: 0 });
  // Symmetric int8 over [-0.5, 2]: scale 2/127, zero point 0; symmetric uint8: zero point 128, scale 2/127.
  assert.deepEqual(affineParams(-0.5, 2, { bits: 8, signed: true, symmetric: true }), { scale: Math.fround(2 / 127), zeroPoint: 0 });
  assert.deepEqual(affineParams(-0.5, 2, { bits: 8, signed: false, symmetric: true }), { scale: Math.fround(2 / 127), zeroPoint: 128 });
  // int4 symmetric: max|x| 7 -> scale 1, values round to themselves.
  const q = quantizeArray(Float32Array.from([-7, -3.5, 0, 2.5, 7]), [5], { bits: 4, signed: true, symmetric: true });
  assert.deepEqual([...q.values], [-7, -4, 0, 2, 7]);
  assert.throws(() => quantizeArray(Float32Array.from([1, NaN]), [2], { bits: 8, signed: true }), /non-finite value \(NaN\) at index 1/);
});

test('packed int4 initializers hold the values (low nibble first)', () => {
  const t = integerTensor('w', [5], Int32Array.from([-8, 7, -1, 0, 3]), { bits: 4, signed: true });
  assert.equal(t.dataType, DataType.INT4);
  assert.deepEqual([...(t.data as Uint8Array)], [0x78, 0x0f, 0x03]);
  assert.deepEqual(t.toNumbers(), [-8, 7, -1, 0, 3]);
  const u = integerTensor('u', [2], Int32Array.from([15, 1]), { bits: 4, signed: false });
  assert.deepEqual(u.toNumbers(), [15, 1]);
});

/** Runs QuantizeLinear then DequantizeLinear in onnxruntime with our scales and zero points. */
async function ortRoundTrip(x: Float32Array, dims: number[], scales: Float32Array, zeroPoints: Tensor, paramDims: number[], g: Granularity) {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, dims);
  const s = b.initializer(Tensor.fromFloat32('s', paramDims, scales));
  const zp = b.initializer(zeroPoints);
  const attrs: Record<string, number> = g.kind === 'tensor' ? {} : g.kind === 'channel' ? { axis: g.axis } : { axis: g.axis, block_size: g.blockSize };
  const q = b.op('QuantizeLinear', ['x', s, zp], attrs);
  const y = b.op('DequantizeLinear', [q, s, zp], attrs);
  // Integers leave the graph as int32: onnxruntime 1.30 aborts the process on int4 graph outputs.
  const qInt = b.op('Cast', [q], { to: DataType.INT32 });
  b.output(qInt);
  b.output(y);
  const out = await runOnce(modelOf(b.graph), { x: Tensor.fromFloat32('x', dims, x) });
  return { q: out[qInt]!, y: out[y]!.toFloat32() };
}

test('quantize and dequantize match onnxruntime per tensor, per channel and block-wise (int8, uint8, int4)', async () => {
  const random = seededRandom(3);
  const dims = [6, 64];
  const x = Float32Array.from({ length: 6 * 64 }, (_, i) => (random() - 0.3) * (1 + (i % 7)));
  x[5] = 0.5; // exercise ties after scaling
  const cases: { format: { bits: number; signed: boolean; symmetric?: boolean }; g: Granularity }[] = [
    { format: { bits: 8, signed: false }, g: { kind: 'tensor' } },
    { format: { bits: 8, signed: true, symmetric: true }, g: { kind: 'channel', axis: 0 } },
    { format: { bits: 8, signed: true }, g: { kind: 'channel', axis: 1 } },
    { format: { bits: 4, signed: true, symmetric: true }, g: { kind: 'block', axis: 1, blockSize: 16 } },
    { format: { bits: 4, signed: false }, g: { kind: 'block', axis: 1, blockSize: 32 } },
    { format: { bits: 4, signed: true }, g: { kind: 'block', axis: 0, blockSize: 4 } },
  ];
  for (const { format, g } of cases) {
    const q = quantizeArray(x, dims, { ...format, granularity: g });
    const zpTensor = integerTensor('zp', q.paramDims, q.zeroPoints, format);
    const ort = await ortRoundTrip(x, dims, q.scales, zpTensor, q.paramDims, g);
    const label = `${format.bits}-bit ${format.signed ? 'signed' : 'unsigned'} ${JSON.stringify(g)}`;
    assert.deepEqual(ort.q.toNumbers(), [...q.values], `${label}: integers`);
    const ours = dequantizeArray(q, dims, g);
    for (let i = 0; i < x.length; i++) assert.equal(ort.y[i], ours[i], `${label}: dequantized value ${i}`);
    // The error of each value is at most half a step of its group (none saturates: min/max parameters).
    const err = Math.max(...ours.map((v, i) => Math.abs(v - x[i]!)));
    assert.ok(err <= Math.max(...q.scales) / 2 + 1e-6, `${label}: error ${err}`);
  }
});
