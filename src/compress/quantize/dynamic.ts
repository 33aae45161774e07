// Dynamic quantization: weights stored as 8-bit integers, activations quantized at run time by DynamicQuantizeLinear
// (uint8, asymmetric over [min(x,0), max(x,0)] of the whole tensor), products in integers. Written the way
// onnxruntime's own quantizer writes QOperator dynamic models, which onnxruntime fuses into its fastest kernels:
//
//   MatMul/Gemm: DynamicQuantizeLinear(x) -> MatMulInteger -> Cast(float) -> Mul(x_scale * w_scale) [-> Add(bias)]
//                onnxruntime fuses this into com.microsoft MatMulIntegerToFloat, then DynamicQuantizeMatMul
//   Conv:        DynamicQuantizeLinear(x) -> ConvInteger -> Cast(float) -> Mul(x_scale * w_scale) [-> Add(bias)]
//
// Each quantized node gets its own DynamicQuantizeLinear: onnxruntime only fuses one whose outputs feed a single
// MatMulInteger, and re-quantizing a shared input costs O(M*K) against the O(M*K*N) product.
import { GraphBuilder } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { Graph, Model, Node, nodeReads } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { constantsToInitializers } from '../../core/weights.js';
import { matchesPattern } from '../../train/training-graph.js';
import {
  type Granularity, type IntegerFormat, QuantizationError, integerTensor, quantizeArray,
} from './arithmetic.js';
import { assertFiniteWeights, assertNotQuantized } from './checks.js';

export type DynamicWeightType = 'int8' | 'uint8';
export type DynamicOp = 'MatMul' | 'Gemm' | 'Conv';
export const DYNAMIC_OPS: readonly DynamicOp[] = ['MatMul', 'Gemm', 'Conv'];

export interface DynamicQuantizeOptions {
  /**
   * Weight storage type (default 'int8'). int8 weights are symmetric (zero point 0), uint8 weights asymmetric, as
   * onnxruntime's quantizer makes them. Activations are always uint8: DynamicQuantizeLinear only produces uint8.
   */
  weightType?: DynamicWeightType;
  /**
   * One scale per output channel (MatMul/Gemm: per column of the [K, N] weight; Conv: per output channel) instead of
   * one per tensor. onnxruntime's ConvInteger only takes a per-tensor zero point, so per-channel Conv weights are
   * made symmetric (zero point 0 for int8, 128 for uint8) whatever the weight type.
   */
  perChannel?: boolean;
  /** 7-bit weights (onnxruntime's advice for int8 speed and accuracy on CPUs without AVX-512 VNNI). */
  reduceRange?: boolean;
  /** Op types to quantize; default MatMul, Gemm and Conv. */
  ops?: DynamicOp[];
  /** Node name patterns (`*` matches any run of characters) to leave in float; each must match some candidate node. */
  exclude?: string[];
}

export interface DynamicQuantizedNode {
  node: string;
  op: DynamicOp;
  weight: string;
  weightType: DynamicWeightType;
  perChannel: boolean;
  symmetric: boolean;
  /** Weight bits actually used: 7 with reduceRange, else 8. */
  bits: number;
  /** The integer op that replaced it. */
  form: 'MatMulInteger' | 'ConvInteger';
}

export interface DynamicQuantizeReport {
  quantized: DynamicQuantizedNode[];
  /** Candidate nodes left in float, and why. */
  skipped: { node: string; op: string; reason: string }[];
  /** Bytes of the float weights replaced, and of the integer weights, scales and zero points replacing them. */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

/** The effective (dequantized) weight of one quantized node, for float simulations of the quantized model. */
export interface DynamicWeightPlan {
  format: IntegerFormat & { symmetric: boolean };
  granularity: Granularity;
}

/**
 * How quantizeDynamic quantizes a weight of `dims` for `op`: exported so tests and tools can simulate the model in
 * float (weights dequantized with these parameters; activations quantized per tensor as DynamicQuantizeLinear does).
 * For MatMul/Gemm `dims` is the [K, N] layout MatMulInteger reads.
 */
export function dynamicWeightPlan(op: DynamicOp, dims: readonly number[], options: DynamicQuantizeOptions = {}): DynamicWeightPlan {
  const signed = (options.weightType ?? 'int8') === 'int8';
  const perChannel = options.perChannel ?? false;
  const conv = op === 'Conv';
  // ConvInteger reads only a per-tensor zero point: per-channel Conv weights share the symmetric one.
  const symmetric = signed || (conv && perChannel);
  const granularity: Granularity = !perChannel ? { kind: 'tensor' } : { kind: 'channel', axis: conv ? 0 : dims.length - 1 };
  return { format: { bits: 8, signed, reduceRange: options.reduceRange ?? false, symmetric }, granularity };
}

/**
 * Dynamic quantization of MatMul, Gemm and Conv nodes whose weight is a constant. Returns a new model (the input is
 * not changed) and a report. Throws a QuantizationError for a model that is already quantized, weights with NaN/Inf,
 * unknown ops or exclude patterns that match nothing.
 */
export function quantizeDynamic(model: Model, options: DynamicQuantizeOptions = {}): { model: Model; report: DynamicQuantizeReport } {
  const weightType = options.weightType ?? 'int8';
  if (weightType !== 'int8' && weightType !== 'uint8') throw new QuantizationError(`dynamic quantization weight type '${weightType}' is not supported: use int8 or uint8`);
  const ops = new Set<string>(options.ops ?? DYNAMIC_OPS);
  for (const op of ops) if (!DYNAMIC_OPS.includes(op as DynamicOp)) throw new QuantizationError(`dynamic quantization does not handle op '${op}': it quantizes ${DYNAMIC_OPS.join(', ')}`);
  assertNotQuantized(model);
  assertFiniteWeights(model);

  let out = constantsToInitializers(model);
  // DynamicQuantizeLinear exists from opset 11.
  const opset = out.opset('') ?? 0;
  if (opset < 11) out = upgradeOpset(out, 11);
  const graph = out.graph;
  const types = inferShapes(out, { strict: false }).values;
  const report: DynamicQuantizeReport = { quantized: [], skipped: [], weightBytesBefore: 0, weightBytesAfter: 0 };

  const candidates = graph.nodes.filter((n) => n.domain === '' && ops.has(n.opType));
  const excludedBy = new Map<Node, string>();
  for (const pattern of options.exclude ?? []) {
    const hits = candidates.filter((n) => matchesPattern(n.label, pattern));
    if (!hits.length) throw new QuantizationError(`exclude pattern '${pattern}' matches no ${[...ops].join('/')} node`);
    for (const n of hits) if (!excludedBy.has(n)) excludedBy.set(n, pattern);
  }

  const b = new GraphBuilder(graph);
  const replaced = new Set<Node>();
  const replacedWeights = new Set<string>();
  for (const node of candidates) {
    const skip = (reason: string) => report.skipped.push({ node: node.label, op: node.opType, reason });
    if (excludedBy.has(node)) { skip(`excluded by '${excludedBy.get(node)}'`); continue; }
    const why = whyNotQuantizable(node, graph, types);
    if (why) { skip(why); continue; }
    const weightName = node.inputs[1]!;
    const weight = graph.initializers.get(weightName)!;
    const op = node.opType as DynamicOp;
    const quantized = op === 'Conv' ? rewriteConv(b, node, weight, options) : rewriteMatMul(b, node, weight, options);
    const plan = dynamicWeightPlan(op, quantized.dims, options);
    report.quantized.push({
      node: node.label, op, weight: weightName, weightType, perChannel: options.perChannel ?? false,
      symmetric: plan.format.symmetric, bits: options.reduceRange ? 7 : 8, form: op === 'Conv' ? 'ConvInteger' : 'MatMulInteger',
    });
    report.weightBytesBefore += weight.byteLength;
    report.weightBytesAfter += quantized.bytes;
    replaced.add(node);
    replacedWeights.add(weightName);
    if (op === 'Conv' && node.input(2)) replacedWeights.add(node.inputs[2]!);
  }
  graph.nodes = graph.nodes.filter((n) => !replaced.has(n));
  dropUnreadInitializers(graph, replacedWeights);
  graph.sortTopologically();
  return { model: out, report };
}

function whyNotQuantizable(node: Node, graph: Graph, types: Map<string, { elemType: DataType }>): string | undefined {
  const weight = node.input(1) ? graph.initializers.get(node.inputs[1]!) : undefined;
  if (!weight) return 'its weight (input 1) is not a constant';
  if (graph.inputs.some((i) => i.name === weight.name)) return `its weight '${weight.name}' is also a graph input, so it can be fed at run time`;
  if (weight.dataType !== DataType.FLOAT) return `its weight '${weight.name}' is not float32`;
  const x = node.input(0);
  if (!x || graph.initializers.has(x)) return 'its input (input 0) is a constant';
  const xType = types.get(x)?.elemType;
  if (xType !== undefined && xType !== DataType.FLOAT) return `its input '${x}' is not float32 (DynamicQuantizeLinear reads float32 only)`;
  if (node.opType === 'Conv') {
    if (weight.dims.length < 3) return `its weight '${weight.name}' has rank ${weight.dims.length}`;
    const bias = node.input(2);
    if (bias && !graph.initializers.has(bias)) return 'its bias is not a constant';
  } else if (weight.dims.length !== 2) {
    return `its weight '${weight.name}' has rank ${weight.dims.length}, not 2`;
  }
  return undefined;
}

/** Quantizes a weight with the dynamic plan, naming it in errors; returns the initializer names and the bytes stored. */
function storeWeight(b: GraphBuilder, op: DynamicOp, name: string, dims: number[], data: Float32Array, options: DynamicQuantizeOptions, scaleDims?: number[]) {
  const plan = dynamicWeightPlan(op, dims, options);
  let q;
  try {
    q = quantizeArray(data, dims, { ...plan.format, granularity: plan.granularity });
  } catch (e) {
    if (e instanceof QuantizationError) throw new QuantizationError(`weight '${name}': ${e.message}`);
    throw e;
  }
  const zeroPoints = plan.format.symmetric && plan.granularity.kind === 'channel' ? q.zeroPoints.slice(0, 1) : q.zeroPoints;
  const zpDims = zeroPoints.length === 1 ? [] : [zeroPoints.length];
  const weightTensor = integerTensor(`${name}_quantized`, dims, q.values, plan.format);
  const zpTensor = integerTensor(`${name}_zero_point`, zpDims, zeroPoints, plan.format);
  const scaleTensor = Tensor.fromFloat32(`${name}_scale`, q.scales.length === 1 ? [] : scaleDims ?? [q.scales.length], q.scales);
  return {
    weight: b.initializer(weightTensor), zeroPoint: b.initializer(zpTensor), scale: b.initializer(scaleTensor), dims,
    bytes: weightTensor.byteLength + zpTensor.byteLength + scaleTensor.byteLength,
  };
}

/**
 * MatMul(A, B) and Gemm(A, B, C): B becomes [K, N] integers (Gemm's transB undone and alpha folded in before
 * quantizing), C is added after the scale multiply as beta * C.
 */
function rewriteMatMul(b: GraphBuilder, node: Node, weight: Tensor, options: DynamicQuantizeOptions) {
  const isGemm = node.opType === 'Gemm';
  const transB = isGemm && node.int('transB', 0) !== 0;
  const alpha = isGemm ? node.float('alpha', 1) : 1;
  const [r, c] = weight.dims as [number, number];
  const k = transB ? c : r, n = transB ? r : c;
  const src = weight.toFloat32();
  const data = new Float32Array(k * n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) data[i * n + j] = Math.fround(alpha * (transB ? src[j * c + i]! : src[i * c + j]!));
  const w = storeWeight(b, node.opType as DynamicOp, weight.name, [k, n], data, options);

  const base = node.name || node.outputs[0]!;
  let a = node.inputs[0]!;
  if (isGemm && node.int('transA', 0) !== 0) a = b.op('Transpose', [a], { perm: [1, 0] }, { name: `${base}_transA` });
  const [aq, aScale, aZero] = b.node('DynamicQuantizeLinear', [a], {}, { name: `${base}_DynamicQuantizeLinear`, outputs: 3 });
  const integer = b.op('MatMulInteger', [aq!, w.weight, aZero!, w.zeroPoint], {}, { name: `${base}_MatMulInteger` });
  const bias = isGemm ? gemmBias(b, node, base) : undefined;
  scaleAndBias(b, integer, aScale!, w.scale, bias, node.outputs[0]!, base);
  return w;
}

/** beta * C for a Gemm with C, as a constant when C is one. */
function gemmBias(b: GraphBuilder, node: Node, base: string): string | undefined {
  const c = node.input(2);
  if (!c) return undefined;
  const beta = node.float('beta', 1);
  const constant = b.graph.initializers.get(c);
  if (beta === 1) return c;
  if (constant && constant.dataType === DataType.FLOAT) {
    return b.initializer(Tensor.fromFloat32(`${c}_scaled`, constant.dims, constant.toFloat32().map((v) => Math.fround(v * beta))));
  }
  return b.op('Mul', [c, b.floats(`${base}_beta`, [], [beta])], {}, { name: `${base}_beta_mul` });
}

/** Cast(int32 -> float) * (x_scale * w_scale) [+ bias], in the order onnxruntime's MatMulIntegerToFloat fusion matches. */
function scaleAndBias(b: GraphBuilder, integer: string, xScale: string, wScale: string, bias: string | undefined, output: string, base: string): void {
  const asFloat = b.op('Cast', [integer], { to: DataType.FLOAT }, { name: `${base}_cast` });
  const scale = b.op('Mul', [xScale, wScale], {}, { name: `${base}_scales_mul` });
  if (!bias) {
    b.op('Mul', [asFloat, scale], {}, { name: `${base}_output_scale_mul`, output });
    return;
  }
  const scaled = b.op('Mul', [asFloat, scale], {}, { name: `${base}_output_scale_mul` });
  b.op('Add', [scaled, bias], {}, { name: `${base}_bias_add`, output });
}

/** Conv(X, W, B): ConvInteger with the Conv's attributes; per-channel scales and the bias shaped [M, 1, ..., 1]. */
function rewriteConv(b: GraphBuilder, node: Node, weight: Tensor, options: DynamicQuantizeOptions) {
  const dims = [...weight.dims];
  const channelShape = [dims[0]!, ...dims.slice(2).map(() => 1)];
  const w = storeWeight(b, 'Conv', weight.name, dims, weight.toFloat32(), options, channelShape);
  const base = node.name || node.outputs[0]!;
  const [xq, xScale, xZero] = b.node('DynamicQuantizeLinear', [node.inputs[0]!], {}, { name: `${base}_DynamicQuantizeLinear`, outputs: 3 });
  const convName = b.node('ConvInteger', [xq!, w.weight, xZero!, w.zeroPoint], {}, { name: `${base}_ConvInteger` });
  const convNode = b.graph.nodes[b.graph.nodes.length - 1]!;
  convNode.attributes = node.attributes.map((a) => ({ ...a }));
  let bias: string | undefined;
  const biasName = node.input(2);
  if (biasName) {
    const t = b.graph.initializers.get(biasName)!;
    bias = b.initializer(new Tensor(`${biasName}_channels`, t.dataType, channelShape, t.numeric()));
  }
  scaleAndBias(b, convName[0]!, xScale!, w.scale, bias, node.outputs[0]!, base);
  return w;
}

function dropUnreadInitializers(graph: Graph, names: Set<string>): void {
  const read = new Set<string>();
  for (const n of graph.nodes) for (const i of nodeReads(n)) read.add(i);
  for (const o of graph.outputs) read.add(o.name);
  const inputs = new Set(graph.inputs.map((i) => i.name));
  for (const name of names) if (!read.has(name) && !inputs.has(name)) { graph.initializers.delete(name); graph.valueInfo.delete(name); }
}
