// One tensor's bytes <-> one .nnz payload: the encoder tries every coding (raw, deflate, palette, sparse) and keeps
// the smallest; the decoder checks every declared size against what the payload can hold before allocating.
import { Inflate, deflateSync } from 'fflate';
import { DataType, bitsPerElement, dataTypeName } from '../../core/dtype.js';
import { NnzFormatError } from './errors.js';
import {
  PalettePlan, SparsePlan, UnitWidth, allocateUnits, bytesOfUnits, decodePalette, decodeSparse, encodePalette, encodeSparse,
  planPalette, planSparse, unitStats, unitsView,
} from './sparse.js';

/** Payload codings, as numbered in the file. */
export enum NnzEncoding {
  RAW = 0,
  DEFLATE = 1,
  PALETTE = 2,
  SPARSE = 3,
}

export type NnzEncodingName = 'raw' | 'deflate' | 'palette' | 'sparse';

export const ENCODING_NAMES: Record<NnzEncoding, NnzEncodingName> = {
  [NnzEncoding.RAW]: 'raw', [NnzEncoding.DEFLATE]: 'deflate', [NnzEncoding.PALETTE]: 'palette', [NnzEncoding.SPARSE]: 'sparse',
};

/** The unit a tensor's bytes are coded in: its element size, capped at 4 bytes; packed sub-byte types by the byte. */
export function unitWidthOf(dataType: DataType): UnitWidth {
  const bits = bitsPerElement(dataType);
  if (bits <= 8) return 1;
  if (bits === 16) return 2;
  return 4;
}

export interface TensorEncodeOptions {
  /** Try deflate (fflate) on what the other codings cannot shrink; default true. */
  deflate?: boolean;
  /**
   * Keep deflate only when it saves at least this fraction of the raw bytes (default 0.2): inflating runs near
   * 100 MB/s against 1 GB/s and more for the other codings, and dense float32 weights deflate by 7% at best.
   */
  minDeflateSaving?: number;
}

export interface EncodedTensorData {
  encoding: NnzEncoding;
  payload: Uint8Array;
  /** Sparse codings: gap width, entries (fillers included), fillers, value coding; palette codings: its size. */
  detail: {
    unitBytes: UnitWidth;
    /** Fraction of units that differ from the background value (the non-zeros, for zero background). */
    density?: number;
    gapBits?: number;
    entries?: number;
    fillers?: number;
    values?: 'raw' | 'palette';
    paletteSize?: number;
  };
}

// Deflate is tried on a sample first for big tensors: fp32 weights rarely deflate, and deflating 100 MB takes seconds.
const DEFLATE_SAMPLE = 256 * 1024;

export function encodeTensorData(bytes: Uint8Array, dataType: DataType, options: TensorEncodeOptions = {}): EncodedTensorData {
  const width = unitWidthOf(dataType);
  const units = unitsView(bytes, width);
  const stats = unitStats(units);
  const density = stats.count ? 1 - stats.backgroundCount / stats.count : 0;
  let best: EncodedTensorData = { encoding: NnzEncoding.RAW, payload: bytes, detail: { unitBytes: width } };
  const plans: (PalettePlan | SparsePlan)[] = [];
  const palette = planPalette(stats, width);
  if (palette) plans.push(palette);
  const sparse = planSparse(units, stats, width);
  if (sparse) plans.push(sparse);
  plans.sort((a, b) => a.bytes - b.bytes);
  const plan = plans[0];
  if (plan && plan.bytes < bytes.byteLength) {
    best = plan.kind === 'palette'
      ? { encoding: NnzEncoding.PALETTE, payload: encodePalette(units, stats, plan, width), detail: { unitBytes: width, density, paletteSize: stats.palette!.length } }
      : {
        encoding: NnzEncoding.SPARSE, payload: encodeSparse(units, stats, plan, width),
        detail: { unitBytes: width, density, gapBits: plan.gapBits, entries: plan.entries, fillers: plan.fillers, values: plan.values, ...(plan.values === 'palette' ? { paletteSize: stats.palette!.length } : {}) },
      };
    if (best.payload.byteLength !== plan.bytes) throw new Error(`internal: ${plan.kind} coding planned ${plan.bytes} bytes, wrote ${best.payload.byteLength}`);
  }
  if (options.deflate !== false && bytes.byteLength >= 64) {
    const keep = 1 - (options.minDeflateSaving ?? 0.2);
    const sample = bytes.byteLength > 4 * DEFLATE_SAMPLE ? bytes.subarray(0, DEFLATE_SAMPLE) : undefined;
    // Worth a full deflate only if the sample beats both the saving asked for and the best coding so far.
    const target = Math.min(keep, best.payload.byteLength / bytes.byteLength);
    const promising = !sample || deflateSync(sample).byteLength < sample.byteLength * target;
    if (promising) {
      const deflated = deflateSync(bytes);
      if (deflated.byteLength < best.payload.byteLength && deflated.byteLength < bytes.byteLength * keep) {
        best = { encoding: NnzEncoding.DEFLATE, payload: deflated, detail: { unitBytes: width, density } };
      }
    }
  }
  return best;
}

/** DEFLATE never expands data more than this (258-byte matches in under 2 bits each), plus slack for headers. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Decodes a payload into a fresh buffer of exactly `byteLength` bytes (aligned for any element type).
 * Every size the payload declares is checked against the bytes it has, so hostile input fails fast.
 */
export function decodeTensorData(encoding: number, payload: Uint8Array, dataType: DataType, byteLength: number, what: string): Uint8Array {
  const width = unitWidthOf(dataType);
  if (byteLength % width !== 0) throw new NnzFormatError(`${what}: ${byteLength} bytes of ${dataTypeName(dataType)} are not whole units`);
  switch (encoding) {
    case NnzEncoding.RAW: {
      if (payload.byteLength !== byteLength) throw new NnzFormatError(`${what}: raw data has ${payload.byteLength} bytes, the tensor needs ${byteLength}`);
      return new Uint8Array(payload); // a fresh, aligned copy (slice() of a Node Buffer would be a view)
    }
    case NnzEncoding.DEFLATE:
      return inflateExactly(payload, byteLength, what);
    case NnzEncoding.PALETTE: {
      const count = byteLength / width;
      if (count > payload.byteLength * 8) throw new NnzFormatError(`${what}: ${count} coded values cannot fit in ${payload.byteLength} bytes`);
      const out = allocateUnits(width, count);
      decodePalette(payload, out, width, what);
      return bytesOfUnits(out);
    }
    case NnzEncoding.SPARSE: {
      const out = allocateUnits(width, byteLength / width);
      decodeSparse(payload, out, width, what);
      return bytesOfUnits(out);
    }
    default:
      throw new NnzFormatError(`${what}: unknown encoding ${encoding}`);
  }
}

// Input is fed in slices and the output total checked after each, so a stream that holds more than it should is
// stopped within one slice: slices of byteLength / MAX_DEFLATE_RATIO (at least 16 KiB, at most 1 MiB) produce at
// most about max(byteLength, 16 MiB) bytes each.
const MIN_INFLATE_SLICE = 16 * 1024;
const MAX_INFLATE_SLICE = 1024 * 1024;

/** Inflates a DEFLATE stream that must produce exactly `byteLength` bytes; stops as soon as it produces more. */
export function inflateExactly(payload: Uint8Array, byteLength: number, what: string): Uint8Array {
  if (byteLength > payload.byteLength * MAX_DEFLATE_RATIO + 64) {
    throw new NnzFormatError(`${what}: ${payload.byteLength} deflated bytes cannot hold ${byteLength} bytes`);
  }
  const out = new Uint8Array(byteLength);
  let produced = 0, ended = false;
  const stream = new Inflate((chunk, final) => {
    if (produced + chunk.byteLength > byteLength) throw new NnzFormatError(`${what}: deflated data holds more than the tensor's ${byteLength} bytes`);
    out.set(chunk, produced);
    produced += chunk.byteLength;
    if (final) ended = true;
  });
  try {
    const slice = Math.min(MAX_INFLATE_SLICE, Math.max(MIN_INFLATE_SLICE, Math.ceil(byteLength / MAX_DEFLATE_RATIO)));
    for (let p = 0; p < payload.byteLength; p += slice) {
      const end = Math.min(p + slice, payload.byteLength);
      stream.push(payload.subarray(p, end), end === payload.byteLength);
    }
    if (payload.byteLength === 0) stream.push(payload, true);
  } catch (e) {
    if (e instanceof NnzFormatError) throw e;
    throw new NnzFormatError(`${what}: corrupt deflated data (${(e as Error).message})`);
  }
  if (!ended || produced !== byteLength) throw new NnzFormatError(`${what}: deflated data holds ${produced} bytes, the tensor needs ${byteLength}`);
  return out;
}
