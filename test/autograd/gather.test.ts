import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType } from '../../src/core/dtype.js';
import { Tensor } from '../../src/core/tensor.js';
import { checkGradients } from '../helpers/gradcheck.js';
import { distinct, sumOfSquaresGradients } from './sum-of-squares.js';

const D = DataType.DOUBLE;
const indices = (dims: number[], values: number[]) => ({ shape: dims, value: Tensor.fromInt64('indices', dims, values) });
const runtimeIndices = (dims: number[], values: number[]) => ({ shape: dims, dtype: DataType.INT64, values: () => values });

test('Gather gradients along axis 0 (embeddings), repeated and negative indices', async () => {
  const data = { shape: [5, 3], dtype: D };
  await checkGradients({ op: 'Gather', inputs: [data, indices([4], [0, 2, 2, -1])] });
  await checkGradients({ op: 'Gather', inputs: [data, indices([2, 3], [1, 1, 0, 4, 1, 3])] });
  await checkGradients({ op: 'Gather', inputs: [data, indices([], [3])] });
  // int32 indices (codebook lookups): the scatter takes them widened to int64.
  await checkGradients({ op: 'Gather', inputs: [data, { shape: [4], value: Tensor.fromNumbers('indices', DataType.INT32, [4], [0, 2, 2, 1]) }] });
  await checkGradients({ op: 'Gather', inputs: [{ shape: [6], dtype: D }, indices([3], [5, 0, 5])] });
  await checkGradients({ op: 'Gather', inputs: [data, runtimeIndices([3], [2, 0, 2])] });
  await checkGradients({ op: 'Gather', inputs: [{ shape: [4, 2, 3] }, runtimeIndices([2, 2], [3, 3, -4, 1])], attrs: { axis: -3 } });
});

test('Gather gradients along inner axes, with index tensors of rank 0, 1 and 2', async () => {
  const data = { shape: [2, 4, 3], dtype: D };
  for (const axis of [1, 2, -1]) {
    const length = data.shape[(axis + 3) % 3]!;
    await checkGradients({ op: 'Gather', inputs: [data, indices([3], [0, length - 1, 0])], attrs: { axis } });
    await checkGradients({ op: 'Gather', inputs: [data, indices([], [1])], attrs: { axis } });
    await checkGradients({ op: 'Gather', inputs: [data, indices([2, 2], [1, 0, -1, 1])], attrs: { axis } });
    await checkGradients({ op: 'Gather', inputs: [data, runtimeIndices([2, 3], [0, 1, 1, 2, 0, 0])], attrs: { axis } });
  }
});

test('Gather gradients over symbolic dims equal those over static ones', async () => {
  const idx = { value: Tensor.fromInt64('i', [2, 2], [1, 3, 3, 0]), constant: true };
  for (const axis of [0, 1, 2]) {
    const data = distinct([4, 4, 4]);
    const staticDims = await sumOfSquaresGradients('Gather', [{ value: data }, idx], { axis });
    const symbolic = await sumOfSquaresGradients('Gather', [{ value: data, dims: ['a', 'b', 'c'] }, idx], { axis });
    assert.deepEqual(symbolic.dx0!.toNumbers(), staticDims.dx0!.toNumbers());
    // index 3 is picked twice: its gradient is the sum of both
    assert.ok(staticDims.dx0!.toNumbers().some((v, i) => Math.abs(v - 4 * data.at(i)) < 1e-9));
  }
});
