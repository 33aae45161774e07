// bitsandbytes-style 4-bit weights in com.microsoft MatMulBnb4 (QLoRA's NF4, or FP4). From onnxruntime's contrib
// operator spec (docs/ContribOperators.md, MatMulBnb4, opset 1) and its CPU kernel (blockwise_quant_block_bnb4.h):
//   Y = A · dequant(B)^T with dequant(B) [N, K] (transB = 1, the default: PyTorch's Linear weight layout);
//   attributes K, N, block_size (a power of two, >= 16), quant_type (0 FP4, 1 NF4);
//   B: uint8 [(N·K + 1) / 2], the [N, K] weight flattened row-major, two codes a byte, the FIRST in the HIGH nibble;
//   absmax: [ceil(N·K / block_size)], the type of A: blocks are runs of block_size consecutive flattened elements;
//   dequant(code) = level[code] · absmax, codes chosen as the nearest level to w / absmax (ties to the lower level).
// MatMulBnb4 has no bias input: a Gemm's C is added after it.
import { DataType } from '../../core/dtype.js';
import { Model, Node, nodeReads } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { constantsToInitializers } from '../../core/weights.js';
import { matchesPattern } from '../../train/training-graph.js';
import { QuantizationError } from './arithmetic.js';
import { assertFiniteWeights, assertNotQuantized } from './checks.js';
import { type NBitsLayout, matMulNBitsLayout } from './nbits.js';

export type Bnb4Type = 'nf4' | 'fp4';

/** NF4: the 16 quantiles of a standard normal scaled to [-1, 1], with an exact zero (QLoRA; code = index). */
export const NF4_LEVELS: readonly number[] = [
  -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1,
].map(Math.fround);

/** FP4 (1 sign, 2 exponent, 1 mantissa bits, bias 3) scaled by 1/12 to [-1, 1]; code = index, bit 3 the sign. */
export const FP4_LEVELS: readonly number[] = [
  0, 0.005208333333, 0.66666667, 1, 0.33333333, 0.5, 0.16666667, 0.25,
  -0, -0.005208333333, -0.66666667, -1, -0.33333333, -0.5, -0.16666667, -0.25,
].map(Math.fround);

export interface Bnb4Options {
  /** Default 'nf4'. */
  quantType?: Bnb4Type;
  /** Elements per absmax block, a power of two from 16 (default 64, as bitsandbytes' Linear4bit). */
  blockSize?: number;
  /** Op types to quantize (default MatMul and Gemm). */
  ops?: ('MatMul' | 'Gemm')[];
  /** Node or weight names (`*` matches any run of characters) to leave in float; each must match some candidate. */
  exclude?: string[];
  /** Weights with fewer elements stay float (default 16). */
  minElements?: number;
}

export interface Bnb4WeightReport {
  node: string;
  weight: string;
  K: number;
  N: number;
  quantType: Bnb4Type;
  blockSize: number;
  bytesBefore: number;
  /** Packed codes, absmax and any bias kept for the Add. */
  bytesAfter: number;
  /** Largest |w - dequantized w| (of alpha·w for a Gemm). */
  maxAbsError: number;
}

export interface Bnb4Report {
  weights: Bnb4WeightReport[];
  skipped: { node: string; reason: string }[];
  bytesBefore: number;
  bytesAfter: number;
}

export interface Bnb4Values {
  /** Two codes a byte, first in the high nibble. */
  packed: Uint8Array;
  absmax: Float32Array;
}

/** Levels in increasing order with their codes, and the midpoints between neighbours (float32, as the kernel). */
function sortedLevels(levels: readonly { v: number; code: number }[]): { codes: number[]; thresholds: number[] } {
  const entries = [...levels].sort((a, b) => a.v - b.v);
  return { codes: entries.map((e) => e.code), thresholds: entries.slice(1).map((e, i) => Math.fround((entries[i]!.v + e.v) / 2)) };
}

// NF4 is signed levels; FP4 is a sign bit (code bit 3) and the magnitude levels of codes 0-7.
const NF4_SORTED = sortedLevels(NF4_LEVELS.map((v, code) => ({ v, code })));
const FP4_MAGNITUDES = sortedLevels(FP4_LEVELS.slice(0, 8).map((v, code) => ({ v, code })));

function nearest(x: number, { codes, thresholds }: { codes: number[]; thresholds: number[] }): number {
  let i = 0;
  while (i < thresholds.length && x > thresholds[i]!) i++;
  return codes[i]!;
}

/** The code of the level nearest to x in [-1, 1]; a tie goes to the smaller magnitude (FP4) or lower level (NF4), as onnxruntime's kernel does. */
export function bnb4Code(x: number, type: Bnb4Type): number {
  return type === 'nf4' ? nearest(x, NF4_SORTED) : (x < 0 ? 8 : 0) | nearest(Math.abs(x), FP4_MAGNITUDES);
}

/**
 * Quantizes a weight laid out [N, K] (flattened row-major) into blocks of `blockSize` consecutive elements: absmax
 * per block, codes of the nearest level to w / absmax, as onnxruntime's quantize_matmul_bnb4 does.
 */
export function quantizeBnb4Array(data: Float32Array, blockSize: number, type: Bnb4Type): Bnb4Values {
  checkBlockSize(blockSize);
  const numel = data.length;
  const blocks = Math.ceil(numel / blockSize);
  const packed = new Uint8Array(Math.ceil(numel / 2));
  const absmax = new Float32Array(blocks);
  const zeroCode = bnb4Code(0, type);
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize, end = Math.min(numel, start + blockSize);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(data[i]!));
    absmax[b] = m;
    const reciprocal = m ? Math.fround(1 / Math.fround(m)) : 0;
    for (let i = start; i < end; i++) {
      const code = bnb4Code(Math.fround(data[i]! * reciprocal), type);
      packed[i >> 1] |= (i & 1) === 0 ? code << 4 : code;
    }
  }
  // An odd element count leaves the last byte's low nibble: the kernel's quantizer writes the code of 0 there.
  if (numel & 1) packed[numel >> 1] |= zeroCode;
  return { packed, absmax };
}

/** The float weight [N, K] (flattened) a MatMulBnb4 multiplies by: level[code] · absmax, in float32. */
export function dequantizeBnb4Array(values: Bnb4Values, numel: number, blockSize: number, type: Bnb4Type): Float32Array {
  const table = type === 'nf4' ? NF4_LEVELS : FP4_LEVELS;
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    const byte = values.packed[i >> 1]!;
    const code = (i & 1) === 0 ? byte >> 4 : byte & 0xf;
    out[i] = Math.fround(table[code]! * values.absmax[Math.floor(i / blockSize)]!);
  }
  return out;
}

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new QuantizationError(`MatMulBnb4 block size must be a power of two of at least 16, not ${blockSize}`);
  }
}

/**
 * Replaces MatMul and Gemm nodes whose weight is a 2-D float32 constant by com.microsoft MatMulBnb4 (plus an Add for
 * a Gemm's C). Returns a new model and a report; refuses quantized models and NaN/Inf weights (QuantizationError).
 */
export function quantizeBnb4(model: Model, options: Bnb4Options = {}): { model: Model; report: Bnb4Report } {
  const type = options.quantType ?? 'nf4';
  if (type !== 'nf4' && type !== 'fp4') throw new QuantizationError(`bnb4 quantization type '${type}' is not supported: use nf4 or fp4`);
  const blockSize = options.blockSize ?? 64;
  checkBlockSize(blockSize);
  const ops = new Set<string>(options.ops ?? ['MatMul', 'Gemm']);
  for (const op of ops) if (op !== 'MatMul' && op !== 'Gemm') throw new QuantizationError(`MatMulBnb4 replaces MatMul and Gemm, not '${op}'`);
  const minElements = options.minElements ?? 16;
  assertNotQuantized(model);
  assertFiniteWeights(model);

  const out = constantsToInitializers(model);
  const graph = out.graph;
  const report: Bnb4Report = { weights: [], skipped: [], bytesBefore: 0, bytesAfter: 0 };
  const candidates = graph.nodes.filter((n) => n.domain === '' && ops.has(n.opType));
  const excludedBy = new Map<Node, string>();
  for (const pattern of options.exclude ?? []) {
    const hits = candidates.filter((n) => matchesPattern(n.label, pattern) || matchesPattern(n.input(1) ?? '', pattern));
    if (!hits.length) throw new QuantizationError(`exclude pattern '${pattern}' matches no ${[...ops].join('/')} node or weight`);
    for (const n of hits) if (!excludedBy.has(n)) excludedBy.set(n, pattern);
  }

  const taken = graph.valueNames();
  const nodeNames = new Set(graph.nodes.map((n) => n.name).filter(Boolean));
  const valueName = (prefix: string) => graph.uniqueName(prefix, taken);
  const nodeName = (prefix: string) => { let name = prefix; for (let i = 1; nodeNames.has(name); i++) name = `${prefix}_${i}`; nodeNames.add(name); return name; };
  const replacement = new Map<Node, Node[]>();
  const replacedWeights = new Set<string>();
  for (const node of candidates) {
    const skip = (reason: string) => report.skipped.push({ node: node.label, reason });
    if (excludedBy.has(node)) { skip(`excluded by '${excludedBy.get(node)}'`); continue; }
    const layout = matMulNBitsLayout(graph, node);
    if (typeof layout === 'string') { skip(layout); continue; }
    const weightName = node.inputs[1]!;
    if (graph.inputs.some((i) => i.name === weightName)) { skip(`its weight '${weightName}' is also a graph input, so it can be fed at run time`); continue; }
    const weight = graph.initializers.get(weightName)!;
    if (weight.size < minElements) { skip(`its weight has ${weight.size} elements, fewer than ${minElements}`); continue; }

    const nk = weightAsNK(weight, layout);
    const values = quantizeBnb4Array(nk, blockSize, type);
    const dequantized = dequantizeBnb4Array(values, nk.length, blockSize, type);
    let maxAbsError = 0;
    for (let i = 0; i < nk.length; i++) maxAbsError = Math.max(maxAbsError, Math.abs(nk[i]! - dequantized[i]!));

    const { K, N } = layout;
    const B = valueName(`${weightName}_Bnb4`);
    const absmax = valueName(`${weightName}_absmax`);
    graph.initializers.set(B, new Tensor(B, DataType.UINT8, [values.packed.length], values.packed));
    graph.initializers.set(absmax, new Tensor(absmax, DataType.FLOAT, [values.absmax.length], values.absmax));
    let bytesAfter = values.packed.byteLength + values.absmax.byteLength;
    const attributes = [
      { name: 'K', type: 'INT' as const, value: K }, { name: 'N', type: 'INT' as const, value: N },
      { name: 'block_size', type: 'INT' as const, value: blockSize }, { name: 'quant_type', type: 'INT' as const, value: type === 'nf4' ? 1 : 0 },
    ];
    const output = node.outputs[0]!;
    const base = node.name || 'MatMul';
    const nodes: Node[] = [];
    if (!layout.bias) {
      nodes.push(new Node('MatMulBnb4', [node.inputs[0]!, B, absmax], [output], nodeName(`${base}_Bnb4`), 'com.microsoft', attributes));
    } else {
      const product = valueName(`${output}_product`);
      nodes.push(new Node('MatMulBnb4', [node.inputs[0]!, B, absmax], [product], nodeName(`${base}_Bnb4`), 'com.microsoft', attributes));
      let bias: string;
      if (layout.bias.kind === 'vector') {
        bias = valueName(`${weightName}_bias`);
        graph.initializers.set(bias, Tensor.fromFloat32(bias, [N], layout.bias.values));
        bytesAfter += N * 4;
      } else if (layout.bias.beta !== 1) {
        const beta = valueName(`${base}_beta`);
        graph.initializers.set(beta, Tensor.fromFloat32(beta, [], [layout.bias.beta]));
        bias = valueName(`${layout.bias.input}_scaled`);
        nodes.push(new Node('Mul', [layout.bias.input, beta], [bias], nodeName(`${base}_beta`)));
      } else {
        bias = layout.bias.input;
      }
      nodes.push(new Node('Add', [product, bias], [output], nodeName(`${base}_bias`)));
      if (layout.bias.kind === 'vector') replacedWeights.add(node.inputs[2]!);
    }
    replacement.set(node, nodes);
    replacedWeights.add(weightName);
    report.weights.push({
      node: node.label, weight: weightName, K, N, quantType: type, blockSize, bytesBefore: weight.byteLength, bytesAfter, maxAbsError,
    });
    report.bytesBefore += weight.byteLength;
    report.bytesAfter += bytesAfter;
  }
  graph.nodes = graph.nodes.flatMap((n) => replacement.get(n) ?? [n]);
  const read = new Set(graph.nodes.flatMap((n) => nodeReads(n)));
  for (const o of graph.outputs) read.add(o.name);
  for (const name of replacedWeights) if (!read.has(name)) graph.initializers.delete(name);
  if (report.weights.length && out.opset('com.microsoft') === undefined) out.opsetImports.set('com.microsoft', 1);
  return { model: out, report };
}

/** The weight as MatMulBnb4 stores it: [N, K] row-major, Gemm's alpha folded in. */
function weightAsNK(weight: Tensor, layout: NBitsLayout): Float32Array {
  const { K, N, weightIsNK, alpha } = layout;
  const src = weight.toFloat32();
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) out[n * K + k] = Math.fround(alpha * (weightIsNK ? src[n * K + k]! : src[k * N + n]!));
  }
  return out;
}
