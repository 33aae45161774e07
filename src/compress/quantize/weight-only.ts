// Weight-only quantization: the weights of Conv, ConvTranspose, Gemm and MatMul are stored as small integers and turned
// back into floats in the graph, so the arithmetic stays float and every runtime runs the result.
//
// Forms written (opset 21, upgraded from older opsets first, because int4 and block_size need it):
// - uniform levels, format 'qdq': integer initializer (int8/uint8; int4/uint4 for 4 bits or fewer: 2- and 3-bit
//   values are stored in int4, 5- to 7-bit values in int8) + scale (+ zero point unless signed symmetric) ->
//   DequantizeLinear -> the original consumer. Per channel along the output axis as the consumer reads the weight
//   (Conv: 0; ConvTranspose: 1; Gemm: 0 with transB=1, else 1; MatMul: the last axis); block-wise along the reduction
//   axis (Gemm/MatMul: K; ConvTranspose: input channels; Conv: the flattened C/group·kernel axis, stored [M, C/g·k]
//   and reshaped back after DequantizeLinear, so blocks span the kernel as well as the input channels).
// - uniform levels, format 'nbits': com.microsoft MatMulNBits for MatMul/Gemm weights (see nbits.ts); other ops, and
//   MatMul/Gemm nodes it cannot express, get the QDQ form.
// - power-of-two levels ('log2'): each weight becomes ±scale·2^e, e in [-(2^(b-1) - 2), 0], or 0. Stored as unsigned
//   codes (uint4 up to 4 bits, uint8 above) indexing a float codebook: Cast(codes -> int32) -> Gather(codebook) (->
//   Mul by the per-channel scales). Codes take the same bits as uniform int4/int8 weights (the smallest form: a QDQ of
//   the exponent would need the same codes plus Abs/Sign/Pow nodes), and Cast, Gather and Mul run everywhere.
// Rounding is to nearest (ties to even, as QuantizeLinear) or GPTQ's error-compensating rounding (gptq.ts).
// Weights in Constant nodes are moved to initializers first; nodes inside subgraphs (If/Loop bodies) are left alone.
import { DataType, dataTypeName, float16BitsToNumber, numberToFloat16Bits } from '../../core/dtype.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { constantsToInitializers } from '../../core/weights.js';
import { matchesPattern } from '../../train/training-graph.js';
import {
  Granularity, IntegerFormat, QuantizationError, affineParams, dequantizeValue, groupIndexer, integerRange, integerTensor,
  paramShape, roundHalfEven, storageType,
} from './arithmetic.js';
import { assertFiniteWeights, assertNotQuantized } from './checks.js';
import {
  GptqCalibration, GptqGranularity, MatrixView, ParamLayout, collectInputStatistics, gptqQuantize, gptqUnsupportedReason,
} from './gptq.js';
import {
  MS_OPSET, NBITS_BITS, NBitsLayout, NameSource, checkNBitsSettings, matMulNBitsLayout, matMulNBitsNodes, packMatMulNBits,
} from './nbits.js';

export type WeightGranularity = 'tensor' | 'channel' | { block: number };
export type WeightLevels = 'uniform' | 'log2';
export type WeightFormat = 'qdq' | 'nbits';
export type WeightRounding = 'nearest' | 'gptq';

/** Op types weight-only quantization handles, and the default set. */
export const WEIGHT_ONLY_OPS: readonly string[] = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'];

export interface WeightQuantizationOptions {
  /** 2 to 8 (default 8). */
  bits?: number;
  /** Bit widths for particular weights (by initializer name), overriding `bits` for them (mixed precision). */
  bitsByWeight?: Readonly<Record<string, number>>;
  /** Zero point fixed at the middle of the range (default true). */
  symmetric?: boolean;
  /** Signed storage (int8/int4); default: true when symmetric, false (uint8/uint4 with a zero point) otherwise. */
  signed?: boolean;
  /** Default 'channel' (format 'nbits': {block: 32}). Blocks: a power of two from 16 to 256. */
  granularity?: WeightGranularity;
  /** Default 'uniform'. 'log2' takes 'tensor' or 'channel' granularity, format 'qdq' and rounding 'nearest'. */
  levels?: WeightLevels;
  /** Default 'qdq'. 'nbits' writes MatMul/Gemm weights as com.microsoft MatMulNBits (2, 4 or 8 bits, blocks). */
  format?: WeightFormat;
  /** Op types whose weights are quantized; default all of WEIGHT_ONLY_OPS. */
  ops?: readonly string[];
  /** Node or weight names to leave alone; '*' matches any run of characters. */
  exclude?: readonly string[];
  /** Weights with fewer elements stay float (default 16). */
  minElements?: number;
  /** Default 'nearest'. 'gptq' needs `calibration`. */
  rounding?: WeightRounding;
  /** The runtime and feeds GPTQ collects layer inputs with. */
  calibration?: GptqCalibration;
  /** GPTQ's damping, a fraction of the mean of H's diagonal (default 0.01). */
  gptqDampening?: number;
  /**
   * Scales stored as float32 (default) or float16 (read through a Cast to float32, so the arithmetic is unchanged;
   * a tensor whose scales fall outside float16's normal range keeps float32). QDQ only; MatMulNBits scales are float32.
   */
  scaleType?: 'float32' | 'float16';
}

export interface QuantizedWeightReport {
  /** The weight (initializer) name. */
  name: string;
  /** The node that reads it (the first, when several do). */
  node: string;
  op: string;
  bits: number;
  /** 'tensor', 'channel' or 'block N'. */
  granularity: string;
  levels: WeightLevels;
  format: WeightFormat;
  rounding: WeightRounding;
  /** Element type of the stored integers. */
  storage: string;
  scaleType: 'float32' | 'float16';
  bytesBefore: number;
  /** Bytes of everything stored for it: integers, scales, zero points, codebook, shapes, folded bias. */
  bytesAfter: number;
  /** Largest |w - dequantized w| (for Gemm in MatMulNBits form: of alpha·w). */
  maxAbsError: number;
  /** Why the form or rounding differs from the one asked for. */
  note?: string;
}

export interface SkippedWeight {
  name: string;
  node: string;
  reason: string;
}

export interface WeightQuantizationReport {
  weights: QuantizedWeightReport[];
  skipped: SkippedWeight[];
  /** Bytes of all initializers of the model before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

export interface WeightQuantizationResult {
  model: Model;
  report: WeightQuantizationReport;
}

interface ResolvedOptions {
  bits: number;
  bitsByWeight: ReadonlyMap<string, number>;
  symmetric: boolean;
  signed: boolean;
  granularity: WeightGranularity;
  levels: WeightLevels;
  format: WeightFormat;
  ops: Set<string>;
  exclude: readonly string[];
  minElements: number;
  rounding: WeightRounding;
  calibration?: GptqCalibration;
  gptqDampening: number;
  scaleType: 'float32' | 'float16';
}

function resolveOptions(options: WeightQuantizationOptions): ResolvedOptions {
  const bits = options.bits ?? 8;
  integerRange({ bits, signed: true }); // throws for bit widths outside 2..8
  const bitsByWeight = new Map(Object.entries(options.bitsByWeight ?? {}));
  for (const [name, b] of bitsByWeight) {
    if (!Number.isInteger(b) || b < 2 || b > 8) throw new QuantizationError(`bitsByWeight: ${b}-bit quantization of '${name}' is not supported: bit widths are 2 to 8`);
  }
  const symmetric = options.symmetric ?? true;
  const format = options.format ?? 'qdq';
  if (format !== 'qdq' && format !== 'nbits') throw new QuantizationError(`unknown weight format '${format}' (use 'qdq' or 'nbits')`);
  const levels = options.levels ?? 'uniform';
  if (levels !== 'uniform' && levels !== 'log2') throw new QuantizationError(`unknown levels '${levels}' (use 'uniform' or 'log2')`);
  const rounding = options.rounding ?? 'nearest';
  if (rounding !== 'nearest' && rounding !== 'gptq') throw new QuantizationError(`unknown rounding '${rounding}' (use 'nearest' or 'gptq')`);
  const granularity = options.granularity ?? (format === 'nbits' ? { block: 32 } : 'channel');
  if (typeof granularity === 'object') {
    const b = granularity.block;
    if (!Number.isInteger(b) || b < 16 || b > 256 || (b & (b - 1)) !== 0) throw new QuantizationError(`block size ${b} is not supported: blocks are a power of two from 16 to 256`);
  } else if (granularity !== 'tensor' && granularity !== 'channel') {
    throw new QuantizationError(`unknown granularity '${String(granularity)}' (use 'tensor', 'channel' or {block: N})`);
  }
  if (format === 'nbits') {
    if (typeof granularity !== 'object') throw new QuantizationError(`format 'nbits' needs block granularity (MatMulNBits is block-wise), not '${granularity}'`);
    checkNBitsSettings(bits, granularity.block);
  }
  if (levels === 'log2') {
    if (typeof granularity === 'object') throw new QuantizationError("levels 'log2' take 'tensor' or 'channel' granularity, not blocks");
    if (format === 'nbits') throw new QuantizationError("levels 'log2' cannot be written as MatMulNBits (its levels are uniform): use format 'qdq'");
    if (rounding === 'gptq') throw new QuantizationError("rounding 'gptq' works with uniform levels only");
  }
  if (rounding === 'gptq' && !options.calibration) throw new QuantizationError("rounding 'gptq' needs calibration feeds and a runtime (options.calibration)");
  const ops = new Set(options.ops ?? WEIGHT_ONLY_OPS);
  for (const op of ops) if (!WEIGHT_ONLY_OPS.includes(op)) throw new QuantizationError(`op '${op}' is not one weight-only quantization handles (${WEIGHT_ONLY_OPS.join(', ')})`);
  const minElements = options.minElements ?? 16;
  if (!Number.isInteger(minElements) || minElements < 0) throw new QuantizationError(`minElements must be a whole number >= 0, not ${minElements}`);
  const scaleType = options.scaleType ?? 'float32';
  if (scaleType !== 'float32' && scaleType !== 'float16') throw new QuantizationError(`unknown scale type '${scaleType}' (use 'float32' or 'float16')`);
  return {
    bits, bitsByWeight, symmetric, signed: options.signed ?? symmetric, granularity, levels, format, ops, exclude: options.exclude ?? [],
    minElements, rounding, calibration: options.calibration, gptqDampening: options.gptqDampening ?? 0.01, scaleType,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Which weights, and along which axes

/** Where a consumer reads its weight's output channels and its reduction (input) index. */
interface WeightAxes {
  channelAxis?: number;
  reductionAxis: number;
  /** Conv: blocks run along C/group·kernel, so the weight is stored flattened to [M, C/group·kernel]. */
  flattenForBlocks: boolean;
}

function weightAxes(node: Node, dims: readonly number[]): WeightAxes | string {
  const rank = dims.length;
  switch (node.opType) {
    case 'Conv':
      return rank >= 3 ? { channelAxis: 0, reductionAxis: 1, flattenForBlocks: true } : `a Conv weight has rank 3 or more, this one is [${dims.join(',')}]`;
    case 'ConvTranspose':
      return rank >= 3 ? { channelAxis: 1, reductionAxis: 0, flattenForBlocks: false } : `a ConvTranspose weight has rank 3 or more, this one is [${dims.join(',')}]`;
    case 'Gemm':
      if (rank !== 2) return `a Gemm weight is 2-D, this one is [${dims.join(',')}]`;
      return node.int('transB', 0) ? { channelAxis: 0, reductionAxis: 1, flattenForBlocks: false } : { channelAxis: 1, reductionAxis: 0, flattenForBlocks: false };
    case 'MatMul':
      return rank === 1 ? { reductionAxis: 0, flattenForBlocks: false } : { channelAxis: rank - 1, reductionAxis: rank - 2, flattenForBlocks: false };
    default:
      return `${node.opType} is not handled`;
  }
}

interface StoredForm {
  dims: number[];
  granularity: Granularity;
  label: string;
}

function storedForm(dims: readonly number[], axes: WeightAxes, g: WeightGranularity): StoredForm {
  if (g === 'tensor' || (g === 'channel' && axes.channelAxis === undefined)) return { dims: [...dims], granularity: { kind: 'tensor' }, label: 'tensor' };
  if (g === 'channel') return { dims: [...dims], granularity: { kind: 'channel', axis: axes.channelAxis! }, label: 'channel' };
  if (axes.flattenForBlocks) {
    const stored = [dims[0]!, dims.slice(1).reduce((a, b) => a * b, 1)];
    return { dims: stored, granularity: { kind: 'block', axis: 1, blockSize: g.block }, label: `block ${g.block}` };
  }
  return { dims: [...dims], granularity: { kind: 'block', axis: axes.reductionAxis, blockSize: g.block }, label: `block ${g.block}` };
}

interface WeightPlan {
  name: string;
  bits: number;
  tensor: Tensor;
  node: Node;
  readers: Node[];
  axes: WeightAxes;
  nbits?: NBitsLayout;
  gptq: boolean;
  notes: string[];
}

function planWeights(graph: Graph, o: ResolvedOptions): { plans: WeightPlan[]; skipped: SkippedWeight[] } {
  const consumers = graph.consumers();
  const graphOutputs = new Set(graph.outputs.map((v) => v.name));
  const plans = new Map<string, WeightPlan>();
  const skipped: SkippedWeight[] = [];
  const rejected = new Set<string>();
  const skip = (name: string, node: Node, reason: string) => { skipped.push({ name, node: node.label, reason }); rejected.add(name); };
  for (const node of graph.nodes) {
    if (node.domain !== '' || !o.ops.has(node.opType)) continue;
    const name = node.input(1);
    if (!name || rejected.has(name)) continue;
    const tensor = graph.initializers.get(name);
    if (!tensor) { skip(name, node, 'the weight is not a constant (no initializer)'); continue; }
    const plan = plans.get(name);
    const axes = weightAxes(node, tensor.dims);
    if (typeof axes === 'string') { skip(name, node, axes); plans.delete(name); continue; }
    const pattern = o.exclude.find((p) => matchesPattern(node.name, p) || matchesPattern(name, p));
    if (pattern !== undefined) { skip(name, node, `excluded by pattern '${pattern}'`); plans.delete(name); continue; }
    if (plan) {
      // A weight read by several nodes is quantized once: they must read it along the same axes.
      if (JSON.stringify(plan.axes) !== JSON.stringify(axes)) { skip(name, node, `shared by nodes that read it along different axes ('${plan.node.label}' and '${node.label}')`); plans.delete(name); }
      continue;
    }
    if (tensor.dataType !== DataType.FLOAT) { skip(name, node, `the weight is ${dataTypeName(tensor.dataType)}; only float32 weights are quantized`); continue; }
    if (tensor.size < o.minElements) { skip(name, node, `${tensor.size} elements, fewer than minElements ${o.minElements}`); continue; }
    if (graphOutputs.has(name)) { skip(name, node, 'the weight is also a graph output'); continue; }
    plans.set(name, { name, bits: o.bitsByWeight.get(name) ?? o.bits, tensor, node, readers: consumers.get(name) ?? [node], axes, gptq: false, notes: [] });
  }
  for (const plan of plans.values()) {
    if (o.format === 'nbits' && (plan.node.opType === 'MatMul' || plan.node.opType === 'Gemm')) {
      const layout = !NBITS_BITS.includes(plan.bits) ? `MatMulNBits takes ${NBITS_BITS.join(', ')} bits, not ${plan.bits}`
        : plan.readers.length === 1 ? matMulNBitsLayout(graph, plan.node) : 'the weight is read by several nodes';
      if (typeof layout === 'string') plan.notes.push(`written as QDQ, not MatMulNBits: ${layout}`);
      else plan.nbits = layout;
    }
  }
  return { plans: [...plans.values()], skipped };
}

// ---------------------------------------------------------------------------------------------------------------
// Fast uniform quantization: one pass for ranges, one to quantize, no per-element closures

/** A tensor seen as [outer, size, inner] around the granularity's axis, and its parameter groups. */
interface GroupLayout {
  outer: number;
  size: number;
  inner: number;
  kind: Granularity['kind'];
  blockSize: number;
  blocks: number;
  groups: number;
}

function groupLayout(dims: readonly number[], g: Granularity): GroupLayout {
  const total = dims.reduce((a, b) => a * b, 1);
  if (g.kind === 'tensor') return { outer: 1, size: 1, inner: total, kind: 'tensor', blockSize: 1, blocks: 1, groups: 1 };
  const axis = g.axis < 0 ? g.axis + dims.length : g.axis;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const size = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (g.kind === 'channel') return { outer, size, inner, kind: 'channel', blockSize: 1, blocks: 1, groups: size };
  const blocks = Math.ceil(size / g.blockSize);
  return { outer, size, inner, kind: 'block', blockSize: g.blockSize, blocks, groups: outer * blocks * inner };
}

/**
 * Visits the tensor as runs of consecutive elements [start, start + length) whose element j belongs to group
 * base + j·step (step 0: one group for the whole run), choosing runs as long as the layout allows so the hot loops
 * stay tight: per channel along the last axis, a run is a whole row with one group per element; block-wise along
 * the last axis, a run is one block.
 */
function forEachRun(L: GroupLayout, visit: (start: number, length: number, base: number, step: number) => void): void {
  const { outer, size, inner } = L;
  if (L.kind === 'tensor') { visit(0, outer * size * inner, 0, 0); return; }
  if (L.kind === 'channel') {
    if (inner === 1) { for (let o = 0; o < outer; o++) visit(o * size, size, 0, 1); return; }
    for (let o = 0; o < outer; o++) for (let a = 0; a < size; a++) visit((o * size + a) * inner, inner, a, 0);
    return;
  }
  const { blockSize, blocks } = L;
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      for (let b = 0; b < blocks; b++) visit(o * size + b * blockSize, Math.min(blockSize, size - b * blockSize), o * blocks + b, 0);
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < size; a++) visit((o * size + a) * inner, inner, (o * blocks + Math.floor(a / blockSize)) * inner, 1);
  }
}

function groupRanges(data: Float32Array, L: GroupLayout): { lo: Float32Array; hi: Float32Array } {
  const lo = new Float32Array(L.groups).fill(Infinity), hi = new Float32Array(L.groups).fill(-Infinity);
  forEachRun(L, (start, length, base, step) => {
    const end = start + length;
    if (step === 0) {
      let mn = lo[base]!, mx = hi[base]!;
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      lo[base] = mn;
      hi[base] = mx;
    } else {
      for (let i = start, g = base; i < end; i++, g++) {
        const v = data[i]!;
        if (v < lo[g]!) lo[g] = v;
        if (v > hi[g]!) hi[g] = v;
      }
    }
  });
  return { lo, hi };
}

const FLOAT16_MIN_NORMAL = 2 ** -14;

/** The smallest float16 value >= s, or undefined when it is not a normal float16 number. */
function float16AtLeast(s: number): number | undefined {
  let bits = numberToFloat16Bits(s);
  if (float16BitsToNumber(bits) < s) bits++;
  const v = float16BitsToNumber(bits);
  return Number.isFinite(v) && v >= FLOAT16_MIN_NORMAL ? v : undefined;
}

interface GroupParams {
  scales: Float32Array;
  zeroPoints: Int32Array;
  scaleType: 'float32' | 'float16';
}

function groupParams(lo: Float32Array, hi: Float32Array, format: IntegerFormat & { symmetric: boolean }, scaleType: 'float32' | 'float16'): GroupParams {
  const n = lo.length;
  const scales = new Float32Array(n), zeroPoints = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const p = affineParams(lo[k] === Infinity ? 0 : lo[k]!, hi[k] === -Infinity ? 0 : hi[k]!, format);
    scales[k] = p.scale;
    zeroPoints[k] = p.zeroPoint;
  }
  if (scaleType === 'float32') return { scales, zeroPoints, scaleType };
  // float16 scales are rounded up, so the range still fits; asymmetric zero points follow the new scale.
  const { qmin, qmax } = integerRange(format);
  const half = new Float32Array(n), halfZero = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const s = float16AtLeast(scales[k]!);
    if (s === undefined) return { scales, zeroPoints, scaleType: 'float32' };
    half[k] = s;
    halfZero[k] = format.symmetric ? zeroPoints[k]!
      : Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - Math.min(lo[k] === Infinity ? 0 : lo[k]!, 0) / s)));
  }
  return { scales: half, zeroPoints: halfZero, scaleType: 'float16' };
}

/**
 * Quantizes `data` into `sink` (bytes; signed values as two's complement), one integer per byte, or two per byte (low
 * nibble first) when `nibbles`. Returns the largest |x - dequantized x|. Rounding as QuantizeLinear: x / scale in
 * float32, ties to even, then saturation.
 */
function quantizeInto(data: Float32Array, L: GroupLayout, p: GroupParams, qmin: number, qmax: number, sink: Uint8Array, nibbles: boolean): number {
  const { scales, zeroPoints } = p;
  let maxError = 0;
  forEachRun(L, (start, length, base, step) => {
    const end = start + length;
    let worst = 0;
    for (let i = start, g = base; i < end; i++, g += step) {
      const s = scales[g]!, z = zeroPoints[g]!;
      const v = data[i]!;
      const t = Math.fround(v / s);
      let r = Math.round(t);
      if (r - t === 0.5 && (r & 1) !== 0) r -= 1; // Math.round sends ties up; QuantizeLinear sends them to even
      let q = (r | 0) + z; // | 0 keeps q a small integer (Math.round gives -0 for small negatives)
      if (q < qmin) q = qmin; else if (q > qmax) q = qmax;
      if (nibbles) sink[i >> 1] |= (q & 0xf) << ((i & 1) << 2);
      else sink[i] = q;
      const e = Math.abs(v - Math.fround((q - z) * s));
      if (e > worst) worst = e;
    }
    if (worst > maxError) maxError = worst;
  });
  return maxError;
}

interface UniformResult {
  integers: Tensor;
  scales: Float32Array;
  zeroPoints: Int32Array;
  paramDims: number[];
  scaleType: 'float32' | 'float16';
  maxAbsError: number;
}

/** Round-to-nearest quantization of a float32 weight into an integer initializer of the format's storage type. */
function quantizeUniform(name: string, data: Float32Array, dims: readonly number[], g: Granularity, format: IntegerFormat & { symmetric: boolean }, scaleType: 'float32' | 'float16'): UniformResult {
  const L = groupLayout(dims, g);
  const { lo, hi } = groupRanges(data, L);
  const params = groupParams(lo, hi, format, scaleType);
  const { qmin, qmax } = integerRange(format);
  const type = storageType(format);
  const nibbles = type === DataType.INT4 || type === DataType.UINT4;
  const sink = new Uint8Array(nibbles ? Math.ceil(data.length / 2) : data.length);
  const maxAbsError = quantizeInto(data, L, params, qmin, qmax, sink, nibbles);
  const stored = type === DataType.INT8 ? new Int8Array(sink.buffer, sink.byteOffset, sink.length) : sink;
  return {
    integers: new Tensor(name, type, dims, stored), scales: params.scales, zeroPoints: params.zeroPoints,
    paramDims: paramShape(dims, g), scaleType: params.scaleType, maxAbsError,
  };
}

/** Unsigned integers one per byte (for MatMulNBits packing), block-wise. */
function quantizeUnpacked(data: Float32Array, dims: readonly number[], g: Granularity, format: IntegerFormat & { symmetric: boolean }): { values: Uint8Array; scales: Float32Array; zeroPoints: Int32Array; maxAbsError: number } {
  const L = groupLayout(dims, g);
  const { lo, hi } = groupRanges(data, L);
  const params = groupParams(lo, hi, format, 'float32');
  const { qmin, qmax } = integerRange(format);
  const values = new Uint8Array(data.length);
  const maxAbsError = quantizeInto(data, L, params, qmin, qmax, values, false);
  return { values, scales: params.scales, zeroPoints: params.zeroPoints, maxAbsError };
}

// ---------------------------------------------------------------------------------------------------------------
// Power-of-two levels

interface Log2Result {
  codes: Tensor;
  /** ±2^e and 0, indexed by code (per-tensor: already multiplied by the scale). */
  codebook: Float32Array;
  /** Per channel: the scales along the channel axis; per tensor: empty (folded into the codebook). */
  scales: Float32Array;
  maxAbsError: number;
}

/**
 * Codes u = c + L with L = 2^(bits-1) - 1 and c in [-L, L]: c = 0 is 0, else sign(c)·scale·2^(|c| - L). The scale is
 * the group's max |w|, so the largest weight is exact; each weight takes the nearest level (in value).
 */
function quantizeLog2(name: string, data: Float32Array, dims: readonly number[], g: Granularity, bits: number): Log2Result {
  const L = groupLayout(dims, g);
  const { lo, hi } = groupRanges(data, L);
  const half = (1 << (bits - 1)) - 1;
  const unit = Float32Array.from({ length: 2 * half + 1 }, (_, u) => (u === half ? 0 : Math.sign(u - half) * 2 ** (Math.abs(u - half) - half)));
  const scales = new Float32Array(L.groups);
  for (let k = 0; k < L.groups; k++) {
    const m = Math.max(Math.abs(lo[k]!), Math.abs(hi[k]!));
    scales[k] = Number.isFinite(m) && m > 0 ? m : 1;
  }
  const perTensor = g.kind === 'tensor';
  const codebook = perTensor ? unit.map((v) => Math.fround(v * scales[0]!)) : unit;
  const type = bits <= 4 ? DataType.UINT4 : DataType.UINT8;
  const nibbles = type === DataType.UINT4;
  const sink = new Uint8Array(nibbles ? Math.ceil(data.length / 2) : data.length);
  const zeroBelow = 2 ** -half; // halfway between 0 and the smallest level 2^(1-L)
  let maxAbsError = 0;
  forEachRun(L, (start, length, base, step) => {
    for (let i = start, g = base; i < start + length; i++, g += step) {
      const s = scales[g]!;
      const v = data[i]!;
      const r = Math.abs(v) / s;
      let code = half;
      if (r >= zeroBelow) {
        let e = Math.floor(Math.log2(r));
        if (r >= 1.5 * 2 ** e) e++;
        e = Math.min(0, Math.max(1 - half, e));
        code = half + (v < 0 ? -1 : 1) * (e + half);
      }
      if (nibbles) sink[i >> 1] |= code << ((i & 1) << 2);
      else sink[i] = code;
      const err = Math.abs(v - (perTensor ? codebook[code]! : Math.fround(unit[code]! * s)));
      if (err > maxAbsError) maxAbsError = err;
    }
  });
  return { codes: new Tensor(name, type, dims, sink), codebook, scales: perTensor ? new Float32Array(0) : scales, maxAbsError };
}

// ---------------------------------------------------------------------------------------------------------------
// GPTQ glue: how each weight is seen as matrices of (reduction index) x (output channel)

function gptqView(node: Node, dims: readonly number[]): MatrixView {
  if (node.opType === 'Conv') {
    const groups = node.int('group', 1);
    const rows = dims.slice(1).reduce((a, b) => a * b, 1);
    const cols = dims[0]! / groups;
    return { groups, rows, cols, groupStride: cols * rows, rowStride: 1, colStride: rows };
  }
  if (node.opType === 'Gemm' && node.int('transB', 0)) return { groups: 1, rows: dims[1]!, cols: dims[0]!, groupStride: 0, rowStride: 1, colStride: dims[1]! };
  return { groups: 1, rows: dims[0]!, cols: dims[1]!, groupStride: 0, rowStride: dims[1]!, colStride: 1 };
}

function gptqParams(view: MatrixView, form: StoredForm): { granularity: GptqGranularity; layout: ParamLayout } {
  const g = form.granularity;
  const channels = view.groups * view.cols;
  if (g.kind === 'tensor') return { granularity: { kind: 'tensor' }, layout: { count: 1, channelStride: 0, blockStride: 0 } };
  if (g.kind === 'channel') return { granularity: { kind: 'channel' }, layout: { count: channels, channelStride: 1, blockStride: 0 } };
  const blocks = Math.ceil(view.rows / g.blockSize);
  // Blocks along the last stored axis ([N,K], [M, C/g·k]): [channels, blocks]; along the first ([K,N]): [blocks, channels].
  const last = g.axis === form.dims.length - 1;
  return {
    granularity: { kind: 'block', blockSize: g.blockSize },
    layout: last ? { count: channels * blocks, channelStride: blocks, blockStride: 1 } : { count: channels * blocks, channelStride: 1, blockStride: channels },
  };
}

function maxDequantizationError(data: Float32Array, values: Int32Array, scales: Float32Array, zeroPoints: Int32Array, dims: readonly number[], g: Granularity): number {
  const group = groupIndexer(dims, g);
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const k = group(i);
    max = Math.max(max, Math.abs(data[i]! - dequantizeValue(values[i]!, scales[k]!, zeroPoints[k]!)));
  }
  return max;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing one weight into the graph: nodes computing the float weight (or replacing its consumer) and initializers

interface Emitted {
  nodes: Node[];
  tensors: Tensor[];
  report: Pick<QuantizedWeightReport, 'granularity' | 'format' | 'storage' | 'scaleType' | 'maxAbsError'>;
  /** Why float16 scales were not used, when they were asked for. */
  float32Reason?: string;
}

/** Builds the nodes and tensors of one weight; the last node writes `output`. */
class Emitter {
  readonly nodes: Node[] = [];
  readonly tensors: Tensor[] = [];

  constructor(private readonly names: NameSource, private readonly prefix: string) {}

  tensor(t: Tensor): string {
    this.tensors.push(t);
    return t.name;
  }

  value(what: string): string {
    return this.names.value(`${this.prefix}_${what}`);
  }

  node(op: string, inputs: string[], output: string, attrs: Record<string, number> = {}): string {
    const attributes = Object.entries(attrs).map(([name, value]) => ({ name, type: 'INT' as const, value }));
    this.nodes.push(new Node(op, inputs, [output], this.names.node(`${this.prefix}_${op}`), '', attributes));
    return output;
  }
}

/** Integer initializer + scale (+ zero point) -> DequantizeLinear (-> Reshape for flattened Conv blocks). */
function emitUniform(plan: WeightPlan, hessians: Float64Array[] | undefined, o: ResolvedOptions, names: NameSource): Emitted {
  const data = plan.tensor.toFloat32();
  const dims = plan.tensor.dims;
  const form = storedForm(dims, plan.axes, o.granularity);
  const e = new Emitter(names, plan.name);
  const format = { bits: plan.bits, signed: o.signed, symmetric: o.symmetric };
  const paramDims = paramShape(form.dims, form.granularity);
  const qName = e.value('quantized');
  let integers: Tensor, scales: Float32Array, zeroPoints: Int32Array, scaleType: 'float32' | 'float16', maxAbsError: number;
  if (hessians) {
    const view = gptqView(plan.node, dims);
    const { granularity, layout } = gptqParams(view, form);
    const r = gptqQuantize(data, view, hessians, format, granularity, layout, { dampening: o.gptqDampening });
    integers = integerTensor(qName, form.dims, r.values, format);
    ({ scales, zeroPoints } = r);
    scaleType = 'float32';
    maxAbsError = maxDequantizationError(data, r.values, r.scales, r.zeroPoints, form.dims, form.granularity);
  } else {
    ({ integers, scales, zeroPoints, scaleType, maxAbsError } = quantizeUniform(qName, data, form.dims, form.granularity, format, o.scaleType));
  }
  const inputs = [e.tensor(integers)];
  if (scaleType === 'float16') {
    const bits = Uint16Array.from(scales, (v) => numberToFloat16Bits(v));
    inputs.push(e.node('Cast', [e.tensor(new Tensor(e.value('scale_f16'), DataType.FLOAT16, paramDims, bits))], e.value('scale'), { to: DataType.FLOAT }));
  } else {
    inputs.push(e.tensor(Tensor.fromFloat32(e.value('scale'), paramDims, scales)));
  }
  if (!(format.signed && zeroPoints.every((z) => z === 0))) inputs.push(e.tensor(integerTensor(e.value('zero_point'), paramDims, zeroPoints, format)));
  const g = form.granularity;
  const attrs: Record<string, number> = g.kind === 'tensor' ? {} : g.kind === 'channel' ? { axis: g.axis } : { axis: g.axis, block_size: g.blockSize };
  const reshaped = form.dims.length !== dims.length;
  const dequantized = e.node('DequantizeLinear', inputs, reshaped ? e.value('dequantized') : plan.name, attrs);
  if (reshaped) e.node('Reshape', [dequantized, e.tensor(Tensor.fromInt64(e.value('shape'), [dims.length], dims))], plan.name);
  return {
    nodes: e.nodes, tensors: e.tensors,
    report: { granularity: form.label, format: 'qdq', storage: dataTypeName(integers.dataType), scaleType, maxAbsError },
    float32Reason: hessians ? 'GPTQ writes float32 scales' : undefined,
  };
}

/** Codes -> Cast(int32) -> Gather(codebook) (-> Mul by per-channel scales). */
function emitLog2(plan: WeightPlan, o: ResolvedOptions, names: NameSource): Emitted {
  const form = storedForm(plan.tensor.dims, plan.axes, o.granularity);
  const e = new Emitter(names, plan.name);
  const r = quantizeLog2(e.value('codes'), plan.tensor.toFloat32(), form.dims, form.granularity, plan.bits);
  const book = e.tensor(Tensor.fromFloat32(e.value('codebook'), [r.codebook.length], r.codebook));
  const indices = e.node('Cast', [e.tensor(r.codes)], e.value('indices'), { to: DataType.INT32 });
  const g = form.granularity;
  if (g.kind === 'channel') {
    const levels = e.node('Gather', [book, indices], e.value('levels'), { axis: 0 });
    const scale = e.tensor(Tensor.fromFloat32(e.value('scale'), form.dims.map((d, i) => (i === g.axis ? d : 1)), r.scales));
    e.node('Mul', [levels, scale], plan.name);
  } else {
    e.node('Gather', [book, indices], plan.name, { axis: 0 });
  }
  return {
    nodes: e.nodes, tensors: e.tensors,
    report: { granularity: form.label, format: 'qdq', storage: dataTypeName(r.codes.dataType), scaleType: 'float32', maxAbsError: r.maxAbsError },
    float32Reason: 'power-of-two levels keep float32 scales',
  };
}

/** The MatMul/Gemm replaced by MatMulNBits (unsigned values, blocks along K, Gemm's alpha folded in). */
function emitNBits(plan: WeightPlan, layout: NBitsLayout, hessians: Float64Array[] | undefined, o: ResolvedOptions, names: NameSource): Emitted {
  const data = plan.tensor.toFloat32();
  const dims = plan.tensor.dims;
  const blockSize = (o.granularity as { block: number }).block;
  const source = layout.alpha === 1 ? data : data.map((v) => Math.fround(v * layout.alpha));
  const format = { bits: plan.bits, signed: false, symmetric: o.symmetric };
  const form = storedForm(dims, plan.axes, o.granularity);
  let q: { values: ArrayLike<number>; scales: Float32Array; zeroPoints: Int32Array; maxAbsError: number };
  if (hessians) {
    const view = gptqView(plan.node, dims);
    const { granularity, layout: params } = gptqParams(view, form);
    const r = gptqQuantize(source, view, hessians, format, granularity, params, { dampening: o.gptqDampening });
    q = { ...r, maxAbsError: maxDequantizationError(source, r.values, r.scales, r.zeroPoints, form.dims, form.granularity) };
  } else {
    q = quantizeUnpacked(source, dims, form.granularity, format);
  }
  const packed = packMatMulNBits(q, layout, plan.bits, blockSize);
  const { nodes, initializers } = matMulNBitsNodes(plan.node, plan.name, layout, packed, plan.bits, blockSize, names);
  return {
    nodes, tensors: initializers,
    report: { granularity: form.label, format: 'nbits', storage: `uint${plan.bits} in uint8 blocks`, scaleType: 'float32', maxAbsError: q.maxAbsError },
    float32Reason: 'MatMulNBits scales have the type of its input (float32)',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The pass

/**
 * Returns a copy of the model with the weights of its Conv, ConvTranspose, Gemm and MatMul nodes stored in `bits`-bit
 * integers (see the file comment for the forms), and a report per weight. The input model is not changed. Refuses
 * models that are quantized already or whose weights hold NaN/Inf (QuantizationError). Async because GPTQ runs the
 * model on calibration feeds; round-to-nearest does no asynchronous work.
 */
export async function quantizeWeights(model: Model, options: WeightQuantizationOptions = {}): Promise<WeightQuantizationResult> {
  const o = resolveOptions(options);
  assertNotQuantized(model);
  assertFiniteWeights(model);
  let out = constantsToInitializers(model);
  const bytesBefore = initializerBytes(out.graph);
  const opset = out.opset('');
  if (opset !== undefined && opset < 21) out = upgradeOpset(out, 21);
  const graph = out.graph;
  const { plans, skipped } = planWeights(graph, o);
  for (const name of o.bitsByWeight.keys()) {
    if (!graph.initializers.has(name)) throw new QuantizationError(`bitsByWeight names '${name}', which is not a weight of the model`);
  }

  let statistics: Awaited<ReturnType<typeof collectInputStatistics>> | undefined;
  if (o.rounding === 'gptq') {
    for (const plan of plans) {
      const reason = gptqUnsupportedReason(out, plan.node);
      if (reason) plan.notes.push(`rounded to nearest: ${reason}`);
      else plan.gptq = true;
    }
    const nodes = plans.filter((p) => p.gptq).map((p) => p.node);
    if (nodes.length) statistics = await collectInputStatistics(out, nodes, o.calibration!);
  }

  const taken = graph.valueNames();
  const nodeNames = new Set(graph.nodes.map((n) => n.name).filter(Boolean));
  const names: NameSource = {
    value: (prefix) => graph.uniqueName(prefix, taken),
    node: (prefix) => { let name = prefix; for (let i = 1; nodeNames.has(name); i++) name = `${prefix}_${i}`; nodeNames.add(name); return name; },
  };
  const insertBefore = new Map<Node, Node[]>();
  const replace = new Map<Node, Node[]>();
  const added: Tensor[] = [];
  const reports: QuantizedWeightReport[] = [];
  let usesNBits = false;

  for (const plan of plans) {
    const base = {
      name: plan.name, node: plan.node.label, op: plan.node.opType, bits: plan.bits, levels: o.levels,
      rounding: plan.gptq ? 'gptq' as const : 'nearest' as const, bytesBefore: plan.tensor.byteLength,
    };
    const hessians = plan.gptq ? statistics!.get(plan.node)!.hessians : undefined;
    const emitted = plan.nbits ? emitNBits(plan, plan.nbits, hessians, o, names)
      : o.levels === 'log2' ? emitLog2(plan, o, names) : emitUniform(plan, hessians, o, names);
    if (plan.nbits) {
      replace.set(plan.node, emitted.nodes);
      usesNBits = true;
    } else {
      const first = plan.readers[0] ?? plan.node; // consumers() lists readers in graph order
      insertBefore.set(first, [...(insertBefore.get(first) ?? []), ...emitted.nodes]);
    }
    added.push(...emitted.tensors);
    if (o.scaleType === 'float16' && emitted.report.scaleType === 'float32') plan.notes.push(`float32 scales: ${emitted.float32Reason ?? 'a scale is outside float16\'s normal range'}`);
    reports.push({
      ...base, ...emitted.report, bytesAfter: emitted.tensors.reduce((n, t) => n + t.byteLength, 0),
      ...(plan.notes.length ? { note: plan.notes.join('; ') } : {}),
    });
  }

  // Apply the edits: the float weights go, their names are now written by the dequantizing nodes.
  const nodes: Node[] = [];
  for (const n of graph.nodes) {
    nodes.push(...(insertBefore.get(n) ?? []));
    nodes.push(...(replace.get(n) ?? [n]));
  }
  graph.nodes = nodes;
  const quantized = new Set(plans.map((p) => p.name));
  for (const name of quantized) graph.initializers.delete(name);
  graph.inputs = graph.inputs.filter((v) => !quantized.has(v.name));
  for (const t of added) graph.initializers.set(t.name, t);
  if (plans.length) {
    if (out.opset('') === undefined) out.opsetImports.set('', 21);
    out.irVersion = Math.max(out.irVersion, 10);
  }
  if (usesNBits && (out.opset('com.microsoft') ?? 0) < MS_OPSET) out.opsetImports.set('com.microsoft', MS_OPSET);
  validateModel(out);
  return { model: out, report: { weights: reports, skipped, bytesBefore, bytesAfter: initializerBytes(graph) } };
}

function initializerBytes(graph: Graph): number {
  let n = 0;
  for (const t of graph.initializers.values()) n += t.byteLength;
  return n;
}

