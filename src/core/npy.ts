// NumPy .npy bytes (format versions 1.0, 2.0 and 3.0, little-endian, C order) <-> IR tensors. Isomorphic: the
// file side is in src/node/npy.ts.
import { DataType, type NumericArray, byteLength, bytesOf, dataTypeName, viewBytesAs } from './dtype.js';
import { NnzipError } from './errors.js';
import { Tensor } from './tensor.js';

/** The bytes are not an .npy file nnzip can read. */
export class NpyFormatError extends NnzipError {
  constructor(message: string) {
    super(message);
    this.name = 'NpyFormatError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
// numpy leaves room after the header so the first axis can grow in place; matching it gives numpy's exact bytes.
const GROWTH_AXIS_MAX_DIGITS = 21;

/** NumPy type strings nnzip reads, without the byte-order character. */
const DESCR_TYPES: Record<string, DataType> = {
  f4: DataType.FLOAT, f8: DataType.DOUBLE, f2: DataType.FLOAT16,
  i8: DataType.INT64, i4: DataType.INT32, i2: DataType.INT16, i1: DataType.INT8,
  u8: DataType.UINT64, u4: DataType.UINT32, u2: DataType.UINT16, u1: DataType.UINT8,
  b1: DataType.BOOL,
};

function descrOf(dataType: DataType): string | undefined {
  for (const [code, t] of Object.entries(DESCR_TYPES)) if (t === dataType) return (code.endsWith('1') ? '|' : '<') + code;
  return undefined;
}

interface NpyHeader {
  descr: unknown;
  fortran_order: unknown;
  shape: unknown;
}

/** Parses an .npy file's bytes. `source` (a file name) starts every error message. */
export function parseNpy(bytes: Uint8Array, name = 'npy', source = 'npy data'): Tensor {
  const fail = (problem: string): never => { throw new NpyFormatError(`${source}: ${problem}`); };
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not an .npy file (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) fail(`unsupported .npy format version ${major}.${minor}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.byteLength < prefix) fail(`truncated: ${bytes.byteLength} bytes, no room for the header length`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = prefix + headerLength;
  if (dataStart > bytes.byteLength) fail(`truncated: header says ${headerLength} header bytes, the file has ${bytes.byteLength - prefix} after the prefix`);
  let headerText: string;
  try {
    headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(prefix, dataStart));
  } catch {
    return fail('header is not valid UTF-8');
  }
  const header = parseHeaderDict(headerText, fail) as Partial<NpyHeader>;
  for (const key of ['descr', 'fortran_order', 'shape'] as const) if (!(key in header)) fail(`header has no '${key}'`);
  const { descr, fortran_order: fortranOrder, shape } = header as NpyHeader;
  if (typeof descr !== 'string') return fail('structured (record) dtypes are not supported; save a plain numeric array');
  if (typeof fortranOrder !== 'boolean') fail(`header 'fortran_order' is ${String(fortranOrder)}, not True or False`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    fail(`header 'shape' is not a tuple of non-negative integers`);
  }
  const dims = shape as number[];
  const dataType = dataTypeOfDescr(descr, fail);
  const count = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) fail(`shape (${dims.join(', ')}) has too many elements`);
  if (fortranOrder && dims.filter((d) => d > 1).length > 1) {
    fail('Fortran-order arrays are not supported; save np.ascontiguousarray(a) instead');
  }
  const expected = byteLength(dataType, count);
  const actual = bytes.byteLength - dataStart;
  if (actual < expected) fail(`truncated: ${descr}(${dims.join(', ')}) needs ${expected} data bytes, the file has ${actual}`);
  if (actual > expected) fail(`${actual - expected} unexpected bytes after the ${expected} data bytes of ${descr}(${dims.join(', ')})`);
  const data = bytes.subarray(dataStart, dataStart + expected);
  return new Tensor(name, dataType, dims, viewBytesAs(dataType, data));
}

function dataTypeOfDescr(descr: string, fail: (p: string) => never): DataType {
  const order = descr[0] ?? '';
  const code = descr.slice(1);
  const dataType = Object.hasOwn(DESCR_TYPES, code) ? DESCR_TYPES[code] : undefined; // not 'constructor' and the like
  const oneByte = code.endsWith('1');
  if (dataType !== undefined && (oneByte || order === '<' || order === '=' || order === '|')) return dataType;
  if (dataType !== undefined && order === '>') return fail(`big-endian dtype '${descr}' is not supported; save a.astype('<${code}') instead`);
  return fail(`dtype '${descr}' is not supported (supported: ${Object.keys(DESCR_TYPES).join(', ')}, little-endian)`);
}

/**
 * Reads the Python literal numpy writes as the header: a dict of string keys to strings, booleans, integers and
 * tuples. Nothing is evaluated; anything else is refused.
 */
function parseHeaderDict(text: string, fail: (p: string) => never): Record<string, unknown> {
  let pos = 0;
  const skip = () => { while (pos < text.length && /\s/.test(text[pos]!)) pos++; };
  const expect = (c: string) => {
    skip();
    if (text[pos] !== c) fail(`malformed header: expected '${c}' at character ${pos} of ${JSON.stringify(text.trim())}`);
    pos++;
  };
  const value = (depth: number): unknown => {
    skip();
    const c = text[pos];
    if (depth > 8) return fail('malformed header: nested too deep');
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, pos + 1);
      if (end < 0) return fail('malformed header: unterminated string');
      const s = text.slice(pos + 1, end);
      pos = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      pos++;
      const items: unknown[] = [];
      skip();
      while (text[pos] !== close) {
        items.push(value(depth + 1));
        skip();
        if (text[pos] === ',') { pos++; skip(); } else if (text[pos] !== close) return fail(`malformed header: expected ',' or '${close}' at character ${pos}`);
      }
      pos++;
      return items;
    }
    const word = /^(True|False|None|-?\d+L?)/.exec(text.slice(pos));
    if (!word) return fail(`malformed header: unexpected ${c === undefined ? 'end' : `'${c}'`} at character ${pos}`);
    pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', ''));
  };
  const dict: Record<string, unknown> = {};
  expect('{');
  skip();
  while (text[pos] !== '}') {
    const key = value(1);
    if (typeof key !== 'string') fail('malformed header: dict keys must be strings');
    expect(':');
    dict[key as string] = value(1);
    skip();
    if (text[pos] === ',') { pos++; skip(); } else if (text[pos] !== '}') fail(`malformed header: expected ',' or '}' at character ${pos}`);
  }
  pos++;
  skip();
  if (pos !== text.length) fail(`malformed header: unexpected text after the dict at character ${pos}`);
  return dict;
}

/** Encodes a numeric tensor as .npy bytes, byte for byte as numpy.save writes it (version 1.0 unless the header needs 2.0). */
export function encodeNpy(tensor: Tensor): Uint8Array {
  const descr = tensor.isString ? undefined : descrOf(tensor.dataType);
  if (!descr) throw new NpyFormatError(`tensor '${tensor.name}': ${dataTypeName(tensor.dataType)} has no .npy dtype nnzip writes`);
  const dims = tensor.dims;
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  if (dims.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(dims[0]).length));
  const headerBytes = new TextEncoder().encode(header);
  let major = 1;
  let prefix = 10;
  let padded = paddedLength(prefix, headerBytes.byteLength);
  if (padded > 0xffff) {
    major = 2;
    prefix = 12;
    padded = paddedLength(prefix, headerBytes.byteLength);
  }
  const data = bytesOf(tensor.numeric() as NumericArray);
  const out = new Uint8Array(prefix + padded + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  out.set(headerBytes, prefix);
  out.fill(0x20, prefix + headerBytes.byteLength, prefix + padded - 1);
  out[prefix + padded - 1] = 0x0a;
  out.set(data, prefix + padded);
  return out;
}

// Header text plus spaces and a final newline, so that the data starts on a 64-byte boundary (as numpy pads it).
function paddedLength(prefix: number, headerLength: number): number {
  const withNewline = headerLength + 1;
  return withNewline + (ALIGN - ((prefix + withNewline) % ALIGN));
}

