// Data-free helpers for quantizing weights per tensor or per channel well (Nagel et al. 2019, "Data-Free Quantization
// Through Weight Equalization and Bias Correction"):
//
// Cross-layer equalization. For two layers in a row with only a ReLU (or MaxPool, or nothing) between them, ReLU is
// positively homogeneous (relu(x / s) = relu(x) / s for s > 0), so output channel i of layer 1 can be divided by s_i
// and input channel i of layer 2 multiplied by s_i without changing the network's function. With r1_i and r2_i the
// largest |weight| of those channels, s_i = sqrt(r1_i / r2_i) gives both the same range sqrt(r1_i r2_i), so no channel
// is left with a range far below its tensor's (which per-tensor quantization would round to a few levels).
//
// Bias correction. Quantized weights Wq shift a layer's mean output by (Wq - W) E[x]; subtracting that from the bias
// (E[x] per input channel from calibration) makes the quantized layer's output unbiased again.
import { Model, Node } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import {
  LinearLayer, linearLayer, readCount, scaleInputChannels, transformOutputChannels,
} from '../optimize/linear-layer.js';
import { QuantizationError } from './arithmetic.js';

/** Ops that may sit between two equalized layers: per-channel and positively homogeneous. */
const TRANSPARENT_OPS = new Set(['Relu', 'MaxPool']);

export interface EqualizeOptions {
  /** Sweeps over all pairs (default 20): chains of layers need several, as a layer's two sides move in turn. */
  iterations?: number;
  /** Stop when no scale differs from 1 by more than this in a sweep (default 1e-4). */
  tolerance?: number;
}

export interface EqualizedPair {
  first: string;
  second: string;
  /** The nodes between them (ReLU, MaxPool). */
  between: string[];
  channels: number;
}

export interface EqualizeResult {
  model: Model;
  pairs: EqualizedPair[];
  /** Sweeps run. */
  iterations: number;
}

interface Pair { first: Node; second: Node; between: Node[] }

/** Consecutive Conv/Gemm pairs whose connecting values have no other reader. */
function findPairs(model: Model): Pair[] {
  const graph = model.graph;
  const consumers = graph.consumers();
  const pairs: Pair[] = [];
  for (const first of graph.nodes) {
    const a = linearLayer(graph, first);
    if (typeof a === 'string') continue;
    const between: Node[] = [];
    let value = first.outputs[0]!;
    for (;;) {
      const readers = consumers.get(value) ?? [];
      if (readers.length !== 1 || readCount(graph, value) !== 1) break;
      const next = readers[0]!;
      if (next.domain === '' && TRANSPARENT_OPS.has(next.opType) && next.inputs[0] === value && next.outputs.filter(Boolean).length === 1) {
        between.push(next);
        value = next.outputs[0]!;
        continue;
      }
      const b = linearLayer(graph, next);
      if (typeof b === 'string' || next.inputs[0] !== value || next.inputs.indexOf(value, 1) > 0) break;
      if (next.opType === 'Gemm' && next.int('transA', 0) !== 0) break;
      if (b.inChannels !== a.outChannels) break;
      pairs.push({ first, second: next, between });
      break;
    }
  }
  return pairs;
}

/** Largest |w| per output channel (byInput false) or per input channel (byInput true). */
export function channelRanges(layer: LinearLayer, byInput: boolean): Float64Array {
  const w = layer.weight.toFloat32();
  const ranges = new Float64Array(byInput ? layer.inChannels : layer.outChannels);
  for (let i = 0; i < w.length; i++) {
    const c = byInput ? layer.inChannelOf(i) : layer.outChannelOf(i);
    const v = Math.abs(w[i]!);
    if (v > ranges[c]!) ranges[c] = v;
  }
  return ranges;
}

/**
 * Cross-layer equalization of every pair of Conv/Gemm layers joined directly or through ReLU/MaxPool (the values in
 * between read by nothing else; Gemm without transA; a weight other nodes share is copied, not changed for them).
 * Returns a new model computing the same function (up to float rounding); the input is not changed. Run it after
 * BatchNorm folding, which turns Conv -> BatchNorm -> Relu -> Conv into a pair.
 */
export function equalizeCrossLayer(model: Model, options: EqualizeOptions = {}): EqualizeResult {
  const iterations = options.iterations ?? 20;
  const tolerance = options.tolerance ?? 1e-4;
  if (!Number.isInteger(iterations) || iterations < 1) throw new QuantizationError(`equalization iterations must be a positive whole number, got ${iterations}`);
  const out = constantsToInitializers(model);
  const graph = out.graph;
  const pairs = findPairs(out);
  let sweeps = 0;
  for (; sweeps < iterations && pairs.length; sweeps++) {
    let largestChange = 0;
    for (const { first, second } of pairs) {
      const a = linearLayer(graph, first) as LinearLayer, b = linearLayer(graph, second) as LinearLayer;
      const r1 = channelRanges(a, false), r2 = channelRanges(b, true);
      const s = new Float64Array(r1.length);
      for (let i = 0; i < s.length; i++) {
        s[i] = r1[i]! > 0 && r2[i]! > 0 ? Math.sqrt(r1[i]! / r2[i]!) : 1;
        largestChange = Math.max(largestChange, Math.abs(s[i]! - 1));
      }
      transformOutputChannels(graph, a, s.map((v) => 1 / v));
      scaleInputChannels(graph, b, s);
    }
    if (largestChange <= tolerance) { sweeps++; break; }
  }
  return {
    model: out,
    pairs: pairs.map(({ first, second, between }) => ({
      first: first.label, second: second.label, between: between.map((n) => n.label),
      channels: (linearLayer(graph, first) as LinearLayer).outChannels,
    })),
    iterations: sweeps,
  };
}

/**
 * The bias change -(Wq - W) E[x] per output channel (per column of a Gemm, alpha included) that cancels the mean
 * output error quantized weights Wq cause, given E[x] per input channel. For a Conv it takes every kernel tap to see
 * the channel mean, which padding makes approximate near the borders.
 */
export function biasCorrection(layer: LinearLayer, quantizedWeight: Float32Array, inputMean: ArrayLike<number>): Float64Array {
  const w = layer.weight.toFloat32();
  if (quantizedWeight.length !== w.length) throw new QuantizationError(`bias correction of '${layer.node.label}': ${quantizedWeight.length} quantized weights for ${w.length} weights`);
  if (inputMean.length !== layer.inChannels) throw new QuantizationError(`bias correction of '${layer.node.label}': ${inputMean.length} input means for ${layer.inChannels} input channels`);
  const alpha = layer.kind === 'gemm' ? layer.node.float('alpha', 1) : 1;
  const delta = new Float64Array(layer.outChannels);
  for (let i = 0; i < w.length; i++) delta[layer.outChannelOf(i)] -= alpha * (quantizedWeight[i]! - w[i]!) * inputMean[layer.inChannelOf(i)]!;
  return delta;
}

export interface BiasCorrectionInput {
  /** The Conv/Gemm node's name (or label). */
  node: string;
  /** Its weights as the quantized model computes with them (dequantized), in the weight's layout. */
  quantizedWeight: Float32Array;
  /** Mean of its input per channel (axis 1) over calibration data. */
  inputMean: ArrayLike<number>;
}

/**
 * Adds the bias correction of each listed layer to its bias (adding a bias where there is none). The weights stay
 * float: quantize them afterwards exactly as `quantizedWeight` was computed. Returns a new model.
 */
export function correctBiases(model: Model, layers: readonly BiasCorrectionInput[]): { model: Model; corrected: string[] } {
  const out = constantsToInitializers(model);
  const graph = out.graph;
  const corrected: string[] = [];
  for (const { node: name, quantizedWeight, inputMean } of layers) {
    const node = graph.nodes.find((n) => n.name === name) ?? graph.nodes.find((n) => n.label === name);
    if (!node) throw new QuantizationError(`bias correction: no node '${name}'`);
    const layer = linearLayer(graph, node);
    if (typeof layer === 'string') throw new QuantizationError(`bias correction of '${name}': ${layer}`);
    if (node.opType === 'Gemm' && node.int('transA', 0) !== 0) throw new QuantizationError(`bias correction of '${name}': Gemm with transA reads its input's channels along axis 0`);
    const delta = biasCorrection(layer, quantizedWeight, inputMean);
    transformOutputChannels(graph, layer, new Float64Array(layer.outChannels).fill(1), delta);
    corrected.push(node.label);
  }
  return { model: out, corrected };
}
