// IDX files (the MNIST format): 2 zero bytes, a type code, the number of dimensions, the dimensions as big-endian
// uint32, then the values big-endian in C order. Gzip'd files are recognized by their magic and inflated.
import { Gunzip } from 'fflate';
import { DataType } from '../core/dtype.js';
import { TensorDataset, checkLabelRange } from './dataset.js';
import { DataError } from './errors.js';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dataType: DataType;
  dims: number[];
  /** The values in host order; for ubyte files a view into the given bytes. */
  data: IdxData;
}

const IDX_TYPES: Record<number, { dataType: DataType; bytes: number; name: string }> = {
  0x08: { dataType: DataType.UINT8, bytes: 1, name: 'ubyte' },
  0x09: { dataType: DataType.INT8, bytes: 1, name: 'byte' },
  0x0b: { dataType: DataType.INT16, bytes: 2, name: 'short' },
  0x0c: { dataType: DataType.INT32, bytes: 4, name: 'int' },
  0x0d: { dataType: DataType.FLOAT, bytes: 4, name: 'float' },
  0x0e: { dataType: DataType.DOUBLE, bytes: 8, name: 'double' },
};

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** DEFLATE never expands data more than this (258-byte matches in under 2 bits each), plus slack for headers. */
const MAX_DEFLATE_RATIO = 1032;
const GUNZIP_SLICE = 64 * 1024;

/**
 * The bytes, inflated when they are gzip'd. Streamed in slices rather than sized by the gzip trailer (a hostile
 * trailer would make a 100-byte file allocate 4 GiB), stopped once the output is larger than deflate can expand to,
 * and checked against the trailer's size at the end.
 */
export function gunzipIfNeeded(bytes: Uint8Array, source: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  const fail = (problem: string): never => { throw new DataError(`${source}: not a valid gzip file (${problem})`); };
  if (bytes.byteLength < 18) fail(`${bytes.byteLength} bytes, too short for a gzip header and trailer`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.byteLength - 4, true);
  const limit = bytes.byteLength * MAX_DEFLATE_RATIO + 1024;
  const chunks: Uint8Array[] = [];
  let total = 0, member = 0, ended = false;
  const stream = new Gunzip((chunk, final) => {
    ended = final;
    total += chunk.byteLength;
    member += chunk.byteLength;
    if (total > limit) fail(`${bytes.byteLength} bytes inflate to more than deflate can produce`);
    chunks.push(chunk);
  });
  stream.onmember = () => { member = 0; }; // the trailer holds the size of the last member
  try {
    for (let p = 0; p < bytes.byteLength; p += GUNZIP_SLICE) stream.push(bytes.subarray(p, p + GUNZIP_SLICE), p + GUNZIP_SLICE >= bytes.byteLength);
  } catch (e) {
    if (e instanceof DataError) throw e;
    fail((e as Error).message);
  }
  if (!ended || member % 2 ** 32 !== declared) fail(`it holds ${member} bytes, its trailer says ${declared}: truncated or damaged`);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

/** Parses an IDX file's bytes (gzip'd or not). `source` (a file name) starts every error message. */
export function parseIdx(raw: Uint8Array, source = 'IDX data'): IdxArray {
  const fail = (problem: string): never => { throw new DataError(`${source}: ${problem}`); };
  const bytes = gunzipIfNeeded(raw, source);
  if (bytes.byteLength < 4) fail(`truncated: ${bytes.byteLength} bytes, an IDX header needs at least 4`);
  const type = IDX_TYPES[bytes[2]!];
  const rank = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type || rank === 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(`bad magic ${magic}: not an IDX file (expected 00 00, a type code 08/09/0b/0c/0d/0e, and the number of dimensions)`);
  }
  const { dataType, bytes: width, name } = type!;
  const headerLength = 4 + 4 * rank;
  if (bytes.byteLength < headerLength) fail(`truncated: ${bytes.byteLength} bytes, the header of ${rank} dimensions needs ${headerLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = count * width;
  const actual = bytes.byteLength - headerLength;
  const described = `${dims.join('x')} ${name} values`;
  if (!Number.isSafeInteger(expected)) fail(`${described} are too many to hold in memory`);
  if (actual < expected) fail(`truncated: ${described} need ${expected} data bytes, the file has ${actual}`);
  if (actual > expected) fail(`${actual - expected} unexpected bytes after the ${expected} data bytes of ${described}`);
  const body = bytes.subarray(headerLength);
  let data: IdxData;
  switch (dataType) {
    case DataType.UINT8: data = body; break;
    case DataType.INT8: data = new Int8Array(body.buffer, body.byteOffset, count); break;
    case DataType.INT16: data = new Int16Array(count); for (let i = 0; i < count; i++) data[i] = view.getInt16(headerLength + 2 * i, false); break;
    case DataType.INT32: data = new Int32Array(count); for (let i = 0; i < count; i++) data[i] = view.getInt32(headerLength + 4 * i, false); break;
    case DataType.FLOAT: data = new Float32Array(count); for (let i = 0; i < count; i++) data[i] = view.getFloat32(headerLength + 4 * i, false); break;
    default: data = new Float64Array(count); for (let i = 0; i < count; i++) data[i] = view.getFloat64(headerLength + 8 * i, false); break;
  }
  return { dataType, dims, data };
}

export interface IdxDatasetOptions {
  /** Names for error messages (file paths). */
  imagesSource?: string;
  labelsSource?: string;
  /** Number of classes (default: the largest label + 1). */
  classes?: number;
  /** Multiplies every value; default 1/255 for ubyte images (pixels to [0, 1]), 1 otherwise. */
  scale?: number;
}

/**
 * A data set from an IDX images file [N, H, W] (samples become [1, H, W]; other ranks keep their shape) and an IDX
 * labels file [N] of class indices. All inputs land in one Float32Array.
 */
export function idxDataset(imageBytes: Uint8Array, labelBytes: Uint8Array, options: IdxDatasetOptions = {}): TensorDataset {
  const imagesSource = options.imagesSource ?? 'IDX images';
  const labelsSource = options.labelsSource ?? 'IDX labels';
  const images = parseIdx(imageBytes, imagesSource);
  const labels = parseIdx(labelBytes, labelsSource);
  if (images.dims.length < 2) throw new DataError(`${imagesSource}: images need at least 2 dimensions (count and size), got [${images.dims.join(',')}]`);
  if (labels.dims.length !== 1) throw new DataError(`${labelsSource}: labels must have 1 dimension, got [${labels.dims.join(',')}]`);
  if (labels.dataType === DataType.FLOAT || labels.dataType === DataType.DOUBLE) throw new DataError(`${labelsSource}: labels must be integers, not floats`);
  const [count, ...rest] = images.dims as [number, ...number[]];
  if (labels.dims[0] !== count) throw new DataError(`${labelsSource}: ${labels.dims[0]} labels for ${count} images in ${imagesSource}`);
  const scale = options.scale ?? (images.dataType === DataType.UINT8 ? 1 / 255 : 1);
  const inputs = new Float32Array(images.data.length);
  if (images.data instanceof Uint8Array) {
    // A 256-entry table: one load per pixel instead of a conversion and a multiply.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = v * scale;
    const src = images.data;
    for (let i = 0; i < inputs.length; i++) inputs[i] = table[src[i]!]!;
  } else {
    const src = images.data;
    for (let i = 0; i < inputs.length; i++) inputs[i] = src[i]! * scale;
  }
  const classLabels = labels.data instanceof Int32Array ? labels.data : Int32Array.from(labels.data);
  checkLabelRange(classLabels, options.classes ?? 0x7fffffff, labelsSource);
  return new TensorDataset({ inputs, sampleShape: rest.length === 2 ? [1, ...rest] : rest, labels: classLabels, classes: options.classes, source: imagesSource });
}
