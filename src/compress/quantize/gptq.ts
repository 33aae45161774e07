// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers"):
// rounding that compensates each weight's quantization error on the weights not yet quantized, using the second-order
// statistics of the layer's inputs. For a layer y = x·W (W viewed as K inputs x N outputs), it minimizes
// ||X·W - X·Q||² over the calibration inputs X, one input row k of W at a time:
//   H = 2/n XᵀX + λ·mean(diag H)·I,  U = chol(H⁻¹) (upper),
//   q_k = round(w_k),  e = (w_k - q_k) / U_kk,  w_j -= e·U_kj for every j > k,
// with the updates of 128 rows applied lazily (one block-sized matrix product) as the paper does.
// Works on Gemm and MatMul weights (rank 2) and on Conv weights (1-D and 2-D, groups included) through im2col:
// every output position's receptive field is one input row x of length C/group·prod(kernel).
import { Model, Node } from '../../core/ir.js';
import { Tensor } from '../../core/tensor.js';
import type { Runtime } from '../../runtime/session.js';
import { QuantizationError, affineParams, dequantizeValue, integerRange, quantizeValue } from './arithmetic.js';

// ---------------------------------------------------------------------------------------------------------------
// The algorithm on one weight

/**
 * How a weight's flat data is read as `groups` matrices of `rows` (the reduction index k) x `cols` (the output index
 * n): element (g, k, n) is at g·groupStride + k·rowStride + n·colStride. Output channel of (g, n) is g·cols + n.
 * Gemm [N,K] (transB=1): rowStride 1, colStride K. MatMul [K,N]: rowStride N, colStride 1.
 * Conv [M, C/G, kh, kw]: groups G, rows C/G·kh·kw, cols M/G, rowStride 1, colStride rows, groupStride M/G·rows.
 */
export interface MatrixView {
  groups: number;
  rows: number;
  cols: number;
  groupStride: number;
  rowStride: number;
  colStride: number;
}

/** Where the scale of (output channel c, block b along k) lives: c·channelStride + b·blockStride. */
export interface ParamLayout {
  count: number;
  channelStride: number;
  blockStride: number;
}

export type GptqGranularity = { kind: 'tensor' } | { kind: 'channel' } | { kind: 'block'; blockSize: number };

export interface GptqFormat {
  bits: number;
  signed: boolean;
  symmetric: boolean;
}

export interface GptqSettings {
  /** Damping added to H's diagonal, as a fraction of its mean (default 0.01). */
  dampening?: number;
  /** Rows whose updates are applied lazily together (default 128). */
  lazyBlockSize?: number;
}

export interface GptqResult {
  /** Integer values in the weight's own element order. */
  values: Int32Array;
  scales: Float32Array;
  zeroPoints: Int32Array;
}

/**
 * Quantizes a weight with GPTQ. `hessians[g]` is Σ x xᵀ over the calibration rows of group g (rows x rows, row-major;
 * only its upper triangle is read) and `samples` the number of rows summed. Scales per tensor and per channel are set
 * from the original weights; block scales (blocks of `blockSize` rows along k) from the updated weights when the
 * block is reached, as the reference implementation does.
 */
export function gptqQuantize(
  data: Float32Array, view: MatrixView, hessians: readonly Float64Array[], format: GptqFormat,
  granularity: GptqGranularity, params: ParamLayout, settings: GptqSettings = {},
): GptqResult {
  const { groups, rows: K, cols: N } = view;
  if (hessians.length !== groups) throw new QuantizationError(`GPTQ needs ${groups} input statistics, got ${hessians.length}`);
  const { qmin, qmax } = integerRange(format);
  const values = new Int32Array(data.length);
  const scales = new Float32Array(params.count);
  const zeroPoints = new Int32Array(params.count);
  const setParams = (index: number, lo: number, hi: number) => {
    const p = affineParams(lo, hi, format);
    scales[index] = p.scale;
    zeroPoints[index] = p.zeroPoint;
  };

  // Per-tensor and per-channel parameters come from the weights before any error compensation.
  if (granularity.kind === 'tensor') {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < data.length; i++) { const v = data[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
    setParams(0, lo, hi);
  } else if (granularity.kind === 'channel') {
    for (let g = 0; g < groups; g++) {
      for (let n = 0; n < N; n++) {
        let lo = Infinity, hi = -Infinity;
        const base = g * view.groupStride + n * view.colStride;
        for (let k = 0; k < K; k++) { const v = data[base + k * view.rowStride]!; if (v < lo) lo = v; if (v > hi) hi = v; }
        setParams((g * N + n) * params.channelStride, lo, hi);
      }
    }
  }
  const lazy = settings.lazyBlockSize ?? 128;
  const blockSize = granularity.kind === 'block' ? granularity.blockSize : 0;
  const paramIndex = (c: number, b: number) => (granularity.kind === 'tensor' ? 0 : c * params.channelStride + b * params.blockStride);

  for (let g = 0; g < groups; g++) {
    const W = new Float64Array(K * N);
    const base = g * view.groupStride;
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) W[k * N + n] = data[base + k * view.rowStride + n * view.colStride]!;
    const U = inverseCholeskyUpper(hessians[g]!, K, W, N, settings.dampening ?? 0.01);
    const err = new Float64Array(lazy * N);
    for (let b0 = 0; b0 < K; b0 += lazy) {
      const b1 = Math.min(K, b0 + lazy);
      for (let k = b0; k < b1; k++) {
        if (blockSize && k % blockSize === 0) {
          const end = Math.min(K, k + blockSize);
          for (let n = 0; n < N; n++) {
            let lo = Infinity, hi = -Infinity;
            for (let j = k; j < end; j++) { const v = W[j * N + n]!; if (v < lo) lo = v; if (v > hi) hi = v; }
            setParams(paramIndex(g * N + n, k / blockSize), Math.fround(lo), Math.fround(hi));
          }
        }
        const d = U[k * K + k]!;
        const e = (k - b0) * N;
        for (let n = 0; n < N; n++) {
          const p = paramIndex(g * N + n, blockSize ? Math.floor(k / blockSize) : 0);
          const w = W[k * N + n]!;
          const q = quantizeValue(w, scales[p]!, zeroPoints[p]!, qmin, qmax);
          values[base + k * view.rowStride + n * view.colStride] = q;
          err[e + n] = (w - dequantizeValue(q, scales[p]!, zeroPoints[p]!)) / d;
        }
        // Within the lazy block, the error moves onto the block's later rows right away.
        for (let j = k + 1; j < b1; j++) {
          const u = U[k * K + j]!;
          if (u === 0) continue;
          const row = j * N;
          for (let n = 0; n < N; n++) W[row + n] -= err[e + n]! * u;
        }
      }
      // The rows after the block receive the whole block's error in one pass.
      for (let j = b1; j < K; j++) {
        const row = j * N;
        for (let k = b0; k < b1; k++) {
          const u = U[k * K + j]!;
          if (u === 0) continue;
          const e = (k - b0) * N;
          for (let n = 0; n < N; n++) W[row + n] -= err[e + n]! * u;
        }
      }
    }
  }
  return { values, scales, zeroPoints };
}

/**
 * The upper Cholesky factor of (H + λ·mean(diag)·I)⁻¹. Inputs that never fire (H_kk = 0) get H_kk = 1 and their
 * weight rows zeroed, as the reference does; the damping grows tenfold (up to 4 times) if H is still not positive
 * definite.
 */
function inverseCholeskyUpper(hessian: Float64Array, K: number, W: Float64Array, N: number, dampening: number): Float64Array {
  const H = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = i; j < K; j++) { const v = hessian[i * K + j]!; H[i * K + j] = v; H[j * K + i] = v; }
  let mean = 0;
  for (let i = 0; i < K; i++) {
    if (H[i * K + i] === 0) {
      H[i * K + i] = 1;
      W.fill(0, i * N, (i + 1) * N);
    }
    mean += H[i * K + i]! / K;
  }
  for (let attempt = 0, damp = dampening; attempt < 5; attempt++, damp *= 10) {
    const A = H.slice();
    for (let i = 0; i < K; i++) A[i * K + i] += damp * mean;
    const L = choleskyLower(A, K);
    if (!L) continue;
    const inverse = inverseFromCholesky(L, K);
    const Lh = choleskyLower(inverse, K);
    if (!Lh) continue;
    // U = Lhᵀ: U[k][j] = Lh[j][k].
    const U = new Float64Array(K * K);
    for (let j = 0; j < K; j++) for (let k = 0; k <= j; k++) U[k * K + j] = Lh[j * K + k]!;
    return U;
  }
  throw new QuantizationError('GPTQ: the input statistics are not positive definite even with strong damping (too few calibration samples?)');
}

/** Lower-triangular L with A = L·Lᵀ, or undefined when A is not positive definite. */
function choleskyLower(A: Float64Array, n: number): Float64Array | undefined {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j]!;
    const rj = j * n;
    for (let k = 0; k < j; k++) s -= L[rj + k]! * L[rj + k]!;
    if (!(s > 0)) return undefined;
    const d = Math.sqrt(s);
    L[rj + j] = d;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let t = A[ri + j]!;
      for (let k = 0; k < j; k++) t -= L[ri + k]! * L[rj + k]!;
      L[ri + j] = t / d;
    }
  }
  return L;
}

/** A⁻¹ = L⁻ᵀ·L⁻¹ from A's Cholesky factor L (symmetric, full). */
function inverseFromCholesky(L: Float64Array, n: number): Float64Array {
  // M = L⁻¹, lower triangular, by forward substitution column by column.
  const M = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    M[c * n + c] = 1 / L[c * n + c]!;
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s += L[i * n + k]! * M[k * n + c]!;
      M[i * n + c] = -s / L[i * n + i]!;
    }
  }
  // A⁻¹[i][j] = Σ_k M[k][i]·M[k][j] over k ≥ max(i, j).
  const inv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const m = M[rk + i]!;
      if (m === 0) continue;
      for (let j = i; j <= k; j++) inv[i * n + j] += m * M[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) inv[j * n + i] = inv[i * n + j]!;
  return inv;
}

// ---------------------------------------------------------------------------------------------------------------
// Input statistics from calibration runs

export interface GptqCalibration {
  /** The runtime that runs the float model on the calibration feeds. */
  runtime: Runtime;
  /** Calibration batches, each a full set of the model's inputs. */
  feeds: Record<string, Tensor>[];
  /** Threads for the calibration session. */
  threads?: number;
}

/** Σ x xᵀ per group over every calibration row x of a layer's input, and the number of rows. */
export interface InputStatistics {
  hessians: Float64Array[];
  samples: number;
}

/** Why GPTQ cannot handle a node (then it is rounded to nearest), or undefined when it can. */
export function gptqUnsupportedReason(model: Model, node: Node): string | undefined {
  const weight = model.graph.initializers.get(node.input(1) ?? '');
  if (!weight) return 'its weight is not an initializer';
  const input = node.input(0);
  if (!input || model.graph.initializers.has(input)) return 'its input is a constant';
  if (node.opType === 'Gemm') return weight.dims.length === 2 ? undefined : 'Gemm weight is not 2-D';
  if (node.opType === 'MatMul') return weight.dims.length === 2 ? undefined : `GPTQ handles rank-2 MatMul weights, this one is rank ${weight.dims.length}`;
  if (node.opType === 'Conv') return weight.dims.length === 3 || weight.dims.length === 4 ? undefined : 'GPTQ handles 1-D and 2-D convolutions only';
  return `GPTQ handles Gemm, MatMul and Conv, not ${node.opType}`;
}

/**
 * Runs the float model on the calibration feeds with each node's input exposed as an extra output and sums x xᵀ
 * over the rows the node's weight multiplies (MatMul/Gemm: rows of the input; Conv: im2col patches per group).
 * The statistics come from the float model, not from the model with earlier layers quantized.
 */
export async function collectInputStatistics(model: Model, nodes: readonly Node[], calibration: GptqCalibration): Promise<Map<Node, InputStatistics>> {
  if (!calibration.feeds.length) throw new QuantizationError('GPTQ needs calibration feeds: none were given');
  const probe = model.clone();
  const graphInputs = new Set(probe.graph.inputs.map((i) => i.name));
  const outputs = new Set(probe.graph.outputs.map((o) => o.name));
  const wanted = new Set<string>();
  for (const node of nodes) {
    const name = node.input(0)!;
    wanted.add(name);
    if (!graphInputs.has(name) && !outputs.has(name)) { probe.graph.outputs.push({ name }); outputs.add(name); }
  }
  const stats = new Map<Node, InputStatistics>();
  const session = await calibration.runtime.createSession(probe, { threads: calibration.threads });
  try {
    const fetch = [...wanted].filter((n) => !graphInputs.has(n));
    for (const feeds of calibration.feeds) {
      const missing = [...graphInputs].filter((n) => !probe.graph.initializers.has(n) && !feeds[n]);
      if (missing.length) throw new QuantizationError(`calibration feeds lack model input '${missing[0]}'`);
      const result = fetch.length ? await session.run(feeds, fetch) : {};
      for (const node of nodes) {
        const name = node.input(0)!;
        const x = result[name] ?? feeds[name];
        if (!x) throw new QuantizationError(`GPTQ: no value for '${name}', the input of node '${node.label}'`);
        const weight = model.graph.initializers.get(node.input(1)!)!;
        let s = stats.get(node);
        if (node.opType === 'Conv') {
          if (!s) s = { hessians: [], samples: 0 };
          accumulateConv(s, node, x, weight.dims);
        } else {
          const K = node.opType === 'Gemm' && node.int('transB', 0) ? weight.dims[1]! : weight.dims[0]!;
          if (!s) s = { hessians: [new Float64Array(K * K)], samples: 0 };
          accumulateRows(s, node, x, K);
        }
        stats.set(node, s);
      }
    }
  } finally {
    await session.release();
  }
  return stats;
}

/** Adds the upper triangle of x xᵀ for one row x into H (K x K). Zero inputs (after ReLU) are skipped. */
function addOuter(H: Float64Array, x: Float64Array, K: number): void {
  for (let i = 0; i < K; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const r = i * K;
    for (let j = i; j < K; j++) H[r + j] += xi * x[j]!;
  }
}

function accumulateRows(s: InputStatistics, node: Node, x: Tensor, K: number): void {
  const data = x.toFloat32();
  const row = new Float64Array(K);
  const H = s.hessians[0]!;
  if (node.opType === 'Gemm' && node.int('transA', 0)) {
    // A is [K, M]: each of its M columns is one input row.
    const M = x.dims[1]!;
    if (x.dims[0] !== K) throw new QuantizationError(`GPTQ: node '${node.label}' input has ${x.dims[0]} features, its weight expects ${K}`);
    for (let m = 0; m < M; m++) { for (let k = 0; k < K; k++) row[k] = data[k * M + m]!; addOuter(H, row, K); }
    s.samples += M;
    return;
  }
  if (x.dims[x.dims.length - 1] !== K) throw new QuantizationError(`GPTQ: node '${node.label}' input has ${x.dims[x.dims.length - 1]} features, its weight expects ${K}`);
  const rows = data.length / K;
  for (let r = 0; r < rows; r++) { for (let k = 0; k < K; k++) row[k] = data[r * K + k]!; addOuter(H, row, K); }
  s.samples += rows;
}

/** Begin padding and output size of one spatial axis of a Conv. */
function convAxis(node: Node, axis: number, spatialRank: number, size: number, kernel: number): { padBegin: number; out: number; stride: number; dilation: number } {
  const stride = node.ints('strides')?.[axis] ?? 1;
  const dilation = node.ints('dilations')?.[axis] ?? 1;
  const span = (kernel - 1) * dilation + 1;
  const autoPad = node.string('auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const out = Math.ceil(size / stride);
    const total = Math.max(0, (out - 1) * stride + span - size);
    return { padBegin: autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2), out, stride, dilation };
  }
  const pads = autoPad === 'VALID' ? [] : node.ints('pads') ?? [];
  const begin = pads[axis] ?? 0, end = pads[axis + spatialRank] ?? 0;
  return { padBegin: begin, out: Math.floor((size + begin + end - span) / stride) + 1, stride, dilation };
}

function accumulateConv(s: InputStatistics, node: Node, x: Tensor, weightDims: readonly number[]): void {
  const spatialRank = weightDims.length - 2;
  const group = node.int('group', 1);
  const [batch, channels] = [x.dims[0]!, x.dims[1]!];
  const channelsPerGroup = weightDims[1]!;
  if (channels !== channelsPerGroup * group) throw new QuantizationError(`GPTQ: node '${node.label}' input has ${channels} channels, its weight expects ${channelsPerGroup * group}`);
  // 1-D convolutions are 2-D ones of height 1.
  const [H, W] = spatialRank === 2 ? [x.dims[2]!, x.dims[3]!] : [1, x.dims[2]!];
  const [kh, kw] = spatialRank === 2 ? [weightDims[2]!, weightDims[3]!] : [1, weightDims[2]!];
  const ay = spatialRank === 2 ? convAxis(node, 0, 2, H, kh) : { padBegin: 0, out: 1, stride: 1, dilation: 1 };
  const ax = convAxis(node, spatialRank - 1, spatialRank, W, kw);
  const K = channelsPerGroup * kh * kw;
  while (s.hessians.length < group) s.hessians.push(new Float64Array(K * K));
  const data = x.toFloat32();
  const patch = new Float64Array(K);
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < group; g++) {
      const Hg = s.hessians[g]!;
      for (let oy = 0; oy < ay.out; oy++) {
        for (let ox = 0; ox < ax.out; ox++) {
          let p = 0;
          for (let c = 0; c < channelsPerGroup; c++) {
            const plane = (b * channels + g * channelsPerGroup + c) * H * W;
            for (let i = 0; i < kh; i++) {
              const y = oy * ay.stride - ay.padBegin + i * ay.dilation;
              for (let j = 0; j < kw; j++) {
                const xx = ox * ax.stride - ax.padBegin + j * ax.dilation;
                patch[p++] = y >= 0 && y < H && xx >= 0 && xx < W ? data[plane + y * W + xx]! : 0;
              }
            }
          }
          addOuter(Hg, patch, K);
        }
      }
    }
  }
  s.samples += batch * ay.out * ax.out;
}

