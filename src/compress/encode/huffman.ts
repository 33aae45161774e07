// Canonical Huffman coding with a maximum code length (Deep Compression's third stage).
// Code lengths come from package-merge (Larmore and Hirschberg), which is optimal among prefix codes whose longest
// code is at most `maxLength`. Codes are canonical (deflate's assignment), so a code is described by its lengths
// alone, and written least-significant bit first so the decoder indexes one table with the next `maxLength` bits.
import { ByteReader, ByteWriter } from './bytes.js';
import { NnzFormatError } from './errors.js';

/** The longest code nnz writes or accepts: lengths fit in a nibble and a decode table has at most 2^15 entries. */
export const MAX_CODE_LENGTH = 15;

/**
 * Optimal code lengths for symbol counts, no code longer than `maxLength`. Symbols with count 0 get length 0;
 * a lone used symbol gets length 1 (a code needs at least one bit per symbol to be decodable).
 */
export function huffmanCodeLengths(counts: ArrayLike<number>, maxLength = MAX_CODE_LENGTH): Uint8Array {
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > MAX_CODE_LENGTH) throw new RangeError(`maxLength ${maxLength} is not in 1..${MAX_CODE_LENGTH}`);
  const n = counts.length;
  const lengths = new Uint8Array(n);
  const used: number[] = [];
  for (let s = 0; s < n; s++) {
    const c = counts[s]!;
    if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`count ${c} of symbol ${s} is not a non-negative number`);
    if (c > 0) used.push(s);
  }
  const m = used.length;
  if (m === 0) return lengths;
  if (m === 1) {
    lengths[used[0]!] = 1;
    return lengths;
  }
  if (m > 2 ** maxLength) throw new RangeError(`${m} symbols cannot all have codes of at most ${maxLength} bits`);
  used.sort((a, b) => counts[a]! - counts[b]! || a - b);
  const leafWeight = Float64Array.from(used, (s) => counts[s]!);

  // Package-merge: the list of level `maxLength` is the leaves; each shallower level merges the leaves with packages
  // (sums of adjacent pairs) of the level below. Per level keep only which items are leaves and which packages.
  const isLeaf: Int32Array[] = new Array(maxLength + 1);
  let prevWeights = leafWeight;
  isLeaf[maxLength] = Int32Array.from(used.keys());
  for (let level = maxLength - 1; level >= 1; level--) {
    const packages = prevWeights.length >> 1;
    const size = m + packages;
    const weights = new Float64Array(size);
    const kinds = new Int32Array(size); // leaf rank (index into `used`) or -1 for a package
    let li = 0, pi = 0;
    for (let k = 0; k < size; k++) {
      const pw = pi < packages ? prevWeights[2 * pi]! + prevWeights[2 * pi + 1]! : Infinity;
      if (li < m && leafWeight[li]! <= pw) {
        weights[k] = leafWeight[li]!;
        kinds[k] = li++;
      } else {
        weights[k] = pw;
        kinds[k] = -1;
        pi++;
      }
    }
    isLeaf[level] = kinds;
    prevWeights = weights;
  }
  // The first 2m-2 items of level 1 are the solution; a package taken at a level takes its two items below it,
  // and the packages of a level are its cheapest, so the items taken below are again a prefix.
  let take = 2 * m - 2;
  for (let level = 1; level <= maxLength && take > 0; level++) {
    const kinds = isLeaf[level]!;
    let packages = 0;
    const items = Math.min(take, kinds.length);
    for (let k = 0; k < items; k++) {
      const kind = kinds[k]!;
      if (kind >= 0) lengths[used[kind]!]!++;
      else packages++;
    }
    take = 2 * packages;
  }
  return lengths;
}

/** Canonical codes (most significant bit first) for code lengths; 0 for unused symbols. */
export function canonicalCodes(lengths: ArrayLike<number>): Uint32Array {
  const maxLen = Math.max(0, ...Array.from(lengths));
  const countOfLength = new Uint32Array(maxLen + 1);
  for (let s = 0; s < lengths.length; s++) if (lengths[s]) countOfLength[lengths[s]!]!++;
  const next = new Uint32Array(maxLen + 2);
  let code = 0;
  for (let len = 1; len <= maxLen; len++) {
    code = (code + countOfLength[len - 1]!) << 1;
    next[len] = code;
  }
  countOfLength[0] = 0;
  const codes = new Uint32Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s]!;
    if (len) codes[s] = next[len]!++;
  }
  return codes;
}

function reverseBits(code: number, len: number): number {
  let r = 0;
  for (let i = 0; i < len; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
}

/** Writes bits least-significant first, growing as needed. */
export class BitWriter {
  private out: Uint8Array;
  private pos = 0;
  private acc = 0;
  private n = 0;

  constructor(capacityBytes = 256) {
    this.out = new Uint8Array(Math.max(16, capacityBytes));
  }

  /** Appends the low `len` bits of `value` (len at most 24). */
  write(value: number, len: number): void {
    this.acc |= value << this.n;
    this.n += len;
    while (this.n >= 8) {
      if (this.pos === this.out.length) this.grow();
      this.out[this.pos++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.n -= 8;
    }
  }

  private grow(): void {
    const next = new Uint8Array(this.out.length * 2);
    next.set(this.out);
    this.out = next;
  }

  get bitLength(): number {
    return this.pos * 8 + this.n;
  }

  /** The bytes, the last one padded with zero bits. */
  finish(): Uint8Array {
    if (this.n > 0) {
      if (this.pos === this.out.length) this.grow();
      this.out[this.pos++] = this.acc & 0xff;
      this.acc = 0;
      this.n = 0;
    }
    return this.out.slice(0, this.pos);
  }
}

/** Symbol -> bit-reversed canonical code, for a BitWriter. */
export class HuffmanEncoder {
  readonly codes: Uint32Array;

  constructor(readonly lengths: Uint8Array) {
    const canonical = canonicalCodes(lengths);
    this.codes = canonical.map((c, s) => reverseBits(c, lengths[s]!));
  }

  static fromCounts(counts: ArrayLike<number>, maxLength = MAX_CODE_LENGTH): HuffmanEncoder {
    return new HuffmanEncoder(huffmanCodeLengths(counts, maxLength));
  }

  write(w: BitWriter, symbol: number): void {
    const len = this.lengths[symbol]!;
    if (!len) throw new RangeError(`symbol ${symbol} has no code`);
    w.write(this.codes[symbol]!, len);
  }

  /** Bits needed to code symbols with these counts. */
  bitsFor(counts: ArrayLike<number>): number {
    let bits = 0;
    for (let s = 0; s < counts.length; s++) if (counts[s]) bits += counts[s]! * this.lengths[s]!;
    return bits;
  }
}

/** Bits that coding `counts` with `lengths` takes. */
export function codedBits(counts: ArrayLike<number>, lengths: ArrayLike<number>): number {
  let bits = 0;
  for (let s = 0; s < counts.length; s++) if (counts[s]) bits += counts[s]! * lengths[s]!;
  return bits;
}

/**
 * A decode table: entry i, for the next `bits` bits of the stream read least-significant first, holds
 * (symbol << 4) | code length; 0 marks bits that start no code.
 */
export interface DecodeTable {
  table: Int32Array;
  bits: number;
  mask: number;
  /** Number of symbols of the alphabet. */
  symbols: number;
}

/**
 * Builds the decode table of canonical code lengths, refusing lengths that are not a complete prefix code
 * (Kraft sum exactly 1), except a single symbol of length 1.
 */
export function buildDecodeTable(lengths: ArrayLike<number>, what = 'Huffman table'): DecodeTable {
  let used = 0, maxLen = 0, kraft = 0;
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s]!;
    if (!len) continue;
    if (len > MAX_CODE_LENGTH) throw new NnzFormatError(`${what}: code length ${len} is over ${MAX_CODE_LENGTH}`);
    used++;
    maxLen = Math.max(maxLen, len);
    kraft += 1 << (MAX_CODE_LENGTH - len);
  }
  const full = 1 << MAX_CODE_LENGTH;
  if (used === 1 && maxLen !== 1) throw new NnzFormatError(`${what}: a one-symbol code must have length 1, not ${maxLen}`);
  if (used > 1 && kraft > full) throw new NnzFormatError(`${what}: code lengths are over-subscribed, not a prefix code`);
  if (used > 1 && kraft < full) throw new NnzFormatError(`${what}: code lengths leave codes unused (incomplete code)`);
  const bits = Math.max(1, maxLen);
  const size = 1 << bits;
  const table = new Int32Array(size);
  if (used === 0) return { table, bits, mask: size - 1, symbols: lengths.length };
  const codes = canonicalCodes(lengths);
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s]!;
    if (!len) continue;
    const entry = (s << 4) | len;
    for (let i = reverseBits(codes[s]!, len); i < size; i += 1 << len) table[i] = entry;
  }
  return { table, bits, mask: size - 1, symbols: lengths.length };
}

/** Decodes `count` symbols from `stream`; refuses streams that end early or hold bits that start no code. */
export function decodeSymbols(stream: Uint8Array, count: number, t: DecodeTable, what = 'Huffman stream'): Uint32Array {
  if (count > stream.length * 8) throw new NnzFormatError(`${what}: ${count} symbols cannot fit in ${stream.length} bytes`);
  const out = new Uint32Array(count);
  const { table, mask } = t;
  let acc = 0, n = 0, p = 0;
  const end = stream.length;
  for (let i = 0; i < count; i++) {
    while (n < 16) {
      acc |= (p < end ? stream[p]! : 0) << n;
      p++;
      n += 8;
    }
    const e = table[acc & mask]!;
    const len = e & 15;
    if (len === 0) throw new NnzFormatError(`${what}: bits that start no code at symbol ${i}`);
    out[i] = e >>> 4;
    acc >>>= len;
    n -= len;
  }
  if (p * 8 - n > end * 8) throw new NnzFormatError(`${what}: stream ends early`);
  return out;
}

/** Encodes symbols with the given lengths. */
export function encodeSymbols(symbols: ArrayLike<number>, lengths: Uint8Array): Uint8Array {
  const enc = new HuffmanEncoder(lengths);
  const w = new BitWriter(Math.ceil(codedBitsOf(symbols, lengths) / 8) + 8);
  for (let i = 0; i < symbols.length; i++) enc.write(w, symbols[i]!);
  return w.finish();
}

function codedBitsOf(symbols: ArrayLike<number>, lengths: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < symbols.length; i++) bits += lengths[symbols[i]!] ?? 0;
  return bits;
}

/**
 * Code lengths as stored: varint (size * 2 + form), size = the alphabet up to its last used symbol. Form 0: one
 * nibble per symbol. Form 1, for sparse alphabets: varint count of used symbols, their gaps (varint symbol - previous
 * symbol - 1), then their lengths as nibbles. The writer takes the shorter form.
 */
export function writeCodeLengths(w: ByteWriter, lengths: ArrayLike<number>): void {
  const { size, used, dense, sparse } = lengthForms(lengths);
  if (dense <= sparse) {
    w.varint(size * 2);
    for (let s = 0; s < size; s += 2) w.u8((lengths[s]! & 15) | ((s + 1 < size ? lengths[s + 1]! & 15 : 0) << 4));
    return;
  }
  w.varint(size * 2 + 1).varint(used.length);
  let prev = -1;
  for (const s of used) {
    w.varint(s - prev - 1);
    prev = s;
  }
  for (let k = 0; k < used.length; k += 2) w.u8((lengths[used[k]!]! & 15) | ((k + 1 < used.length ? lengths[used[k + 1]!]! & 15 : 0) << 4));
}

function lengthForms(lengths: ArrayLike<number>): { size: number; used: number[]; dense: number; sparse: number } {
  let size = lengths.length;
  while (size > 0 && !lengths[size - 1]) size--;
  const used: number[] = [];
  let gapBytes = 0, prev = -1;
  for (let s = 0; s < size; s++) {
    if (!lengths[s]) continue;
    used.push(s);
    gapBytes += varintBytes(s - prev - 1);
    prev = s;
  }
  return {
    size, used,
    dense: varintBytes(size * 2) + Math.ceil(size / 2),
    sparse: varintBytes(size * 2 + 1) + varintBytes(used.length) + gapBytes + Math.ceil(used.length / 2),
  };
}

/** Bytes writeCodeLengths takes. */
export function codeLengthsBytes(lengths: ArrayLike<number>): number {
  const { dense, sparse } = lengthForms(lengths);
  return Math.min(dense, sparse);
}

export function varintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Reads code lengths for an alphabet of at most `maxSymbols`; the result has `maxSymbols` entries. */
export function readCodeLengths(r: ByteReader, maxSymbols: number, what: string): Uint8Array {
  const head = r.varint(`${what} size`, maxSymbols * 2 + 1);
  const size = Math.floor(head / 2);
  const lengths = new Uint8Array(maxSymbols);
  if (head % 2 === 0) {
    const packed = r.bytes(Math.ceil(size / 2), what);
    for (let s = 0; s < size; s++) lengths[s] = (packed[s >> 1]! >> ((s & 1) * 4)) & 15;
    return lengths;
  }
  const count = r.varint(`${what} symbol count`, size);
  const symbols = new Uint32Array(count);
  let prev = -1;
  for (let k = 0; k < count; k++) {
    prev += r.varint(`${what} symbol`, size) + 1;
    if (prev >= size) throw new NnzFormatError(`${r.context}: ${what} lists symbol ${prev}, past the alphabet of ${size}`);
    symbols[k] = prev;
  }
  const packed = r.bytes(Math.ceil(count / 2), what);
  for (let k = 0; k < count; k++) {
    const len = (packed[k >> 1]! >> ((k & 1) * 4)) & 15;
    if (!len) throw new NnzFormatError(`${r.context}: ${what} lists symbol ${symbols[k]} with length 0`);
    lengths[symbols[k]!] = len;
  }
  return lengths;
}
