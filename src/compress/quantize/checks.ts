// Input checks every quantization mode runs first: a model quantized already is refused (quantizing twice compounds
// the error and mixes formats), and so is a model whose weights hold NaN or Inf (no scale represents them).
import { DataType, bitsPerElement, dataTypeName, isFloatType } from '../../core/dtype.js';
import { Graph, Model, Node, walkNodes } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { weightTensors } from '../../core/weights.js';
import { QuantizationError } from './arithmetic.js';

/** ONNX ops that only appear in quantized graphs. */
const QUANTIZED_ONNX_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger', 'ConvInteger']);

/** com.microsoft contrib ops that hold or compute with quantized weights or activations. */
const QUANTIZED_MS_OPS = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'MatMulNBits', 'MatMulBnb4', 'MatMulFpQ4', 'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul', 'DynamicQuantizeLSTM', 'GatherBlockQuantized', 'QGemm', 'QAttention', 'QMoE',
  'QEmbedLayerNormalization', 'QuantizeBFP', 'DequantizeBFP', 'MulInteger', 'ReduceSumInteger',
]);

/** Ops whose weight input (index 1) is float in a float model. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function isQuantizedOp(node: Node): boolean {
  if (node.opType.startsWith('QLinear') || node.opType.startsWith('QOrdered')) return true;
  if (node.domain === '') return QUANTIZED_ONNX_OPS.has(node.opType);
  if (node.domain === 'com.microsoft') return QUANTIZED_MS_OPS.has(node.opType);
  return false;
}

/** Integer types of 8 bits or fewer: what quantized weights are stored as. */
function isSmallIntegerType(t: DataType): boolean {
  return !isFloatType(t) && t !== DataType.BOOL && t !== DataType.STRING && bitsPerElement(t) <= 8;
}

/**
 * Throws a QuantizationError when the model is quantized already: it has quantize/dequantize or integer-arithmetic
 * ops (QuantizeLinear, DequantizeLinear, QLinear*, MatMulInteger, ConvInteger, DynamicQuantizeLinear, MatMulNBits,
 * MatMulBnb4, ...), or a Conv/ConvTranspose/Gemm/MatMul reads an integer weight of 8 bits or fewer, directly or
 * through a Cast. Subgraphs are searched too.
 */
export function assertNotQuantized(model: Model): void {
  const producersOf = new Map<Graph, Map<string, Node>>();
  for (const { node, graph } of walkNodes(model.graph)) {
    if (isQuantizedOp(node)) throw new QuantizationError(`model is already quantized: node '${node.label}' (${node.opType})`);
    if (node.domain !== '' || !WEIGHTED_OPS.has(node.opType)) continue;
    const weightName = node.input(1);
    if (!weightName) continue;
    let weight = graph.initializers.get(weightName);
    if (!weight) {
      // A Cast of an integer initializer feeding the op is the same thing written differently.
      let producers = producersOf.get(graph);
      if (!producers) producersOf.set(graph, producers = graph.producers());
      const producer = producers.get(weightName);
      const source = producer?.opType === 'Cast' && producer.domain === '' ? producer.input(0) : undefined;
      weight = source ? graph.initializers.get(source) : undefined;
    }
    if (weight && !weight.isString && isSmallIntegerType(weight.dataType)) {
      throw new QuantizationError(`model is already quantized: node '${node.label}' (${node.opType}) reads integer weight '${weight.name || weightName}' (${dataTypeName(weight.dataType)})`);
    }
  }
}

import { firstNonFinite } from '../../core/soundness.js';

export { firstNonFinite };

/**
 * Throws a QuantizationError naming the first weight (initializer or Constant-node tensor, subgraphs included) that
 * holds a NaN or an infinity, and the index of that value.
 */
export function assertFiniteWeights(model: Model): void {
  const graphs = [model.graph];
  for (const { node } of walkNodes(model.graph)) graphs.push(...node.subgraphs());
  for (const graph of graphs) {
    for (const { name, tensor } of weightTensors(graph)) {
      const i = firstNonFinite(tensor);
      if (i >= 0) throw new QuantizationError(`weight '${name}' holds ${describeValue(tensor, i)} at index ${i}: weights must be finite to be quantized`);
    }
  }
}

function describeValue(t: Tensor, i: number): string {
  const v = t.at(i);
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}
