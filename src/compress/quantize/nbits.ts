// The com.microsoft MatMulNBits form of a block-quantized MatMul/Gemm weight: the 4-bit format onnxruntime-web and
// transformers.js run. From onnxruntime's contrib operator spec (docs/ContribOperators.md, MatMulNBits, opset 1):
//   Y = A · dequantize(B),  dequantized (n, k) = (q(n, k) - zero_point(n, k / block_size)) · scale(n, k / block_size)
//   attributes K, N, bits, block_size (a power of two, >= 16);
//   B: uint8 [N, k_blocks, blob_size], k_blocks = ceil(K / block_size), blob_size = block_size · bits / 8, values packed
//      along K within each block, first value in the lowest bits of a byte;
//   scales: [N · k_blocks] (row n's blocks in order), the type of A;
//   zero_points (optional): uint8 [N · ceil(k_blocks · bits / 8)] packed the same way, default 2^(bits - 1);
//   bias (optional, input 5): [N].
// onnxruntime 1.30 (node and web) accepts bits 2, 4 and 8 (checked by running it; 3 is refused at session creation).
// Symmetric quantization is stored unsigned around the default zero point (4 bits: q + 8 in 0..15) without a
// zero_points input.
import { DataType } from '../../core/dtype.js';
import { Graph, Node } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import { QuantizationError } from './arithmetic.js';

/** Bit widths onnxruntime 1.30 runs MatMulNBits with. */
export const NBITS_BITS: readonly number[] = [2, 4, 8];

export const MS_OPSET = 1;

/** How a MatMul or Gemm maps onto MatMulNBits. */
export interface NBitsLayout {
  K: number;
  N: number;
  /** The weight initializer is [N, K] (Gemm with transB=1); else [K, N]. */
  weightIsNK: boolean;
  /** Gemm's alpha, to fold into the weights before quantizing (1 for MatMul). */
  alpha: number;
  /** Gemm's beta·C: N bias values (MatMulNBits' bias input), or a value added after the product. */
  bias?: { kind: 'vector'; values: Float32Array } | { kind: 'add'; input: string; beta: number };
}

/** The layout of a MatMul/Gemm whose weight (input 1) is a float32 initializer, or why it cannot become MatMulNBits. */
export function matMulNBitsLayout(graph: Graph, node: Node): NBitsLayout | string {
  if (node.domain !== '' || (node.opType !== 'MatMul' && node.opType !== 'Gemm')) return `${node.opType} is not MatMul or Gemm`;
  const weight = graph.initializers.get(node.input(1) ?? '');
  if (!weight || weight.dataType !== DataType.FLOAT) return 'its weight is not a float32 initializer';
  if (weight.dims.length !== 2) return `MatMulNBits needs a 2-D weight, this one is [${weight.dims.join(',')}]`;
  if (node.opType === 'MatMul') return { K: weight.dims[0]!, N: weight.dims[1]!, weightIsNK: false, alpha: 1 };
  if (node.int('transA', 0)) return 'Gemm with transA=1 has no MatMulNBits form';
  const weightIsNK = node.int('transB', 0) !== 0;
  const [K, N] = weightIsNK ? [weight.dims[1]!, weight.dims[0]!] : [weight.dims[0]!, weight.dims[1]!];
  const layout: NBitsLayout = { K, N, weightIsNK, alpha: node.float('alpha', 1) };
  const cName = node.input(2);
  if (cName) {
    const beta = node.float('beta', 1);
    const c = graph.initializers.get(cName);
    const isRow = c && c.dataType === DataType.FLOAT && (c.size === 1 || (c.size === N && c.dims[c.dims.length - 1] === N && c.dims.length <= 2));
    if (c && isRow) {
      const src = c.toFloat32();
      layout.bias = { kind: 'vector', values: Float32Array.from({ length: N }, (_, n) => Math.fround(beta * src[c.size === 1 ? 0 : n]!)) };
    } else {
      layout.bias = { kind: 'add', input: cName, beta };
    }
  }
  return layout;
}

/** Quantized values ready to pack: unsigned integers and block parameters in the weight initializer's own layout. */
export interface NBitsValues {
  /** One unsigned integer per weight element, in the initializer's element order ([N,K] or [K,N]). */
  values: ArrayLike<number>;
  /** One per (n, block): [N, k_blocks] when the weight is [N,K], [k_blocks, N] when it is [K,N]. */
  scales: Float32Array;
  zeroPoints: ArrayLike<number>;
}

export interface PackedNBits {
  B: Uint8Array;
  scales: Float32Array;
  /** Packed zero points; absent when every block uses the default 2^(bits - 1). */
  zeroPoints?: Uint8Array;
  blocks: number;
  blobSize: number;
}

export function checkNBitsSettings(bits: number, blockSize: number): void {
  if (!NBITS_BITS.includes(bits)) throw new QuantizationError(`format 'nbits' supports ${NBITS_BITS.join(', ')} bits (onnxruntime's MatMulNBits), not ${bits}`);
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new QuantizationError(`MatMulNBits block size must be a power of two of at least 16, not ${blockSize}`);
  }
}

/** Packs quantized values into MatMulNBits' B, scales and zero points. Padding past K takes the block's zero point. */
export function packMatMulNBits(q: NBitsValues, layout: NBitsLayout, bits: number, blockSize: number): PackedNBits {
  checkNBitsSettings(bits, blockSize);
  const { K, N, weightIsNK } = layout;
  const blocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const B = new Uint8Array(N * blocks * blobSize);
  const scales = new Float32Array(N * blocks);
  const zp = new Uint8Array(N * blocks);
  const defaultZeroPoint = 1 << (bits - 1);
  let allDefault = true;
  const valueAt = weightIsNK ? (n: number, k: number) => q.values[n * K + k]! : (n: number, k: number) => q.values[k * N + n]!;
  const paramAt = weightIsNK ? (n: number, b: number) => n * blocks + b : (n: number, b: number) => b * N + n;
  const perByte = 8 / bits;
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const p = paramAt(n, b);
      scales[n * blocks + b] = q.scales[p]!;
      const z = q.zeroPoints[p]!;
      zp[n * blocks + b] = z;
      if (z !== defaultZeroPoint) allDefault = false;
      const blob = (n * blocks + b) * blobSize;
      for (let i = 0; i < blockSize; i++) {
        const k = b * blockSize + i;
        const v = k < K ? valueAt(n, k) : z;
        if (v < 0 || v >= 1 << bits || !Number.isInteger(v)) throw new QuantizationError(`MatMulNBits value ${v} at (${n}, ${k}) is not a ${bits}-bit unsigned integer`);
        B[blob + Math.floor(i / perByte)] |= v << ((i % perByte) * bits);
      }
    }
  }
  if (allDefault) return { B, scales, blocks, blobSize };
  const zpBytesPerRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(N * zpBytesPerRow);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) zeroPoints[n * zpBytesPerRow + Math.floor(b / perByte)] |= zp[n * blocks + b]! << ((b % perByte) * bits);
  }
  return { B, scales, zeroPoints, blocks, blobSize };
}

/** The float weights [K, N] a MatMulNBits node multiplies by: the float simulation of its quantized weight. */
export function dequantizeMatMulNBits(B: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array | undefined, attrs: { K: number; N: number; bits: number; blockSize: number }): Float32Array {
  const { K, N, bits, blockSize } = attrs;
  const blocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const zpBytesPerRow = Math.ceil((blocks * bits) / 8);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize), i = k % blockSize;
      const q = (B[(n * blocks + b) * blobSize + Math.floor(i / perByte)]! >> ((i % perByte) * bits)) & mask;
      const z = zeroPoints ? (zeroPoints[n * zpBytesPerRow + Math.floor(b / perByte)]! >> ((b % perByte) * bits)) & mask : 1 << (bits - 1);
      out[k * N + n] = Math.fround((q - z) * scales[n * blocks + b]!);
    }
  }
  return out;
}

/** Value and node names not used yet in the graph. */
export interface NameSource {
  value(prefix: string): string;
  node(prefix: string): string;
}

/**
 * The nodes and initializers that replace a MatMul/Gemm by MatMulNBits (plus an Add for a Gemm's C that is not a
 * constant row). The first node keeps the original's name; the last writes the original's output.
 */
export function matMulNBitsNodes(node: Node, weightName: string, layout: NBitsLayout, packed: PackedNBits, bits: number, blockSize: number, names: NameSource): { nodes: Node[]; initializers: Tensor[] } {
  const { K, N } = layout;
  const initializers: Tensor[] = [];
  const add = (prefix: string, t: (name: string) => Tensor) => { const name = names.value(prefix); initializers.push(t(name)); return name; };
  const B = add(`${weightName}_Q${bits}`, (n) => new Tensor(n, DataType.UINT8, [N, packed.blocks, packed.blobSize], packed.B));
  const scales = add(`${weightName}_scales`, (n) => new Tensor(n, DataType.FLOAT, [N * packed.blocks], packed.scales));
  const zeroPoints = packed.zeroPoints
    ? add(`${weightName}_zero_points`, (n) => new Tensor(n, DataType.UINT8, [packed.zeroPoints!.length], packed.zeroPoints!)) : '';
  const inputs = [node.inputs[0]!, B, scales, zeroPoints];
  if (layout.bias?.kind === 'vector') {
    const values = layout.bias.values;
    inputs.push('', add(`${weightName}_bias`, (n) => new Tensor(n, DataType.FLOAT, [N], values)));
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const attributes = [
    { name: 'K', type: 'INT' as const, value: K }, { name: 'N', type: 'INT' as const, value: N },
    { name: 'bits', type: 'INT' as const, value: bits }, { name: 'block_size', type: 'INT' as const, value: blockSize },
  ];
  const output = node.outputs[0]!;
  if (layout.bias?.kind !== 'add') {
    return { nodes: [new Node('MatMulNBits', inputs, [output], node.name, 'com.microsoft', attributes)], initializers };
  }
  const product = names.value(`${output}_product`);
  const nodes = [new Node('MatMulNBits', inputs, [product], node.name, 'com.microsoft', attributes)];
  let c = layout.bias.input;
  if (layout.bias.beta !== 1) {
    const beta = add(`${weightName}_beta`, (n) => Tensor.fromFloat32(n, [], [layout.bias!.kind === 'add' ? layout.bias!.beta : 1]));
    const scaled = names.value(`${c}_scaled`);
    nodes.push(new Node('Mul', [c, beta], [scaled], names.node(`${node.name || 'Gemm'}_beta`)));
    c = scaled;
  }
  nodes.push(new Node('Add', [product, c], [output], names.node(`${node.name || 'Gemm'}_bias`)));
  return { nodes, initializers };
}
