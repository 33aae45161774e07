// Quantization-aware training (QAT): the model trains through fake quantization, DequantizeLinear(QuantizeLinear(v)),
// of its layer weights and activations, so it learns weights that survive rounding; the result is exported as the QDQ
// model a static quantizer writes (integer weights + DequantizeLinear, activations QuantizeLinear/DequantizeLinear),
// where onnxruntime selects its int8 kernels.
//
// What is quantized, and how:
// - Weights of Conv, Gemm and MatMul (a float initializer as input 1): per output channel, symmetric, int8 (8 bits)
//   or int4 (4 bits), scale max|w_c| / qmax recomputed from the current weights at every step (no gradient through
//   it), or with `lsq` a trainable scale per channel.
// - Activations: uint8, per tensor, asymmetric, after each layer (after its BatchNormalization and Relu when they
//   follow it alone) and on each layer's input that is not already quantized (the model's input, a residual sum).
//   Values that only pass through MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze or Identity between a
//   quantized value and a layer keep its parameters (as a static quantizer does, so onnxruntime drops or fuses them).
//   Ranges come from a short calibration: the min/max of each value over the first batches of the training data on
//   the float model, fixed during training (or, with `lsq`, the scales' starting values; zero points stay fixed).
// - Biases of quantized Conv/Gemm layers: int32 with scale s_input * s_weight per channel, zero point 0 (what
//   onnxruntime's QLinearConv/QGemm fusion needs), rounded half up; the training graph rounds them the same way (with
//   an identity gradient), so the export computes what training saw.
// Gradients: the straight-through estimator of autograd/rules/quantize.ts (identity inside the representable range,
// zero outside); with `lsq` the scales get LSQ's gradient (Esser et al. 2019) times g = 1 / sqrt(N * qmax), N the
// elements each scale covers (a weight channel's size, or one sample's activation size), through a parameter hook.
import { GraphBuilder } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { encodeModel } from '../../core/codec.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { constantsToInitializers } from '../../core/weights.js';
import { stopGradient } from '../../autograd/rules/quantize.js';
import { DataLoader } from '../../data/loader.js';
import { asModelInput } from '../../eval/classification.js';
import { Runtime } from '../../runtime/session.js';
import { ParameterHook } from '../../train/hooks.js';
import { matchesPattern } from '../../train/training-graph.js';
import { FitResult } from '../../train/trainer.js';
import { FineTuneOptions, trainModel } from '../prune/schedules.js';
import {
  QuantizationError, affineParams, groupIndexer, integerRange, integerTensor, quantizeValue,
} from './arithmetic.js';

export interface QatOptions {
  /** Weight bits: 8 (int8, default) or 4 (int4). Activations are uint8 either way. */
  bits?: number;
  /** Learnable scales (LSQ) for weights and activations; default false (observed scales). */
  lsq?: boolean;
  /** Conv/Gemm/MatMul nodes left in float, by name pattern ('*' matches anything). */
  exclude?: string[];
  /** Batches of the training loader whose activation min/max set the ranges (default 8). */
  calibrationBatches?: number;
}

/** Where calibration data comes from (trainQat passes its fine-tuning runtime and loader). */
export interface QatCalibration {
  runtime: Runtime;
  loader: DataLoader;
  threads?: number;
}

/** A fake-quantized activation of the prepared model. */
export interface QatActivation {
  /** The quantized value, by its name in the source model. */
  value: string;
  /** The fake-quantized value consumers read: `value` itself, or `${value}_fq` for a graph input. */
  reads: string;
  /** The float value QuantizeLinear reads: `value` renamed `${value}_float`, or the graph input itself. */
  source: string;
  /** Scale and zero-point initializers (shared with `sharedWith` when the value passes one through). */
  scale: string;
  zeroPoint: string;
  /** Calibrated float range; undefined for values that share another's parameters. */
  range?: { min: number; max: number };
  sharedWith?: string;
}

/** A layer whose weight (and bias) the prepared model fake-quantizes. */
export interface QatLayer {
  node: string;
  opType: string;
  /** The layer's first output (how the export finds the node). */
  output: string;
  weight: string;
  /** Axis of the weight's output channels. */
  axis: number;
  channels: number;
  /** Trainable scale initializer (LSQ), or undefined when the scale follows max|w| per channel. */
  scale?: string;
  /** The bias initializer, when it is quantized to int32 (a [channels] float bias of a layer with a quantized input). */
  bias?: string;
  /** The activation (its `value`) the layer reads (its scale enters the bias scale). */
  input?: string;
}

export interface PreparedQat {
  /**
   * The float model with fake quantization in it, in training form: train it with trainModel(model, { hooks }).
   * (With LSQ its activation parameters are one-element vectors; fakeQuantModel gives the form to run.)
   */
  model: Model;
  /** LSQ gradient scaling and positivity of the trainable scales; empty without LSQ. */
  hooks: Record<string, ParameterHook[]>;
  layers: QatLayer[];
  activations: QatActivation[];
  /** Layers left in float by `exclude`. */
  excluded: string[];
  bits: number;
  lsq: boolean;
}

export interface QatLayerReport {
  node: string;
  opType: string;
  weight: string;
  channels: number;
  bits: number;
  /** Smallest and largest weight scale. */
  scale: { min: number; max: number };
  biasInt32: boolean;
}

export interface QatActivationReport {
  value: string;
  scale: number;
  zeroPoint: number;
  /** Calibrated range (absent for values sharing another's parameters). */
  range?: { min: number; max: number };
  sharedWith?: string;
}

export interface QatReport {
  bits: number;
  lsq: boolean;
  layers: QatLayerReport[];
  activations: QatActivationReport[];
  excluded: string[];
  /** Serialized model size before (float) and after (QDQ). */
  bytes: { before: number; after: number };
}

const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
/** Ops whose output holds only values of their input (so a quantized input leaves the output on the same grid). */
const PASS_THROUGH = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);
const QUANTIZED_OPS = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'MatMulInteger',
  'ConvInteger', 'QGemm', 'MatMulNBits', 'MatMulBnb4', 'QLinearAdd',
]);
const ACTIVATION_FORMAT = { bits: 8, signed: false } as const;
/** Added to computed weight scales so an all-zero channel divides by a positive number (below every useful scale). */
const SCALE_FLOOR = Math.fround(1e-30);
/** Lower bound of trainable (LSQ) scales after each step. */
const MIN_TRAINED_SCALE = 1e-8;
/** Largest float32 below 2^31: int32 biases are clamped to it (reached only with near-zero scales). */
const INT32_BOUND = 2147483520;

function checkBits(bits: number): void {
  if (bits !== 4 && bits !== 8) throw new QuantizationError(`QAT supports 8- or 4-bit weights, not ${bits}`);
}

/** The model at opset 21 (int4 and the QuantizeLinear forms used here) with Constant-node weights as initializers. */
function normalized(model: Model): Model {
  const opset = model.opset('');
  return constantsToInitializers(opset !== undefined && opset < 21 ? upgradeOpset(model, 21) : model.clone());
}

function assertFloatModel(model: Model): void {
  const quantized = model.graph.nodes.find((n) => QUANTIZED_OPS.has(n.opType));
  if (quantized) throw new QuantizationError(`the model is already quantized (node '${quantized.label}' is ${quantized.opType}); QAT needs a float model`);
}

function weightAxis(node: Node): number {
  if (node.opType === 'Conv') return 0;
  if (node.opType === 'Gemm') return node.int('transB', 0) ? 0 : 1;
  return 1; // MatMul [K, N]
}

interface LayerPlan {
  node: Node;
  weight: Tensor;
  axis: number;
  bias?: Tensor;
}

function findLayers(g: Graph, exclude: string[]): { layers: LayerPlan[]; excluded: string[] } {
  const layers: LayerPlan[] = [];
  const excluded: string[] = [];
  for (const node of g.nodes) {
    if (node.domain !== '' || !LAYER_OPS.has(node.opType)) continue;
    const w = node.inputs[1] ? g.initializers.get(node.inputs[1]) : undefined;
    if (!w || w.dataType !== DataType.FLOAT || w.dims.length < 2 || (node.opType !== 'Conv' && w.dims.length !== 2)) continue;
    if (!node.inputs[0] || g.initializers.has(node.inputs[0])) continue; // a constant first operand: not a layer over data
    if (exclude.some((p) => matchesPattern(node.name, p) || matchesPattern(node.label, p))) { excluded.push(node.label); continue; }
    const data = w.toFloat32();
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new QuantizationError(`weight '${w.name}' of node '${node.label}' holds a non-finite value (${data[i]}) at index ${i}`);
    }
    const axis = weightAxis(node);
    const biasName = node.opType === 'MatMul' ? undefined : node.input(2);
    const bias = biasName ? g.initializers.get(biasName) : undefined;
    const biasFits = bias && bias.dataType === DataType.FLOAT && bias.dims.length === 1 && bias.dims[0] === w.dims[axis]
      && (node.opType !== 'Gemm' || node.float('beta', 1) === 1);
    layers.push({ node, weight: w, axis, bias: biasFits ? bias : undefined });
  }
  return { layers, excluded };
}

/** The value a layer's activation quantizer goes after: past a BatchNormalization and a Relu that follow it alone. */
function outputPoint(g: Graph, node: Node, consumers: Map<string, Node[]>, graphOutputs: Set<string>): string {
  let y = node.outputs[0]!;
  for (;;) {
    const next = consumers.get(y) ?? [];
    const only = next.length === 1 ? next[0]! : undefined;
    if (!only || graphOutputs.has(y) || only.inputs[0] !== y) return y;
    if (only.opType !== 'Relu' && only.opType !== 'BatchNormalization') return y;
    y = only.outputs[0]!;
  }
}

interface PointPlan {
  value: string;
  /** Values that take their parameters from another point (pass-through ops). */
  sharedWith?: string;
}

/** Activation points: every layer's output point, and each layer input that is neither one nor passed from one. */
function planActivations(g: Graph, layers: LayerPlan[]): { points: Map<string, PointPlan>; layerInput: Map<Node, string> } {
  const consumers = g.consumers();
  const producers = g.producers();
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const points = new Map<string, PointPlan>();
  for (const l of layers) {
    const y = outputPoint(g, l.node, consumers, graphOutputs);
    if (!points.has(y)) points.set(y, { value: y });
  }
  const layerInput = new Map<Node, string>();
  for (const l of layers) {
    const x = l.node.inputs[0]!;
    layerInput.set(l.node, x);
    if (points.has(x)) continue;
    const chain: string[] = [];
    let v = x;
    while (!points.has(v)) {
      const p = producers.get(v);
      if (!p || !PASS_THROUGH.has(p.opType) || p.outputs[0] !== v || (p.opType === 'MaxPool' && p.outputs[1])) break;
      chain.push(v);
      v = p.inputs[0]!;
    }
    if (points.has(v)) {
      const root = points.get(v)!.sharedWith ?? v;
      for (const c of chain.reverse()) points.set(c, { value: c, sharedWith: root });
    } else {
      points.set(x, { value: x });
    }
  }
  return { points, layerInput };
}

/** Min and max of each value over the first batches of the loader, on the float model. */
async function calibrate(model: Model, values: string[], calibration: QatCalibration, batches: number): Promise<Map<string, { min: number; max: number }>> {
  const g = model.graph;
  const input = g.inputs.find((v) => !g.initializers.has(v.name));
  if (!input) throw new QuantizationError('the model has no data input to calibrate with');
  const observed = model.clone();
  const fromInput = values.filter((v) => v === input.name);
  const fromGraph = values.filter((v) => v !== input.name);
  observed.graph.outputs = fromGraph.map((name) => ({ name }));
  const rank = input.type?.kind === 'tensor' ? input.type.shape?.length : undefined;
  const ranges = new Map(values.map((v) => [v, { min: Infinity, max: -Infinity }]));
  const widen = (name: string, data: ArrayLike<number>) => {
    const r = ranges.get(name)!;
    for (let i = 0; i < data.length; i++) {
      const x = data[i]!;
      if (!Number.isFinite(x)) throw new QuantizationError(`calibration: activation '${name}' holds a non-finite value (${x})`);
      if (x < r.min) r.min = x;
      if (x > r.max) r.max = x;
    }
  };
  const session = fromGraph.length ? await calibration.runtime.createSession(observed, { threads: calibration.threads }) : undefined;
  let seen = 0;
  try {
    for (const batch of calibration.loader.batches(0)) {
      if (seen++ >= batches) break;
      const data = asModelInput(batch.inputs, input.name, rank);
      for (const v of fromInput) widen(v, data.toFloat32());
      if (session) {
        const out = await session.run({ [input.name]: data }, fromGraph);
        for (const v of fromGraph) widen(v, out[v]!.toFloat32());
      }
    }
  } finally {
    await session?.release();
  }
  if (!seen) throw new QuantizationError('calibration: the loader gave no batches');
  return ranges;
}

/** max|w| per channel along `axis`, as MaxPool over [1, C, K] (a gradient rule exists for it, none for ReduceMax). */
function channelAbsMax(b: GraphBuilder, weight: string, dims: readonly number[], axis: number): string {
  const channels = dims[axis]!;
  const inner = dims.reduce((p, d) => p * d, 1) / channels;
  let abs = b.op('Abs', [weight]);
  if (axis !== 0) {
    const perm = [axis, ...[...dims.keys()].filter((a) => a !== axis)];
    abs = b.op('Transpose', [abs], { perm });
  }
  const rows = b.op('Reshape', [abs, b.int64s('qat_rows', [1, channels, inner])]);
  const max = b.op('MaxPool', [rows], { kernel_shape: [inner] });
  return b.op('Reshape', [max, b.int64s('qat_channels', [channels])]);
}

/** The weight scales the training graph computes, computed the same way in float32: max|w_c| / qmax + floor. */
export function observedWeightScales(weight: Tensor, axis: number, bits: number): Float32Array {
  const { qmax } = integerRange({ bits, signed: true });
  const channels = weight.dims[axis]!;
  const group = groupIndexer(weight.dims, { kind: 'channel', axis });
  const data = weight.toFloat32();
  const max = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) { const k = group(i); const a = Math.abs(data[i]!); if (a > max[k]!) max[k] = a; }
  return max.map((m) => Math.fround(Math.fround(m / qmax) + SCALE_FLOOR));
}

function lsqHook(gradScale: number): ParameterHook {
  return {
    kind: 'lsq-scale',
    gradient: (b, _param, grad) => b.op('Mul', [grad, b.initializer(Tensor.fromFloat32('lsq_grad_scale', [], [gradScale]))]),
    update: (b, _param, updated) => b.op('Max', [updated, b.initializer(Tensor.fromFloat32('lsq_min_scale', [], [MIN_TRAINED_SCALE]))]),
  };
}

/**
 * Puts fake quantization into a float model: activation ranges are calibrated on `calibration`'s first batches, then
 * weights, biases and activations are fake-quantized as the header describes. The returned model trains with
 * trainModel(model, { hooks }) and runs as it is (the fake-quantized forward).
 */
export async function prepareQat(source: Model, options: QatOptions, calibration: QatCalibration): Promise<PreparedQat> {
  const bits = options.bits ?? 8;
  checkBits(bits);
  const lsq = options.lsq ?? false;
  const batches = options.calibrationBatches ?? 8;
  if (!Number.isInteger(batches) || batches < 1) throw new QuantizationError(`calibration batches must be a positive whole number, got ${batches}`);
  const model = normalized(source);
  assertFloatModel(model);
  const g = model.graph;
  g.sortTopologically();
  const { layers, excluded } = findLayers(g, options.exclude ?? []);
  if (!layers.length) throw new QuantizationError(`no Conv, Gemm or MatMul layer with a float weight to quantize${excluded.length ? ` (excluded: ${excluded.join(', ')})` : ''}`);
  const { points, layerInput } = planActivations(g, layers);
  const calibrated = [...points.values()].filter((p) => !p.sharedWith).map((p) => p.value);
  const ranges = await calibrate(model, calibrated, calibration, batches);

  const b = new GraphBuilder(g);
  const hooks: Record<string, ParameterHook[]> = {};
  const facts = inferShapes(model).values;
  const perSample = (value: string) => {
    const shape = facts.get(value)?.shape;
    const n = shape?.slice(1).reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1);
    return n && n > 0 ? n : 1;
  };
  const graphInputs = new Set(g.inputs.map((v) => v.name));
  const producers = g.producers();
  const consumers = g.consumers();
  const paramDims = lsq ? [1] : [];

  // Activations: Q/DQ after each point; the fake-quantized value keeps the original name, so consumers need no edits.
  const activations = new Map<string, QatActivation>();
  const order = [...points.values()].sort((p, q) => Number(!!p.sharedWith) - Number(!!q.sharedWith));
  for (const point of order) {
    let scale: string, zeroPoint: string, range: { min: number; max: number } | undefined;
    if (point.sharedWith) {
      const root = activations.get(point.sharedWith)!;
      scale = root.scale;
      zeroPoint = root.zeroPoint;
    } else {
      range = ranges.get(point.value)!;
      const p = affineParams(range.min, range.max, { ...ACTIVATION_FORMAT });
      scale = b.initializer(Tensor.fromFloat32(`${point.value}_scale`, paramDims, [p.scale]));
      zeroPoint = b.initializer(Tensor.fromNumbers(`${point.value}_zero_point`, DataType.UINT8, paramDims, [p.zeroPoint]));
      if (lsq) hooks[scale] = [lsqHook(1 / Math.sqrt(perSample(point.value) * integerRange(ACTIVATION_FORMAT).qmax))];
    }
    let source: string, reads: string;
    if (graphInputs.has(point.value) || !producers.has(point.value)) {
      // A graph input keeps its name: its readers move to the fake-quantized copy.
      source = point.value;
      reads = b.fresh(`${point.value}_fq`);
      for (const n of consumers.get(point.value) ?? []) n.inputs = n.inputs.map((i) => (i === point.value ? reads : i));
    } else {
      const producer = producers.get(point.value)!;
      source = b.fresh(`${point.value}_float`);
      producer.outputs = producer.outputs.map((o) => (o === point.value ? source : o));
      reads = point.value;
    }
    const q = b.op('QuantizeLinear', [source, scale, zeroPoint], {}, { name: `${point.value}_QuantizeLinear` });
    b.op('DequantizeLinear', [q, scale, zeroPoint], {}, { name: `${point.value}_DequantizeLinear`, output: reads });
    activations.set(point.value, { value: point.value, reads, source, scale, zeroPoint, range, sharedWith: point.sharedWith });
  }

  // Weights (per channel, symmetric) and biases (int32 grid).
  const format = { bits, signed: true };
  const { qmax } = integerRange(format);
  const weightFq = new Map<string, { value: string; scale: string }>();
  const planned: QatLayer[] = [];
  for (const l of layers) {
    const w = l.weight;
    const channels = w.dims[l.axis]!;
    let fq = weightFq.get(w.name);
    let trainedScale: string | undefined;
    if (!fq) {
      let scale: string;
      if (lsq) {
        scale = trainedScale = b.initializer(Tensor.fromFloat32(`${w.name}_scale`, [channels], observedWeightScales(w, l.axis, bits)));
        hooks[scale] = [lsqHook(1 / Math.sqrt((w.size / channels) * qmax))];
      } else {
        const max = channelAbsMax(b, w.name, w.dims, l.axis);
        const divided = b.op('Div', [max, b.initializer(Tensor.fromFloat32('qat_qmax', [], [qmax]))]);
        scale = stopGradient(b, b.op('Add', [divided, b.initializer(Tensor.fromFloat32('qat_scale_floor', [], [SCALE_FLOOR]))]));
      }
      const zero = b.initializer(integerTensor(`${w.name}_zero_point`, [channels], new Int32Array(channels), format));
      const q = b.op('QuantizeLinear', [w.name, scale, zero], { axis: l.axis }, { name: `${w.name}_fake_QuantizeLinear` });
      fq = { value: b.op('DequantizeLinear', [q, scale, zero], { axis: l.axis }, { name: `${w.name}_fake_DequantizeLinear` }), scale };
      weightFq.set(w.name, fq);
    } else if (lsq) {
      trainedScale = fq.scale;
    }
    l.node.inputs[1] = fq.value;
    const input = activations.get(layerInput.get(l.node)!);
    let bias: string | undefined;
    if (l.bias && input) {
      bias = l.bias.name;
      const biasScale = b.op('Mul', [input.scale, fq.scale]);
      // floor(x + 0.5): rounding half up (Round has no gradient rule, and ties do not matter)
      const half = b.initializer(Tensor.fromFloat32('half', [], [0.5]));
      const levels = b.op('Clip', [b.op('Floor', [b.op('Add', [b.op('Div', [bias, biasScale]), half])]),
        b.initializer(Tensor.fromFloat32('int32_min', [], [-INT32_BOUND])), b.initializer(Tensor.fromFloat32('int32_max', [], [INT32_BOUND]))]);
      // The rounded bias forward, the identity backward.
      const rounded = stopGradient(b, b.op('Mul', [levels, biasScale]));
      l.node.inputs[2] = b.op('Add', [rounded, b.op('Sub', [bias, stopGradient(b, bias)])], {}, { name: `${bias}_fake_quant` });
    }
    planned.push({
      node: l.node.label, opType: l.node.opType, output: l.node.outputs[0]!, weight: w.name, axis: l.axis, channels,
      scale: trainedScale, bias, input: input?.value,
    });
  }
  g.sortTopologically();
  validateModel(model);
  return { model, hooks, layers: planned, activations: [...activations.values()], excluded, bits, lsq };
}

/** Activation scales and zero points as scalars (a static quantizer's layout: onnxruntime's fusions want scalars). */
function scalarActivationParams(g: Graph, prepared: PreparedQat): void {
  for (const a of prepared.activations) {
    if (a.sharedWith) continue;
    for (const name of [a.scale, a.zeroPoint]) {
      const t = g.initializers.get(name);
      if (!t) throw new QuantizationError(`the trained model has no initializer '${name}'; was it prepared by prepareQat?`);
      if (t.size !== 1) throw new QuantizationError(`activation parameter '${name}' must hold one value, it has ${t.size}`);
      g.initializers.set(name, new Tensor(name, t.dataType, [], t.numeric().slice(0, 1)));
    }
  }
}

/**
 * The trained fake-quantized model in inference form (what trainQat returns as `fakeQuant`): prepared.model's
 * structure with trained values, activation parameters as scalars. LSQ trains them as one-element vectors (the
 * training engine trains tensors of rank 1 or more), which onnxruntime's fused quantized ops (QLinearAdd) refuse.
 */
export function fakeQuantModel(trained: Model, prepared: PreparedQat): Model {
  const m = trained.clone();
  scalarActivationParams(m.graph, prepared);
  return m;
}

function scalarOf(t: Tensor): number {
  if (t.size !== 1) throw new QuantizationError(`activation parameter '${t.name}' must hold one value, it has ${t.size}`);
  return t.at(0);
}

/**
 * The QDQ model of a trained fake-quantized model (prepared.model with trained values): weights become integer
 * initializers with a per-channel DequantizeLinear, quantized biases int32 ones, activation scales and zero points
 * scalars, and the fake-quantization arithmetic of weights and biases is gone. Its float computation is the
 * fake-quantized model's.
 */
export function exportQat(trained: Model, prepared: PreparedQat): { model: Model; layers: QatLayerReport[]; activations: QatActivationReport[] } {
  const m = trained.clone();
  const g = m.graph;
  const b = new GraphBuilder(g);
  const format = { bits: prepared.bits, signed: true };
  const { qmin, qmax } = integerRange(format);
  const producers = g.producers();
  const init = (name: string) => {
    const t = g.initializers.get(name);
    if (!t) throw new QuantizationError(`the trained model has no initializer '${name}'; was it prepared by prepareQat?`);
    return t;
  };

  const activationScale = new Map<string, number>();
  const activations: QatActivationReport[] = prepared.activations.map((a) => {
    const scale = scalarOf(init(a.scale));
    const zeroPoint = scalarOf(init(a.zeroPoint));
    activationScale.set(a.value, scale);
    return { value: a.value, scale, zeroPoint, range: a.range, sharedWith: a.sharedWith };
  });
  scalarActivationParams(g, prepared);

  const quantizedWeights = new Map<string, { value: string; scales: Float32Array }>();
  const layers: QatLayerReport[] = [];
  for (const l of prepared.layers) {
    const node = producers.get(l.output);
    if (!node) throw new QuantizationError(`layer '${l.node}' is not in the trained model`);
    const w = init(l.weight);
    let qw = quantizedWeights.get(l.weight);
    if (!qw) {
      const scales = l.scale ? init(l.scale).toFloat32() : observedWeightScales(w, l.axis, prepared.bits);
      const group = groupIndexer(w.dims, { kind: 'channel', axis: l.axis });
      const data = w.toFloat32();
      const values = new Int32Array(data.length);
      for (let i = 0; i < data.length; i++) { const k = group(i); values[i] = quantizeValue(data[i]!, scales[k]!, 0, qmin, qmax); }
      const codes = b.initializer(integerTensor(`${l.weight}_quantized`, w.dims, values, format));
      const scale = b.initializer(Tensor.fromFloat32(`${l.weight}_quantized_scale`, [l.channels], scales));
      const zero = b.initializer(integerTensor(`${l.weight}_quantized_zero_point`, [l.channels], new Int32Array(l.channels), format));
      qw = { value: b.op('DequantizeLinear', [codes, scale, zero], { axis: l.axis }, { name: `${l.weight}_DequantizeLinear` }), scales };
      quantizedWeights.set(l.weight, qw);
    }
    node.inputs[1] = qw.value;
    if (l.bias && l.input) {
      const bias = init(l.bias).toFloat32();
      const inputScale = Math.fround(activationScale.get(l.input)!);
      const biasScales = qw.scales.map((s) => Math.fround(inputScale * s));
      const values = new Int32Array(bias.length);
      for (let i = 0; i < bias.length; i++) {
        const level = Math.floor(Math.fround(Math.fround(bias[i]! / biasScales[i]!) + 0.5));
        values[i] = Math.min(INT32_BOUND, Math.max(-INT32_BOUND, level));
      }
      const codes = b.initializer(new Tensor(`${l.bias}_quantized`, DataType.INT32, [bias.length], values));
      const scale = b.initializer(Tensor.fromFloat32(`${l.bias}_quantized_scale`, [bias.length], biasScales));
      node.inputs[2] = b.op('DequantizeLinear', [codes, scale], { axis: 0 }, { name: `${l.bias}_DequantizeLinear` });
    }
    let min = Infinity, max = -Infinity;
    for (const s of qw.scales) { min = Math.min(min, s); max = Math.max(max, s); }
    layers.push({ node: l.node, opType: l.opType, weight: l.weight, channels: l.channels, bits: prepared.bits, scale: { min, max }, biasInt32: !!(l.bias && l.input) });
  }
  g.removeDeadNodes();
  g.sortTopologically();
  validateModel(m);
  return { model: m, layers, activations };
}

export interface QatResult {
  /** The QDQ model. */
  model: Model;
  /** The trained fake-quantized float model (the forward training saw, in inference form). */
  fakeQuant: Model;
  report: QatReport;
  fit: FitResult;
}

/** Prepares (calibrating on the fine-tuning loader), trains through fake quantization, and exports as QDQ. */
export async function trainQat(model: Model, options: QatOptions, fineTune: FineTuneOptions): Promise<QatResult> {
  const prepared = await prepareQat(model, options, { runtime: fineTune.runtime, loader: fineTune.loader, threads: fineTune.threads });
  const trained = await trainModel(prepared.model, { hooks: prepared.hooks }, fineTune);
  const exported = exportQat(trained.model, prepared);
  const report: QatReport = {
    bits: prepared.bits, lsq: prepared.lsq, layers: exported.layers, activations: exported.activations, excluded: prepared.excluded,
    bytes: { before: encodeModel(model).bytes.byteLength, after: encodeModel(exported.model).bytes.byteLength },
  };
  return { model: exported.model, fakeQuant: fakeQuantModel(trained.model, prepared), report, fit: trained.fit };
}
