// Binary and ternary weights, trained with the training engine. The layers keep latent float weights; the forward pass
// reads a binarized or ternarized copy built from standard ops by a parameter hook, and the gradient reaches the
// latent weights through a straight-through estimator:
//   binary (BinaryConnect / XNOR-Net): w_b = alpha_c * sign(w) (sign(0) = +1), alpha_c = mean |w| over output
//     channel c; gradient the identity where |w| <= 1, zero elsewhere (clipped STE), and the latent weights are
//     clipped to [-1, 1] after each step (BinaryConnect), so none leaves the region where it can learn;
//   ternary (TWN, Li et al. 2016): delta_c = 0.7 * mean |w|, w_t = alpha_c * {-1, 0, +1} by |w| > delta_c and sign,
//     alpha_c = mean of the |w| above delta_c; gradient the identity.
// The STE is w_q = q(stop(w)) + (w - stop(w)) * mask: forward exactly q(w) (w - stop(w) is exactly 0), backward the
// mask (1, or for binary 1 where |w| <= 1). stop() is autograd/rules/quantize.ts's exact stop-gradient, so no op's
// gradient rule is bent for it.
// Means run in float64, so the export, which recomputes alpha and the codes in JavaScript, reproduces them.
// Export: per layer one int4 tensor of codes {-1, 0, +1} and a DequantizeLinear with alpha per channel (the file
// shrinks about 8x); the layer itself stays a float op, which onnxruntime runs on the dequantized weights.
import { GraphBuilder } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { encodeModel } from '../../core/codec.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { constantsToInitializers } from '../../core/weights.js';
import { stopGradient } from '../../autograd/rules/quantize.js';
import { ParameterHook } from '../../train/hooks.js';
import { matchesPattern } from '../../train/training-graph.js';
import { FitResult } from '../../train/trainer.js';
import { FineTuneOptions, trainModel } from '../prune/schedules.js';
import { QuantizationError, groupIndexer, integerTensor } from './arithmetic.js';

export type BinaryKind = 'binary' | 'ternary';

export interface BinaryOptions {
  kind: BinaryKind;
  /** Conv/Gemm/MatMul nodes left in float, by name pattern ('*' matches anything). */
  exclude?: string[];
  /** Keep the first / last layer (in graph order) in float, as XNOR-Net does (default false). */
  skipFirst?: boolean;
  skipLast?: boolean;
}

/** A layer whose weight is binarized or ternarized. */
export interface BinaryLayer {
  node: string;
  opType: string;
  weight: string;
  /** Axis of the weight's output channels. */
  axis: number;
  channels: number;
}

export interface BinaryLayerReport extends BinaryLayer {
  /** Smallest and largest channel scale alpha. */
  alpha: { min: number; max: number };
  /** Fraction of codes that are 0 (ternary; 0 for binary). */
  zeros: number;
  /** Most distinct weight values any channel has (2 for binary, at most 3 for ternary). */
  valuesPerChannel: number;
}

export interface BinaryReport {
  kind: BinaryKind;
  layers: BinaryLayerReport[];
  /** Layers left in float (excluded or skipped). */
  skipped: string[];
  /** Serialized model size before (float) and after. */
  bytes: { before: number; after: number };
}

const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
/** TWN's threshold factor: delta = 0.7 * mean |w| (Li et al. 2016, from a Gaussian/uniform approximation). */
const TWN_THRESHOLD = Math.fround(0.7);
/** Added to the ternary count so an all-zero channel gives alpha 0 instead of 0/0; below every count's ulp. */
const COUNT_FLOOR = 1e-300;

function checkKind(kind: string): asserts kind is BinaryKind {
  if (kind !== 'binary' && kind !== 'ternary') throw new QuantizationError(`weight kind must be 'binary' or 'ternary', not '${kind}'`);
}

function normalized(model: Model): Model {
  const opset = model.opset('');
  return constantsToInitializers(opset !== undefined && opset < 21 ? upgradeOpset(model, 21) : model.clone());
}

function weightAxis(node: Node): number {
  if (node.opType === 'Conv') return 0;
  if (node.opType === 'Gemm') return node.int('transB', 0) ? 0 : 1;
  return 1;
}

/** The layers to binarize (in graph order) and those left in float. */
export function binaryLayers(model: Model, options: BinaryOptions): { layers: BinaryLayer[]; skipped: string[] } {
  const g = model.graph.clone().sortTopologically();
  const candidates: { node: Node; weight: Tensor }[] = [];
  const seen = new Set<string>();
  for (const node of g.nodes) {
    if (node.domain !== '' || !LAYER_OPS.has(node.opType)) continue;
    const w = node.inputs[1] ? g.initializers.get(node.inputs[1]) : undefined;
    if (!w || w.dataType !== DataType.FLOAT || w.dims.length < 2 || (node.opType !== 'Conv' && w.dims.length !== 2)) continue;
    if (seen.has(w.name)) continue;
    seen.add(w.name);
    candidates.push({ node, weight: w });
  }
  const skipped: string[] = [];
  const layers: BinaryLayer[] = [];
  candidates.forEach(({ node, weight }, i) => {
    const skip = (options.skipFirst && i === 0) || (options.skipLast && i === candidates.length - 1)
      || (options.exclude ?? []).some((p) => matchesPattern(node.name, p) || matchesPattern(node.label, p));
    if (skip) { skipped.push(node.label); return; }
    const data = weight.toFloat32();
    for (let k = 0; k < data.length; k++) {
      if (!Number.isFinite(data[k]!)) throw new QuantizationError(`weight '${weight.name}' of node '${node.label}' holds a non-finite value (${data[k]}) at index ${k}`);
    }
    const axis = weightAxis(node);
    layers.push({ node: node.label, opType: node.opType, weight: weight.name, axis, channels: weight.dims[axis]! });
  });
  return { layers, skipped };
}

/** The forward-pass weight of one layer: alpha per channel times codes, with the STE (see the header). */
function binarizedWeight(b: GraphBuilder, weight: string, dims: readonly number[], layer: BinaryLayer, kind: BinaryKind): string {
  const reduced = [...dims.keys()].filter((a) => a !== layer.axis);
  const axes = () => b.int64s('binary_axes', reduced);
  const f32 = (name: string, v: number) => b.initializer(Tensor.fromFloat32(name, [], [v]));
  const f64 = (name: string, v: number) => b.initializer(Tensor.fromNumbers(name, DataType.DOUBLE, [], [v]));
  const latent = stopGradient(b, weight);
  const abs = b.op('Abs', [latent]);
  const abs64 = b.op('Cast', [abs], { to: DataType.DOUBLE });
  const mean = b.op('Cast', [b.op('ReduceMean', [abs64, axes()], { keepdims: 1 })], { to: DataType.FLOAT });
  let alpha: string, codes: string;
  if (kind === 'binary') {
    alpha = mean;
    // sign with sign(0) = +1: sign(sign(w) + 0.5)
    codes = b.op('Sign', [b.op('Add', [b.op('Sign', [latent]), f32('half', 0.5)])]);
  } else {
    const delta = b.op('Mul', [mean, f32('twn_threshold', TWN_THRESHOLD)]);
    // 1 where |w| > delta, else 0 (sign of the float32 difference is exact)
    const above = b.op('Relu', [b.op('Sign', [b.op('Sub', [abs, delta])])]);
    codes = b.op('Mul', [b.op('Sign', [latent]), above]);
    const above64 = b.op('Cast', [above], { to: DataType.DOUBLE });
    const sum = b.op('ReduceSum', [b.op('Mul', [abs64, above64]), axes()], { keepdims: 1 });
    const count = b.op('Add', [b.op('ReduceSum', [above64, axes()], { keepdims: 1 }), f64('count_floor', COUNT_FLOOR)]);
    alpha = b.op('Cast', [b.op('Div', [sum, count])], { to: DataType.FLOAT });
  }
  const quantized = b.op('Mul', [alpha, codes], {}, { name: `${weight}_${kind}` });
  // w - stop(w): zero forward, identity backward; binary keeps it only where |w| <= 1 (a 0/1 mask made with Sign, so
  // the mask itself passes no gradient; Clip's rule would also drop |w| = 1, where BinaryConnect's clip leaves weights).
  let straight = b.op('Sub', [weight, latent]);
  if (kind === 'binary') {
    const beyond = b.op('Relu', [b.op('Sign', [b.op('Sub', [abs, f32('one', 1)])])]);
    straight = b.op('Mul', [straight, b.op('Sub', [f32('one', 1), beyond])]);
  }
  return b.op('Add', [quantized, straight], {}, { name: `${weight}_${kind}_ste` });
}

/** Training hooks: the binarized/ternarized forward, and BinaryConnect's clip of the latent weights. */
export function binaryHooks(model: Model, options: BinaryOptions): { hooks: Record<string, ParameterHook[]>; layers: BinaryLayer[]; skipped: string[] } {
  checkKind(options.kind);
  const m = normalized(model);
  const { layers, skipped } = binaryLayers(m, options);
  if (!layers.length) throw new QuantizationError(`no Conv, Gemm or MatMul layer with a float weight to ${options.kind === 'binary' ? 'binarize' : 'ternarize'}${skipped.length ? ` (left in float: ${skipped.join(', ')})` : ''}`);
  const hooks: Record<string, ParameterHook[]> = {};
  for (const layer of layers) {
    const dims = m.graph.initializers.get(layer.weight)!.dims;
    hooks[layer.weight] = [{
      kind: options.kind,
      forward: (b, param) => binarizedWeight(b, param, dims, layer, options.kind),
      update: options.kind === 'binary'
        ? (b, _param, updated) => b.op('Clip', [updated, b.initializer(Tensor.fromFloat32('clip_min', [], [-1])), b.initializer(Tensor.fromFloat32('clip_max', [], [1]))])
        : undefined,
    }];
  }
  return { hooks, layers, skipped };
}

/** The model as training runs it forward: every hooked weight read through its binarized/ternarized value. */
export function binarizedForward(latent: Model, options: BinaryOptions): Model {
  const { hooks } = binaryHooks(latent, options);
  const m = normalized(latent);
  const g = m.graph;
  const b = new GraphBuilder(g);
  for (const [param, list] of Object.entries(hooks)) {
    for (const hook of list) {
      if (!hook.forward) continue;
      const readers = g.nodes.filter((n) => n.inputs.includes(param));
      const replaced = hook.forward(b, param);
      for (const n of readers) n.inputs = n.inputs.map((i) => (i === param ? replaced : i));
    }
  }
  g.sortTopologically();
  validateModel(m);
  return m;
}

/** alpha per channel and the codes, as the training graph computes them (float64 means, float32 comparisons). */
export function binarizeWeight(weight: Tensor, axis: number, kind: BinaryKind): { alpha: Float32Array; codes: Int32Array } {
  const channels = weight.dims[axis]!;
  const group = groupIndexer(weight.dims, { kind: 'channel', axis });
  const data = weight.toFloat32();
  const sums = new Float64Array(channels), counts = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) { const k = group(i); sums[k]! += Math.abs(data[i]!); counts[k]!++; }
  const mean = Float32Array.from(sums, (s, k) => s / counts[k]!);
  const codes = new Int32Array(data.length);
  if (kind === 'binary') {
    for (let i = 0; i < data.length; i++) codes[i] = data[i]! < 0 ? -1 : 1;
    return { alpha: mean, codes };
  }
  const delta = mean.map((m) => Math.fround(m * TWN_THRESHOLD));
  const kept = new Float64Array(channels), keptCount = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const k = group(i);
    const a = Math.abs(data[i]!);
    if (a > delta[k]!) { codes[i] = data[i]! < 0 ? -1 : 1; kept[k]! += a; keptCount[k]!++; }
  }
  return { alpha: Float32Array.from(kept, (s, k) => (keptCount[k] ? s / keptCount[k]! : 0)), codes };
}

/**
 * The compact model of trained latent weights: each binarized layer's weight becomes int4 codes {-1, 0, +1} and a
 * per-channel DequantizeLinear scaled by alpha; everything else stays as it is.
 */
export function exportBinary(latent: Model, options: BinaryOptions): { model: Model; layers: BinaryLayerReport[]; skipped: string[] } {
  checkKind(options.kind);
  const m = normalized(latent);
  const g: Graph = m.graph;
  const { layers, skipped } = binaryLayers(m, options);
  const b = new GraphBuilder(g);
  const reports: BinaryLayerReport[] = [];
  for (const layer of layers) {
    const w = g.initializers.get(layer.weight)!;
    const { alpha, codes } = binarizeWeight(w, layer.axis, options.kind);
    const stored = b.initializer(integerTensor(`${layer.weight}_${options.kind}`, w.dims, codes, { bits: 2, signed: true }));
    const scale = b.initializer(Tensor.fromFloat32(`${layer.weight}_${options.kind}_alpha`, [layer.channels], alpha));
    const dequantized = b.op('DequantizeLinear', [stored, scale], { axis: layer.axis }, { name: `${layer.weight}_DequantizeLinear` });
    for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === layer.weight ? dequantized : i));
    const group = groupIndexer(w.dims, { kind: 'channel', axis: layer.axis });
    const distinct = Array.from({ length: layer.channels }, () => new Set<number>());
    let zeros = 0;
    for (let i = 0; i < codes.length; i++) { distinct[group(i)]!.add(codes[i]!); if (codes[i] === 0) zeros++; }
    let min = Infinity, max = -Infinity;
    for (const a of alpha) { min = Math.min(min, a); max = Math.max(max, a); }
    reports.push({ ...layer, alpha: { min, max }, zeros: zeros / codes.length, valuesPerChannel: Math.max(...distinct.map((s) => s.size)) });
  }
  g.removeDeadNodes();
  g.sortTopologically();
  validateModel(m);
  return { model: m, layers: reports, skipped };
}

export interface BinaryResult {
  /** The compact model (int4 codes + DequantizeLinear). */
  model: Model;
  /** The trained latent float weights (train further from it, or see binarizedForward). */
  latent: Model;
  report: BinaryReport;
  fit: FitResult;
}

/** Trains the model with binary or ternary weights (STE on latent float weights) and exports the compact model. */
export async function trainBinary(model: Model, options: BinaryOptions, fineTune: FineTuneOptions): Promise<BinaryResult> {
  const { hooks } = binaryHooks(model, options);
  const trained = await trainModel(model, { hooks }, fineTune);
  const exported = exportBinary(trained.model, options);
  const report: BinaryReport = {
    kind: options.kind, layers: exported.layers, skipped: exported.skipped,
    bytes: { before: encodeModel(model).bytes.byteLength, after: encodeModel(exported.model).bytes.byteLength },
  };
  return { model: exported.model, latent: trained.model, report, fit: trained.fit };
}
