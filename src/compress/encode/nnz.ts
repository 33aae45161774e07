// The .nnz container (docs/nnz-format.md): the ONNX graph with its tensors' data taken out, then each tensor's data
// coded the smallest lossless way (raw, deflate, Huffman-coded palette, sparse relative indices), then a CRC-32.
// packModel/unpackModel are exact inverses: the unpacked model encodes to the same ONNX bytes as the packed one.
// Isomorphic: works on bytes in memory; src/node/nnz.ts reads and writes files.
import { deflateSync } from 'fflate';
import { DecodeOptions, ModelFormatError, decodeModel, encodeModel } from '../../core/codec.js';
import { DataType, byteLength, dataTypeName, isFloatType, isKnownDataType } from '../../core/dtype.js';
import { Graph, Model, walkNodes } from '../../core/ir.js';
import { onnx } from '../../core/onnx/proto.js';
import { Tensor } from '../../core/tensor.js';
import type { Runtime, Session, SessionOptions } from '../../runtime/session.js';
import { ByteReader, ByteWriter, crc32 } from './bytes.js';
import { NnzFormatError } from './errors.js';
import { ENCODING_NAMES, NnzEncoding, NnzEncodingName, TensorEncodeOptions, decodeTensorData, encodeTensorData, inflateExactly } from './tensor-codec.js';

/** "\x89NNZ\r\n\x1a\n": a high byte first, so text tools see binary, and line-ending mangling shows (as in PNG). */
export const NNZ_MAGIC = Uint8Array.of(0x89, 0x4e, 0x4e, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a);
export const NNZ_VERSION = { major: 1, minor: 0 } as const;
/** The external-data location the graph section's tensors point at: "this container". */
export const NNZ_LOCATION = 'nnz';

const PREFIX_BYTES = 16; // magic, major, minor, header length
const CHECKSUM_BYTES = 4;
const MAX_RANK = 64;
const MAX_GRAPH_BYTES = 2 ** 31;

export enum GraphEncoding {
  RAW = 0,
  DEFLATE = 1,
}

/** One tensor's entry: what it is, where the graph refers to it, and its coded data. */
export interface NnzEntry {
  name: string;
  /** The graph's external-data offset for this tensor: the key that joins graph and entry. */
  key: number;
  dataType: DataType;
  dims: number[];
  encoding: NnzEncoding;
  payload: Uint8Array;
}

/** A .nnz file, parsed but not decoded. */
export interface NnzContainer {
  version: { major: number; minor: number };
  graphEncoding: GraphEncoding;
  /** The graph section as stored (deflated when graphEncoding is DEFLATE). */
  graph: Uint8Array;
  /** Bytes of the ONNX graph once decoded. */
  graphBytes: number;
  entries: NnzEntry[];
}

export function isNnz(bytes: Uint8Array): boolean {
  return bytes.byteLength >= NNZ_MAGIC.length && NNZ_MAGIC.every((b, i) => bytes[i] === b);
}

function descriptorBytes(e: NnzEntry): Uint8Array {
  const w = new ByteWriter(64);
  w.string(e.name).varint(e.key).varint(e.dataType).varint(e.dims.length);
  for (const d of e.dims) w.varint(d);
  w.varint(e.encoding).varint(e.payload.byteLength);
  return w.finish();
}

/**
 * Lays out a container as its parts, in file order: prefix and header, graph section, payloads (the container's own
 * buffers, not copies), CRC-32 of everything before it. A big model's container is written part by part.
 */
export function nnzParts(c: NnzContainer): Uint8Array[] {
  const header = new ByteWriter(256);
  header.varint(c.graphEncoding).varint(c.graph.byteLength).varint(c.graphBytes).varint(c.entries.length);
  for (const e of c.entries) header.bytes(descriptorBytes(e));
  const headerBytes = header.view();
  const head = new Uint8Array(PREFIX_BYTES + headerBytes.byteLength);
  const view = new DataView(head.buffer);
  head.set(NNZ_MAGIC, 0);
  view.setUint16(8, c.version.major, true);
  view.setUint16(10, c.version.minor, true);
  view.setUint32(12, headerBytes.byteLength, true);
  head.set(headerBytes, PREFIX_BYTES);
  const parts = [head, c.graph, ...c.entries.map((e) => e.payload)];
  let crc = 0;
  for (const part of parts) crc = crc32(part, crc);
  const checksum = new Uint8Array(CHECKSUM_BYTES);
  new DataView(checksum.buffer).setUint32(0, crc, true);
  parts.push(checksum);
  return parts;
}

/** The container as one buffer. */
export function writeNnz(c: NnzContainer): Uint8Array {
  const parts = nnzParts(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.byteLength;
  }
  return out;
}

export interface ReadOptions {
  /**
   * Refuse files whose tensors decode to more bytes than this, in total (default: the larger of 64 MiB and 4096
   * times the file's size): a small hostile file must not make the reader allocate gigabytes.
   */
  maxDecodedBytes?: number;
}

/** Checks the framing (magic, version, lengths, checksum, declared sizes) and returns the sections, undecoded. */
export function readNnz(input: Uint8Array, options: ReadOptions = {}): NnzContainer {
  // A plain view, so subarray and slice behave the same whatever class the caller's bytes are (a Node Buffer's differ).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const len = bytes.byteLength;
  const magicSeen = Math.min(len, NNZ_MAGIC.length);
  for (let i = 0; i < magicSeen; i++) if (bytes[i] !== NNZ_MAGIC[i]) throw new NnzFormatError('not an .nnz file (wrong magic bytes)');
  if (len < PREFIX_BYTES + CHECKSUM_BYTES) throw new NnzFormatError(`.nnz truncated: ${len} bytes, not even the fixed header`);
  const prefix = new ByteReader(bytes, NNZ_MAGIC.length, PREFIX_BYTES);
  const major = prefix.u16('version');
  const minor = prefix.u16('version');
  if (major !== NNZ_VERSION.major) throw new NnzFormatError(`unsupported .nnz version ${major}.${minor} (this nnzip reads version ${NNZ_VERSION.major}.x)`);
  const headerLength = prefix.u32('header length');
  if (PREFIX_BYTES + headerLength + CHECKSUM_BYTES > len) {
    throw new NnzFormatError(`.nnz truncated: the header alone needs ${PREFIX_BYTES + headerLength + CHECKSUM_BYTES} bytes, the file has ${len}`);
  }
  const checksumOk = () => crc32(bytes.subarray(0, len - CHECKSUM_BYTES)) === new DataView(bytes.buffer, bytes.byteOffset + len - CHECKSUM_BYTES, 4).getUint32(0, true);
  let parsed: { graphEncoding: GraphEncoding; graphStored: number; graphBytes: number; descriptors: Omit<NnzEntry, 'payload'>[]; payloadLengths: number[] };
  try {
    parsed = parseHeader(new ByteReader(bytes, PREFIX_BYTES, PREFIX_BYTES + headerLength, '.nnz header'));
  } catch (e) {
    // A damaged header usually shows as nonsense fields: say what happened, not which field looked odd.
    if (e instanceof NnzFormatError && !checksumOk()) throw new NnzFormatError(`.nnz corrupt: checksum mismatch (${e.message})`);
    throw e;
  }
  const declared = PREFIX_BYTES + headerLength + parsed.graphStored + parsed.payloadLengths.reduce((a, b) => a + b, 0) + CHECKSUM_BYTES;
  if (declared > len) throw new NnzFormatError(`.nnz truncated: the header declares ${declared} bytes, the file has ${len}`);
  if (declared < len) throw new NnzFormatError(`.nnz corrupt: ${len - declared} bytes after the declared end of the file`);
  if (!checksumOk()) throw new NnzFormatError('.nnz corrupt: checksum mismatch');

  const limit = options.maxDecodedBytes ?? Math.max(64 * 2 ** 20, 4096 * len);
  let decoded = parsed.graphBytes;
  for (const d of parsed.descriptors) decoded += byteLength(d.dataType, d.dims.reduce((a, b) => a * b, 1));
  if (decoded > limit) {
    throw new NnzFormatError(`.nnz declares ${decoded} bytes of decoded data, over the limit of ${limit} for a ${len}-byte file (raise maxDecodedBytes to read it)`);
  }
  let p = PREFIX_BYTES + headerLength;
  const graph = bytes.subarray(p, p + parsed.graphStored);
  p += parsed.graphStored;
  const entries = parsed.descriptors.map((d, i) => {
    const payload = bytes.subarray(p, p + parsed.payloadLengths[i]!);
    p += payload.byteLength;
    return { ...d, payload };
  });
  return { version: { major, minor }, graphEncoding: parsed.graphEncoding, graph, graphBytes: parsed.graphBytes, entries };
}

function parseHeader(r: ByteReader) {
  const graphEncoding = r.varint('graph encoding');
  if (graphEncoding !== GraphEncoding.RAW && graphEncoding !== GraphEncoding.DEFLATE) throw new NnzFormatError(`.nnz: unknown graph encoding ${graphEncoding}`);
  const graphStored = r.varint('graph section length');
  const graphBytes = r.varint('graph length', MAX_GRAPH_BYTES);
  const count = r.varint('tensor count', r.remaining);
  const descriptors: Omit<NnzEntry, 'payload'>[] = [];
  const payloadLengths: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.string(`name of tensor ${i}`);
    const what = `tensor '${name}'`;
    const key = r.varint(`${what} key`);
    const dataType = r.varint(`${what} data type`, 255);
    if (!isKnownDataType(dataType) || dataType === DataType.UNDEFINED || dataType === DataType.STRING) {
      throw new NnzFormatError(`.nnz header: ${what} has data type ${dataType}, which an entry cannot hold`);
    }
    const rank = r.varint(`${what} rank`, MAX_RANK);
    const dims: number[] = [];
    let size = 1;
    for (let k = 0; k < rank; k++) {
      const d = r.varint(`${what} dimension ${k}`);
      dims.push(d);
      size *= d;
    }
    if (!Number.isSafeInteger(size)) throw new NnzFormatError(`.nnz header: ${what} has too many elements ([${dims.join(',')}])`);
    const encoding = r.varint(`${what} encoding`);
    if (!(encoding in ENCODING_NAMES)) throw new NnzFormatError(`.nnz header: ${what} has unknown encoding ${encoding} (written by a newer nnzip?)`);
    payloadLengths.push(r.varint(`${what} payload length`));
    descriptors.push({ name, key, dataType, dims, encoding });
  }
  if (r.remaining !== 0) throw new NnzFormatError(`.nnz header: ${r.remaining} bytes left over after ${count} tensor entries`);
  return { graphEncoding: graphEncoding as GraphEncoding, graphStored, graphBytes, descriptors, payloadLengths };
}

// ---------------------------------------------------------------------------------------------------------------

export type TensorRole = 'weight' | 'cluster-indices' | 'codebook';

export interface PackOptions extends TensorEncodeOptions {
  /** Tensors smaller than this many bytes stay inside the graph section (default 64). */
  minTensorBytes?: number;
}

export interface NnzTensorReport {
  name: string;
  dataType: string;
  dims: number[];
  /** 'cluster-indices' and 'codebook': the two inputs of a weight-sharing Gather (codebook, Cast(indices)). */
  role: TensorRole;
  encoding: NnzEncodingName;
  /** The tensor's raw bytes. */
  bytesBefore: number;
  /** Its payload plus its header entry. */
  bytesAfter: number;
  /** Fraction of elements that differ from the most frequent value (the non-zeros, for pruned weights). */
  density?: number;
  /** Sparse coding: bits of the relative index, entries (fillers included), fillers, how values are stored. */
  gapBits?: number;
  entries?: number;
  fillers?: number;
  values?: 'raw' | 'palette';
  paletteSize?: number;
}

export interface NnzPackReport {
  /** Every tensor given its own entry, in file order. */
  tensors: NnzTensorReport[];
  /** Tensors small enough to stay inside the graph section (and Constant node values). */
  inlineTensors: number;
  /** The graph section as stored, and as ONNX bytes. */
  graphBytes: number;
  graphBytesRaw: number;
  graphEncoding: 'raw' | 'deflate';
  headerBytes: number;
  totalBytes: number;
  tensorBytesBefore: number;
  tensorBytesAfter: number;
  /**
   * The weights as dense float32: 4 bytes per element of every float tensor, 8-bit-or-narrower integer tensor and
   * cluster-index tensor (each index stands for one weight), codebooks excluded. The baseline Deep Compression's
   * ratios are quoted against.
   */
  float32WeightBytes: number;
}

export interface PackResult {
  bytes: Uint8Array;
  report: NnzPackReport;
}

export interface PackedContainer {
  container: NnzContainer;
  /** The file's bytes in order (see nnzParts); their total is report.totalBytes. */
  parts: Uint8Array[];
  report: NnzPackReport;
  /** Checks that every tensor and the graph decode to what was packed; throws naming the first that does not. */
  verify(): void;
}

/** Packs a model into .nnz bytes (lossless). */
export function packModel(model: Model, options: PackOptions = {}): PackResult {
  const packed = packModelParts(model, options);
  return { bytes: writeNnz(packed.container), report: packed.report };
}

/**
 * Packs a model into a container without joining it into one buffer: raw payloads stay views of the model's
 * tensors, so a 1 GB model is not copied whole to be written.
 */
export function packModelParts(model: Model, options: PackOptions = {}): PackedContainer {
  const threshold = options.minTensorBytes ?? 64;
  const encoded = encodeModel(model, { externalData: { location: NNZ_LOCATION, threshold: Math.max(1, threshold) } });
  const chunks = new Map(encoded.external.map((c) => [c.offset, c.bytes]));
  // Decoding the weightless graph gives each externalized tensor's name, type and dims next to its offset.
  const stripped = decodeModel(encoded.bytes, { readExternal: (ref) => chunks.get(ref.offset)! });
  const graphs = allGraphs(stripped.graph);
  const roles = tensorRoles(graphs);
  const found: { key: number; tensor: Tensor; role: TensorRole }[] = [];
  let inline = 0, float32WeightBytes = 0;
  for (const g of graphs) {
    for (const t of g.initializers.values()) {
      const role = roles.get(t) ?? 'weight';
      float32WeightBytes += 4 * weightElements(t, role);
      if (t.external?.location === NNZ_LOCATION) found.push({ key: t.external.offset, tensor: t, role });
      else inline++;
    }
  }
  for (const { node } of walkNodes(stripped.graph)) if (node.opType === 'Constant' && node.tensor('value')) inline++;
  found.sort((a, b) => a.key - b.key);

  const entries: NnzEntry[] = [];
  const reports: NnzTensorReport[] = [];
  for (const { key, tensor, role } of found) {
    const raw = chunks.get(key)!;
    const coded = encodeTensorData(raw, tensor.dataType, options);
    const entry: NnzEntry = { name: tensor.name, key, dataType: tensor.dataType, dims: [...tensor.dims], encoding: coded.encoding, payload: coded.payload };
    entries.push(entry);
    const { unitBytes: _unit, ...detail } = coded.detail;
    reports.push({
      name: tensor.name, dataType: dataTypeName(tensor.dataType), dims: [...tensor.dims], role, encoding: ENCODING_NAMES[coded.encoding],
      bytesBefore: raw.byteLength, bytesAfter: coded.payload.byteLength + descriptorBytes(entry).byteLength, ...detail,
    });
  }
  const graphRaw = encoded.bytes;
  const graphDeflated = deflateSync(graphRaw, { level: 9 });
  const deflateGraph = options.deflate !== false && graphDeflated.byteLength < graphRaw.byteLength;
  const container: NnzContainer = {
    version: { ...NNZ_VERSION },
    graphEncoding: deflateGraph ? GraphEncoding.DEFLATE : GraphEncoding.RAW,
    graph: deflateGraph ? graphDeflated : graphRaw,
    graphBytes: graphRaw.byteLength,
    entries,
  };
  const parts = nnzParts(container);
  const totalBytes = parts.reduce((n, p) => n + p.byteLength, 0);
  const tensorBytesAfter = reports.reduce((n, r) => n + r.bytesAfter, 0);
  const verify = () => {
    const graph = container.graphEncoding === GraphEncoding.DEFLATE ? inflateExactly(container.graph, container.graphBytes, '.nnz graph section') : container.graph;
    if (!equalBytes(graph, graphRaw)) throw new NnzFormatError('pack check failed: the graph section does not decode to the packed graph (please report this)');
    for (const e of entries) {
      const raw = chunks.get(e.key)!;
      // One tensor at a time: the check of a big model needs one decoded tensor in memory, not a second model.
      const decoded = decodeTensorData(e.encoding, e.payload, e.dataType, raw.byteLength, `tensor '${e.name}'`);
      if (!equalBytes(decoded, raw)) throw new NnzFormatError(`pack check failed: tensor '${e.name}' does not unpack to the same bytes (please report this)`);
    }
  };
  return {
    container,
    parts,
    verify,
    report: {
      tensors: reports,
      inlineTensors: inline,
      graphBytes: container.graph.byteLength,
      graphBytesRaw: graphRaw.byteLength,
      graphEncoding: deflateGraph ? 'deflate' : 'raw',
      headerBytes: totalBytes - container.graph.byteLength - tensorBytesAfter - CHECKSUM_BYTES,
      totalBytes,
      tensorBytesBefore: reports.reduce((n, r) => n + r.bytesBefore, 0),
      tensorBytesAfter,
      float32WeightBytes,
    },
  };
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}

function allGraphs(root: Graph): Graph[] {
  const graphs = [root];
  for (const { node } of walkNodes(root)) graphs.push(...node.subgraphs());
  return graphs;
}

const NARROW_INTEGERS = new Set<DataType>([DataType.INT8, DataType.UINT8, DataType.INT4, DataType.UINT4, DataType.INT2, DataType.UINT2]);

function weightElements(t: Tensor, role: TensorRole): number {
  if (role === 'codebook') return 0;
  if (role === 'cluster-indices' || isFloatType(t.dataType) || NARROW_INTEGERS.has(t.dataType)) return t.size;
  return 0;
}

/** Codebooks and index tensors of weight sharing: Gather(float codebook, indices or Cast(indices)). */
function tensorRoles(graphs: Graph[]): Map<Tensor, TensorRole> {
  const roles = new Map<Tensor, TensorRole>();
  for (const g of graphs) {
    const producers = g.producers();
    for (const n of g.nodes) {
      if (n.opType !== 'Gather' || n.domain) continue;
      const book = g.initializers.get(n.inputs[0] ?? '');
      if (!book || !isFloatType(book.dataType)) continue;
      let indicesName = n.inputs[1] ?? '';
      const cast = producers.get(indicesName);
      if (cast?.opType === 'Cast' && !cast.domain) indicesName = cast.inputs[0] ?? '';
      const indices = g.initializers.get(indicesName);
      if (!indices || isFloatType(indices.dataType)) continue;
      roles.set(book, 'codebook');
      roles.set(indices, 'cluster-indices');
    }
  }
  return roles;
}

// ---------------------------------------------------------------------------------------------------------------

export type UnpackOptions = ReadOptions;

/** Decodes .nnz bytes into the model that was packed; any defect of the bytes is a one-line NnzFormatError. */
export function unpackModel(bytes: Uint8Array, options: UnpackOptions = {}): Model {
  const c = readNnz(bytes, options);
  const graphBytes = c.graphEncoding === GraphEncoding.DEFLATE ? inflateExactly(c.graph, c.graphBytes, '.nnz graph section')
    : c.graph.byteLength === c.graphBytes ? c.graph
      : failGraphLength(c.graph.byteLength, c.graphBytes);
  const byKey = new Map<number, NnzEntry>();
  for (const e of c.entries) {
    if (byKey.has(e.key)) throw new NnzFormatError(`.nnz header: tensors '${byKey.get(e.key)!.name}' and '${e.name}' share key ${e.key}`);
    byKey.set(e.key, e);
  }
  const used = new Set<NnzEntry>();
  const readExternal: DecodeOptions['readExternal'] = (ref, name, expected) => {
    if (ref.location !== NNZ_LOCATION) throw new NnzFormatError(`.nnz graph: tensor '${name}' refers to external file '${ref.location}', which a .nnz cannot hold`);
    const entry = byKey.get(ref.offset);
    if (!entry) throw new NnzFormatError(`.nnz graph: tensor '${name}' refers to key ${ref.offset}, which no entry has`);
    if (used.has(entry)) throw new NnzFormatError(`.nnz graph: entry '${entry.name}' is referred to twice`);
    if (entry.name !== name) throw new NnzFormatError(`.nnz graph: tensor '${name}' refers to the entry of tensor '${entry.name}'`);
    used.add(entry);
    const size = entry.dims.reduce((a, b) => a * b, 1);
    const declared = byteLength(entry.dataType, size);
    if (declared !== expected) throw new NnzFormatError(`.nnz: tensor '${name}' has ${declared} bytes in its entry, the graph expects ${expected}`);
    return decodeTensorData(entry.encoding, entry.payload, entry.dataType, declared, `.nnz tensor '${name}'`);
  };
  let model: Model;
  try {
    checkInlineTensorSizes(graphBytes);
    model = decodeModel(graphBytes, { readExternal });
  } catch (e) {
    if (e instanceof NnzFormatError) throw e;
    const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
    throw new NnzFormatError(`.nnz graph section: ${e instanceof ModelFormatError ? message : `unreadable (${message})`}`);
  }
  if (used.size !== c.entries.length) {
    const orphan = c.entries.find((e) => !used.has(e))!;
    throw new NnzFormatError(`.nnz: tensor entry '${orphan.name}' is not referred to by the graph`);
  }
  // The tensors now hold their data: drop the references to the container, and check type and dims agree.
  for (const g of allGraphs(model.graph)) {
    for (const t of g.initializers.values()) {
      if (t.external?.location !== NNZ_LOCATION) continue;
      const entry = byKey.get(t.external.offset)!;
      if (entry.dataType !== t.dataType || entry.dims.length !== t.dims.length || entry.dims.some((d, i) => d !== t.dims[i])) {
        throw new NnzFormatError(`.nnz: tensor '${t.name}' is ${dataTypeName(t.dataType)}[${t.dims.join(',')}] in the graph, ${dataTypeName(entry.dataType)}[${entry.dims.join(',')}] in its entry`);
      }
      delete t.external;
    }
  }
  return model;
}

/**
 * The ONNX decoder allocates an inline tensor from its dims before it checks the data is there: refuse tensors of
 * the graph section that declare more elements than the section has bits (data of any type takes at least that).
 */
function checkInlineTensorSizes(graphBytes: Uint8Array): void {
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(graphBytes);
  } catch (e) {
    throw new NnzFormatError(`.nnz graph section: not a readable ONNX model (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
  const limit = graphBytes.byteLength * 8;
  const checkTensor = (t: onnx.ITensorProto | null | undefined): void => {
    if (!t || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return;
    let size = 1;
    for (const d of t.dims ?? []) size *= typeof d === 'number' ? d : Number(d.toString());
    if (size > limit) throw new NnzFormatError(`.nnz graph section: tensor '${t.name ?? ''}' declares ${size} elements, more than the graph section holds`);
  };
  const checkGraph = (g: onnx.IGraphProto | null | undefined, depth: number): void => {
    if (!g) return;
    if (depth > 64) throw new NnzFormatError('.nnz graph section: subgraphs nested more than 64 deep');
    for (const t of g.initializer ?? []) checkTensor(t);
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        checkTensor(a.t);
        for (const t of a.tensors ?? []) checkTensor(t);
        checkGraph(a.g, depth + 1);
        for (const sub of a.graphs ?? []) checkGraph(sub, depth + 1);
      }
    }
  };
  checkGraph(proto.graph, 0);
}

function failGraphLength(stored: number, declared: number): never {
  throw new NnzFormatError(`.nnz header: the graph section has ${stored} bytes, its length says ${declared}`);
}

/** Decodes .nnz bytes in memory straight into an onnxruntime session (Node or web runtime). */
export async function createSessionFromNnz(runtime: Runtime, bytes: Uint8Array, options: SessionOptions & UnpackOptions = {}): Promise<Session> {
  const { maxDecodedBytes, ...sessionOptions } = options;
  return runtime.createSession(unpackModel(bytes, { maxDecodedBytes }), sessionOptions);
}
