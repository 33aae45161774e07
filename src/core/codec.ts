// ONNX protobuf bytes <-> IR, through protobufjs code generated from onnx/onnx.proto. Isomorphic: no Node APIs.
// Tensor data is taken as views into the decoded bytes where alignment allows, and written back from views.
import Long from 'long';
import protobuf from 'protobufjs/minimal.js';
import { onnx } from './onnx/proto.js';
import { DataType, allocate, arrayLength, bytesOf, dataTypeName, isKnownDataType, viewBytesAs, byteLength } from './dtype.js';
import { Attribute, AttributeType, Dim, Graph, Model, Node, ValueInfo, ValueType, normalizeDomain } from './ir.js';
import { ExternalDataRef, Tensor } from './tensor.js';
import { NnzipError } from './errors.js';

protobuf.util.Long = Long;
protobuf.configure();

/** The bytes are not a readable ONNX model. */
export class ModelFormatError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFormatError';
  }
}

/** Returns the bytes an external-data reference points to, already read. */
export type ExternalDataReader = (ref: ExternalDataRef, tensorName: string, expectedBytes: number) => Uint8Array;

export interface DecodeOptions {
  /** Reads tensors stored outside the model file; without it such models are refused. */
  readExternal?: ExternalDataReader;
}

type Int64 = number | Long | null | undefined;

function toNumber(v: Int64): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function toLong(v: number): Long {
  // Long.fromNumber saturates at the int64 range, so INT64_MAX (which a double rounds up to 2^63) survives.
  return Long.fromNumber(v);
}

function toBigInt(v: Int64, unsigned: boolean): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const big = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? big : BigInt.asIntN(64, big);
}

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** Decodes ONNX model bytes into the IR. */
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ModelFormatError(`not a readable ONNX model (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
  if (!proto.graph || toNumber(proto.irVersion) <= 0) {
    throw new ModelFormatError(`not an ONNX model: ${proto.graph ? 'no ir_version' : 'no graph'}`);
  }
  // Required since IR version 3; exporters write it after the graph, so a file cut right after the graph lacks it.
  if (proto.opsetImport.length === 0 && toNumber(proto.irVersion) >= 3) {
    throw new ModelFormatError('not a complete ONNX model: no opset_import (is the file truncated?)');
  }
  const m = new Model();
  m.irVersion = toNumber(proto.irVersion);
  for (const o of proto.opsetImport) m.opsetImports.set(normalizeDomain(o.domain ?? ''), toNumber(o.version));
  m.producerName = proto.producerName ?? '';
  m.producerVersion = proto.producerVersion ?? '';
  m.domain = proto.domain ?? '';
  m.modelVersion = toNumber(proto.modelVersion);
  if (proto.docString) m.docString = proto.docString;
  for (const e of proto.metadataProps) m.metadata.set(e.key ?? '', e.value ?? '');
  const extra: Record<string, unknown> = {};
  if (proto.functions.length) extra.functions = proto.functions;
  if (proto.trainingInfo.length) extra.trainingInfo = proto.trainingInfo;
  if (proto.configuration.length) extra.configuration = proto.configuration;
  if (Object.keys(extra).length) m.extra = extra;
  m.graph = graphFromProto(proto.graph, options);
  return m;
}

function graphFromProto(gp: onnx.IGraphProto, options: DecodeOptions): Graph {
  const g = new Graph();
  g.name = gp.name ?? '';
  if (gp.docString) g.docString = gp.docString;
  for (const t of gp.initializer ?? []) {
    const tensor = tensorFromProto(t, options);
    g.initializers.set(tensor.name, tensor);
  }
  g.inputs = (gp.input ?? []).map(valueInfoFromProto);
  g.outputs = (gp.output ?? []).map(valueInfoFromProto);
  for (const v of gp.valueInfo ?? []) g.valueInfo.set(v.name ?? '', valueInfoFromProto(v));
  g.nodes = (gp.node ?? []).map((n) => nodeFromProto(n, options));
  const extra: Record<string, unknown> = {};
  if (gp.sparseInitializer?.length) extra.sparseInitializer = gp.sparseInitializer;
  if (gp.quantizationAnnotation?.length) extra.quantizationAnnotation = gp.quantizationAnnotation;
  if (gp.metadataProps?.length) extra.metadataProps = gp.metadataProps;
  if (Object.keys(extra).length) g.extra = extra;
  return g;
}

function nodeFromProto(np: onnx.INodeProto, options: DecodeOptions): Node {
  const n = new Node(np.opType ?? '', [...(np.input ?? [])], [...(np.output ?? [])], np.name ?? '', np.domain ?? '',
    (np.attribute ?? []).map((a) => attributeFromProto(a, options, np.name ?? np.opType ?? '')));
  if (np.docString) n.docString = np.docString;
  const extra: Record<string, unknown> = {};
  if (np.overload) extra.overload = np.overload;
  if (np.metadataProps?.length) extra.metadataProps = np.metadataProps;
  if (np.deviceConfigurations?.length) extra.deviceConfigurations = np.deviceConfigurations;
  if (Object.keys(extra).length) n.extra = extra;
  return n;
}

const AT = onnx.AttributeProto.AttributeType;

function attributeFromProto(ap: onnx.IAttributeProto, options: DecodeOptions, nodeName: string): Attribute {
  const name = ap.name ?? '';
  const base = { name, ...(ap.refAttrName ? { refAttrName: ap.refAttrName } : {}), ...(ap.docString ? { docString: ap.docString } : {}) };
  let type = ap.type ?? AT.UNDEFINED;
  if (type === AT.UNDEFINED && !ap.refAttrName) type = inferAttributeType(ap);
  switch (type) {
    case AT.FLOAT: return { ...base, type: 'FLOAT', value: ap.f ?? 0 };
    case AT.INT: return { ...base, type: 'INT', value: toNumber(ap.i as Int64) };
    case AT.STRING: return { ...base, type: 'STRING', value: utf8Decoder.decode(ap.s ?? new Uint8Array()) };
    case AT.TENSOR: return { ...base, type: 'TENSOR', value: tensorFromProto(ap.t ?? {}, options) };
    case AT.GRAPH: return { ...base, type: 'GRAPH', value: graphFromProto(ap.g ?? {}, options) };
    case AT.FLOATS: return { ...base, type: 'FLOATS', value: [...(ap.floats ?? [])] };
    case AT.INTS: return { ...base, type: 'INTS', value: (ap.ints ?? []).map((v) => toNumber(v as Int64)) };
    case AT.STRINGS: return { ...base, type: 'STRINGS', value: (ap.strings ?? []).map((s) => utf8Decoder.decode(s)) };
    case AT.TENSORS: return { ...base, type: 'TENSORS', value: (ap.tensors ?? []).map((t) => tensorFromProto(t, options)) };
    case AT.GRAPHS: return { ...base, type: 'GRAPHS', value: (ap.graphs ?? []).map((s) => graphFromProto(s, options)) };
    case AT.SPARSE_TENSOR: return { ...base, type: 'SPARSE_TENSOR', value: ap.sparseTensor };
    case AT.SPARSE_TENSORS: return { ...base, type: 'SPARSE_TENSORS', value: ap.sparseTensors };
    case AT.TYPE_PROTO: return { ...base, type: 'TYPE_PROTO', value: ap.tp };
    case AT.TYPE_PROTOS: return { ...base, type: 'TYPE_PROTOS', value: ap.typeProtos };
    case AT.UNDEFINED: return { ...base, type: 'UNDEFINED', value: undefined };
    default: throw new ModelFormatError(`node '${nodeName}': attribute '${name}' has unknown type ${type}`);
  }
}

// IR version 1 attributes carry no type; the field in use says what it is.
function inferAttributeType(ap: onnx.IAttributeProto): number {
  if (ap.floats?.length) return AT.FLOATS;
  if (ap.ints?.length) return AT.INTS;
  if (ap.strings?.length) return AT.STRINGS;
  if (ap.tensors?.length) return AT.TENSORS;
  if (ap.graphs?.length) return AT.GRAPHS;
  if (ap.t) return AT.TENSOR;
  if (ap.g) return AT.GRAPH;
  if (ap.s?.length) return AT.STRING;
  if (ap.i !== undefined && ap.i !== null && toNumber(ap.i as Int64) !== 0) return AT.INT;
  if (ap.f) return AT.FLOAT;
  return AT.INT;
}

export function valueInfoFromProto(vp: onnx.IValueInfoProto): ValueInfo {
  const v: ValueInfo = { name: vp.name ?? '' };
  if (vp.type) v.type = typeFromProto(vp.type);
  if (vp.docString) v.docString = vp.docString;
  if (vp.metadataProps?.length) v.extra = { metadataProps: vp.metadataProps };
  return v;
}

function typeFromProto(tp: onnx.ITypeProto): ValueType {
  const tt = tp.tensorType;
  if (!tt) return { kind: 'other', proto: tp as Record<string, unknown> };
  const t: ValueType = { kind: 'tensor', elemType: (tt.elemType ?? 0) as DataType };
  if (tt.shape) {
    t.shape = (tt.shape.dim ?? []).map((d): Dim => {
      if (d.dimParam) return d.dimParam;
      if (d.dimValue !== undefined && d.dimValue !== null && (d as onnx.TensorShapeProto.Dimension).value === 'dimValue') return toNumber(d.dimValue as Int64);
      return null;
    });
  }
  return t;
}

const TP = onnx.TensorProto;

export function tensorFromProto(tp: onnx.ITensorProto, options: DecodeOptions = {}): Tensor {
  const name = tp.name ?? '';
  const dataType = (tp.dataType ?? 0) as DataType;
  if (!isKnownDataType(dataType) || dataType === DataType.UNDEFINED) {
    throw new ModelFormatError(`tensor '${name}' has unknown data type ${dataType}`);
  }
  const dims = (tp.dims ?? []).map((d) => toNumber(d as Int64));
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) throw new ModelFormatError(`tensor '${name}' has bad dims [${dims.join(',')}]`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(size)) throw new ModelFormatError(`tensor '${name}' has too many elements`);
  let tensor: Tensor;
  if (tp.dataLocation === TP.DataLocation.EXTERNAL) {
    if (dataType === DataType.STRING) throw new ModelFormatError(`tensor '${name}': string tensors cannot be stored as external data`);
    const ref = externalRef(tp, name);
    if (!options.readExternal) throw new ModelFormatError(`tensor '${name}' is stored in external file '${ref.location}', and no reader for external data was given`);
    const expected = byteLength(dataType, size);
    if (ref.length !== undefined && ref.length !== expected) {
      throw new ModelFormatError(`tensor '${name}': external data '${ref.location}' gives ${ref.length} bytes, ${dataTypeName(dataType)}[${dims.join(',')}] needs ${expected}`);
    }
    const bytes = options.readExternal(ref, name, expected);
    if (bytes.byteLength !== expected) {
      throw new ModelFormatError(`tensor '${name}': external data '${ref.location}' gives ${bytes.byteLength} bytes, ${dataTypeName(dataType)}[${dims.join(',')}] needs ${expected}`);
    }
    tensor = new Tensor(name, dataType, dims, viewBytesAs(dataType, bytes));
    tensor.external = ref;
  } else if (dataType === DataType.STRING) {
    const strings = tp.stringData ?? [];
    if (strings.length !== size) throw new ModelFormatError(`tensor '${name}': string_data has ${strings.length} values, string[${dims.join(',')}] needs ${size}`);
    tensor = new Tensor(name, dataType, dims, [...strings]);
  } else {
    tensor = new Tensor(name, dataType, dims, inlineData(tp, dataType, size, name));
  }
  if (tp.docString) tensor.docString = tp.docString;
  if (tp.metadataProps?.length) tensor.extra = { metadataProps: tp.metadataProps };
  return tensor;
}

function externalRef(tp: onnx.ITensorProto, name: string): ExternalDataRef {
  const entries = new Map((tp.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new ModelFormatError(`tensor '${name}' is marked external but has no location`);
  const parseCount = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new ModelFormatError(`tensor '${name}': external data ${key} '${v}' is not a byte count`);
    return n;
  };
  const ref: ExternalDataRef = { location, offset: parseCount('offset') ?? 0 };
  const length = parseCount('length');
  if (length !== undefined) ref.length = length;
  const checksum = entries.get('checksum');
  if (checksum) ref.checksum = checksum;
  return ref;
}

function inlineData(tp: onnx.ITensorProto, dataType: DataType, size: number, name: string) {
  const expectedBytes = byteLength(dataType, size);
  const raw = tp.rawData;
  if (raw && raw.byteLength > 0) {
    if (raw.byteLength !== expectedBytes) {
      throw new ModelFormatError(`tensor '${name}': raw_data has ${raw.byteLength} bytes, ${dataTypeName(dataType)}[${tp.dims?.join(',')}] needs ${expectedBytes}`);
    }
    return viewBytesAs(dataType, raw);
  }
  if (size === 0) return allocate(dataType, 0);
  const fill = (values: ArrayLike<unknown>, field: string, convert: (v: unknown) => number | bigint) => {
    // Checked before allocating: dims alone must not make the decoder allocate what the file does not hold.
    const needed = arrayLength(dataType, size);
    if (values.length !== needed) {
      throw new ModelFormatError(`tensor '${name}': ${field} has ${values.length} values, ${dataTypeName(dataType)}[${tp.dims?.join(',')}] needs ${needed}`);
    }
    const out = allocate(dataType, size);
    for (let i = 0; i < values.length; i++) (out as unknown as (number | bigint)[])[i] = convert(values[i]);
    return out;
  };
  switch (dataType) {
    case DataType.FLOAT: case DataType.COMPLEX64: return fill(tp.floatData ?? [], 'float_data', Number);
    case DataType.DOUBLE: case DataType.COMPLEX128: return fill(tp.doubleData ?? [], 'double_data', Number);
    case DataType.INT64: return fill(tp.int64Data ?? [], 'int64_data', (v) => toBigInt(v as Int64, false));
    case DataType.UINT64: return fill(tp.uint64Data ?? [], 'uint64_data', (v) => toBigInt(v as Int64, true));
    case DataType.UINT32: return fill(tp.uint64Data ?? [], 'uint64_data', (v) => toNumber(v as Int64));
    default: return fill(tp.int32Data ?? [], 'int32_data', Number); // int8..int32, bool, float16/bfloat16 bits, float8, packed 4-bit
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface EncodeOptions {
  /**
   * Store tensors of at least `threshold` bytes (default 1024) in an external data file at `location`, a path
   * relative to the model file's folder.
   */
  externalData?: { location: string; threshold?: number };
}

/** A run of bytes to put at `offset` in the external data file. */
export interface ExternalChunk {
  offset: number;
  bytes: Uint8Array;
}

export interface EncodedModel {
  bytes: Uint8Array;
  /** Chunks for the external data file, in increasing offset order; empty without external data. */
  external: ExternalChunk[];
  externalLocation?: string;
  externalBytes: number;
}

const PAGE = 4096;
const LARGE_TENSOR = 1 << 20;

/** Encodes a model into ONNX bytes, with its big tensors optionally placed in an external data file. */
export function encodeModel(model: Model, options: EncodeOptions = {}): EncodedModel {
  const state: EncodeState = { external: [], offset: 0, options };
  const proto: onnx.IModelProto = {
    irVersion: toLong(model.irVersion),
    opsetImport: [...model.opsetImports].map(([domain, version]) => ({ domain, version: toLong(version) })),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: toLong(model.modelVersion),
    docString: model.docString,
    graph: graphToProto(model.graph, state),
    metadataProps: [...model.metadata].map(([key, value]) => ({ key, value })),
    functions: model.extra?.functions as onnx.IFunctionProto[] | undefined,
    trainingInfo: model.extra?.trainingInfo as onnx.ITrainingInfoProto[] | undefined,
    configuration: model.extra?.configuration as onnx.IDeviceConfigurationProto[] | undefined,
  };
  const bytes = onnx.ModelProto.encode(proto).finish();
  return { bytes, external: state.external, externalLocation: options.externalData?.location, externalBytes: state.offset };
}

interface EncodeState {
  external: ExternalChunk[];
  offset: number;
  options: EncodeOptions;
}

function graphToProto(g: Graph, state: EncodeState): onnx.IGraphProto {
  return {
    node: g.nodes.map((n) => nodeToProto(n, state)),
    name: g.name,
    initializer: [...g.initializers.values()].map((t) => tensorToProto(t, state)),
    docString: g.docString,
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: [...g.valueInfo.values()].map(valueInfoToProto),
    sparseInitializer: g.extra?.sparseInitializer as onnx.ISparseTensorProto[] | undefined,
    quantizationAnnotation: g.extra?.quantizationAnnotation as onnx.ITensorAnnotation[] | undefined,
    metadataProps: g.extra?.metadataProps as onnx.IStringStringEntryProto[] | undefined,
  };
}

function nodeToProto(n: Node, state: EncodeState): onnx.INodeProto {
  return {
    input: n.inputs,
    output: n.outputs,
    name: n.name || undefined,
    opType: n.opType,
    domain: n.domain || undefined,
    attribute: n.attributes.map((a) => attributeToProto(a, state)),
    docString: n.docString,
    overload: n.extra?.overload as string | undefined,
    metadataProps: n.extra?.metadataProps as onnx.IStringStringEntryProto[] | undefined,
    deviceConfigurations: n.extra?.deviceConfigurations as onnx.INodeDeviceConfigurationProto[] | undefined,
  };
}

function attributeToProto(a: Attribute, state: EncodeState): onnx.IAttributeProto {
  const p: onnx.IAttributeProto = { name: a.name, type: AT[a.type as AttributeType] as unknown as onnx.AttributeProto.AttributeType };
  if (a.refAttrName) p.refAttrName = a.refAttrName;
  if (a.docString) p.docString = a.docString;
  // Attribute tensors stay inline: Constant values are small and some runtimes read them only from the node.
  const inline: EncodeState = { ...state, options: {} };
  switch (a.type) {
    case 'FLOAT': p.f = a.value; break;
    case 'INT': p.i = toLong(a.value); break;
    case 'STRING': p.s = utf8Encoder.encode(a.value); break;
    case 'TENSOR': p.t = tensorToProto(a.value, inline); break;
    case 'GRAPH': p.g = graphToProto(a.value, state); break;
    case 'FLOATS': p.floats = a.value; break;
    case 'INTS': p.ints = a.value.map(toLong); break;
    case 'STRINGS': p.strings = a.value.map((s) => utf8Encoder.encode(s)); break;
    case 'TENSORS': p.tensors = a.value.map((t) => tensorToProto(t, inline)); break;
    case 'GRAPHS': p.graphs = a.value.map((g) => graphToProto(g, state)); break;
    case 'SPARSE_TENSOR': p.sparseTensor = a.value as onnx.ISparseTensorProto; break;
    case 'SPARSE_TENSORS': p.sparseTensors = a.value as onnx.ISparseTensorProto[]; break;
    case 'TYPE_PROTO': p.tp = a.value as onnx.ITypeProto; break;
    case 'TYPE_PROTOS': p.typeProtos = a.value as onnx.ITypeProto[]; break;
    case 'UNDEFINED': break;
  }
  return p;
}

function valueInfoToProto(v: ValueInfo): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: v.type ? typeToProto(v.type) : undefined,
    docString: v.docString,
    metadataProps: v.extra?.metadataProps as onnx.IStringStringEntryProto[] | undefined,
  };
}

export function typeToProto(t: ValueType): onnx.ITypeProto {
  if (t.kind === 'other') return t.proto as onnx.ITypeProto;
  return {
    tensorType: {
      elemType: t.elemType,
      shape: t.shape ? { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: toLong(d) } : typeof d === 'string' ? { dimParam: d } : {})) } : undefined,
    },
  };
}

export function tensorToProto(t: Tensor, state: EncodeState = { external: [], offset: 0, options: {} }): onnx.ITensorProto {
  const p: onnx.ITensorProto = { name: t.name, dims: t.dims.map(toLong), dataType: t.dataType, docString: t.docString };
  if (t.extra?.metadataProps) p.metadataProps = t.extra.metadataProps as onnx.IStringStringEntryProto[];
  if (t.isString) {
    p.stringData = t.data as Uint8Array[];
    return p;
  }
  const bytes = bytesOf(t.numeric());
  const ext = state.options.externalData;
  if (ext && bytes.byteLength >= (ext.threshold ?? 1024)) {
    const align = bytes.byteLength >= LARGE_TENSOR ? PAGE : 64;
    const offset = Math.ceil(state.offset / align) * align;
    state.external.push({ offset, bytes });
    state.offset = offset + bytes.byteLength;
    p.dataLocation = TP.DataLocation.EXTERNAL;
    p.externalData = [
      { key: 'location', value: ext.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ];
  } else {
    p.rawData = bytes;
  }
  return p;
}
