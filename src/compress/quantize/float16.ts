// Half-precision conversion.
//
// float16: the graph computes in float16. Float32 weights (initializers, and Constant nodes, which become
// initializers first) are stored as float16; every float32 value a converted node produces becomes float16; a Cast is
// inserted wherever a float32 value meets a node that wants float16 or the reverse (kept ops and nodes, inputs that
// the spec fixes to float32 such as Resize's scales, graph inputs and outputs kept float32 when asked); value_info
// types follow. onnxruntime inserts its own casts around ops it has no float16 CPU kernel for, so those need no list.
//
// bfloat16: onnxruntime's CPU and WebAssembly builds have almost no bfloat16 kernels (MatMul, Conv and Gemm have
// none), so bfloat16 is a storage format here: each float32 weight is stored as bfloat16 with a Cast to float32 after
// it, and the graph computes in float32. The file halves; onnxruntime folds the casts when it loads the model.
import { GraphBuilder } from '../../core/builder.js';
import { DataType, numberToBfloat16Bits, numberToFloat16Bits } from '../../core/dtype.js';
import { Graph, Model, Node, TensorType, ValueInfo, walkNodes } from '../../core/ir.js';
import { upgradeOpset } from '../../core/passes/upgrade-opset.js';
import { inferShapes } from '../../core/shape/infer.js';
import { Tensor } from '../../core/tensor.js';
import { constantsToInitializers } from '../../core/weights.js';
import { matchesPattern } from '../../train/training-graph.js';
import { QuantizationError } from './arithmetic.js';
import { assertFiniteWeights } from './checks.js';

export type HalfType = 'float16' | 'bfloat16';

export interface Float16Options {
  /** Default 'float16'. */
  type?: HalfType;
  /**
   * float16 only: graph inputs and outputs stay float32, with Casts at the edges (default false: they become
   * float16). bfloat16 storage keeps them float32 always.
   */
  keepIoFloat32?: boolean;
  /** Op types kept in float32, added to DEFAULT_KEEP_OPS. */
  keepOps?: string[];
  /** Node name patterns (`*` matches any run of characters) kept in float32; each must match some node. */
  keepNodes?: string[];
  /** A weight beyond the float16 range (|w| > 65504): 'error' (default) names it; 'clamp' saturates it to ±65504. */
  outOfRange?: 'error' | 'clamp';
}

export interface ConvertedTensorNote {
  tensor: string;
  /** Values affected. */
  count: number;
}

export interface Float16Report {
  type: HalfType;
  /** Weights converted (initializers, and Constant-node tensors made initializers). */
  convertedTensors: number;
  /** Bytes of those weights before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Nodes that compute in the new type (float16), or whose weights are stored in it (bfloat16). */
  convertedNodes: number;
  /** Nodes that read or write float32 values and stay float32, and why. */
  keptNodes: { node: string; op: string; reason: string }[];
  castsInserted: number;
  /** Weights with values beyond ±65504 saturated (outOfRange 'clamp'). */
  clamped: ConvertedTensorNote[];
  /** Weights whose non-zero values became zero (|w| below half the smallest float16 subnormal, about 3e-8). */
  flushedToZero: ConvertedTensorNote[];
}

/** Float32-only or float16-unsafe ops kept in float32 by default. */
export const DEFAULT_KEEP_OPS: readonly string[] = [
  // Random generators: output type from a dtype attribute, and sampling in float16 is coarse.
  'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'EyeLike',
  // Inputs fixed to float32 by the spec.
  'DynamicQuantizeLinear', 'NonMaxSuppression',
  // com.microsoft ops that read float32 only.
  'DynamicQuantizeMatMul', 'DynamicQuantizeLSTM', 'MatMulFpQ4', 'QGemm', 'QAttention', 'QEmbedLayerNormalization',
];

/** Inputs the spec fixes to float32 even when the op's data is float16. */
const FLOAT32_INPUTS: Record<string, number[]> = { Resize: [2], Upsample: [1] };
/** Outputs of float type fixed by an attribute that defaults to float32 (LayerNormalization's stash_type). */
const FLOAT32_OUTPUTS: Record<string, number[]> = { LayerNormalization: [1, 2] };

const FP16_MAX = 65504;
/** bfloat16 storage leaves weights smaller than this in float32. */
const BF16_MIN_ELEMENTS = 16;

type Precision = 'fp32' | 'half';

/**
 * Converts a model to float16 (computing in float16) or bfloat16 (as storage); returns a new model and a report.
 * Throws a QuantizationError for weights with NaN/Inf, weights beyond the float16 range (unless clamping), patterns
 * that match nothing, and models with no float32 left to convert.
 */
export function convertFloat16(model: Model, options: Float16Options = {}): { model: Model; report: Float16Report } {
  const type = options.type ?? 'float16';
  if (type !== 'float16' && type !== 'bfloat16') throw new QuantizationError(`half-precision type '${type}' is not supported: use float16 or bfloat16`);
  assertFiniteWeights(model);
  let out = constantsToInitializers(model);
  // Cast reads bfloat16 from opset 13.
  if (type === 'bfloat16' && (out.opset('') ?? 13) < 13) out = upgradeOpset(out, 13);
  const kept = keptNodes(out, options);
  return type === 'bfloat16' ? storeBfloat16(out, kept, options) : computeFloat16(out, kept, options);
}

/** Nodes that stay float32, with the reason. */
function keptNodes(model: Model, options: Float16Options): Map<Node, string> {
  const graph = model.graph;
  const keepOps = new Set([...DEFAULT_KEEP_OPS, ...(options.keepOps ?? [])]);
  const kept = new Map<Node, string>();
  for (const pattern of options.keepNodes ?? []) {
    const hits = graph.nodes.filter((n) => matchesPattern(n.label, pattern));
    if (!hits.length) throw new QuantizationError(`keep pattern '${pattern}' matches no node`);
    for (const n of hits) if (!kept.has(n)) kept.set(n, `kept by '${pattern}'`);
  }
  const opset = model.opset('') ?? 21;
  for (const node of graph.nodes) {
    if (kept.has(node)) continue;
    if (keepOps.has(node.opType)) kept.set(node, options.keepOps?.includes(node.opType) ? 'op kept by keepOps' : 'op kept in float32 by default');
    else if (node.domain !== '' && node.domain !== 'com.microsoft') kept.set(node, `domain '${node.domain}' is left alone`);
    else if (node.subgraphs().length) kept.set(node, 'has subgraphs, which are left in float32');
    else if ((node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') && (opset < 19 || node.attr('output_dtype'))) {
      kept.set(node, `${node.opType} takes float16 scales from opset 19`);
    }
  }
  return kept;
}

// ---------------------------------------------------------------------------------------------------------------
// float16 computation

function computeFloat16(model: Model, kept: Map<Node, string>, options: Float16Options): { model: Model; report: Float16Report } {
  const graph = model.graph;
  const keepIo = options.keepIoFloat32 ?? false;
  const report: Float16Report = {
    type: 'float16', convertedTensors: 0, bytesBefore: 0, bytesAfter: 0, convertedNodes: 0, keptNodes: [], castsInserted: 0, clamped: [], flushedToZero: [],
  };
  const isFloat = float32Values(model, kept);
  const b = new GraphBuilder(graph);
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  const outputNames = new Set(graph.outputs.map((v) => v.name));
  /** Name of each float32 value in each precision, where it exists. */
  const versions = new Map<string, Partial<Record<Precision, string>>>();
  /** The precision each value has under its own name. */
  const native = new Map<string, Precision>();
  const halfType = DataType.FLOAT16;

  const wantsFloat32 = (node: Node, i: number) => kept.has(node) || (node.domain === '' && FLOAT32_INPUTS[node.opType]?.includes(i));
  const convertsAny = (node: Node) => node.inputs.some((v) => isFloat(v)) || node.outputs.some((v) => isFloat(v));
  const nodes = [...graph.nodes];
  for (const node of nodes) {
    if (!convertsAny(node)) continue;
    if (kept.has(node)) report.keptNodes.push({ node: node.label, op: node.opType, reason: kept.get(node)! });
    else report.convertedNodes++;
  }

  // Weights: converted in place when every reader wants float16, duplicated when some want each.
  const readers = new Map<string, Set<Precision>>();
  for (const node of nodes) {
    node.inputs.forEach((v, i) => {
      if (!graph.initializers.has(v) || !isFloat(v)) return;
      const set = readers.get(v) ?? new Set<Precision>();
      set.add(wantsFloat32(node, i) ? 'fp32' : 'half');
      readers.set(v, set);
    });
    for (const g of node.subgraphs()) for (const v of outerReads(g)) if (graph.initializers.has(v) && isFloat(v)) readers.set(v, (readers.get(v) ?? new Set<Precision>()).add('fp32'));
  }
  for (const [name, wants] of readers) {
    if (inputNames.has(name)) continue; // overridable: a graph input, below
    const tensor = graph.initializers.get(name)!;
    if (!wants.has('half') || outputNames.has(name)) { versions.set(name, { fp32: name }); native.set(name, 'fp32'); continue; }
    const half = toHalf(tensor, 'float16', options, report);
    if (wants.has('fp32')) {
      const halfName = b.initializer(half.renamed(`${name}_fp16`));
      versions.set(name, { fp32: name, half: halfName });
    } else {
      graph.initializers.set(name, half);
      versions.set(name, { half: name });
      native.set(name, 'half');
    }
  }

  // Graph inputs: float32 with a Cast after them, or retyped.
  for (const input of graph.inputs) {
    if (!isFloat(input.name) || versions.has(input.name)) continue;
    if (keepIo) { versions.set(input.name, { fp32: input.name }); native.set(input.name, 'fp32'); continue; }
    setElemType(input, halfType);
    const init = graph.initializers.get(input.name);
    if (init) graph.initializers.set(input.name, toHalf(init, 'float16', options, report));
    versions.set(input.name, { half: input.name });
    native.set(input.name, 'half');
  }

  // Node outputs take their node's precision; float32 graph outputs of float16 nodes get a Cast back when asked.
  for (const node of nodes) {
    const converted = !kept.has(node);
    if (converted) rewriteTypedAttributes(node, isFloat, options, report);
    node.outputs.forEach((v, j) => {
      if (!v || !isFloat(v)) return;
      const precision: Precision = converted && !(node.domain === '' && FLOAT32_OUTPUTS[node.opType]?.includes(j)) ? 'half' : 'fp32';
      if (precision === 'half' && outputNames.has(v) && keepIo) {
        const halfName = b.fresh(`${v}_fp16`);
        node.outputs[j] = halfName;
        b.op('Cast', [halfName], { to: DataType.FLOAT }, { name: `${v}_cast_to_fp32`, output: v });
        report.castsInserted++;
        versions.set(v, { half: halfName, fp32: v });
        native.set(halfName, 'half');
        native.set(v, 'fp32');
      } else {
        versions.set(v, precision === 'half' ? { half: v } : { fp32: v });
        native.set(v, precision);
      }
    });
  }

  // Every reader gets the precision it wants, through one Cast per value and precision.
  const versionOf = (v: string, want: Precision): string => {
    const have = versions.get(v)!;
    const existing = have[want];
    if (existing) return existing;
    const source = have[want === 'half' ? 'fp32' : 'half']!;
    const name = b.op('Cast', [source], { to: want === 'half' ? halfType : DataType.FLOAT }, { name: `${v}_cast_to_${want === 'half' ? 'fp16' : 'fp32'}`, output: b.fresh(`${v}_${want === 'half' ? 'fp16' : 'fp32'}`) });
    report.castsInserted++;
    have[want] = name;
    return name;
  };
  for (const node of nodes) {
    node.inputs.forEach((v, i) => {
      if (!v || !isFloat(v)) return;
      if (!versions.has(v)) throw new QuantizationError(`value '${v}' read by node '${node.label}' has no producer`);
      node.inputs[i] = versionOf(v, wantsFloat32(node, i) ? 'fp32' : 'half');
    });
    for (const g of node.subgraphs()) {
      for (const v of outerReads(g)) if (isFloat(v) && versions.has(v)) renameOuterRead(g, v, versionOf(v, 'fp32'));
    }
  }

  // Graph outputs not kept float32 take their producer's precision.
  for (const output of graph.outputs) if (native.get(output.name) === 'half') setElemType(output, halfType);
  for (const [name, info] of graph.valueInfo) if (native.get(name) === 'half') setElemType(info, halfType);
  if (report.convertedNodes === 0) throw new QuantizationError('the model has no float32 computation to convert to float16 (already half precision, or every float node is kept)');
  graph.sortTopologically();
  return { model, report };
}

/**
 * Which values are float32: inferred types, then declared ones, then fallbackOutputType. A converted node must know
 * the type of everything it reads and writes.
 */
function float32Values(model: Model, kept: Map<Node, string>): (name: string) => boolean {
  const facts = inferShapes(model, { strict: false }).values;
  const types = new Map<string, DataType>();
  for (const [name, f] of facts) types.set(name, f.elemType);
  const typeOf = (name: string): DataType | undefined => types.get(name) ?? elemTypeOf(model.graph.typeOf(name));
  const unknown = (v: string, node: Node, role: string) => new QuantizationError(
    `cannot tell the element type of '${v}' (${role} node '${node.label}', ${node.qualifiedOp}): keep the node in float32 with keepNodes, or give the model value_info`);
  for (const node of model.graph.sortTopologically().nodes) {
    node.outputs.forEach((v, j) => {
      if (!v || typeOf(v) !== undefined) return;
      const t = fallbackOutputType(node, j, typeOf);
      if (t !== undefined) types.set(v, t);
      else if (!kept.has(node)) throw unknown(v, node, 'output of');
    });
    if (!kept.has(node)) for (const v of node.inputs) if (v && typeOf(v) === undefined) throw unknown(v, node, 'read by');
  }
  return (name: string) => !!name && typeOf(name) === DataType.FLOAT;
}

/** Outputs of ONNX ops that are not of input 0's type (undefined: they are), for ops without a shape rule in nnzip. */
const OUTPUT_TYPES: Record<string, (node: Node, j: number, typeOf: (v: string) => DataType | undefined) => DataType | undefined> = {
  IsInf: () => DataType.BOOL, IsNaN: () => DataType.BOOL, RegexFullMatch: () => DataType.BOOL,
  TopK: (_, j) => (j === 1 ? DataType.INT64 : undefined),
  Unique: (_, j) => (j > 0 ? DataType.INT64 : undefined),
  NonMaxSuppression: () => DataType.INT64,
  Multinomial: (n) => n.int('dtype', DataType.INT32),
  OneHot: (n, _, typeOf) => typeOf(n.inputs[2] ?? ''),
  TfIdfVectorizer: () => DataType.FLOAT,
  ImageDecoder: () => DataType.UINT8,
  BlackmanWindow: (n) => n.int('output_datatype', DataType.FLOAT), HammingWindow: (n) => n.int('output_datatype', DataType.FLOAT),
  HannWindow: (n) => n.int('output_datatype', DataType.FLOAT), MelWeightMatrix: (n) => n.int('output_datatype', DataType.FLOAT),
};

/**
 * The element type of output j of a node shape inference said nothing about: If/Loop/Scan from their body's declared
 * outputs; ONNX ops from the table above or else input 0's type (elementwise, gather/scatter, recurrent and
 * normalization ops keep their data's type); com.microsoft ops from input 0 (true of the contrib ops that compute in
 * float: MatMulNBits, MatMulBnb4, Gelu, ...). Undefined when it cannot tell.
 */
function fallbackOutputType(node: Node, j: number, typeOf: (v: string) => DataType | undefined): DataType | undefined {
  const body = node.subgraphs()[0];
  if (body) return elemTypeOf(body.outputs[node.opType === 'Loop' ? j + 1 : j]?.type);
  if (node.domain === '') {
    const t = OUTPUT_TYPES[node.opType]?.(node, j, typeOf);
    if (t !== undefined) return t;
  } else if (node.domain !== 'com.microsoft' || j > 0) {
    return undefined;
  }
  return node.input(0) ? typeOf(node.inputs[0]!) : undefined;
}

function elemTypeOf(t: ValueInfo['type']): DataType | undefined {
  return t?.kind === 'tensor' ? t.elemType : undefined;
}

function setElemType(v: ValueInfo, elemType: DataType): void {
  if (v.type?.kind === 'tensor') v.type = { ...v.type, elemType } as TensorType;
  else v.type = { kind: 'tensor', elemType };
}

/** Ops whose float output type an attribute fixes: Cast's `to`, ConstantOfShape's value. */
function rewriteTypedAttributes(node: Node, isFloat: (v: string) => boolean, options: Float16Options, report: Float16Report): void {
  if (node.domain !== '') return;
  if (node.opType === 'Cast' && node.int('to') === DataType.FLOAT) node.setAttr({ name: 'to', type: 'INT', value: DataType.FLOAT16 });
  if (node.opType === 'ConstantOfShape' && isFloat(node.outputs[0]!)) {
    const value = node.tensor('value') ?? Tensor.fromFloat32('value', [1], [0]);
    node.setAttr({ name: 'value', type: 'TENSOR', value: toHalf(value, 'float16', options, report) });
  }
}

/** Names a subgraph reads from enclosing graphs. */
function outerReads(graph: Graph): string[] {
  const defined = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  for (const { node } of walkNodes(graph)) for (const o of node.outputs) defined.add(o);
  const reads = new Set<string>();
  for (const { node } of walkNodes(graph)) for (const i of node.inputs) if (i && !defined.has(i)) reads.add(i);
  return [...reads];
}

function renameOuterRead(graph: Graph, from: string, to: string): void {
  if (from === to) return;
  for (const { node } of walkNodes(graph)) node.inputs = node.inputs.map((i) => (i === from ? to : i));
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor conversion with the range check

function toHalf(tensor: Tensor, type: HalfType, options: Float16Options, report: Float16Report): Tensor {
  const src = tensor.toFloat32();
  const bits = new Uint16Array(src.length);
  let clamped = 0, flushed = 0;
  for (let i = 0; i < src.length; i++) {
    let v = src[i]!;
    if (type === 'float16' && Math.abs(v) > FP16_MAX) {
      if (options.outOfRange !== 'clamp') {
        throw new QuantizationError(`weight '${tensor.name}' holds ${v} at index ${i}, outside the float16 range (±${FP16_MAX}); keep its node in float32 or clamp it (outOfRange 'clamp')`);
      }
      v = Math.sign(v) * FP16_MAX;
      clamped++;
    }
    const h = type === 'float16' ? numberToFloat16Bits(v) : numberToBfloat16Bits(v);
    if (v !== 0 && (h & 0x7fff) === 0) flushed++;
    bits[i] = h;
  }
  if (clamped) report.clamped.push({ tensor: tensor.name, count: clamped });
  if (flushed) report.flushedToZero.push({ tensor: tensor.name, count: flushed });
  report.convertedTensors++;
  report.bytesBefore += tensor.byteLength;
  report.bytesAfter += bits.byteLength;
  return new Tensor(tensor.name, type === 'float16' ? DataType.FLOAT16 : DataType.BFLOAT16, tensor.dims, bits);
}

// ---------------------------------------------------------------------------------------------------------------
// bfloat16 storage

function storeBfloat16(model: Model, kept: Map<Node, string>, options: Float16Options): { model: Model; report: Float16Report } {
  const graph = model.graph;
  const report: Float16Report = {
    type: 'bfloat16', convertedTensors: 0, bytesBefore: 0, bytesAfter: 0, convertedNodes: 0, keptNodes: [], castsInserted: 0, clamped: [], flushedToZero: [],
  };
  const b = new GraphBuilder(graph);
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  const outputNames = new Set(graph.outputs.map((v) => v.name));
  // A weight is stored as bfloat16 when every reader is a converted node reading it as data.
  const storable = new Map<string, boolean>();
  const readersOf = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    let readsWeights = false;
    node.inputs.forEach((v, i) => {
      const t = graph.initializers.get(v);
      if (!t || t.dataType !== DataType.FLOAT) return;
      readsWeights = true;
      const ok = !kept.has(node) && !(node.domain === '' && FLOAT32_INPUTS[node.opType]?.includes(i));
      storable.set(v, (storable.get(v) ?? true) && ok);
      readersOf.set(v, [...(readersOf.get(v) ?? []), node]);
    });
    if (readsWeights && kept.has(node)) report.keptNodes.push({ node: node.label, op: node.opType, reason: kept.get(node)! });
    for (const g of node.subgraphs()) for (const v of outerReads(g)) if (graph.initializers.has(v)) storable.set(v, false);
  }
  const storingNodes = new Set<Node>();
  for (const [name, ok] of storable) {
    // Scalars and tiny tensors (epsilons, clip bounds) gain nothing from halving and would lose precision.
    if (!ok || inputNames.has(name) || outputNames.has(name) || graph.initializers.get(name)!.size < BF16_MIN_ELEMENTS) continue;
    for (const n of readersOf.get(name) ?? []) storingNodes.add(n);
    const stored = b.initializer(toHalf(graph.initializers.get(name)!, 'bfloat16', options, report).renamed(`${name}_bf16`));
    graph.initializers.delete(name);
    b.op('Cast', [stored], { to: DataType.FLOAT }, { name: `${name}_cast_to_fp32`, output: name });
    report.castsInserted++;
  }
  report.convertedNodes = storingNodes.size;
  if (report.convertedTensors === 0) throw new QuantizationError('the model has no float32 weights to store as bfloat16');
  graph.sortTopologically();
  return { model, report };
}
