// Static quantization: activations quantized with ranges fixed ahead of time by calibration, weights int8 symmetric
// (per output channel by default), biases int32 with scale x_scale * w_scale, written as QDQ (QuantizeLinear ->
// DequantizeLinear pairs around float ops) placed so onnxruntime fuses them into its integer kernels (see
// qdq-placement.ts). The pipeline:
//
//   checks -> constants to initializers -> opset >= 13 -> fold BatchNorm -> canonical Gemm (alpha, beta folded)
//   -> [cross-layer equalization] -> calibration (one session, every tensor that gets a Q as an extra output)
//   -> [bias correction] -> weights, biases and Q/DQ pairs written -> graph outputs stay float (a final DQ).
import { GraphBuilder } from '../../core/builder.js';
import { DataType } from '../../core/dtype.js';
import { Graph, Model, Node } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { validateModel } from '../../core/validate.js';
import { constantsToInitializers } from '../../core/weights.js';
import { Runtime } from '../../runtime/session.js';
import { matchesPattern } from '../../train/training-graph.js';
import { foldBatchNorm } from '../optimize/fold-batchnorm.js';
import { linearLayer, readCount, setInput, transformOutputChannels } from '../optimize/linear-layer.js';
import {
  type Granularity, type IntegerFormat, QuantizationError, affineParams, dequantizeArray, integerTensor, quantizeArray,
  roundHalfEven,
} from './arithmetic.js';
import { CALIBRATION_METHODS, CalibrationFeeds, CalibrationMethod, collectStatistics, createCalibrator } from './calibrate.js';
import { assertFiniteWeights, assertNotQuantized } from './checks.js';
import { EqualizeOptions, EqualizedPair, biasCorrection, equalizeCrossLayer } from './equalize.js';
import { Placement, STATIC_OPS, clipBounds, placeQdq } from './qdq-placement.js';

export type ActivationType = 'uint8' | 'int8';

export interface StaticQuantizeOptions {
  /** Runs the calibration (nodeRuntime or webRuntime). */
  runtime: Runtime;
  /** Default 'minmax'. */
  calibMethod?: CalibrationMethod;
  /** For calibMethod 'percentile' (default 99.99). */
  percentile?: number;
  /** Histogram bins for percentile/entropy/mse (default 2048). */
  bins?: number;
  /** Activation type (default 'uint8', onnxruntime's fastest on x86; int8 is converted back to uint8 there). */
  activations?: ActivationType;
  /**
   * Symmetric activations (zero point 0 for int8, 128 for uint8). A Relu/Clip then cannot be folded into the
   * quantization of its producer's output (that needs the zero point at the integer minimum): it stays a float op.
   */
  symmetricActivations?: boolean;
  /** One weight scale per output channel (default true); per tensor otherwise. */
  perChannel?: boolean;
  /** 7-bit weights (onnxruntime's advice on CPUs without AVX-512 VNNI, where u8 x s8 products can saturate). */
  reduceRange?: boolean;
  /** Node name patterns (`*` matches any run of characters) to keep in float; each must match some node. */
  exclude?: string[];
  /** Op types to quantize (default: every op in STATIC_OPS). */
  ops?: string[];
  /** Cross-layer equalization before calibration (default off). */
  equalize?: boolean | EqualizeOptions;
  /** Correct each quantized Conv/Gemm's bias for the mean error of its quantized weights (default off). */
  biasCorrection?: boolean;
  /** onnxruntime threads for calibration. */
  threads?: number;
}

export interface QuantizedTensorReport {
  tensor: string;
  /** The calibrated range (of the tensor whose parameters it shares, for pass-through outputs). */
  range: [number, number];
  scale: number;
  zeroPoint: number;
  /** Set for pass-through outputs: the tensor whose parameters it reuses. */
  sharedWith?: string;
}

export interface StaticQuantizeReport {
  calibration: { method: CalibrationMethod; batches: number; samples: number; tensors: number };
  foldedBatchNorms: string[];
  equalizedPairs: EqualizedPair[];
  biasCorrected: string[];
  /** Nodes that run on integers once onnxruntime fuses the QDQ graph, with how. */
  quantized: { node: string; op: string; role: string }[];
  /** Nodes of ops static quantization knows that stay float, and why. */
  float: { node: string; op: string; reason: string }[];
  activations: QuantizedTensorReport[];
  activationType: ActivationType;
  weightBits: number;
  perChannel: boolean;
  /** Bytes of the float weights and biases replaced, and of the integers, scales and zero points replacing them. */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

interface Quantized {
  scale: number;
  zeroPoint: number;
}

function checkOptions(options: StaticQuantizeOptions): { method: CalibrationMethod; ops: Set<string> } {
  if (!options || !options.runtime) throw new QuantizationError('static quantization needs a runtime to calibrate with (options.runtime)');
  const method = options.calibMethod ?? 'minmax';
  if (!CALIBRATION_METHODS.includes(method)) throw new QuantizationError(`calibration method '${method}' is unknown: use ${CALIBRATION_METHODS.join(', ')}`);
  const activations = options.activations ?? 'uint8';
  if (activations !== 'uint8' && activations !== 'int8') throw new QuantizationError(`activation type '${activations}' is not supported: use uint8 or int8`);
  const ops = new Set(options.ops ?? STATIC_OPS);
  for (const op of ops) if (!STATIC_OPS.includes(op)) throw new QuantizationError(`static quantization does not handle op '${op}': it quantizes ${STATIC_OPS.join(', ')}`);
  return { method, ops };
}

/**
 * Gemm in the form onnxruntime's QGemm fusion reads best: alpha folded into B, beta into C, C one value per column
 * ([N]), beta written out (its selector reads the attribute).
 */
function canonicalGemms(graph: Graph): void {
  for (const node of graph.nodes) {
    if (node.opType !== 'Gemm' || node.domain !== '') continue;
    const layer = linearLayer(graph, node);
    if (typeof layer === 'string') continue;
    const alpha = node.float('alpha', 1), beta = node.float('beta', 1);
    if (alpha !== 1) {
      setInput(graph, node, 1, Tensor.fromFloat32(layer.weight.name, layer.weight.dims, layer.weight.toFloat32().map((v) => v * alpha)));
      node.removeAttr('alpha');
    }
    const c = node.input(2) ? graph.initializers.get(node.inputs[2]!) : undefined;
    if (!c) continue;
    const n = layer.outChannels;
    // A scalar, [N] or [1, N] bias becomes beta * C of shape [N]; a bias with rows stays (placement leaves it float).
    const perColumn = c.dims.length < 2 || c.dims[0] === 1;
    if (perColumn && (beta !== 1 || c.dims.length !== 1 || c.dims[0] !== n)) {
      const values = c.toFloat32();
      setInput(graph, node, 2, Tensor.fromFloat32(c.name, [n], Float32Array.from({ length: n }, (_, j) => beta * values[values.length === 1 ? 0 : j]!)));
    }
    node.setAttr({ name: 'beta', type: 'FLOAT', value: perColumn ? 1 : beta });
  }
}

/** Output channel axis of a weighted node's weight, for per-channel scales (undefined: per tensor only). */
function weightAxis(node: Node, weight: Tensor): number | undefined {
  if (node.opType === 'Conv') return 0;
  if (weight.dims.length !== 2) return undefined;
  if (node.opType === 'Gemm') return node.int('transB', 0) === 1 ? 0 : 1;
  return 1; // MatMul: B is [K, N]
}

/** The integer format of weights: int8 symmetric (zero point 0), 7-bit with reduceRange. */
export function weightFormat(options: Pick<StaticQuantizeOptions, 'reduceRange'>): IntegerFormat & { symmetric: boolean } {
  return { bits: 8, signed: true, symmetric: true, reduceRange: options.reduceRange ?? false };
}

function weightGranularity(node: Node, weight: Tensor, perChannel: boolean): Granularity {
  const axis = weightAxis(node, weight);
  return perChannel && axis !== undefined ? { kind: 'channel', axis } : { kind: 'tensor' };
}

/**
 * Static quantization with calibration. Returns a new model (the input is not changed) in QDQ form and a report.
 * Throws a QuantizationError for a model quantized already, weights with NaN/Inf, calibration data of the wrong shape,
 * unknown options, or exclude patterns that match no node.
 */
export async function quantizeStatic(model: Model, calibFeeds: CalibrationFeeds, options: StaticQuantizeOptions): Promise<{ model: Model; report: StaticQuantizeReport }> {
  const { method, ops } = checkOptions(options);
  assertNotQuantized(model);
  assertFiniteWeights(model);
  const activationType = options.activations ?? 'uint8';
  const activationFormat: IntegerFormat & { symmetric: boolean } = {
    bits: 8, signed: activationType === 'int8', symmetric: options.symmetricActivations ?? false,
  };
  const perChannel = options.perChannel ?? true;

  // Prepare the float model every later step works on.
  let prepared = constantsToInitializers(model);
  // Per-axis QuantizeLinear/DequantizeLinear exist from opset 13.
  if ((prepared.opset('') ?? 0) < 13) prepared = upgradeOpset(prepared, 13);
  const folded = foldBatchNorm(prepared);
  prepared = folded.model;
  canonicalGemms(prepared.graph);
  let equalizedPairs: EqualizedPair[] = [];
  if (options.equalize) {
    const eq = equalizeCrossLayer(prepared, options.equalize === true ? {} : options.equalize);
    prepared = eq.model;
    equalizedPairs = eq.pairs;
  }

  const excluded = new Map<Node, string>();
  for (const pattern of options.exclude ?? []) {
    const hits = prepared.graph.nodes.filter((n) => matchesPattern(n.label, pattern));
    if (!hits.length) throw new QuantizationError(`exclude pattern '${pattern}' matches no node`);
    for (const n of hits) if (!excluded.has(n)) excluded.set(n, pattern);
  }
  const facts = inferShapes(prepared, { strict: false }).values;
  const placement = placeQdq(prepared, facts, {
    ops, excluded, fuseActivations: !activationFormat.symmetric,
  });

  // Calibrate every tensor with its own parameters; collect input means of weighted layers for bias correction.
  const calibrated = [...placement.tensors].filter((t) => !placement.sharedWith.has(t)).sort();
  const corrected = options.biasCorrection
    ? [...placement.constantWeights].filter((n) => n.opType !== 'MatMul' && !(n.opType === 'Gemm' && n.int('transA', 0) !== 0))
    : [];
  const calibrator = createCalibrator(method, { percentile: options.percentile, format: activationFormat });
  const statistics = await collectStatistics(prepared, calibFeeds, {
    runtime: options.runtime, tensors: calibrated, histograms: calibrator.needsHistogram, bins: options.bins,
    channelMeans: corrected.map((n) => n.inputs[0]!), threads: options.threads,
  });

  const out = prepared.clone();
  const graph = out.graph;
  // The clone's nodes, by their position in the prepared graph (placement refers to the prepared graph's nodes).
  const twin = new Map(prepared.graph.nodes.map((n, i) => [n, graph.nodes[i]!]));

  const biasCorrected: string[] = [];
  for (const original of corrected) {
    const node = twin.get(original)!;
    const layer = linearLayer(graph, node);
    if (typeof layer === 'string') continue; // placement checked it
    const granularity = weightGranularity(node, layer.weight, perChannel);
    const q = quantizeArray(layer.weight.toFloat32(), layer.weight.dims, { ...weightFormat(options), granularity });
    const mean = statistics.tensors.get(node.inputs[0]!)!.channelMeans!;
    const delta = biasCorrection(layer, dequantizeArray(q, layer.weight.dims, granularity), mean);
    transformOutputChannels(graph, layer, new Float64Array(layer.outChannels).fill(1), delta);
    biasCorrected.push(node.label);
  }

  // Activation parameters: ranges from the calibrator; a folded Relu/Clip's range starts at its lower bound so the
  // zero point lands on the integer minimum and onnxruntime drops the Relu/Clip.
  const params = new Map<string, Quantized & { range: [number, number] }>();
  for (const tensor of calibrated) {
    let range = calibrator.range(statistics.tensors.get(tensor)!);
    const fused = placement.fused.get(tensor);
    if (fused) {
      const [lo, hi] = fused.opType === 'Clip' ? clipBounds(prepared.graph, fused)! : [0, Infinity];
      range = [Math.max(range[0], lo), Math.min(range[1], hi)];
      if (lo === 0) range[0] = 0;
    }
    params.set(tensor, { ...affineParams(range[0], range[1], activationFormat), range });
  }
  const paramsOf = (t: string) => params.get(placement.sharedWith.get(t) ?? t)!;

  const b = new GraphBuilder(graph);
  const bytes = { before: 0, after: 0 };
  writeWeights(b, placement, twin, paramsOf, { perChannel, format: weightFormat(options) }, bytes);
  writeActivationPairs(b, placement, paramsOf, activationFormat);
  graph.sortTopologically();
  validateModel(out);

  const report: StaticQuantizeReport = {
    calibration: { method, batches: statistics.batches, samples: statistics.samples, tensors: calibrated.length },
    foldedBatchNorms: folded.folded,
    equalizedPairs,
    biasCorrected,
    quantized: [...placement.quantized].map(([n, role]) => ({ node: n.label, op: n.opType, role })),
    float: placement.float,
    activations: [...placement.tensors].sort().map((tensor) => {
      const p = paramsOf(tensor);
      const shared = placement.sharedWith.get(tensor);
      return { tensor, range: p.range, scale: p.scale, zeroPoint: p.zeroPoint, ...(shared ? { sharedWith: shared } : {}) };
    }),
    activationType,
    weightBits: options.reduceRange ? 7 : 8,
    perChannel,
    weightBytesBefore: bytes.before,
    weightBytesAfter: bytes.after,
  };
  return { model: out, report };
}

/** Integer weights (int8 symmetric) and int32 biases (scale x_scale * w_scale) with their DequantizeLinear nodes. */
function writeWeights(
  b: GraphBuilder, placement: Placement, twin: Map<Node, Node>, paramsOf: (t: string) => Quantized,
  options: { perChannel: boolean; format: IntegerFormat & { symmetric: boolean } }, bytes: { before: number; after: number },
): void {
  const graph = b.graph;
  const stored = new Map<string, { name: string; scales: Float32Array; axis?: number }>();
  const replaced = new Set<string>();
  for (const original of placement.constantWeights) {
    const node = twin.get(original)!;
    const weightName = node.inputs[1]!;
    const weight = graph.initializers.get(weightName)!;
    const granularity = weightGranularity(node, weight, options.perChannel);
    const axis = granularity.kind === 'channel' ? granularity.axis : undefined;
    const key = `${weightName}/${axis ?? 'tensor'}`;
    let w = stored.get(key);
    if (!w) {
      let q;
      try {
        q = quantizeArray(weight.toFloat32(), weight.dims, { ...options.format, granularity });
      } catch (e) {
        if (e instanceof QuantizationError) throw new QuantizationError(`weight '${weightName}' of node '${node.label}': ${e.message}`);
        throw e;
      }
      const values = b.initializer(integerTensor(`${weightName}_quantized`, weight.dims, q.values, options.format));
      const scaleDims = axis === undefined ? [] : [q.scales.length];
      const scale = b.initializer(Tensor.fromFloat32(`${weightName}_scale`, scaleDims, q.scales));
      const zero = b.initializer(integerTensor(`${weightName}_zero_point`, scaleDims, q.zeroPoints, options.format));
      const dq = b.op('DequantizeLinear', [values, scale, zero], axis === undefined ? {} : { axis }, { name: `${weightName}_DequantizeLinear` });
      w = { name: dq, scales: q.scales, axis };
      stored.set(key, w);
      bytes.before += weight.byteLength;
      bytes.after += graph.initializers.get(values)!.byteLength + q.scales.byteLength + graph.initializers.get(zero)!.byteLength;
    }
    node.inputs[1] = w.name;
    replaced.add(weightName);

    const biasName = node.input(2);
    if (!biasName) continue;
    const bias = graph.initializers.get(biasName)!;
    const inputScale = paramsOf(node.inputs[0]!).scale;
    const n = bias.size;
    const scales = new Float32Array(n);
    const values = new Int32Array(n);
    const data = bias.toFloat32();
    for (let c = 0; c < n; c++) {
      scales[c] = Math.fround(inputScale * w.scales[w.scales.length === 1 ? 0 : c]!);
      // int32 saturates; a bias this far out of range means a weight scale of almost 0, not a useful bias.
      values[c] = Math.max(-2147483648, Math.min(2147483647, roundHalfEven(data[c]! / scales[c]!)));
    }
    const perChannelBias = w.axis !== undefined;
    const biasValues = b.initializer(new Tensor(`${biasName}_quantized`, DataType.INT32, bias.dims, values));
    const biasScale = b.initializer(Tensor.fromFloat32(`${biasName}_scale`, perChannelBias ? [n] : [], perChannelBias ? scales : scales.subarray(0, 1)));
    const biasZero = b.initializer(new Tensor(`${biasName}_zero_point`, DataType.INT32, perChannelBias ? [n] : [], new Int32Array(perChannelBias ? n : 1)));
    node.inputs[2] = b.op('DequantizeLinear', [biasValues, biasScale, biasZero], perChannelBias ? { axis: 0 } : {}, { name: `${biasName}_DequantizeLinear` });
    replaced.add(biasName);
    bytes.before += bias.byteLength;
    bytes.after += values.byteLength + (perChannelBias ? scales.byteLength : 4) + (perChannelBias ? n * 4 : 4);
  }
  for (const name of replaced) if (readCount(graph, name) === 0 && !graph.inputs.some((i) => i.name === name)) graph.initializers.delete(name);
}

/** A QuantizeLinear -> DequantizeLinear pair on every placed tensor; readers move to the DequantizeLinear's output. */
function writeActivationPairs(b: GraphBuilder, placement: Placement, paramsOf: (t: string) => Quantized, format: IntegerFormat): void {
  const graph = b.graph;
  const consumers = graph.consumers();
  const producers = graph.producers();
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const paramNames = new Map<string, { scale: string; zero: string }>();
  for (const tensor of [...placement.tensors].sort()) {
    const root = placement.sharedWith.get(tensor) ?? tensor;
    let names = paramNames.get(root);
    if (!names) {
      const p = paramsOf(root);
      names = {
        scale: b.initializer(Tensor.fromFloat32(`${root}_scale`, [], [p.scale])),
        zero: b.initializer(integerTensor(`${root}_zero_point`, [], Int32Array.of(p.zeroPoint), format)),
      };
      paramNames.set(root, names);
    }
    const producer = producers.get(tensor);
    let source = tensor;
    let dequantized: string;
    if (graphOutputs.has(tensor) && producer) {
      // The graph output keeps its name and stays float: it becomes the DequantizeLinear's output.
      source = b.fresh(`${tensor}_float`);
      producer.outputs[producer.outputs.indexOf(tensor)] = source;
      graph.valueInfo.delete(tensor);
      dequantized = tensor;
    } else {
      dequantized = b.fresh(`${tensor}_dequantized`);
      for (const reader of consumers.get(tensor) ?? []) reader.inputs = reader.inputs.map((i) => (i === tensor ? dequantized : i));
    }
    const q = b.op('QuantizeLinear', [source, names.scale, names.zero], {}, { name: `${tensor}_QuantizeLinear` });
    b.op('DequantizeLinear', [q, names.scale, names.zero], {}, { name: `${tensor}_DequantizeLinear`, output: dequantized });
  }
}
