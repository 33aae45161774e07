// Losses and regularizers appended to a training graph. Each gives its scalar value and, where the gradient has a
// simple closed form, seeds that gradient directly (cheaper and exact), so autograd only runs through the model.
import { GraphBuilder } from '../core/builder.js';
import { DataType } from '../core/dtype.js';
import { ValueFacts } from '../core/shape/registry.js';
import { Tensor } from '../core/tensor.js';
import { GradientError } from '../autograd/registry.js';
import { GradientSeed } from '../autograd/gradients.js';
import { NnzipError } from '../core/errors.js';
import { seededRng, xavierUniform } from '../nn/init.js';

export type LossSpec =
  /** Softmax cross-entropy against integer labels; label smoothing spreads `labelSmoothing` of the target uniformly. */
  | { kind: 'cross-entropy'; weight?: number; labelSmoothing?: number }
  /** Mean squared error against a float `targets` input shaped like the output. */
  | { kind: 'mse'; weight?: number }
  /** Hinton's distillation term: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), teacher logits fed as an input. */
  | { kind: 'kl'; weight?: number; temperature: number }
  | HintSpec
  | AttentionSpec;

/**
 * FitNets hint: MSE (mean over elements) between adapter(student tensor) and a teacher tensor fed as a graph input.
 * 'auto' (default) inserts a learned adapter: a 1x1 Conv for rank-4 tensors (channels C_s -> C_t, spatial sizes must
 * match) or a linear layer for rank-2 ones ([N, D_s] -> [N, D_t]); it trains with the student and is never part of the
 * inference model. 'none': the two shapes must match exactly.
 */
export interface HintSpec {
  kind: 'hint';
  /** Any value of the student model (a node output). */
  student: string;
  /** The graph input the teacher's tensor is fed under, e.g. 'hint0_teacher'. */
  teacher: string;
  weight?: number;
  adapter?: 'auto' | 'none';
  /** The teacher tensor's shape (the batch dim is replaced by the student's); default: the student tensor's shape. */
  teacherShape?: readonly (number | string | null)[];
  /** Seed of the adapter's initial weights (default 0). */
  seed?: number;
}

/**
 * Attention transfer (Zagoruyko & Komodakis 2017): mean squared difference of the L2-normalized spatial attention maps
 * (sum over channels of squared activations, flattened) of a rank-4 student tensor and a fed teacher tensor. Channel
 * counts may differ; spatial sizes must match.
 */
export interface AttentionSpec {
  kind: 'attention';
  student: string;
  teacher: string;
  weight?: number;
  /** The teacher tensor's shape; default: the student tensor's shape. */
  teacherShape?: readonly (number | string | null)[];
}

/** A loss cannot be built as asked: a tensor that does not exist, shapes an adapter cannot bridge. */
export class LossError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'LossError';
  }
}

export type RegularizerSpec = { kind: 'l1' | 'l2'; weight: number; params: string[] };

export interface LossContext {
  b: GraphBuilder;
  facts: Map<string, ValueFacts>;
  /** The model output the loss reads (logits or predictions). */
  output: string;
  /** Values of the forward graph a hint may name (for error messages; default: every node output in the graph). */
  forwardValues?: readonly string[];
}

export interface LossPart {
  /** Scalar value of the (weighted) term. */
  value: string;
  seeds: GradientSeed[];
  /** Graph inputs the term needs, with their types: labels, targets, teacher logits. */
  inputs: { name: string; elemType: DataType; shape: (number | string)[] }[];
  /** Trainable tensors the term owns (hint adapters), added as initializers: trained, never exported. */
  params?: string[];
}

/** Batch size as a float scalar at run time (the batch dim is symbolic). */
function batchSize(b: GraphBuilder, x: string): string {
  const dim0 = b.op('Gather', [b.op('Shape', [x]), b.int64s('zero', [0], [])], { axis: 0 });
  return b.op('Cast', [dim0], { to: DataType.FLOAT });
}

function scalar(b: GraphBuilder, value: number): string {
  return b.initializer(Tensor.fromFloat32('k', [], [value]));
}

function classesOf(ctx: LossContext): number {
  const shape = ctx.facts.get(ctx.output)?.shape;
  if (!shape || shape.length !== 2 || typeof shape[1] !== 'number') {
    throw new GradientError(`classification losses need an output of shape [batch, classes]; '${ctx.output}' has ${shape ? `[${shape.join(',')}]` : 'an unknown shape'}`);
  }
  return shape[1];
}

function weighted(b: GraphBuilder, part: { value: string; seeds: GradientSeed[] }, weight = 1): { value: string; seeds: GradientSeed[] } {
  if (weight === 1) return part;
  const w = scalar(b, weight);
  return { value: b.op('Mul', [part.value, w]), seeds: part.seeds.map((s) => ({ value: s.value, grad: b.op('Mul', [s.grad, w]) })) };
}

export function crossEntropy(ctx: LossContext, spec: { labelSmoothing?: number; weight?: number }, labels = 'labels'): LossPart {
  const { b, output } = ctx;
  const classes = classesOf(ctx);
  const eps = spec.labelSmoothing ?? 0;
  const logp = b.op('LogSoftmax', [output], { axis: 1 }, { name: 'loss_logsoftmax' });
  let target = b.op('OneHot', [labels, b.int64s('classes', [classes], []), b.floats('onehot_values', [2], [0, 1])], { axis: -1 }, { name: 'loss_onehot' });
  if (eps > 0) target = b.op('Add', [b.op('Mul', [target, scalar(b, 1 - eps)]), scalar(b, eps / classes)]);
  const n = batchSize(b, output);
  const value = b.op('Div', [b.op('Neg', [b.op('ReduceSum', [b.op('Mul', [target, logp])], { keepdims: 0 })]), n], {}, { name: 'loss_cross_entropy' });
  // d/dlogits = (softmax - target) / n
  const grad = b.op('Div', [b.op('Sub', [b.op('Exp', [logp]), target]), n], {}, { name: 'loss_cross_entropy_grad' });
  return { ...weighted(b, { value, seeds: [{ value: output, grad }] }, spec.weight), inputs: [{ name: labels, elemType: DataType.INT64, shape: ['batch'] }] };
}

export function meanSquaredError(ctx: LossContext, spec: { weight?: number }, targets = 'targets'): LossPart {
  const { b, output } = ctx;
  const diff = b.op('Sub', [output, targets]);
  const value = b.op('ReduceMean', [b.op('Mul', [diff, diff])], { keepdims: 0 }, { name: 'loss_mse' });
  const count = b.op('Cast', [b.op('Size', [output])], { to: DataType.FLOAT });
  const grad = b.op('Div', [b.op('Mul', [diff, scalar(b, 2)]), count], {}, { name: 'loss_mse_grad' });
  const shape = (ctx.facts.get(output)?.shape ?? []).map((d, i) => (typeof d === 'number' ? d : typeof d === 'string' ? d : `d${i}`));
  return { ...weighted(b, { value, seeds: [{ value: output, grad }] }, spec.weight), inputs: [{ name: targets, elemType: DataType.FLOAT, shape }] };
}

export function distillationKl(ctx: LossContext, spec: { temperature: number; weight?: number }, teacher = 'teacher_logits'): LossPart {
  const { b, output } = ctx;
  const classes = classesOf(ctx);
  const t = spec.temperature;
  const invT = scalar(b, 1 / t);
  const logPs = b.op('LogSoftmax', [b.op('Mul', [output, invT])], { axis: 1 });
  const logPt = b.op('LogSoftmax', [b.op('Mul', [teacher, invT])], { axis: 1 });
  const pt = b.op('Exp', [logPt]);
  const n = batchSize(b, output);
  const kl = b.op('Div', [b.op('ReduceSum', [b.op('Mul', [pt, b.op('Sub', [logPt, logPs])])], { keepdims: 0 }), n]);
  const value = b.op('Mul', [kl, scalar(b, t * t)], {}, { name: 'loss_kl' });
  // d/dstudent of T²·KL = T · (softmax(s/T) − softmax(t/T)) / n
  const grad = b.op('Div', [b.op('Mul', [b.op('Sub', [b.op('Exp', [logPs]), pt]), scalar(b, t)]), n], {}, { name: 'loss_kl_grad' });
  return { ...weighted(b, { value, seeds: [{ value: output, grad }] }, spec.weight), inputs: [{ name: teacher, elemType: DataType.FLOAT, shape: ['batch', classes] }] };
}

/** L1 (λ·Σ|w|, gradient λ·sign w) or L2 (λ/2·Σw², gradient λ·w) penalty on the given parameters. */
export function regularizer(b: GraphBuilder, spec: RegularizerSpec): { value: string; seeds: GradientSeed[] } {
  const lambda = scalar(b, spec.kind === 'l2' ? spec.weight / 2 : spec.weight);
  const terms: string[] = [];
  const seeds: GradientSeed[] = [];
  for (const p of spec.params) {
    if (spec.kind === 'l1') {
      terms.push(b.op('ReduceSum', [b.op('Abs', [p])], { keepdims: 0 }));
      seeds.push({ value: p, grad: b.op('Mul', [b.op('Sign', [p]), scalar(b, spec.weight)]) });
    } else {
      terms.push(b.op('ReduceSum', [b.op('Mul', [p, p])], { keepdims: 0 }));
      seeds.push({ value: p, grad: b.op('Mul', [p, scalar(b, spec.weight)]) });
    }
  }
  const sum = terms.length === 1 ? terms[0]! : b.op('Sum', terms);
  return { value: b.op('Mul', [sum, lambda], {}, { name: `loss_${spec.kind}` }), seeds };
}

export function lossPart(ctx: LossContext, spec: LossSpec): LossPart {
  switch (spec.kind) {
    case 'cross-entropy': return crossEntropy(ctx, spec);
    case 'mse': return meanSquaredError(ctx, spec);
    case 'kl': return distillationKl(ctx, spec);
    case 'hint': return hintLoss(ctx, spec);
    case 'attention': return attentionTransfer(ctx, spec);
  }
}

type Shape = readonly (number | string | null)[];
const fmtShape = (s: Shape) => `[${s.map((d) => d ?? '?').join(',')}]`;

/** The student tensor's facts, or an error listing some values the student has. */
function studentTensor(ctx: LossContext, kind: string, name: string): Shape {
  const shape = ctx.facts.get(name)?.shape;
  const values = ctx.forwardValues ?? ctx.b.graph.nodes.flatMap((n) => n.outputs).filter((o) => o);
  if (!values.includes(name)) {
    const shown = values.slice(0, 12).map((v) => `'${v}'`).join(', ');
    throw new LossError(`${kind} loss: the student has no tensor '${name}' (values include ${shown}${values.length > 12 ? `, ... ${values.length - 12} more` : ''})`);
  }
  if (!shape) throw new LossError(`${kind} loss: the shape of student tensor '${name}' is unknown`);
  const elem = ctx.facts.get(name)!.elemType;
  if (elem !== DataType.FLOAT) throw new LossError(`${kind} loss: student tensor '${name}' is not float32`);
  return shape;
}

/** The teacher input's declared shape: the given (or the student's) dims with the student's batch dim first. */
function teacherInputShape(kind: string, spec: { student: string; teacher: string; teacherShape?: Shape }, student: Shape): (number | string)[] {
  const given = spec.teacherShape ?? student;
  if (given.length !== student.length) {
    throw new LossError(`${kind} loss: student tensor '${spec.student}' ${fmtShape(student)} and teacher tensor '${spec.teacher}' ${fmtShape(given)} differ in rank`);
  }
  const batch = typeof student[0] === 'string' ? student[0] : 'batch';
  return given.map((d, i) => {
    if (i === 0) return batch;
    if (d === null) throw new LossError(`${kind} loss: dim ${i} of teacher tensor '${spec.teacher}' ${fmtShape(given)} is unknown; give teacherShape`);
    return d;
  });
}

/** Mean over elements of (a − t)², with its closed-form gradient 2(a − t)/count seeded on `a`. */
function meanSquaredTo(b: GraphBuilder, a: string, t: string, name: string): { value: string; seeds: GradientSeed[] } {
  const diff = b.op('Sub', [a, t]);
  const value = b.op('ReduceMean', [b.op('Mul', [diff, diff])], { keepdims: 0 }, { name });
  const count = b.op('Cast', [b.op('Size', [a])], { to: DataType.FLOAT });
  const grad = b.op('Div', [b.op('Mul', [diff, scalar(b, 2)]), count], {}, { name: `${name}_grad` });
  return { value, seeds: [{ value: a, grad }] };
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

export function hintLoss(ctx: LossContext, spec: HintSpec): LossPart {
  const { b } = ctx;
  const student = studentTensor(ctx, 'hint', spec.student);
  const teacher = teacherInputShape('hint', spec, student);
  const adapter = spec.adapter ?? 'auto';
  const pair = `student tensor '${spec.student}' ${fmtShape(student)} and teacher tensor '${spec.teacher}' ${fmtShape(teacher)}`;
  const params: string[] = [];
  let adapted = spec.student;
  if (adapter === 'none') {
    const same = student.every((d, i) => i === 0 || d === teacher[i]);
    if (!same) throw new LossError(`hint loss: ${pair} differ in shape; use adapter 'auto' to learn a mapping`);
  } else {
    const rng = seededRng(spec.seed ?? 0);
    const prefix = `hint_adapter_${safeName(spec.student)}`;
    const cs = student[1], ct = teacher[1];
    if (typeof cs !== 'number' || typeof ct !== 'number') throw new LossError(`hint loss: ${pair}: the adapter needs static channel counts`);
    if (student.length === 4) {
      if (student[2] !== teacher[2] || student[3] !== teacher[3]) throw new LossError(`hint loss: ${pair} differ in spatial size; a 1x1 conv adapter cannot bridge them`);
      const dims = [ct, cs, 1, 1];
      const w = b.initializer(new Tensor(`${prefix}.weight`, DataType.FLOAT, dims, xavierUniform(dims, rng)));
      const bias = b.initializer(new Tensor(`${prefix}.bias`, DataType.FLOAT, [ct], new Float32Array(ct)));
      params.push(w, bias);
      adapted = b.op('Conv', [spec.student, w, bias], { kernel_shape: [1, 1] }, { name: prefix });
    } else if (student.length === 2) {
      const dims = [ct, cs];
      const w = b.initializer(new Tensor(`${prefix}.weight`, DataType.FLOAT, dims, xavierUniform(dims, rng)));
      const bias = b.initializer(new Tensor(`${prefix}.bias`, DataType.FLOAT, [ct], new Float32Array(ct)));
      params.push(w, bias);
      adapted = b.op('Gemm', [spec.student, w, bias], { transB: 1 }, { name: prefix });
    } else {
      throw new LossError(`hint loss: ${pair}: adapters exist for rank-4 (1x1 conv) and rank-2 (linear) tensors only; use adapter 'none' with matching shapes`);
    }
  }
  const part = meanSquaredTo(b, adapted, spec.teacher, `loss_hint_${safeName(spec.student)}`);
  return { ...weighted(b, part, spec.weight), inputs: [{ name: spec.teacher, elemType: DataType.FLOAT, shape: teacher }], params };
}

/** Normalized attention map of a [N, C, H, W] tensor: q = Σ_c x², flattened to [N, H·W], divided by its L2 norm. */
function attentionMap(b: GraphBuilder, x: string): string {
  const q = b.op('Flatten', [b.op('ReduceSum', [b.op('Mul', [x, x]), b.int64s('axes', [1])], { keepdims: 0 })], { axis: 1 });
  const norm = b.op('Sqrt', [b.op('Add', [b.op('ReduceSum', [b.op('Mul', [q, q]), b.int64s('axes', [1])], { keepdims: 1 }), scalar(b, 1e-12)])]);
  return b.op('Div', [q, norm]);
}

export function attentionTransfer(ctx: LossContext, spec: AttentionSpec): LossPart {
  const { b } = ctx;
  const student = studentTensor(ctx, 'attention', spec.student);
  const teacher = teacherInputShape('attention', spec, student);
  const pair = `student tensor '${spec.student}' ${fmtShape(student)} and teacher tensor '${spec.teacher}' ${fmtShape(teacher)}`;
  if (student.length !== 4) throw new LossError(`attention loss: ${pair}: attention maps need rank-4 [N, C, H, W] tensors`);
  if (student[2] !== teacher[2] || student[3] !== teacher[3]) throw new LossError(`attention loss: ${pair} differ in spatial size`);
  const part = meanSquaredTo(b, attentionMap(b, spec.student), attentionMap(b, spec.teacher), `loss_attention_${safeName(spec.student)}`);
  return { ...weighted(b, part, spec.weight), inputs: [{ name: spec.teacher, elemType: DataType.FLOAT, shape: teacher }] };
}
