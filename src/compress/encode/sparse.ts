// Sparse and palette coding of a tensor's elements (Deep Compression's relative indices and coded values).
// A tensor is seen as a run of units of 1, 2 or 4 bytes (its elements; wider elements as several units), so every
// coding here is lossless on any bytes. Two codings:
// - palette: the distinct unit values (at most MAX_PALETTE) are a table and every unit is a Huffman-coded index into it.
// - sparse: the most frequent value (the background, usually zero) is left out; every other unit is an entry
//   (gap, value), gap = background units skipped since the previous entry, Huffman-coded over an alphabet of
//   2^gapBits symbols. A gap that does not fit becomes filler entries (gap 2^gapBits - 1, value = background), the
//   paper's filler zeros. Values are raw units, or Huffman-coded palette indices (cluster indices). gapBits is
//   chosen per tensor to minimize the bytes.
import { ByteReader, ByteWriter } from './bytes.js';
import { NnzFormatError } from './errors.js';
import {
  BitWriter, DecodeTable, HuffmanEncoder, buildDecodeTable, codeLengthsBytes, codedBits, huffmanCodeLengths,
  readCodeLengths, varintBytes, writeCodeLengths,
} from './huffman.js';

export type Units = Uint8Array | Uint16Array | Uint32Array;
export type UnitWidth = 1 | 2 | 4;

/** Most distinct values a palette holds. */
export const MAX_PALETTE = 4096;
/** Gap alphabets of 2^1 to 2^MAX_GAP_BITS symbols. */
export const MAX_GAP_BITS = 12;

const VALUES_RAW = 0;
const VALUES_PALETTE = 1;

/** The bytes as units of `width` bytes: a view when aligned, else a copy. */
export function unitsView(bytes: Uint8Array, width: UnitWidth): Units {
  if (width === 1) return bytes;
  const count = bytes.byteLength / width;
  if (!Number.isInteger(count)) throw new RangeError(`${bytes.byteLength} bytes are not whole ${width}-byte units`);
  // new Uint8Array(view) copies whatever the view's class (a Node Buffer's slice() would not).
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes);
  return width === 2 ? new Uint16Array(aligned.buffer, aligned.byteOffset, count) : new Uint32Array(aligned.buffer, aligned.byteOffset, count);
}

export function allocateUnits(width: UnitWidth, count: number): Units {
  return width === 1 ? new Uint8Array(count) : width === 2 ? new Uint16Array(count) : new Uint32Array(count);
}

export function bytesOfUnits(u: Units): Uint8Array {
  return new Uint8Array(u.buffer, u.byteOffset, u.byteLength);
}

/** What the encoder needs to know about a tensor's units. */
export interface UnitStats {
  count: number;
  /** Distinct values in increasing order, when there are at most MAX_PALETTE of them. */
  palette?: Uint32Array;
  paletteCounts?: Float64Array;
  /** The most frequent value (zero when there are too many values to tell). */
  background: number;
  backgroundCount: number;
}

export function unitStats(units: Units): UnitStats {
  const n = units.length;
  // A histogram for bytes, and for 16-bit units when there are enough of them to pay for its 65536 bins.
  if (units instanceof Uint8Array || (units instanceof Uint16Array && n >= 16384)) {
    const hist = new Float64Array(units instanceof Uint8Array ? 256 : 65536);
    for (let i = 0; i < n; i++) hist[units[i]!]!++;
    let background = 0, distinct = 0;
    for (let v = 0; v < hist.length; v++) {
      if (!hist[v]) continue;
      distinct++;
      if (hist[v]! > hist[background]!) background = v;
    }
    const stats: UnitStats = { count: n, background, backgroundCount: hist[background]! };
    if (distinct <= MAX_PALETTE) {
      stats.palette = new Uint32Array(distinct);
      stats.paletteCounts = new Float64Array(distinct);
      for (let v = 0, k = 0; v < hist.length; v++) {
        if (!hist[v]) continue;
        stats.palette[k] = v;
        stats.paletteCounts[k++] = hist[v]!;
      }
    }
    return stats;
  }
  // Otherwise count zeros always, other values until there are too many of them for a palette.
  const counts = new Map<number, number>();
  let zeros = 0, overflow = false;
  for (let i = 0; i < n; i++) {
    const v = units[i]!;
    if (v === 0) { zeros++; continue; }
    if (overflow) continue;
    const c = counts.get(v);
    if (c !== undefined) counts.set(v, c + 1);
    else if (counts.size >= MAX_PALETTE) overflow = true;
    else counts.set(v, 1);
  }
  if (zeros) counts.set(0, zeros);
  if (overflow || counts.size > MAX_PALETTE) return { count: n, background: 0, backgroundCount: zeros };
  const palette = Uint32Array.from(counts.keys()).sort();
  const paletteCounts = Float64Array.from(palette, (v) => counts.get(v)!);
  let best = 0;
  for (let k = 1; k < palette.length; k++) if (paletteCounts[k]! > paletteCounts[best]!) best = k;
  return { count: n, palette, paletteCounts, background: palette.length ? palette[best]! : 0, backgroundCount: palette.length ? paletteCounts[best]! : 0 };
}

/** Maps a unit value to its palette index. */
function paletteIndexer(palette: Uint32Array, width: UnitWidth): (v: number) => number {
  if (width !== 4) {
    const table = new Int32Array(width === 1 ? 256 : 65536).fill(-1);
    palette.forEach((v, k) => { table[v] = k; });
    return (v) => table[v]!;
  }
  const map = new Map<number, number>();
  palette.forEach((v, k) => map.set(v, k));
  return (v) => map.get(v)!;
}

// ---------------------------------------------------------------------------------------------------------------
// Palette (dense): every unit a Huffman-coded palette index.

export interface PalettePlan {
  kind: 'palette';
  bytes: number;
  lengths: Uint8Array;
}

export function planPalette(stats: UnitStats, width: UnitWidth): PalettePlan | undefined {
  if (!stats.palette || !stats.paletteCounts || stats.count === 0) return undefined;
  const lengths = huffmanCodeLengths(stats.paletteCounts);
  const K = stats.palette.length;
  const bytes = varintBytes(K) + K * width + codeLengthsBytes(lengths) + Math.ceil(codedBits(stats.paletteCounts, lengths) / 8);
  return { kind: 'palette', bytes, lengths };
}

export function encodePalette(units: Units, stats: UnitStats, plan: PalettePlan, width: UnitWidth): Uint8Array {
  const palette = stats.palette!;
  const w = new ByteWriter(plan.bytes + 16);
  w.varint(palette.length);
  writeUnits(w, palette, width);
  writeCodeLengths(w, plan.lengths);
  const enc = new HuffmanEncoder(plan.lengths);
  const index = paletteIndexer(palette, width);
  const bits = new BitWriter(plan.bytes);
  for (let i = 0; i < units.length; i++) enc.write(bits, index(units[i]!));
  w.bytes(bits.finish());
  return w.finish();
}

export function decodePalette(payload: Uint8Array, out: Units, width: UnitWidth, what: string): void {
  const r = new ByteReader(payload, 0, payload.byteLength, what);
  const K = r.varint('palette size', MAX_PALETTE);
  const palette = readUnits(r, K, width, 'palette');
  const table = buildDecodeTable(readCodeLengths(r, K, 'palette code lengths'), `${what}: palette code`);
  const n = out.length;
  if (n > r.remaining * 8) throw new NnzFormatError(`${what}: ${n} coded values cannot fit in ${r.remaining} bytes`);
  decodeIndexed(payload, r.pos, payload.byteLength, table, palette, out, what);
}

function decodeIndexed(data: Uint8Array, start: number, end: number, t: DecodeTable, palette: Units, out: Units, what: string): void {
  const table = t.table, mask = t.mask, n = out.length;
  let acc = 0, bits = 0, p = start;
  for (let i = 0; i < n; i++) {
    if (bits < 15) {
      do { acc |= (p < end ? data[p]! : 0) << bits; p++; bits += 8; } while (bits <= 23);
    }
    const e = table[acc & mask]!;
    const len = e & 15;
    if (len === 0) throw new NnzFormatError(`${what}: bits that start no code at element ${i}`);
    acc >>>= len;
    bits -= len;
    out[i] = palette[e >>> 4]!;
  }
  if ((p - start) * 8 - bits > (end - start) * 8) throw new NnzFormatError(`${what}: coded values run past the end of the data`);
}

// ---------------------------------------------------------------------------------------------------------------
// Sparse: relative indices.

export interface SparsePlan {
  kind: 'sparse';
  bytes: number;
  gapBits: number;
  values: 'raw' | 'palette';
  background: number;
  /** Entries, fillers included. */
  entries: number;
  fillers: number;
  gapLengths: Uint8Array;
  valueLengths?: Uint8Array;
}

/**
 * The cheapest sparse coding over gap widths (default 1..MAX_GAP_BITS) and both value codings, with its exact size.
 * Undefined when the background is too rare for a sparse coding to pay (under 1/8 of the units), unless `gapWidths` is given.
 */
export function planSparse(units: Units, stats: UnitStats, width: UnitWidth, gapWidths?: readonly number[]): SparsePlan | undefined {
  const n = units.length;
  // With fewer background units than this, a dense coding is always smaller; skip the scan.
  if (n === 0 || (!gapWidths && stats.backgroundCount * 8 < n)) return undefined;
  const bg = stats.background;
  const smallLimit = 1 << MAX_GAP_BITS;
  const small = new Float64Array(smallLimit);
  const big: number[] = [];
  let last = -1, nonzero = 0;
  for (let i = 0; i < n; i++) {
    if (units[i] === bg) continue;
    const g = i - last - 1;
    if (g < smallLimit) small[g]!++;
    else big.push(g);
    last = i;
    nonzero++;
  }
  let valueCounts: Float64Array | undefined, bgSymbol = -1;
  if (stats.palette && stats.paletteCounts) {
    valueCounts = stats.paletteCounts.slice();
    bgSymbol = stats.palette.indexOf(bg);
    valueCounts[bgSymbol] = 0;
  }
  let best: SparsePlan | undefined;
  for (const b of gapWidths ?? Array.from({ length: MAX_GAP_BITS }, (_, i) => i + 1)) {
    if (!Number.isInteger(b) || b < 1 || b > MAX_GAP_BITS) throw new RangeError(`gap width ${b} is not in 1..${MAX_GAP_BITS}`);
    const step = 1 << b;
    const gapCounts = new Float64Array(step);
    let fillers = 0;
    for (let g = 0; g < smallLimit; g++) {
      const c = small[g]!;
      if (!c) continue;
      fillers += Math.floor(g / step) * c;
      gapCounts[g % step]! += c;
    }
    for (const g of big) {
      fillers += Math.floor(g / step);
      gapCounts[g % step]!++;
    }
    gapCounts[step - 1]! += fillers;
    const entries = nonzero + fillers;
    const gapLengths = huffmanCodeLengths(gapCounts);
    const gapBits = codedBits(gapCounts, gapLengths);
    const fixed = 2 + width + varintBytes(entries) + codeLengthsBytes(gapLengths);
    const raw = fixed + entries * width + Math.ceil(gapBits / 8);
    if (!best || raw < best.bytes) {
      best = { kind: 'sparse', bytes: raw, gapBits: b, values: 'raw', background: bg, entries, fillers, gapLengths };
    }
    if (valueCounts) {
      const counts = valueCounts.slice();
      counts[bgSymbol]! += fillers;
      const valueLengths = huffmanCodeLengths(counts);
      const K = stats.palette!.length;
      const coded = fixed + varintBytes(K) + K * width + codeLengthsBytes(valueLengths) + Math.ceil((gapBits + codedBits(counts, valueLengths)) / 8);
      if (coded < best.bytes) {
        best = { kind: 'sparse', bytes: coded, gapBits: b, values: 'palette', background: bg, entries, fillers, gapLengths, valueLengths };
      }
    }
  }
  return best;
}

/**
 * Payload: gapBits (u8), value coding (u8: 0 raw, 1 palette), background (one unit), entry count (varint),
 * [palette size (varint), palette units], gap code lengths, [value code lengths], [raw values: one unit per entry],
 * then the bit stream to the end: per entry its gap code, then (palette coding) its value code.
 */
export function encodeSparse(units: Units, stats: UnitStats, plan: SparsePlan, width: UnitWidth): Uint8Array {
  const { gapBits, background: bg } = plan;
  const step = 1 << gapBits;
  const maxGap = step - 1;
  const coded = plan.values === 'palette';
  const w = new ByteWriter(plan.bytes + 16);
  w.u8(gapBits).u8(coded ? VALUES_PALETTE : VALUES_RAW);
  writeUnits(w, Uint32Array.of(bg), width);
  w.varint(plan.entries);
  const gapCode = new HuffmanEncoder(plan.gapLengths);
  const bits = new BitWriter(plan.bytes);
  if (coded) {
    const palette = stats.palette!;
    w.varint(palette.length);
    writeUnits(w, palette, width);
    writeCodeLengths(w, plan.gapLengths);
    writeCodeLengths(w, plan.valueLengths!);
    const valueCode = new HuffmanEncoder(plan.valueLengths!);
    const index = paletteIndexer(palette, width);
    const bgIndex = index(bg);
    let last = -1;
    for (let i = 0; i < units.length; i++) {
      const v = units[i]!;
      if (v === bg) continue;
      let g = i - last - 1;
      for (; g > maxGap; g -= step) {
        gapCode.write(bits, maxGap);
        valueCode.write(bits, bgIndex);
      }
      gapCode.write(bits, g);
      valueCode.write(bits, index(v));
      last = i;
    }
  } else {
    writeCodeLengths(w, plan.gapLengths);
    const values = new Uint32Array(plan.entries);
    let last = -1, e = 0;
    for (let i = 0; i < units.length; i++) {
      const v = units[i]!;
      if (v === bg) continue;
      let g = i - last - 1;
      for (; g > maxGap; g -= step) {
        gapCode.write(bits, maxGap);
        values[e++] = bg;
      }
      gapCode.write(bits, g);
      values[e++] = v;
      last = i;
    }
    writeUnits(w, values, width);
  }
  w.bytes(bits.finish());
  return w.finish();
}

export function decodeSparse(payload: Uint8Array, out: Units, width: UnitWidth, what: string): void {
  const r = new ByteReader(payload, 0, payload.byteLength, what);
  const gapBits = r.u8('gap bits');
  if (gapBits < 1 || gapBits > MAX_GAP_BITS) throw new NnzFormatError(`${what}: gap bits ${gapBits} is not in 1..${MAX_GAP_BITS}`);
  const mode = r.u8('value coding');
  if (mode !== VALUES_RAW && mode !== VALUES_PALETTE) throw new NnzFormatError(`${what}: unknown value coding ${mode}`);
  const bg = readUnits(r, 1, width, 'background value')[0]!;
  const n = out.length;
  const entries = r.varint('entry count', n);
  let palette: Units | undefined, valueTable: DecodeTable | undefined, values: Units | undefined;
  if (mode === VALUES_PALETTE) {
    const K = r.varint('palette size', MAX_PALETTE);
    palette = readUnits(r, K, width, 'palette');
    const gapTable = buildDecodeTable(readCodeLengths(r, 1 << gapBits, 'gap code lengths'), `${what}: gap code`);
    valueTable = buildDecodeTable(readCodeLengths(r, K, 'value code lengths'), `${what}: value code`);
    if (entries * 2 > r.remaining * 8) throw new NnzFormatError(`${what}: ${entries} entries cannot fit in ${r.remaining} bytes`);
    if (bg !== 0) out.fill(bg);
    decodeGapsAndCodes(payload, r.pos, payload.byteLength, entries, gapTable, valueTable, palette, out, what);
  } else {
    const gapTable = buildDecodeTable(readCodeLengths(r, 1 << gapBits, 'gap code lengths'), `${what}: gap code`);
    values = readUnits(r, entries, width, 'values');
    if (entries > r.remaining * 8) throw new NnzFormatError(`${what}: ${entries} gaps cannot fit in ${r.remaining} bytes`);
    if (bg !== 0) out.fill(bg);
    decodeGapsWithValues(payload, r.pos, payload.byteLength, entries, gapTable, values, out, what);
  }
}

function gapOverrun(what: string, entry: number, pos: number, n: number): NnzFormatError {
  return new NnzFormatError(`${what}: index gaps run past the tensor (entry ${entry} at element ${pos} of ${n})`);
}

function decodeGapsAndCodes(data: Uint8Array, start: number, end: number, entries: number, gaps: DecodeTable, codes: DecodeTable,
  palette: Units, out: Units, what: string): void {
  const gt = gaps.table, gm = gaps.mask, vt = codes.table, vm = codes.mask, n = out.length;
  let acc = 0, bits = 0, p = start, pos = -1;
  for (let i = 0; i < entries; i++) {
    if (bits < 15) {
      do { acc |= (p < end ? data[p]! : 0) << bits; p++; bits += 8; } while (bits <= 23);
    }
    let e = gt[acc & gm]!;
    let len = e & 15;
    if (len === 0) throw new NnzFormatError(`${what}: bits that start no gap code at entry ${i}`);
    acc >>>= len;
    bits -= len;
    pos += (e >>> 4) + 1;
    if (bits < 15) {
      do { acc |= (p < end ? data[p]! : 0) << bits; p++; bits += 8; } while (bits <= 23);
    }
    e = vt[acc & vm]!;
    len = e & 15;
    if (len === 0) throw new NnzFormatError(`${what}: bits that start no value code at entry ${i}`);
    acc >>>= len;
    bits -= len;
    if (pos >= n) throw gapOverrun(what, i, pos, n);
    out[pos] = palette[e >>> 4]!;
  }
  if ((p - start) * 8 - bits > (end - start) * 8) throw new NnzFormatError(`${what}: coded entries run past the end of the data`);
}

function decodeGapsWithValues(data: Uint8Array, start: number, end: number, entries: number, gaps: DecodeTable, values: Units,
  out: Units, what: string): void {
  const gt = gaps.table, gm = gaps.mask, n = out.length;
  let acc = 0, bits = 0, p = start, pos = -1;
  for (let i = 0; i < entries; i++) {
    if (bits < 15) {
      do { acc |= (p < end ? data[p]! : 0) << bits; p++; bits += 8; } while (bits <= 23);
    }
    const e = gt[acc & gm]!;
    const len = e & 15;
    if (len === 0) throw new NnzFormatError(`${what}: bits that start no gap code at entry ${i}`);
    acc >>>= len;
    bits -= len;
    pos += (e >>> 4) + 1;
    if (pos >= n) throw gapOverrun(what, i, pos, n);
    out[pos] = values[i]!;
  }
  if ((p - start) * 8 - bits > (end - start) * 8) throw new NnzFormatError(`${what}: coded gaps run past the end of the data`);
}

// ---------------------------------------------------------------------------------------------------------------

function writeUnits(w: ByteWriter, values: Uint32Array | Units, width: UnitWidth): void {
  const out = allocateUnits(width, values.length);
  out.set(values);
  w.bytes(bytesOfUnits(out));
}

function readUnits(r: ByteReader, count: number, width: UnitWidth, what: string): Units {
  if (count * width > r.remaining) throw new NnzFormatError(`${r.context} truncated: ${what} needs ${count * width} bytes, ${r.remaining} remain`);
  return unitsView(r.bytes(count * width, what), width);
}
