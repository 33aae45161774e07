// Elementwise ops: broadcasting binary and variadic ops, comparisons (bool out), unary activations and math,
// Cast/CastLike, Identity, Dropout, Clip and the softmax family. Small integer values are folded for shape arithmetic.
import { DataType, dataTypeName } from '../../dtype.js';
import { Dim } from '../../ir.js';
import { elementsOf, foldBroadcast, numeric, withElements } from '../fold.js';
import { ShapeContext, ValueFacts, registerShapeRule } from '../registry.js';
import { broadcastShapes, normalizeAxis, requireInput, sameAsInput } from '../util.js';

/** Facts of the inputs given (omitted optional inputs skipped), failing when a required one is unknown. */
function givenInputs(ctx: ShapeContext): ValueFacts[] {
  const out: ValueFacts[] = [];
  for (let i = 0; i < ctx.inputCount; i++) if (ctx.node.input(i)) out.push(requireInput(ctx, i));
  return out;
}

/** Fails when inputs that the spec types alike (one type parameter T) have different element types. */
function requireSameType(ctx: ShapeContext, facts: ValueFacts[]): void {
  const types = new Set(facts.map((f) => f.elemType));
  if (types.size > 1) ctx.fail(`inputs have different element types (${[...types].map(dataTypeName).join(', ')})`);
}

/** The broadcast shape of the inputs, or undefined when one of them has unknown rank. */
function broadcastOf(ctx: ShapeContext, facts: ValueFacts[]): Dim[] | undefined {
  if (facts.some((f) => !f.shape)) return undefined;
  return broadcastShapes(ctx, facts.map((f) => f.shape!));
}

/**
 * A broadcasting op whose output type is `outType(inputs)`; `fold` (when given) computes elements of small
 * known inputs, so shape arithmetic stays known.
 */
function broadcasting(opts: { sameType?: boolean; outType?: (inputs: ValueFacts[]) => DataType; fold?: (xs: Dim[]) => Dim }) {
  return (ctx: ShapeContext) => {
    const inputs = givenInputs(ctx);
    if (inputs.length === 0) return ctx.fail('needs at least one input');
    if (opts.sameType !== false) requireSameType(ctx, inputs);
    const facts: ValueFacts = { elemType: opts.outType ? opts.outType(inputs) : inputs[0]!.elemType, shape: broadcastOf(ctx, inputs) };
    if (!opts.fold || !facts.shape) return [facts];
    return [withElements(facts, foldBroadcast(inputs, facts.shape, opts.fold))];
  };
}

const toBool = () => DataType.BOOL;
/** Integer division truncates toward zero (as onnxruntime does); withElements truncates integer results. */
const divide = numeric((a, b) => a / b);

registerShapeRule('Add', broadcasting({ fold: numeric((a, b) => a + b) }));
registerShapeRule('Sub', broadcasting({ fold: numeric((a, b) => a - b) }));
registerShapeRule('Mul', broadcasting({ fold: numeric((a, b) => a * b) }));
registerShapeRule('Div', broadcasting({ fold: divide }));
// Pow's exponent may have another type (T1); the output has the base's type.
registerShapeRule('Pow', broadcasting({ sameType: false, fold: numeric((a, b) => a ** b) }));
registerShapeRule('Max', broadcasting({ fold: numeric(Math.max) }));
registerShapeRule('Min', broadcasting({ fold: numeric(Math.min) }));
registerShapeRule('Sum', broadcasting({ fold: numeric((...xs) => xs.reduce((a, b) => a + b, 0)) }));
registerShapeRule('Mean', broadcasting({}));

// Equal also knows that a symbolic dim equals itself.
registerShapeRule('Equal', broadcasting({
  outType: toBool,
  fold: ([a, b]) => (a !== null && a === b ? 1 : typeof a === 'number' && typeof b === 'number' ? 0 : null),
}));
registerShapeRule('Less', broadcasting({ outType: toBool, fold: numeric((a, b) => Number(a < b)) }));
registerShapeRule('Greater', broadcasting({ outType: toBool, fold: numeric((a, b) => Number(a > b)) }));
registerShapeRule('LessOrEqual', broadcasting({ outType: toBool }));
registerShapeRule('GreaterOrEqual', broadcasting({ outType: toBool }));
for (const op of ['And', 'Or', 'Xor']) registerShapeRule(op, broadcasting({ outType: toBool }));
// Integer arithmetic (seeded hashes computed in the graph, e.g. HashedNets indices): broadcasting, type kept.
for (const op of ['BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'Mod']) registerShapeRule(op, broadcasting({}));

registerShapeRule('Where', (ctx: ShapeContext) => {
  const cond = requireInput(ctx, 0, 'condition');
  const x = requireInput(ctx, 1, 'X');
  const y = requireInput(ctx, 2, 'Y');
  requireSameType(ctx, [x, y]);
  const facts: ValueFacts = { elemType: x.elemType, shape: broadcastOf(ctx, [cond, x, y]) };
  if (!facts.shape) return [facts];
  // The chosen element may be a symbolic dim: Where picks it through unchanged.
  return [withElements(facts, foldBroadcast([cond, x, y], facts.shape, ([c, a, b]) => (typeof c === 'number' ? (c ? a! : b!) : null)))];
});

registerShapeRule('Not', (ctx: ShapeContext) => [{ elemType: DataType.BOOL, shape: requireInput(ctx, 0).shape }]);
registerShapeRule('BitwiseNot', (ctx: ShapeContext) => [sameAsInput(ctx, 0) ?? ctx.fail('input 0 is missing or has no known type')]);

// Unary ops: output type and shape are the input's (PRelu's slope broadcasts onto X; Clip's bounds are scalars).
const sameShape = (ctx: ShapeContext) => [sameAsInput(ctx, 0) ?? ctx.fail('input 0 is missing or has no known type')];
for (const op of [
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Erf', 'Gelu', 'Elu', 'Selu', 'Softplus',
  'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Neg', 'Abs', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Clip',
]) registerShapeRule(op, sameShape);

// Identity passes the value through so folded shape arithmetic survives it.
registerShapeRule('Identity', (ctx: ShapeContext) => [{ ...requireInput(ctx, 0) }]);

// Dropout's mask has the input's type until opset 10, bool from then on. The ratio (attribute before opset 12,
// input after) does not change shapes.
registerShapeRule('Dropout', (ctx: ShapeContext) => {
  const x = requireInput(ctx, 0);
  return [
    { elemType: x.elemType, shape: x.shape },
    { elemType: ctx.opset >= 10 ? DataType.BOOL : x.elemType, shape: x.shape },
  ];
});

function castTo(ctx: ShapeContext, to: DataType): ValueFacts[] {
  const x = requireInput(ctx, 0);
  return [withElements({ elemType: to, shape: x.shape }, elementsOf(x))];
}

registerShapeRule('Cast', (ctx: ShapeContext) => {
  const to = ctx.node.int('to');
  if (to === undefined) return ctx.fail("needs the 'to' attribute");
  return castTo(ctx, to as DataType);
});
registerShapeRule('CastLike', (ctx: ShapeContext) => castTo(ctx, requireInput(ctx, 1, 'target_type').elemType));

// Softmax family: shape unchanged; the axis (default 1 before opset 13, -1 from 13) must exist.
const softmaxLike = (ctx: ShapeContext) => {
  const x = requireInput(ctx, 0);
  const axis = ctx.node.int('axis', ctx.opset >= 13 ? -1 : 1);
  // Before opset 13 the input is coerced to 2-D at the axis, so axis == rank is accepted too.
  if (x.shape && !(ctx.opset < 13 && axis === x.shape.length)) normalizeAxis(ctx, axis, Math.max(x.shape.length, 1));
  return [{ elemType: x.elemType, shape: x.shape }];
};
for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) registerShapeRule(op, softmaxLike);
