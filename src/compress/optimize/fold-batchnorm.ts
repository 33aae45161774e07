// BatchNorm folding: a Conv (any group) or Gemm whose output only feeds an inference-form BatchNormalization becomes
// one Conv/Gemm. BN computes y = gamma * (x - mean) / sqrt(var + eps) + beta per channel, an affine map per output
// channel of the layer: weights of channel c times s_c = gamma_c / sqrt(var_c + eps), bias (b_c - mean_c) * s_c + beta_c.
// Lossless up to float rounding, and it removes a whole pass over the activations. Quantization runs it first, so
// the folded weights are what gets quantized (onnxruntime has no int8 BatchNormalization).
import { Model, Node } from '../../core/ir.js';
import { constantsToInitializers } from '../../core/weights.js';
import { linearLayer, readCount, transformOutputChannels } from './linear-layer.js';

export interface FoldBatchNormResult {
  model: Model;
  /** Labels of the BatchNormalization nodes folded away. */
  folded: string[];
  /** BatchNormalization nodes left in place, and why. */
  skipped: { node: string; reason: string }[];
}

/** Why a BatchNormalization cannot be folded into its input's producer, or its per-channel scale and shift. */
function foldPlan(model: Model, bn: Node, producer: Node | undefined): { scale: Float64Array; shift: Float64Array } | string {
  const graph = model.graph;
  if (bn.int('training_mode', 0) !== 0) return 'it runs in training mode';
  if (bn.int('spatial', 1) !== 1) return 'it normalizes per element (spatial=0)';
  if (bn.outputs.slice(1).some((o) => o)) return 'it outputs running statistics';
  if (!producer) return 'its input is not computed by a node';
  if (producer.opType !== 'Conv' && producer.opType !== 'Gemm') return `its input comes from ${producer.opType}, not Conv or Gemm`;
  const x = bn.inputs[0]!;
  if (readCount(graph, x) !== 1) return `the output of '${producer.label}' is read by more than the BatchNormalization`;
  const layer = linearLayer(graph, producer);
  if (typeof layer === 'string') return `'${producer.label}': ${layer}`;
  const params = bn.inputs.slice(1, 5).map((name) => graph.initializers.get(name));
  if (params.length < 4 || params.some((p) => !p)) return 'its scale, bias, mean and variance are not all initializers';
  const [gamma, beta, mean, variance] = params.map((p) => p!.toFloat32()) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const n = layer.outChannels;
  if ([gamma, beta, mean, variance].some((p) => p.length !== n)) return `its parameters do not hold one value per channel of '${producer.label}' (${n})`;
  const eps = bn.float('epsilon', 1e-5);
  const scale = new Float64Array(n), shift = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    // onnxruntime computes sqrt(var + eps) in float32; so does this, to match it as closely as float allows.
    scale[c] = gamma[c]! / Math.fround(Math.sqrt(Math.fround(variance[c]! + eps)));
    shift[c] = beta[c]! - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

/**
 * Folds every BatchNormalization (inference form) that is the only reader of a Conv's or Gemm's output into that
 * node. Returns a new model; the input is not changed. Weights in Constant nodes are moved to initializers first.
 */
export function foldBatchNorm(model: Model): FoldBatchNormResult {
  const out = constantsToInitializers(model);
  const graph = out.graph;
  const folded: string[] = [];
  const skipped: { node: string; reason: string }[] = [];
  const removed = new Set<Node>();
  const producers = graph.producers();
  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.domain !== '') continue;
    const producer = producers.get(bn.inputs[0]!);
    const plan = foldPlan(out, bn, producer);
    if (typeof plan === 'string') { skipped.push({ node: bn.label, reason: plan }); continue; }
    const layer = linearLayer(graph, producer!);
    if (typeof layer === 'string') continue; // checked in foldPlan
    transformOutputChannels(graph, layer, plan.scale, plan.shift);
    graph.valueInfo.delete(producer!.outputs[0]!);
    producer!.outputs[0] = bn.outputs[0]!;
    producers.set(bn.outputs[0]!, producer!);
    removed.add(bn);
    folded.push(bn.label);
  }
  graph.nodes = graph.nodes.filter((n) => !removed.has(n));
  // The BatchNorms' parameters, unless something else reads them too.
  for (const bn of removed) {
    for (const name of bn.inputs.slice(1)) if (name && graph.initializers.has(name) && readCount(graph, name) === 0) graph.initializers.delete(name);
  }
  return { model: out, folded, skipped };
}
