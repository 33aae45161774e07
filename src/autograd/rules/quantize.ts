// Quantization and rounding: QuantizeLinear and DequantizeLinear with the straight-through estimator (STE), and the
// piecewise-constant ops Sign and Floor (derivative zero wherever it exists), which the STE constructions of
// compress/quantize use (Floor for the exact stop-gradient below, Sign for binary codes).
//
// Fake quantization y = DequantizeLinear(QuantizeLinear(x, s, z), s, z) is differentiated as two rules:
//   DequantizeLinear, y = (q - z) s:   dq = dy s (a float gradient for the integer q),   ds = sum dy (q - z)
//   QuantizeLinear, q = clamp(round(x/s) + z): the STE treats round as the identity inside the representable range
//     [s (qmin - z), s (qmax - z)] and the clamp as constant outside it:
//       dx = dq / s inside, 0 outside;   ds = -dq x / s^2 inside, 0 outside (d round(x/s)/ds under the STE)
// So the chain gives dx = dy inside the range (the clipped STE), and ds = dy (round(x/s) - x/s) inside, dy (qmin - z)
// or dy (qmax - z) outside: the step-size gradient of LSQ (Esser et al. 2019), before its gradient scale (which the
// training hook applies). Zero points are integers and get no gradient. Block-wise parameters are not supported.
import { GraphBuilder } from '../../core/builder.js';
import { DataType, dataTypeName } from '../../core/dtype.js';
import { Tensor } from '../../core/tensor.js';
import { GradientContext, registerGradient } from '../registry.js';

/** [qmin, qmax] of QuantizeLinear's integer output types. */
const INTEGER_RANGES: Partial<Record<DataType, [number, number]>> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT4]: [-8, 7],
  [DataType.UINT4]: [0, 15],
  [DataType.INT2]: [-2, 1],
  [DataType.UINT2]: [0, 3],
};

/** Whether a scale or zero point holds one value per index along `axis` (not one for the whole tensor). */
function perAxis(ctx: GradientContext, param: string): boolean {
  const shape = ctx.facts(param)?.shape;
  if (!shape) return ctx.fail(`the shape of '${param}' is needed for the gradient`);
  return shape.length === 1 && shape[0] !== 1;
}

function checkNotBlocked(ctx: GradientContext): void {
  if (ctx.node.int('block_size', 0)) ctx.fail('block-wise quantization (block_size) has no gradient rule');
}

/** The axis per-axis parameters run along, normalized against x's rank. */
function paramAxis(ctx: GradientContext, x: string): number {
  const rank = ctx.rank(x);
  const axis = ctx.node.int('axis', 1)!;
  return axis < 0 ? axis + rank : axis;
}

/** A scale or zero point shaped to broadcast against x: per-axis vectors get size-1 dims on every other axis. */
function broadcastParam(ctx: GradientContext, param: string, x: string): string {
  if (!perAxis(ctx, param)) return param;
  const rank = ctx.rank(x);
  const axis = paramAxis(ctx, x);
  const others = [...Array(rank).keys()].filter((a) => a !== axis);
  return others.length ? ctx.b.op('Unsqueeze', [param, ctx.ints(others)]) : param;
}

/** Sums an x-shaped gradient down to the parameter's shape (scalar, [1] or one value per index along the axis). */
function reduceToParam(ctx: GradientContext, grad: string, param: string, x: string): string {
  const rank = ctx.rank(x);
  if (perAxis(ctx, param)) {
    const axis = paramAxis(ctx, x);
    const others = [...Array(rank).keys()].filter((a) => a !== axis);
    return others.length ? ctx.b.op('ReduceSum', [grad, ctx.ints(others)], { keepdims: 0 }) : grad;
  }
  const total = rank ? ctx.b.op('ReduceSum', [grad], { keepdims: 0 }) : grad;
  return ctx.facts(param)!.shape!.length === 1 ? ctx.b.op('Reshape', [total, ctx.ints([1])]) : total;
}

/** The zero point as a float broadcastable against x, or undefined when absent (zero). */
function zeroPointAsFloat(ctx: GradientContext, x: string, dtype: DataType): string | undefined {
  const zp = ctx.node.input(2);
  if (!zp) return undefined;
  const cast = ctx.b.op('Cast', [zp], { to: dtype });
  if (!perAxis(ctx, zp)) return cast;
  const others = [...Array(ctx.rank(x)).keys()].filter((a) => a !== paramAxis(ctx, x));
  return others.length ? ctx.b.op('Unsqueeze', [cast, ctx.ints(others)]) : cast;
}

/** The scale in x's float type (QuantizeLinear allows a scale of another float type than x since opset 21). */
function scaleAs(ctx: GradientContext, scale: string, dtype: DataType): string {
  return ctx.dtype(scale) === dtype ? scale : ctx.b.op('Cast', [scale], { to: dtype });
}

registerGradient('DequantizeLinear', (ctx: GradientContext) => {
  checkNotBlocked(ctx);
  const { node, b } = ctx;
  const [q, scale] = node.inputs as [string, string];
  const y = node.outputs[0]!;
  const g = ctx.outputGrad(0)!;
  const dtype = ctx.dtype(y);
  const s = broadcastParam(ctx, scaleAs(ctx, scale, dtype), q);
  const dQ = ctx.needsGrad(0) ? b.op('Mul', [g, s]) : undefined;
  let dScale: string | undefined;
  if (ctx.needsGrad(1)) {
    const z = zeroPointAsFloat(ctx, q, dtype);
    const qf = b.op('Cast', [q], { to: dtype });
    const centered = z ? b.op('Sub', [qf, z]) : qf;
    dScale = reduceToParam(ctx, b.op('Mul', [g, centered]), scale, q);
    if (ctx.dtype(scale) !== dtype) dScale = b.op('Cast', [dScale], { to: ctx.dtype(scale) });
  }
  return [dQ, dScale, undefined];
});

registerGradient('QuantizeLinear', (ctx: GradientContext) => {
  checkNotBlocked(ctx);
  const { node, b } = ctx;
  const [x, scale] = node.inputs as [string, string];
  const q = node.outputs[0]!;
  const range = INTEGER_RANGES[ctx.dtype(q)];
  if (!range) return ctx.fail(`the straight-through gradient needs an integer output type, not ${dataTypeName(ctx.dtype(q))}`);
  const [qmin, qmax] = range;
  const g = ctx.outputGrad(0)!;
  const dtype = ctx.dtype(x);
  const s = broadcastParam(ctx, scaleAs(ctx, scale, dtype), x);
  const z = zeroPointAsFloat(ctx, x, dtype);
  // The representable range [s (qmin - z), s (qmax - z)], inclusive.
  const bound = (level: number) => b.op('Mul', [s, z ? b.op('Sub', [ctx.scalar(level, dtype), z]) : ctx.scalar(level, dtype)]);
  const inside = b.op('And', [b.op('GreaterOrEqual', [x, bound(qmin)]), b.op('LessOrEqual', [x, bound(qmax)])]);
  const zero = ctx.scalar(0, dtype);
  const dX = b.op('Where', [inside, b.op('Div', [g, s]), zero]);
  let dScale: string | undefined;
  if (ctx.needsGrad(1)) {
    dScale = reduceToParam(ctx, b.op('Neg', [b.op('Mul', [dX, b.op('Div', [x, s])])]), scale, x);
    if (ctx.dtype(scale) !== dtype) dScale = b.op('Cast', [dScale], { to: ctx.dtype(scale) });
  }
  return [ctx.needsGrad(0) ? dX : undefined, dScale, undefined];
});

// Piecewise-constant ops: zero derivative wherever one exists (as PyTorch, TensorFlow and JAX define them). Ceil and
// Round would read the same; they are left without a rule until something needs them.
for (const op of ['Sign', 'Floor']) registerGradient(op, () => [undefined]);

/** 2^149: every float32 (the smallest subnormal is 2^-149) times this is a whole number, exactly, in float64. */
const WHOLE_SCALE = 2 ** 149;

/**
 * A float32 value with its gradient cut: the same numbers, exactly, through Cast to float64, a multiplication by
 * 2^149 (which makes every float32 a whole number without rounding), Floor (which leaves whole numbers unchanged and
 * has a zero derivative), the division back and Cast to float32. Straight-through estimators are built from it as
 * w + stop(f(w) - w) patterns without any rule that lies about its op's derivative.
 */
export function stopGradient(b: GraphBuilder, value: string): string {
  const scale = b.initializer(Tensor.fromNumbers('stop_gradient_scale', DataType.DOUBLE, [], [WHOLE_SCALE]));
  const wide = b.op('Mul', [b.op('Cast', [value], { to: DataType.DOUBLE }), scale], {}, { name: 'stop_gradient_widen' });
  const floored = b.op('Floor', [wide], {}, { name: 'stop_gradient' });
  return b.op('Cast', [b.op('Div', [floored, scale])], { to: DataType.FLOAT }, { name: 'stop_gradient_narrow' });
}
