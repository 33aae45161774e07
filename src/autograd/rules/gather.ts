// Gather: the data's gradient adds each output gradient slice into the position it was gathered from (indices may
// repeat, so scatters add into zeros); the indices get none.
import { DataType } from '../../core/dtype.js';
import { Tensor } from '../../core/tensor.js';
import { GradientContext, registerGradient } from '../registry.js';

registerGradient('Gather', (ctx: GradientContext) => {
  const { node, b } = ctx;
  if (!ctx.needsGrad(0)) return [undefined, undefined];
  const [data, indices] = node.inputs as [string, string];
  const g = ctx.outputGrad(0)!;
  const rank = ctx.rank(data);
  const indexRank = ctx.rank(indices);
  const axisAttr = node.int('axis', 0);
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const zeros = b.op('ConstantOfShape', [ctx.shapeOf(data)], { value: Tensor.fromNumbers('zero', ctx.dtype(data), [1], [0]) });

  // Along the first axis (embeddings, row picks) the gradient is already laid out as ScatterND's updates; ScatterND
  // takes int64 indices only, Gather int32 too.
  if (axis === 0) {
    const wide = ctx.dtype(indices) === DataType.INT64 ? indices : b.op('Cast', [indices], { to: DataType.INT64 });
    return [b.op('ScatterND', [zeros, b.op('Unsqueeze', [wide, ctx.ints([-1])]), g], { reduction: 'add' }), undefined];
  }

  // Other axes: ScatterElements, with the index dims of the gradient merged into one (or added for a scalar index)
  // and the indices broadcast over the other axes.
  let updates = g;
  if (indexRank === 0) updates = b.op('Unsqueeze', [g, ctx.ints([axis])]);
  else if (indexRank > 1) {
    // Reshape's 0 keeps the leading dims, which the gradient shares with the data.
    const lead = [...new Array<number>(axis).fill(0), -1];
    const trailing = ctx.facts(data)?.shape?.slice(axis + 1);
    const target = trailing?.every((d): d is number => typeof d === 'number')
      ? ctx.ints([...lead, ...trailing])
      : b.op('Concat', [ctx.ints(lead), b.op('Slice', [ctx.shapeOf(data), ctx.ints([axis + 1]), ctx.ints([rank])])], { axis: 0 });
    updates = b.op('Reshape', [g, target]);
  }
  const column = ctx.ints([...new Array<number>(axis).fill(1), -1, ...new Array<number>(rank - axis - 1).fill(1)]);
  const spread = b.op('Expand', [b.op('Reshape', [indices, column]), b.op('Shape', [updates])]);
  return [b.op('ScatterElements', [zeros, spread, updates], { axis, reduction: 'add' }), undefined];
});
