// Per-layer figures for reports: each weight of a Conv/ConvTranspose/Gemm/MatMul/MatMulNBits (and of a Gather
// embedding) as stored in the model, followed back through the constant nodes that turn stored values into the
// weight the layer multiplies by (DequantizeLinear, a clustered layer's Cast -> Gather(codebook), Reshape, Mul by
// scales, ...), so that sparsity, distinct values and the histogram describe the dequantized weights while
// storageBits describes what the file holds. Isomorphic: no Node-only imports.
import { DataType, bitsPerElement, isFloatType } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Graph, Model, Node, normalizeDomain } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { weightTensors } from '../core/weights.js';
import { groupIndexer } from '../compress/quantize/arithmetic.js';
import { dequantizeMatMulNBits } from '../compress/quantize/nbits.js';
import type { LayerSummary, WeightHistogram } from './model.js';

/** A constant value computed from the model's stored tensors, and the stored tensor it mainly comes from. */
interface ConstantValue {
  dims: number[];
  values: Float32Array;
  /** The largest stored tensor it is made from (the integers of a quantized weight, a clustered layer's indices). */
  stored: Tensor;
  storageBits: number;
  /** Whether the values are real numbers of the weight (false: raw integers, indices, zero points). */
  real: boolean;
}

/** One layer's weight: its summary and its dequantized values. */
export interface LayerWeight {
  summary: LayerSummary;
  /** The weight as the layer multiplies by it (dequantized), in the stored order. */
  values: Float32Array;
  /** The value the node reads (the initializer itself, a DequantizeLinear's output, ...); empty for MatMulNBits. */
  value: string;
  /**
   * False when the values are integers whose scale could not be found (a MatMulInteger whose output scale is not a
   * recognised Cast -> Mul): the summary holds, but the histogram leaves the layer out.
   */
  scaled: boolean;
}

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Element types whose values Tensor.at reads correctly (float8 and float4 bytes are not decoded). */
function readable(t: Tensor): boolean {
  if (t.isString) return false;
  const bits = bitsPerElement(t.dataType);
  if (isFloatType(t.dataType)) return t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE || t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16;
  return t.dataType !== DataType.BOOL && bits >= 4;
}

function floatValues(t: Tensor): Float32Array {
  if (t.dataType === DataType.FLOAT) return t.numeric() as Float32Array;
  const out = new Float32Array(t.size);
  for (let i = 0; i < out.length; i++) out[i] = t.at(i);
  return out;
}

/** Row-major strides of `dims` read as `outDims` under numpy broadcasting (0 where a dimension is broadcast). */
function broadcastStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const strides = new Array<number>(outDims.length).fill(0);
  let stride = 1;
  for (let i = dims.length - 1, o = outDims.length - 1; i >= 0; i--, o--) {
    strides[o] = dims[i] === 1 ? 0 : stride;
    stride *= dims[i]!;
  }
  return strides;
}

function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1, y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Visits every element of `outDims` in row-major order with its offsets into inputs of the given strides. */
function forEachOffset(outDims: readonly number[], strides: number[][], visit: (i: number, offsets: number[]) => void): void {
  const total = size(outDims);
  const index = new Array<number>(outDims.length).fill(0);
  const offsets = strides.map(() => 0);
  for (let i = 0; i < total; i++) {
    visit(i, offsets);
    for (let d = outDims.length - 1; d >= 0; d--) {
      index[d]!++;
      for (let s = 0; s < strides.length; s++) offsets[s]! += strides[s]![d]!;
      if (index[d]! < outDims[d]!) break;
      for (let s = 0; s < strides.length; s++) offsets[s]! -= strides[s]![d]! * outDims[d]!;
      index[d] = 0;
    }
  }
}

/** Parameters of one quantized tensor: scale and zero point per tensor, per index along an axis, or per block. */
function dequantize(x: ConstantValue, scale: ConstantValue, zeroPoint: ConstantValue | undefined, axis: number, blockSize: number): Float32Array | undefined {
  const rank = x.dims.length;
  const a = axis < 0 ? axis + rank : axis;
  let group: (i: number) => number;
  if (scale.values.length === 1) group = () => 0;
  else if (blockSize > 0) {
    if (a < 0 || a >= rank || scale.dims.length !== rank) return undefined;
    group = groupIndexer(x.dims, { kind: 'block', axis: a, blockSize });
  } else {
    if (a < 0 || a >= rank || scale.values.length !== x.dims[a]) return undefined;
    group = groupIndexer(x.dims, { kind: 'channel', axis: a });
  }
  // Integer ops (MatMulInteger, ConvInteger) may pair per-channel scales with one zero point.
  const zeroPointOf = !zeroPoint ? () => 0 : zeroPoint.values.length === 1 ? () => zeroPoint.values[0]! : zeroPoint.values.length === scale.values.length ? (k: number) => zeroPoint.values[k]! : undefined;
  if (!zeroPointOf) return undefined;
  const out = new Float32Array(x.values.length);
  for (let i = 0; i < out.length; i++) {
    const k = group(i);
    out[i] = Math.fround((x.values[i]! - zeroPointOf(k)) * scale.values[k]!);
  }
  return out;
}

/** Computes constant values of a graph from its stored tensors through the few ops that make weights. */
class ConstantReader {
  private readonly stored = new Map<string, Tensor>();
  private readonly producers: Map<string, Node>;
  private readonly cache = new Map<string, ConstantValue | undefined>();

  constructor(readonly graph: Graph) {
    for (const w of weightTensors(graph)) this.stored.set(w.name, w.tensor);
    // Graph inputs with a default initializer can be fed: not constants.
    for (const input of graph.inputs) this.stored.delete(input.name);
    this.producers = graph.producers();
  }

  isConstant(name: string): boolean {
    return this.stored.has(name) || this.read(name) !== undefined;
  }

  read(name: string, depth = 0): ConstantValue | undefined {
    if (!name) return undefined;
    if (this.cache.has(name)) return this.cache.get(name);
    const tensor = this.stored.get(name);
    let value: ConstantValue | undefined;
    if (tensor) {
      if (readable(tensor)) value = { dims: [...tensor.dims], values: floatValues(tensor), stored: tensor, storageBits: bitsPerElement(tensor.dataType), real: isFloatType(tensor.dataType) };
    } else {
      const node = this.producers.get(name);
      // Weight chains are short; a long one is activations, not a weight.
      if (node && depth < 8 && normalizeDomain(node.domain) === '' && node.outputs[0] === name) value = this.evaluate(node, depth + 1);
    }
    this.cache.set(name, value);
    return value;
  }

  private evaluate(node: Node, depth: number): ConstantValue | undefined {
    const input = (i: number) => this.read(node.input(i) ?? '', depth);
    switch (node.opType) {
      case 'Identity': return input(0);
      case 'Cast': {
        const x = input(0);
        const to = node.int('to', DataType.FLOAT)!;
        return x && { ...x, real: isFloatType(to) ? true : x.real };
      }
      case 'DequantizeLinear': {
        const x = input(0), scale = input(1);
        const zeroPoint = node.input(2) ? input(2) : undefined;
        if (!x || !scale || (node.input(2) && !zeroPoint)) return undefined;
        const values = dequantize(x, scale, zeroPoint, node.int('axis', 1)!, node.int('block_size', 0)!);
        return values && { dims: x.dims, values, stored: x.stored, storageBits: x.storageBits, real: true };
      }
      case 'Reshape': {
        const x = input(0), shape = input(1);
        if (!x || !shape) return undefined;
        const allowZero = node.int('allowzero', 0) === 1;
        const dims = Array.from(shape.values, (d, i) => (d === 0 && !allowZero ? x.dims[i]! : d));
        const known = size(dims.filter((d) => d !== -1));
        const resolved = dims.map((d) => (d === -1 ? x.values.length / known : d));
        return size(resolved) === x.values.length && resolved.every(Number.isInteger) ? { ...x, dims: resolved } : undefined;
      }
      case 'Flatten': {
        const x = input(0);
        if (!x) return undefined;
        const axis = node.int('axis', 1)!;
        const a = axis < 0 ? axis + x.dims.length : axis;
        return { ...x, dims: [size(x.dims.slice(0, a)), size(x.dims.slice(a))] };
      }
      case 'Squeeze': case 'Unsqueeze': {
        const x = input(0);
        if (!x) return undefined;
        const axesInput = node.input(1) ? input(1) : undefined;
        const axes = axesInput ? Array.from(axesInput.values) : node.ints('axes');
        if (node.opType === 'Squeeze') {
          const rank = x.dims.length;
          const drop = new Set((axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => (a < 0 ? a + rank : a)));
          return { ...x, dims: x.dims.filter((_, i) => !drop.has(i)) };
        }
        if (!axes) return undefined;
        const rank = x.dims.length + axes.length;
        const add = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
        const dims: number[] = [];
        for (let i = 0, j = 0; i < rank; i++) dims.push(add.has(i) ? 1 : x.dims[j++]!);
        return { ...x, dims };
      }
      case 'Transpose': {
        const x = input(0);
        if (!x) return undefined;
        const rank = x.dims.length;
        const perm = node.ints('perm') ?? x.dims.map((_, i) => rank - 1 - i);
        const outDims = perm.map((p) => x.dims[p]!);
        const inStrides = x.dims.map((_, i) => size(x.dims.slice(i + 1)));
        const values = new Float32Array(x.values.length);
        forEachOffset(outDims, [perm.map((p) => inStrides[p]!)], (i, [offset]) => { values[i] = x.values[offset!]!; });
        return { ...x, dims: outDims, values };
      }
      case 'Gather': {
        const data = input(0), indices = input(1);
        if (!data || !indices || data.dims.length === 0) return undefined;
        const rank = data.dims.length;
        const axisAttr = node.int('axis', 0)!;
        const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
        const outer = size(data.dims.slice(0, axis)), length = data.dims[axis]!, inner = size(data.dims.slice(axis + 1));
        const count = indices.values.length;
        const values = new Float32Array(outer * count * inner);
        for (let o = 0; o < outer; o++) {
          for (let j = 0; j < count; j++) {
            const raw = indices.values[j]!;
            const k = raw < 0 ? raw + length : raw;
            if (!(k >= 0 && k < length)) return undefined;
            values.set(data.values.subarray((o * length + k) * inner, (o * length + k + 1) * inner), (o * count + j) * inner);
          }
        }
        // The larger of the two is what the file mostly holds (a clustered layer's indices, not its codebook).
        const main = indices.values.length >= data.values.length ? indices : data;
        return { dims: [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)], values, stored: main.stored, storageBits: main.storageBits, real: data.real };
      }
      case 'Mul': {
        const a = input(0), b = input(1);
        if (!a || !b) return undefined;
        const dims = broadcastDims(a.dims, b.dims);
        if (!dims) return undefined;
        const values = new Float32Array(size(dims));
        forEachOffset(dims, [broadcastStrides(a.dims, dims), broadcastStrides(b.dims, dims)], (i, [p, q]) => {
          values[i] = Math.fround(a.values[p!]! * b.values[q!]!);
        });
        const main = a.values.length >= b.values.length ? a : b;
        return { dims, values, stored: main.stored, storageBits: main.storageBits, real: a.real || b.real };
      }
      default:
        return undefined;
    }
  }
}

/** The scale a MatMulInteger/ConvInteger output is multiplied by: Cast(float) -> Mul(·, x_scale · w_scale). */
function integerOpScale(reader: ConstantReader, node: Node, consumers: Map<string, Node[]>, producers: Map<string, Node>): ConstantValue | undefined {
  const cast = consumers.get(node.outputs[0] ?? '')?.find((n) => n.opType === 'Cast' && normalizeDomain(n.domain) === '');
  const mul = cast && consumers.get(cast.outputs[0] ?? '')?.find((n) => n.opType === 'Mul' && normalizeDomain(n.domain) === '');
  if (!cast || !mul) return undefined;
  const other = mul.inputs[0] === cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
  if (!other) return undefined;
  const direct = reader.read(other);
  if (direct) return direct;
  const product = producers.get(other);
  if (!product || product.opType !== 'Mul') return undefined;
  return reader.read(product.inputs[0] ?? '') ?? reader.read(product.inputs[1] ?? '');
}

/** An integer weight dequantized per tensor or along `axis` with a zero point (integer ops, QLinear ops). */
function integerWeight(w: ConstantValue, scale: ConstantValue | undefined, zeroPoint: ConstantValue | undefined, axis: number): { values: Float32Array; scaled: boolean } | undefined {
  if (scale) {
    const values = dequantize(w, scale, zeroPoint, axis, 0);
    if (values) return { values, scaled: true };
  }
  const ones = { ...w, dims: [], values: new Float32Array([1]) };
  const values = dequantize(w, zeroPoint ? { ...ones, dims: zeroPoint.dims, values: new Float32Array(zeroPoint.values.length).fill(1) } : ones, zeroPoint, axis, 0);
  return values && { values, scaled: false };
}

interface Candidate {
  value: string;
  constant: ConstantValue;
  values: Float32Array;
  scaled: boolean;
  storageBits: number;
}

/** The weights a node multiplies by, resolved to values. */
function nodeWeights(reader: ConstantReader, node: Node, consumers: Map<string, Node[]>, producers: Map<string, Node>): Candidate[] {
  const domain = normalizeDomain(node.domain);
  const floatWeight = (i: number, minRank: number): Candidate[] => {
    const value = node.input(i) ?? '';
    const c = reader.read(value);
    return c && c.real && c.dims.length >= minRank ? [{ value, constant: c, values: c.values, scaled: true, storageBits: c.storageBits }] : [];
  };
  if (domain === '') {
    switch (node.opType) {
      case 'Conv': case 'ConvTranspose': return floatWeight(1, 3);
      case 'Gemm': return floatWeight(1, 2);
      case 'MatMul': {
        const second = floatWeight(1, 2);
        return second.length ? second : floatWeight(0, 2);
      }
      case 'Gather': {
        // An embedding table: constant data looked up by indices that are not constant (a codebook's are).
        if (reader.isConstant(node.input(1) ?? '')) return [];
        return floatWeight(0, 2);
      }
      case 'MatMulInteger': case 'ConvInteger': case 'QLinearMatMul': case 'QLinearConv': {
        const qlinear = node.opType.startsWith('QLinear');
        const [wIndex, zpIndex] = qlinear ? [3, 5] : [1, 3];
        const value = node.input(wIndex) ?? '';
        const w = reader.read(value);
        if (!w || w.real || w.dims.length < 2) return [];
        const zeroPoint = node.input(zpIndex) ? reader.read(node.input(zpIndex)!) : undefined;
        const scale = qlinear ? reader.read(node.input(4) ?? '') : integerOpScale(reader, node, consumers, producers);
        // Per-channel parameters run along the output channels: Conv's first axis, MatMul's last.
        const axis = node.opType.includes('Conv') ? 0 : w.dims.length - 1;
        const r = integerWeight(w, scale, zeroPoint, axis);
        return r ? [{ value, constant: w, values: r.values, scaled: r.scaled, storageBits: w.storageBits }] : [];
      }
      default: return [];
    }
  }
  if (domain === 'com.microsoft' && node.opType === 'MatMulNBits') {
    const B = reader.read(node.input(1) ?? ''), scales = reader.read(node.input(2) ?? '');
    const zpName = node.input(3);
    const zp = zpName ? reader.read(zpName) : undefined;
    // g_idx (input 4) reorders blocks; zero points in A's float type are not packed: neither is read here.
    if (!B || !scales || node.input(4) || (zpName && (!zp || zp.stored.dataType !== DataType.UINT8))) return [];
    const [K, N, bits, blockSize] = ['K', 'N', 'bits', 'block_size'].map((a) => node.int(a) ?? 0) as [number, number, number, number];
    if (!K || !N || !bits || !blockSize || B.stored.dataType !== DataType.UINT8) return [];
    const blocks = Math.ceil(K / blockSize);
    if (B.values.length !== N * blocks * ((blockSize * bits) / 8) || scales.values.length !== N * blocks) return [];
    const values = dequantizeMatMulNBits(B.stored.numeric() as Uint8Array, scales.values, zp?.stored.numeric() as Uint8Array | undefined, { K, N, bits, blockSize });
    return [{ value: '', constant: { ...B, dims: [K, N] }, values, scaled: true, storageBits: bits }];
  }
  return [];
}

/** Distinct numbers among the values (+0 and -0 are one value, so are all NaNs). */
export function countDistinct(values: Float32Array): number {
  if (values.length === 0) return 0;
  const sorted = Float32Array.from(values).sort();
  let distinct = 1;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!, b = sorted[i]!;
    if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) distinct++;
  }
  return distinct;
}

/** Every layer weight of the model with its dequantized values, in topological order, each stored tensor once. */
export function layerWeights(model: Model): LayerWeight[] {
  const graph = model.graph.clone();
  graph.sortTopologically();
  const reader = new ConstantReader(graph);
  const consumers = graph.consumers();
  const producers = graph.producers();
  const seen = new Set<string>();
  const out: LayerWeight[] = [];
  for (const node of graph.nodes) {
    for (const c of nodeWeights(reader, node, consumers, producers)) {
      const name = c.constant.stored.name || c.value;
      if (seen.has(name)) continue;
      seen.add(name);
      let nonzeros = 0;
      for (let i = 0; i < c.values.length; i++) if (c.values[i] !== 0) nonzeros++;
      const params = c.values.length;
      const distinctValues = countDistinct(c.values);
      out.push({
        summary: {
          weight: name, node: node.name || node.outputs[0]!, opType: node.opType, params, nonzeros,
          sparsity: params ? 1 - nonzeros / params : 0, storageBits: c.storageBits, distinctValues,
          // Block-wise scales make more distinct values than the stored integers can index: never above storage.
          effectiveBits: Math.min(c.storageBits, distinctValues > 1 ? Math.ceil(Math.log2(distinctValues)) : 0),
        },
        values: c.values, value: c.value, scaled: c.scaled,
      });
    }
  }
  return out;
}

/** One summary per layer weight (see LayerSummary). */
export function layerSummaries(model: Model): LayerSummary[] {
  return layerWeights(model).map((w) => w.summary);
}

/** Every `stride`-th non-zero finite value, sorted: enough to read quantiles of millions of weights. */
function sortedSample(arrays: readonly Float32Array[], count: number, limit = 65536): Float32Array {
  const stride = Math.max(1, Math.ceil(count / limit));
  const sample = new Float32Array(Math.ceil(count / stride));
  let seen = 0, n = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v === 0 || !Number.isFinite(v)) continue;
      if (seen++ % stride === 0) sample[n++] = v;
    }
  }
  return sample.subarray(0, n).sort();
}

/**
 * A histogram of the non-zero finite values of several arrays in `bins` bins. The bins split the range from the
 * minimum to the maximum equally, unless a few outliers stretch it: then the inner bins split the 0.1% to 99.9%
 * quantile range equally, and the first and last bins reach out to the minimum and maximum (equal bins over the
 * whole range would squeeze the bulk of the weights into a handful of them).
 */
export function histogramOf(arrays: readonly Float32Array[], bins = 60): WeightHistogram {
  if (!Number.isInteger(bins) || bins < 1) throw new NnzipError(`histogram: bins must be a whole number of at least 1, got ${bins}`);
  let min = Infinity, max = -Infinity, zeros = 0, count = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v === 0) zeros++;
      else if (Number.isFinite(v)) { count++; if (v < min) min = v; if (v > max) max = v; }
    }
  }
  if (min === Infinity) return { edges: [], counts: [], zeros };
  // A single value still gets a bin of some width around it.
  if (min === max) { const half = Math.abs(min) / 2 || 0.5; min -= half; max += half; }
  let lo = min, hi = max, inner = bins;
  if (bins >= 3) {
    const sample = sortedSample(arrays, count);
    const qlo = sample[Math.floor(0.001 * (sample.length - 1))]!, qhi = sample[Math.ceil(0.999 * (sample.length - 1))]!;
    if (qlo < qhi && qhi - qlo < 0.5 * (max - min)) { lo = qlo; hi = qhi; inner = bins - 2; }
  }
  const width = (hi - lo) / inner;
  const outliers = inner < bins;
  const edges = outliers
    ? [min, ...Array.from({ length: inner }, (_, i) => lo + i * width), hi, max]
    : Array.from({ length: bins + 1 }, (_, i) => (i === bins ? max : min + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v === 0 || !Number.isFinite(v)) continue;
      if (outliers) counts[v < lo ? 0 : v >= hi ? bins - 1 : 1 + Math.min(inner - 1, Math.floor((v - lo) / width))]!++;
      else counts[Math.min(bins - 1, Math.floor((v - min) / width))]!++;
    }
  }
  return { edges, counts, zeros };
}

/** The histogram of all layer weights' dequantized values, zeros counted apart (see WeightHistogram). */
export function weightHistogram(model: Model, bins = 60): WeightHistogram {
  return histogramOf(layerWeights(model).filter((w) => w.scaled).map((w) => w.values), bins);
}

/** Both figures a report entry holds, the weights read once. */
export function layerFigures(model: Model, bins = 60): { layers: LayerSummary[]; histogram: WeightHistogram } {
  const weights = layerWeights(model);
  return { layers: weights.map((w) => w.summary), histogram: histogramOf(weights.filter((w) => w.scaled).map((w) => w.values), bins) };
}
