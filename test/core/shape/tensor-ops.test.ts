// Shape inference for elementwise, tensor-manipulation and reduction ops, checked against the shapes and types
// onnxruntime produces; plus value propagation through exported shape arithmetic and symbolic dims.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, floatsAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Dim } from '../../../src/core/ir.js';
import { inferShapes } from '../../../src/core/shape/infer.js';
import { InferenceError } from '../../../src/core/shape/registry.js';
import { Tensor } from '../../../src/core/tensor.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { OpCase, OpInput, checkShapesAgainstOrt, randomTensor, singleOpModel } from '../../helpers/single-op.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

const f = (...shape: number[]): OpInput => ({ dtype: DataType.FLOAT, shape });
const typed = (dtype: DataType, ...shape: number[]): OpInput => ({ dtype, shape });
const i64 = (values: (number | bigint)[], dims: number[] = [values.length]): OpInput => ({ value: Tensor.fromInt64('', dims, values) });
const i64Scalar = (v: number): OpInput => i64([v], []);
const f32 = (values: number[], dims: number[] = [values.length]): OpInput => ({ value: Tensor.fromFloat32('', dims, values) });
const omit: OpInput = { omit: true };

/** Runs every case against onnxruntime, one after the other. */
async function checkAll(cases: OpCase[]): Promise<void> {
  for (const c of cases) await checkShapesAgainstOrt(c);
}

describe('elementwise shape rules', () => {
  test('binary arithmetic broadcasts', async () => {
    const shapes: OpInput[][] = [[f(2, 3), f(3)], [f(2, 1, 4), f(3, 1)], [f(), f(2, 2)], [f(4, 1), f(1, 5)], [f(2, 3), f(2, 3)]];
    for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow']) await checkAll(shapes.map((inputs) => ({ op, inputs })));
    // Pow's exponent may have another type; the output keeps the base's.
    await checkShapesAgainstOrt({ op: 'Pow', inputs: [f(2, 3), typed(DataType.INT64, 3)] });
    await checkShapesAgainstOrt({ op: 'Add', inputs: [typed(DataType.INT64, 2, 1), typed(DataType.INT64, 3)] });
  });

  test('variadic Max, Min, Sum, Mean broadcast all inputs', async () => {
    for (const op of ['Max', 'Min', 'Sum', 'Mean']) {
      await checkAll([
        { op, inputs: [f(2, 3)] },
        { op, inputs: [f(2, 1), f(3)] },
        { op, inputs: [f(4, 1, 1), f(1, 3, 1), f(2)] },
      ]);
    }
  });

  test('comparisons output bool', async () => {
    for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) {
      await checkAll([
        { op, inputs: [f(2, 3), f(1, 3)] },
        { op, inputs: [typed(DataType.INT64, 4, 1), typed(DataType.INT64, 2)] },
      ]);
    }
  });

  test('logical ops, Not and Where', async () => {
    for (const op of ['And', 'Or', 'Xor']) {
      await checkAll([
        { op, inputs: [typed(DataType.BOOL, 2, 3), typed(DataType.BOOL, 3)] },
        { op, inputs: [typed(DataType.BOOL, 2, 1), typed(DataType.BOOL, 1, 4)] },
      ]);
    }
    await checkShapesAgainstOrt({ op: 'Not', inputs: [typed(DataType.BOOL, 2, 3)] });
    await checkAll([
      { op: 'Where', inputs: [typed(DataType.BOOL, 2, 1), f(1, 3), f(2, 3)] },
      { op: 'Where', inputs: [typed(DataType.BOOL, 4), f(3, 1), f()] },
      { op: 'Where', inputs: [typed(DataType.BOOL, 2, 3), typed(DataType.INT64, 3), typed(DataType.INT64, 2, 1)] },
    ]);
  });

  test('integer bit ops and Mod broadcast and keep the type', async () => {
    await checkAll([
      { op: 'BitShift', attrs: { direction: 'RIGHT' }, inputs: [typed(DataType.UINT32, 2, 3), typed(DataType.UINT32, 1)] },
      { op: 'BitwiseXor', inputs: [typed(DataType.INT32, 4, 1), typed(DataType.INT32, 3)] },
      { op: 'BitwiseAnd', inputs: [typed(DataType.INT64, 2, 3), typed(DataType.INT64, 2, 1)] },
      { op: 'BitwiseOr', inputs: [typed(DataType.UINT8, 3), typed(DataType.UINT8, 2, 3)] },
      { op: 'BitwiseNot', inputs: [typed(DataType.INT32, 2, 5)] },
      { op: 'Mod', inputs: [typed(DataType.INT64, 2, 3), typed(DataType.INT64, 3)] },
    ]);
  });

  test('unary ops keep type and shape', async () => {
    const unary = [
      'Relu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'Elu', 'Selu', 'Softplus', 'Exp', 'Log', 'Sqrt',
      'Reciprocal', 'Neg', 'Abs', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Identity',
    ];
    for (const op of unary) await checkAll([{ op, inputs: [f(2, 3, 4)] }, { op, inputs: [f()] }]);
    await checkAll([
      { op: 'LeakyRelu', inputs: [f(2, 5)], attrs: { alpha: 0.2 } },
      { op: 'Elu', inputs: [f(3)], attrs: { alpha: 0.5 } },
      { op: 'HardSigmoid', inputs: [f(1, 2)], attrs: { alpha: 0.3, beta: 0.4 } },
      { op: 'PRelu', inputs: [f(2, 4, 3), f(3)] },
      { op: 'PRelu', inputs: [f(2, 3, 5, 5), f(3, 1, 1)] },
      { op: 'Gelu', opset: 20, inputs: [f(2, 7)] },
      { op: 'Gelu', opset: 20, inputs: [f(2, 7)], attrs: { approximate: 'tanh' } },
      { op: 'Neg', inputs: [typed(DataType.INT64, 5)] },
      { op: 'Abs', inputs: [typed(DataType.INT32, 2, 2)] },
    ]);
  });

  test('Clip with attributes (opset 9) and inputs (opset 11+)', async () => {
    await checkAll([
      { op: 'Clip', opset: 9, inputs: [f(2, 3)], attrs: { min: floatAttr(0), max: floatAttr(6) } },
      { op: 'Clip', opset: 9, inputs: [f(4)] },
      { op: 'Clip', opset: 11, inputs: [f(2, 3), f32([0], []), f32([6], [])] },
      { op: 'Clip', opset: 13, inputs: [f(2, 3, 4), omit, f32([1], [])] },
      { op: 'Clip', inputs: [f(5), f32([-1], [])] },
    ]);
  });

  test('Dropout: ratio attribute before opset 12, input after; optional mask', async () => {
    await checkAll([
      { op: 'Dropout', opset: 9, inputs: [f(2, 3)], attrs: { ratio: 0.3 }, outputs: 2 },
      { op: 'Dropout', opset: 11, inputs: [f(2, 3)], attrs: { ratio: 0.3 }, outputs: 2 },
      { op: 'Dropout', opset: 12, inputs: [f(4, 5), f32([0.2], [])], outputs: 2 },
      { op: 'Dropout', inputs: [f(4, 5)], outputs: 2 },
      { op: 'Dropout', inputs: [f(3)] },
    ]);
  });

  test('Cast and CastLike change the element type', async () => {
    await checkAll([
      { op: 'Cast', inputs: [f(2, 3)], attrs: { to: DataType.INT64 } },
      { op: 'Cast', inputs: [typed(DataType.INT64, 4)], attrs: { to: DataType.FLOAT } },
      { op: 'Cast', inputs: [f(2)], attrs: { to: DataType.BOOL } },
      { op: 'Cast', inputs: [i64([3, 4])], attrs: { to: DataType.DOUBLE } },
      { op: 'Cast', opset: 9, inputs: [f(1, 2)], attrs: { to: DataType.INT32 } },
      { op: 'CastLike', inputs: [f(2, 3), i64([0])] },
      { op: 'CastLike', inputs: [typed(DataType.INT32, 3), f32([0])] },
    ]);
  });

  test('Softmax, LogSoftmax, Hardmax over several axes and opsets', async () => {
    for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
      await checkAll([
        { op, inputs: [f(2, 3, 4)] },
        { op, inputs: [f(2, 3, 4)], attrs: { axis: 0 } },
        { op, inputs: [f(2, 3, 4)], attrs: { axis: -2 } },
        { op, opset: 11, inputs: [f(2, 3, 4)] },
        { op, opset: 11, inputs: [f(2, 3, 4)], attrs: { axis: 2 } },
      ]);
    }
  });

  test('an out-of-range Softmax axis is an error naming the node', () => {
    const { model } = singleOpModel({ op: 'Softmax', inputs: [f(2, 3)], attrs: { axis: 2 } });
    assert.throws(() => inferShapes(model), (e: unknown) => e instanceof InferenceError && /'Softmax' \(Softmax\).*axis 2/.test(e.message));
  });
});

describe('tensor-manipulation shape rules', () => {
  test('Flatten', async () => {
    await checkAll([
      { op: 'Flatten', inputs: [f(2, 3, 4, 5)] },
      { op: 'Flatten', inputs: [f(2, 3, 4, 5)], attrs: { axis: 0 } },
      { op: 'Flatten', inputs: [f(2, 3, 4, 5)], attrs: { axis: 2 } },
      { op: 'Flatten', inputs: [f(2, 3, 4, 5)], attrs: { axis: -1 } },
      { op: 'Flatten', inputs: [f(2, 3, 4, 5)], attrs: { axis: 4 } },
      { op: 'Flatten', opset: 9, inputs: [f(6, 2)], attrs: { axis: 1 } },
    ]);
  });

  test('Reshape with 0, -1, allowzero and the opset-1 shape attribute', async () => {
    await checkAll([
      { op: 'Reshape', inputs: [f(2, 3, 4), i64([4, -1])] },
      { op: 'Reshape', inputs: [f(2, 3, 4), i64([0, -1])] },
      { op: 'Reshape', inputs: [f(2, 3, 4), i64([0, 0, 2, 2])] },
      { op: 'Reshape', inputs: [f(2, 3, 4), i64([-1])] },
      { op: 'Reshape', inputs: [f(2, 3, 4), i64([2, 12, 1])] },
      { op: 'Reshape', inputs: [f(0, 4), i64([0, 2, 2])], attrs: { allowzero: 1 } },
      { op: 'Reshape', inputs: [f(0, 4), i64([-1, 2])] },
      { op: 'Reshape', opset: 11, inputs: [f(6, 4), i64([-1, 0, 3])] },
      { op: 'Reshape', opset: 4, inputs: [f(2, 3, 4)], attrs: { shape: [6, -1] } },
    ]);
  });

  test('a Reshape to the wrong element count is an error', () => {
    const { model } = singleOpModel({ op: 'Reshape', inputs: [f(2, 3), i64([4, 2])] });
    assert.throws(() => inferShapes(model), (e: unknown) => e instanceof InferenceError && /Reshape.*6 elements/.test(e.message));
  });

  test('Transpose', async () => {
    await checkAll([
      { op: 'Transpose', inputs: [f(2, 3, 4)] },
      { op: 'Transpose', inputs: [f(2, 3, 4)], attrs: { perm: [0, 2, 1] } },
      { op: 'Transpose', inputs: [f(2, 3, 4)], attrs: { perm: [2, 0, 1] } },
      { op: 'Transpose', inputs: [f(1, 2, 3, 4)], attrs: { perm: [0, 3, 1, 2] } },
      { op: 'Transpose', inputs: [f(5)] },
    ]);
  });

  test('Concat', async () => {
    await checkAll([
      { op: 'Concat', inputs: [f(2, 3), f(4, 3)], attrs: { axis: 0 } },
      { op: 'Concat', inputs: [f(2, 3), f(2, 1), f(2, 5)], attrs: { axis: 1 } },
      { op: 'Concat', inputs: [f(2, 3, 4), f(2, 3, 1)], attrs: { axis: -1 } },
      { op: 'Concat', inputs: [f(2, 3)], attrs: { axis: 1 } },
      { op: 'Concat', inputs: [i64([1, 2]), i64([-1])], attrs: { axis: 0 } },
      { op: 'Concat', opset: 11, inputs: [f(1, 2), f(0, 2)], attrs: { axis: 0 } },
    ]);
  });

  test('Concat of mismatched dims is an error', () => {
    const { model } = singleOpModel({ op: 'Concat', inputs: [f(2, 3), f(2, 4)], attrs: { axis: 0 } });
    assert.throws(() => inferShapes(model), (e: unknown) => e instanceof InferenceError && /Concat.*3 and 4/.test(e.message));
  });

  test('Split: split attribute (opset 11), input (13), num_outputs (18)', async () => {
    await checkAll([
      { op: 'Split', opset: 11, inputs: [f(6, 2)], outputs: 3 },
      { op: 'Split', opset: 11, inputs: [f(2, 5)], attrs: { axis: 1, split: [2, 3] }, outputs: 2 },
      { op: 'Split', opset: 13, inputs: [f(2, 5), i64([1, 4])], attrs: { axis: -1 }, outputs: 2 },
      { op: 'Split', opset: 13, inputs: [f(4, 6)], attrs: { axis: 1 }, outputs: 2 },
      { op: 'Split', opset: 18, inputs: [f(7, 2)], attrs: { num_outputs: 3 }, outputs: 3 },
      { op: 'Split', opset: 18, inputs: [f(2, 8)], attrs: { axis: 1, num_outputs: 4 }, outputs: 4 },
      { op: 'Split', inputs: [f(3, 5), i64([2, 2, 1])], attrs: { axis: 1 }, outputs: 3 },
    ]);
  });

  test('Slice: attributes at opset 9, inputs after; negative, clamped and INT64 bounds', async () => {
    const x = f(5, 6, 7);
    await checkAll([
      { op: 'Slice', opset: 9, inputs: [x], attrs: { starts: [1], ends: [3], axes: [1] } },
      { op: 'Slice', opset: 9, inputs: [x], attrs: { starts: [0, -3], ends: [100, -1] } },
      { op: 'Slice', inputs: [x, i64([1]), i64([INT64_MAX]), i64([2])] },
      { op: 'Slice', inputs: [x, i64([-2]), i64([INT64_MAX]), i64([-1])] },
      { op: 'Slice', inputs: [x, i64([0, 1]), i64([5, 6]), i64([0, 2]), i64([2, 3])] },
      { op: 'Slice', inputs: [x, i64([-1]), i64([INT64_MIN]), i64([0]), i64([-1])] },
      { op: 'Slice', inputs: [x, i64([4]), i64([1]), i64([2]), i64([-2])] },
      { op: 'Slice', inputs: [x, i64([10]), i64([20]), i64([1])] },
      { op: 'Slice', inputs: [x, i64([-100]), i64([3])] },
      { op: 'Slice', opset: 10, inputs: [x, i64([1]), i64([-1]), i64([-1])] },
      { op: 'Slice', opset: 11, inputs: [x, i64([3]), i64([1]), i64([0])] },
    ]);
  });

  test('Pad: pads attribute at opset 9, input from 11, axes input at 18', async () => {
    await checkAll([
      { op: 'Pad', opset: 9, inputs: [f(2, 3)], attrs: { pads: [1, 0, 2, 3] } },
      { op: 'Pad', opset: 9, inputs: [f(2, 3, 4)], attrs: { pads: [0, 1, 1, 0, 1, 1], mode: 'reflect' } },
      { op: 'Pad', opset: 11, inputs: [f(2, 3), i64([0, 2, 0, 1])] },
      { op: 'Pad', opset: 13, inputs: [f(3, 4), i64([-1, 1, 0, -2]), f32([5], [])] },
      { op: 'Pad', opset: 18, inputs: [f(1, 2, 3, 4), i64([1, 2, 3, 4]), omit, i64([2, 3])] },
      { op: 'Pad', inputs: [f(2, 3, 4), i64([1, 1]), omit, i64([-1])], attrs: { mode: 'edge' } },
    ]);
  });

  test('Gather and GatherElements', async () => {
    await checkAll([
      { op: 'Gather', inputs: [f(5, 4), i64Scalar(2)] },
      { op: 'Gather', inputs: [f(5, 4), i64([0, 3, 1])], attrs: { axis: 1 } },
      { op: 'Gather', inputs: [f(5, 4, 3), i64([-1, 0, 1, 1], [2, 2])], attrs: { axis: 1 } },
      { op: 'Gather', inputs: [f(5, 4, 3), i64([2])], attrs: { axis: -1 } },
      { op: 'Gather', inputs: [i64([7, 8, 9, 10]), typed(DataType.INT64, 2, 2)] },
      { op: 'GatherElements', inputs: [f(3, 4), i64([0, 1, 2, 0, 1, 2], [2, 3])] },
      { op: 'GatherElements', inputs: [f(3, 4), i64([3, 2, 1, 0, 0, 1], [3, 2])], attrs: { axis: 1 } },
    ]);
  });

  test('Shape (start and end at opset 15) and Size', async () => {
    await checkAll([
      { op: 'Shape', inputs: [f(2, 3, 4)] },
      { op: 'Shape', inputs: [f()] },
      { op: 'Shape', inputs: [f(2, 3, 4)], attrs: { start: 1 } },
      { op: 'Shape', inputs: [f(2, 3, 4)], attrs: { end: -1 } },
      { op: 'Shape', inputs: [f(2, 3, 4)], attrs: { start: -2, end: 10 } },
      { op: 'Shape', inputs: [f(2, 3, 4)], attrs: { start: 2, end: 1 } },
      { op: 'Shape', opset: 11, inputs: [f(1, 2)] },
      { op: 'Size', inputs: [f(2, 3, 4)] },
      { op: 'Size', inputs: [f()] },
    ]);
  });

  test('Unsqueeze: axes attribute at opset 11, input from 13', async () => {
    await checkAll([
      { op: 'Unsqueeze', opset: 11, inputs: [f(3, 4)], attrs: { axes: [0] } },
      { op: 'Unsqueeze', opset: 11, inputs: [f(3, 4)], attrs: { axes: [1, -1] } },
      { op: 'Unsqueeze', opset: 9, inputs: [f(3)], attrs: { axes: [0, 2] } },
      { op: 'Unsqueeze', opset: 13, inputs: [f(3, 4), i64([0, 3])] },
      { op: 'Unsqueeze', inputs: [f(), i64([0])] },
      { op: 'Unsqueeze', inputs: [f(2, 3), i64([-1, 1])] },
    ]);
  });

  test('Squeeze: axes attribute at opset 11, input from 13, or none', async () => {
    await checkAll([
      { op: 'Squeeze', opset: 11, inputs: [f(1, 3, 1, 4)], attrs: { axes: [0] } },
      { op: 'Squeeze', opset: 11, inputs: [f(1, 3, 1, 4)], attrs: { axes: [0, -2] } },
      { op: 'Squeeze', opset: 9, inputs: [f(1, 3, 1, 4)] },
      { op: 'Squeeze', opset: 13, inputs: [f(1, 3, 1, 4), i64([2])] },
      { op: 'Squeeze', inputs: [f(1, 3, 1, 4)] },
      { op: 'Squeeze', inputs: [f(1), i64([0])] },
    ]);
  });

  test('squeezing a dim that is not 1 is an error', () => {
    const { model } = singleOpModel({ op: 'Squeeze', inputs: [f(2, 3), i64([1])] });
    assert.throws(() => inferShapes(model), (e: unknown) => e instanceof InferenceError && /Squeeze.*axis 1/.test(e.message));
  });

  test('ConstantOfShape, Expand, Tile, Range', async () => {
    await checkAll([
      { op: 'ConstantOfShape', inputs: [i64([2, 3])] },
      { op: 'ConstantOfShape', inputs: [i64([0, 2])], attrs: { value: Tensor.fromNumbers('v', DataType.INT32, [1], [1]) } },
      { op: 'Expand', inputs: [f(3, 1), i64([2, 1, 4])] },
      { op: 'Expand', inputs: [f(2, 3, 1), i64([1, 4])] },
      { op: 'Expand', inputs: [f(1), i64([3])] },
      { op: 'Tile', inputs: [f(2, 3, 4), i64([2, 1, 3])] },
      { op: 'Tile', inputs: [f(5), i64([0])] },
      { op: 'Range', inputs: [i64Scalar(0), i64Scalar(10), i64Scalar(3)] },
      { op: 'Range', inputs: [i64Scalar(10), i64Scalar(2), i64Scalar(-2)] },
      { op: 'Range', inputs: [f32([0.5], []), f32([2.75], []), f32([0.25], [])] },
      { op: 'Range', inputs: [i64Scalar(5), i64Scalar(1), i64Scalar(1)] },
      { op: 'Range', inputs: [f32([0.1], []), f32([1.3], []), f32([0.3], [])] },
      { op: 'Range', inputs: [f32([-1], []), f32([0.7], []), f32([0.1], [])] },
    ]);
  });

  test('ConstantOfShape with an int64 value', async () => {
    // Built by hand: the single-op helper's case label cannot JSON-encode an int64 tensor attribute.
    const { model, feeds } = singleOpModel({ op: 'ConstantOfShape', inputs: [i64([4, 1])] });
    model.graph.nodes[0]!.setAttr({ name: 'value', type: 'TENSOR', value: Tensor.fromInt64('v', [1], [7]) });
    const { inferred, actual } = await inferAndRun(model, feeds);
    const out = model.graph.outputs[0]!.name;
    assert.equal(inferred.get(out)!.elemType, actual[out]!.dataType);
    assert.deepEqual(inferred.get(out)!.shape, [...actual[out]!.dims]);
    assert.deepEqual(inferred.get(out)!.value!.toNumbers(), actual[out]!.toNumbers());
  });

  test('NonZero: rank rows, a count known only at run time', async () => {
    const { model, feeds } = singleOpModel({ op: 'NonZero', inputs: [f(3, 4)] });
    const out = model.graph.outputs[0]!.name;
    const inferred = inferShapes(model).values.get(out)!;
    assert.equal(inferred.elemType, DataType.INT64);
    assert.deepEqual(inferred.shape, [2, null]);
    const session = await nodeRuntime.createSession(model, { threads: 1 });
    const actual = (await session.run(feeds))[out]!;
    await session.release();
    assert.equal(actual.dataType, DataType.INT64);
    assert.equal(actual.dims.length, 2);
    assert.equal(actual.dims[0], 2);
  });

  test('Resize with scales or sizes, Upsample', async () => {
    const x = f(1, 3, 5, 6);
    await checkAll([
      { op: 'Resize', opset: 10, inputs: [x, f32([1, 1, 2, 2])] },
      { op: 'Resize', opset: 11, inputs: [x, f32([]), f32([1, 1, 1.5, 0.5])] },
      { op: 'Resize', opset: 11, inputs: [x, f32([]), f32([]), i64([1, 3, 8, 9])] },
      { op: 'Resize', opset: 13, inputs: [x, omit, f32([1, 1, 0.7, 1.3])] },
      { op: 'Resize', opset: 13, inputs: [x, omit, omit, i64([1, 3, 4, 4])], attrs: { mode: 'linear' } },
      { op: 'Resize', opset: 18, inputs: [x, omit, omit, i64([10, 10])], attrs: { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' } },
      { op: 'Resize', opset: 18, inputs: [x, omit, omit, i64([10, 10])], attrs: { axes: [2, 3], keep_aspect_ratio_policy: 'not_smaller' } },
      { op: 'Resize', inputs: [x, omit, f32([3, 2.5])], attrs: { axes: [-1, 2] } },
      { op: 'Upsample', opset: 9, inputs: [x, f32([1, 1, 2, 3])] },
      { op: 'Upsample', opset: 7, inputs: [x], attrs: { scales: floatsAttr([1, 1, 2, 2]) } },
    ]);
  });
});

describe('reduction shape rules', () => {
  const x = f(2, 3, 4);

  test('ReduceSum: axes attribute at opset 11, input from 13, noop_with_empty_axes', async () => {
    await checkAll([
      { op: 'ReduceSum', opset: 11, inputs: [x], attrs: { axes: [1] } },
      { op: 'ReduceSum', opset: 11, inputs: [x], attrs: { axes: [0, -1], keepdims: 0 } },
      { op: 'ReduceSum', opset: 11, inputs: [x] },
      { op: 'ReduceSum', opset: 13, inputs: [x, i64([1])], attrs: { keepdims: 0 } },
      { op: 'ReduceSum', opset: 13, inputs: [x, i64([-2, 0])] },
      { op: 'ReduceSum', inputs: [x], attrs: { keepdims: 0 } },
      { op: 'ReduceSum', inputs: [x], attrs: { noop_with_empty_axes: 1 } },
      { op: 'ReduceSum', inputs: [x, i64([])], attrs: { keepdims: 0 } },
    ]);
  });

  test('ReduceMean and the other reductions: axes attribute before opset 18, input from 18', async () => {
    const ops = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp'];
    for (const op of ops) {
      await checkAll([
        { op, opset: 13, inputs: [x], attrs: { axes: [1] } },
        { op, opset: 11, inputs: [x], attrs: { axes: [-1], keepdims: 0 } },
        { op, opset: 13, inputs: [x] },
        { op, opset: 18, inputs: [x, i64([0, 2])] },
        { op, inputs: [x, i64([2])], attrs: { keepdims: 0 } },
        { op, inputs: [x], attrs: { keepdims: 0 } },
      ]);
    }
    await checkShapesAgainstOrt({ op: 'ReduceMean', inputs: [x], attrs: { noop_with_empty_axes: 1 } });
  });

  test('ArgMax and ArgMin output int64', async () => {
    for (const op of ['ArgMax', 'ArgMin']) {
      await checkAll([
        { op, inputs: [x] },
        { op, inputs: [x], attrs: { axis: 1, keepdims: 0 } },
        { op, inputs: [x], attrs: { axis: -1, select_last_index: 1 } },
        { op, opset: 11, inputs: [x], attrs: { axis: 2 } },
      ]);
    }
  });
});

/** Infers a model's outputs and runs it in onnxruntime, returning both shapes per output. */
async function inferAndRun(model: ReturnType<typeof modelOf>, feeds: Record<string, Tensor>) {
  const inferred = inferShapes(model).values;
  const session = await nodeRuntime.createSession(model, { threads: 1 });
  const actual = await session.run(feeds);
  await session.release();
  return { inferred, actual };
}

describe('value propagation through shape arithmetic', () => {
  /** The PyTorch export of x.view(x.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape. */
  function flattenByShapeOps(batch: Dim) {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [batch, 3, 4]);
    const shape = b.op('Shape', [x]);
    const first = b.op('Gather', [shape, b.int64s('zero', [0], [])], { axis: 0 });
    const unsqueezed = b.op('Unsqueeze', [first, b.int64s('axes', [0])]);
    const target = b.op('Concat', [unsqueezed, b.int64s('rest', [-1])], { axis: 0 });
    const y = b.op('Reshape', [x, target], {}, { output: 'y' });
    b.output(y);
    return { model: modelOf(b.graph), target };
  }

  test('a Reshape target computed from Shape folds to a static shape', async () => {
    const { model, target } = flattenByShapeOps(2);
    const { inferred, actual } = await inferAndRun(model, { x: randomTensor('x', DataType.FLOAT, [2, 3, 4]) });
    assert.deepEqual(inferred.get(target)!.value!.toNumbers(), [2, -1]);
    assert.deepEqual(inferred.get('y')!.shape, [2, 12]);
    assert.deepEqual(inferred.get('y')!.shape, [...actual.y!.dims]);
  });

  test('a symbolic batch dim flows through the same arithmetic and stays symbolic', async () => {
    const { model, target } = flattenByShapeOps('batch');
    const facts = inferShapes(model).values;
    assert.deepEqual(facts.get(target)!.symbolicValue, ['batch', -1]);
    assert.deepEqual(facts.get('y')!.shape, ['batch', 12]);
    const { actual } = await inferAndRun(model, { x: randomTensor('x', DataType.FLOAT, [5, 3, 4]) });
    assert.deepEqual([...actual.y!.dims], [5, 12]);
  });

  test('Shape -> Slice -> Concat -> Reshape and arithmetic on shape values', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
    const shape = b.op('Shape', [x]);
    const leading = b.op('Slice', [shape, b.int64s('s', [0]), b.int64s('e', [2])]);
    const y = b.op('Reshape', [x, b.op('Concat', [leading, b.int64s('rest', [-1])], { axis: 0 })], {}, { output: 'y' });
    // h * w through Gather and Mul, then Cast round trips and Where picking between shape values.
    const h = b.op('Gather', [shape, b.int64s('two', [2])], { axis: 0 });
    const w = b.op('Gather', [shape, b.int64s('three', [3])], { axis: 0 });
    const hw = b.op('Cast', [b.op('Cast', [b.op('Mul', [h, w])], { to: DataType.FLOAT })], { to: DataType.INT64 });
    const isTwenty = b.op('Equal', [hw, b.int64s('twenty', [20])]);
    const picked = b.op('Where', [isTwenty, hw, b.int64s('one', [1])]);
    const halved = b.op('Div', [b.op('Add', [picked, b.int64s('one2', [1])]), b.int64s('two2', [2])]);
    const z = b.op('Reshape', [x, b.op('Concat', [b.int64s('lead', [4]), b.op('Sub', [halved, b.int64s('ten', [10])]), b.int64s('m1', [-1])], { axis: 0 })], {}, { output: 'z' });
    const r = b.op('Range', [b.int64s('r0', [0], []), b.op('Squeeze', [halved, b.int64s('ax0', [0])]), b.int64s('r1', [3], [])], {}, { output: 'r' });
    const filled = b.op('ConstantOfShape', [b.op('Expand', [b.op('Identity', [picked]), b.int64s('two3', [2])])], {}, { output: 'c' });
    b.output(y);
    b.output(z);
    b.output(r);
    b.output(filled);
    const { inferred, actual } = await inferAndRun(modelOf(b.graph), { x: randomTensor('x', DataType.FLOAT, [2, 3, 4, 5]) });
    // (20 + 1) / 2 = 10 in integer division; 10 - 10 = 0 copies dim 1, so z's target is [4, 0, -1] -> [4, 3, 10].
    assert.deepEqual(inferred.get(halved)!.value!.toNumbers(), [10]);
    for (const [name, shape] of [['y', [2, 3, 20]], ['z', [4, 3, 10]], ['r', [4]], ['c', [20, 20]]] as const) {
      assert.deepEqual(inferred.get(name)!.shape, shape, `${name} static shape`);
      assert.deepEqual(inferred.get(name)!.shape, [...actual[name]!.dims], `${name} shape from onnxruntime`);
    }
    assert.deepEqual(inferred.get('r')!.value!.toNumbers(), [...actual.r!.toNumbers()]);
  });

  test('shape values with a symbolic dim drive ConstantOfShape, Expand and Reshape', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 3]);
    const shape = b.op('Shape', [x]);
    b.output(b.op('ConstantOfShape', [shape], {}, { output: 'zeros' }));
    b.output(b.op('Expand', [b.floats('row', [1, 3], [1, 2, 3]), shape], {}, { output: 'rows' }));
    const reversed = b.op('Slice', [shape, b.int64s('s', [-1]), b.initializer(Tensor.fromInt64('e', [1], [INT64_MIN])), b.int64s('a', [0]), b.int64s('st', [-1])]);
    b.output(b.op('Reshape', [x, reversed], {}, { output: 'swapped' }));
    const last = b.op('Gather', [shape, b.int64s('i', [-1], [])]);
    b.output(b.op('Range', [b.int64s('zero', [0], []), last, b.int64s('one', [1], [])], {}, { output: 'steps' }));
    const model = modelOf(b.graph);
    const facts = inferShapes(model).values;
    assert.deepEqual(facts.get(reversed)!.symbolicValue, [3, 'N']);
    const expected: Record<string, Dim[]> = { zeros: ['N', 3], rows: ['N', 3], swapped: [3, 'N'], steps: [3] };
    const { actual } = await inferAndRun(model, { x: randomTensor('x', DataType.FLOAT, [5, 3]) });
    for (const [name, shape] of Object.entries(expected)) {
      assert.deepEqual(facts.get(name)!.shape, shape, name);
      assert.deepEqual(shape.map((d) => (d === 'N' ? 5 : d)), [...actual[name]!.dims], `${name} with N = 5`);
    }
  });

  test('INT64 bounds survive folding and still slice as onnxruntime does', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4, 6]);
    const ends = b.op('Concat', [b.initializer(Tensor.fromInt64('e0', [1], [INT64_MAX])), b.initializer(Tensor.fromInt64('e1', [1], [INT64_MIN]))], { axis: 0 });
    const y = b.op('Slice', [x, b.int64s('s', [1, -2]), b.op('Identity', [ends]), b.int64s('a', [0, 1]), b.int64s('st', [1, -1])], {}, { output: 'y' });
    b.output(y);
    const model = modelOf(b.graph);
    const { inferred, actual } = await inferAndRun(model, { x: randomTensor('x', DataType.FLOAT, [4, 6]) });
    assert.deepEqual([...(inferred.get(ends)!.value!.data as BigInt64Array)], [INT64_MAX, INT64_MIN]);
    assert.deepEqual(inferred.get('y')!.shape, [3, 5]);
    assert.deepEqual([...actual.y!.dims], [3, 5]);
  });

  test('symbolic dims pass through elementwise and layout ops', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 3, 4]);
    const bias = b.input('bias', DataType.FLOAT, [4]);
    const unknown = b.input('u', DataType.FLOAT, [null, 3, 1]);
    const sum = b.op('Add', [b.op('Relu', [x]), bias], {}, { output: 'sum' });
    const t = b.op('Transpose', [sum], { perm: [2, 0, 1] }, { output: 't' });
    const flat = b.op('Flatten', [x], { axis: 1 }, { output: 'flat' });
    const mixed = b.op('Mul', [x, unknown], {}, { output: 'mixed' });
    const reduced = b.op('ReduceMean', [x, b.int64s('axes', [1])], { keepdims: 0 }, { output: 'reduced' });
    const sliced = b.op('Slice', [x, b.int64s('st', [0]), b.int64s('en', [Number.MAX_SAFE_INTEGER]), b.int64s('ax', [0])], {}, { output: 'sliced' });
    const cut = b.op('Slice', [x, b.int64s('st1', [1]), b.int64s('en1', [Number.MAX_SAFE_INTEGER]), b.int64s('ax1', [0])], {}, { output: 'cut' });
    const flipped = b.op('Slice', [x, b.int64s('st2', [-1]), b.initializer(Tensor.fromInt64('en2', [1], [INT64_MIN])), b.int64s('ax2', [0]), b.int64s('sp2', [-1])], {}, { output: 'flipped' });
    const padded = b.op('Pad', [x, b.int64s('pads', [0, 1, 0, 0, 1, 0])], {}, { output: 'padded' });
    const tiled = b.op('Tile', [x, b.int64s('reps', [1, 2, 1])], {}, { output: 'tiled' });
    const outputs = [sum, t, flat, mixed, reduced, sliced, cut, flipped, padded, tiled];
    for (const o of outputs) b.output(o);
    const facts = inferShapes(modelOf(b.graph)).values;
    const shapes = Object.fromEntries(outputs.map((n) => [n, facts.get(n)!.shape]));
    assert.deepEqual(shapes, {
      sum: ['N', 3, 4], t: [4, 'N', 3], flat: ['N', 12], mixed: ['N', 3, 4], reduced: ['N', 4], sliced: ['N', 3, 4], cut: [null, 3, 4],
      flipped: ['N', 3, 4], padded: ['N', 5, 4], tiled: ['N', 6, 4],
    });
  });

  test('a broadcasting mismatch is an InferenceError naming the node', () => {
    const b = new GraphBuilder();
    const y = b.op('Add', [b.input('a', DataType.FLOAT, [2, 3]), b.input('b', DataType.FLOAT, [4, 3])], {}, { name: 'residual_add' });
    b.output(y);
    assert.throws(() => inferShapes(modelOf(b.graph)), (e: unknown) =>
      e instanceof InferenceError && e.message.includes("'residual_add'") && e.message.includes('[2,3] and [4,3]'));
  });
});
