// Quantization arithmetic shared by every quantization mode: integer ranges, scales and zero points, rounding and
// saturation exactly as ONNX QuantizeLinear does them (float32 division, round half to even, clamp), granularity
// (per tensor, per channel along an axis, block-wise along an axis as DequantizeLinear opset 21 reads it), and the
// integer initializers the quantized graph stores (int8/uint8, packed int4/uint4).
import { DataType, allocate } from '../../core/dtype.js';
import { NnzipError } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';

export class QuantizationError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizationError';
  }
}

export interface IntegerFormat {
  /** 2 to 8. */
  bits: number;
  signed: boolean;
  /**
   * Reduced range: one bit less of range (7-bit values in int8), which onnxruntime advises for int8 speed and accuracy
   * on CPUs without VNNI (the u8·s8 multiply-add of two adjacent pairs cannot overflow int16).
   */
  reduceRange?: boolean;
}

export const SUPPORTED_BITS = [2, 3, 4, 5, 6, 7, 8] as const;

/** The integer range of a format: [qmin, qmax]. */
export function integerRange(format: IntegerFormat): { qmin: number; qmax: number } {
  const { bits, signed } = format;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new QuantizationError(`${bits}-bit quantization is not supported: bit widths are 2 to 8`);
  const b = format.reduceRange ? bits - 1 : bits;
  return signed ? { qmin: -(2 ** (b - 1)), qmax: 2 ** (b - 1) - 1 } : { qmin: 0, qmax: 2 ** b - 1 };
}

/** The storage type of a format: int4/uint4 up to 4 bits, int8/uint8 up to 8. */
export function storageType(format: IntegerFormat): DataType {
  if (format.bits <= 4) return format.signed ? DataType.INT4 : DataType.UINT4;
  return format.signed ? DataType.INT8 : DataType.UINT8;
}

/** Round half to even, as QuantizeLinear rounds (and as the IEEE default rounding does). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; step back to the even neighbour on exact ties.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface AffineParams {
  scale: number;
  zeroPoint: number;
}

/**
 * Scale and zero point mapping [min, max] (widened to include 0, so zero is exact) onto the format's range.
 * Symmetric: zero point 0 (signed) or the range's middle (unsigned), scale from max|x| over the symmetric range
 * [-(qmax), qmax] for signed types (the -2^(b-1) level left unused, so +max and -max are both exact).
 * A constant-zero range gets scale 1 (any scale represents it exactly).
 */
export function affineParams(min: number, max: number, format: IntegerFormat & { symmetric?: boolean }): AffineParams {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new QuantizationError(`cannot quantize a range with non-finite bounds [${min}, ${max}]`);
  const { qmin, qmax } = integerRange(format);
  const lo = Math.min(min, 0), hi = Math.max(max, 0);
  if (format.symmetric) {
    const absMax = Math.max(-lo, hi);
    if (format.signed) return { scale: absMax > 0 ? Math.fround(absMax / qmax) : 1, zeroPoint: 0 };
    const mid = Math.floor((qmin + qmax + 1) / 2);
    return { scale: absMax > 0 ? Math.fround(absMax / (qmax - mid)) : 1, zeroPoint: mid };
  }
  if (hi === lo) return { scale: 1, zeroPoint: format.signed ? 0 : qmin };
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - lo / scale)));
  return { scale, zeroPoint };
}

/** QuantizeLinear on one value: saturate(round(x / scale) + zeroPoint), the division in float32. */
export function quantizeValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const q = roundHalfEven(Math.fround(Math.fround(x) / Math.fround(scale))) + zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/** DequantizeLinear on one value: (q - zeroPoint) * scale in float32. */
export function dequantizeValue(q: number, scale: number, zeroPoint: number): number {
  return Math.fround((q - zeroPoint) * Math.fround(scale));
}

/**
 * How values share quantization parameters: one pair for the tensor, one per index along `axis` (per channel), or one
 * per `blockSize` consecutive indices along `axis` within each index of the other axes (block-wise, DequantizeLinear
 * opset 21: the scale tensor has the input's shape with dimension `axis` replaced by ceil(dim / blockSize)).
 */
export type Granularity =
  | { kind: 'tensor' }
  | { kind: 'channel'; axis: number }
  | { kind: 'block'; axis: number; blockSize: number };

/** Shape of the scale and zero-point tensors for a granularity. */
export function paramShape(dims: readonly number[], g: Granularity): number[] {
  if (g.kind === 'tensor') return [];
  const axis = normalizeAxis(g.axis, dims.length);
  if (g.kind === 'channel') return [dims[axis]!];
  return dims.map((d, i) => (i === axis ? Math.ceil(d / g.blockSize) : d));
}

function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new QuantizationError(`axis ${axis} is out of range for a rank-${rank} tensor`);
  return a;
}

/** Index of the parameter group each element belongs to, for a tensor of `dims` (row-major). */
export function groupIndexer(dims: readonly number[], g: Granularity): (i: number) => number {
  if (g.kind === 'tensor') return () => 0;
  const axis = normalizeAxis(g.axis, dims.length);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = dims[axis]!;
  if (g.kind === 'channel') return (i) => Math.floor(i / inner) % size;
  if (!Number.isInteger(g.blockSize) || g.blockSize < 1) throw new QuantizationError(`block size ${g.blockSize} must be a positive whole number`);
  const blocks = Math.ceil(size / g.blockSize);
  // Element (outer, a, inner) belongs to group (outer, floor(a / blockSize), inner) in the scale tensor's layout.
  return (i) => {
    const innerIndex = i % inner;
    const a = Math.floor(i / inner) % size;
    const outer = Math.floor(i / (inner * size));
    return (outer * blocks + Math.floor(a / g.blockSize)) * inner + innerIndex;
  };
}

export interface QuantizedValues {
  /** Integer values, one per element (unpacked). */
  values: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** Shape of scales and zero points (see paramShape). */
  paramDims: number[];
}

export interface QuantizeOptions extends IntegerFormat {
  symmetric?: boolean;
  granularity?: Granularity;
}

/** Quantizes a float tensor's values with min/max parameters per group. */
export function quantizeArray(data: Float32Array, dims: readonly number[], options: QuantizeOptions): QuantizedValues {
  const g = options.granularity ?? { kind: 'tensor' };
  const paramDims = paramShape(dims, g);
  const groups = paramDims.reduce((a, b) => a * b, 1);
  const group = groupIndexer(dims, g);
  const mins = new Float64Array(groups).fill(Infinity), maxs = new Float64Array(groups).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new QuantizationError(`cannot quantize a non-finite value (${v}) at index ${i}`);
    const k = group(i);
    if (v < mins[k]!) mins[k] = v;
    if (v > maxs[k]!) maxs[k] = v;
  }
  const scales = new Float32Array(groups), zeroPoints = new Int32Array(groups);
  for (let k = 0; k < groups; k++) {
    const p = affineParams(mins[k] === Infinity ? 0 : mins[k]!, maxs[k] === -Infinity ? 0 : maxs[k]!, options);
    scales[k] = p.scale;
    zeroPoints[k] = p.zeroPoint;
  }
  const { qmin, qmax } = integerRange(options);
  const values = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const k = group(i);
    values[i] = quantizeValue(data[i]!, scales[k]!, zeroPoints[k]!, qmin, qmax);
  }
  return { values, scales, zeroPoints, paramDims };
}

/** The float values a DequantizeLinear of these integers gives (the quantized model's effective weights). */
export function dequantizeArray(q: QuantizedValues, dims: readonly number[], granularity: Granularity = { kind: 'tensor' }): Float32Array {
  const group = groupIndexer(dims, granularity);
  const out = new Float32Array(q.values.length);
  for (let i = 0; i < out.length; i++) {
    const k = group(i);
    out[i] = dequantizeValue(q.values[i]!, q.scales[k]!, q.zeroPoints[k]!);
  }
  return out;
}

/** An integer initializer of the format's storage type (4-bit types packed two per byte, low nibble first). */
export function integerTensor(name: string, dims: readonly number[], values: Int32Array, format: IntegerFormat): Tensor {
  const type = storageType(format);
  const data = allocate(type, values.length);
  if (type === DataType.INT4 || type === DataType.UINT4) {
    const bytes = data as Uint8Array;
    for (let i = 0; i < values.length; i++) bytes[i >> 1] |= (values[i]! & 0xf) << ((i & 1) * 4);
  } else {
    (data as Int8Array | Uint8Array).set(values);
  }
  return new Tensor(name, type, dims, data);
}
