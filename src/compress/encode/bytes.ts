// Byte-level reading and writing for the .nnz container: little-endian integers, LEB128 varints, length-prefixed
// strings, and CRC-32. The reader checks every length against the bytes that remain, so a hostile file can neither
// read past its end nor make the reader allocate more than it holds.
import { NnzFormatError } from './errors.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** A growable output buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.buf[this.length++] = v & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    for (let i = 0; i < 4; i++) this.buf[this.length++] = (v >>> (8 * i)) & 0xff;
    return this;
  }

  /** Unsigned LEB128, for any safe integer. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint ${v} is not a non-negative safe integer`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.byteLength);
    this.buf.set(b, this.length);
    this.length += b.byteLength;
    return this;
  }

  string(s: string): this {
    const b = utf8Encoder.encode(s);
    return this.varint(b.byteLength).bytes(b);
  }

  /** The bytes written so far (a view; copy it before writing more if it must stay unchanged). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Reads a window [pos, end) of bytes; every read past `end` is a NnzFormatError naming `context`. */
export class ByteReader {
  pos: number;

  constructor(readonly data: Uint8Array, start = 0, readonly end = data.byteLength, readonly context = '.nnz') {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new NnzFormatError(`${this.context} truncated: ${what} needs ${n} bytes, ${this.end - this.pos} remain`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.data[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.data[this.pos]! | (this.data[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const d = this.data, p = this.pos;
    this.pos += 4;
    return (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
  }

  /** An unsigned LEB128 value no larger than `max`. */
  varint(what: string, max = Number.MAX_SAFE_INTEGER): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) throw new NnzFormatError(`${this.context} truncated: ${what} runs past the end`);
      if (i >= 8) throw new NnzFormatError(`${this.context}: ${what} is not a valid varint`);
      const b = this.data[this.pos++]!;
      v += (b & 0x7f) * scale;
      scale *= 0x80;
      if (!(b & 0x80)) break;
    }
    if (v > max) throw new NnzFormatError(`${this.context}: ${what} is ${v}, at most ${max} is allowed`);
    return v;
  }

  /** A view of the next n bytes. */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(what: string, maxBytes = 1 << 16): string {
    const n = this.varint(`${what} length`, maxBytes);
    const b = this.bytes(n, what);
    try {
      return utf8Decoder.decode(b);
    } catch {
      throw new NnzFormatError(`${this.context}: ${what} is not valid UTF-8`);
    }
  }
}

// CRC-32 (IEEE 802.3, the polynomial of zip and PNG), sliced by 8 for speed on large files.
const CRC_TABLES = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

export function crc32(data: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c = t[7 * 256 + (a & 0xff)]! ^ t[6 * 256 + ((a >>> 8) & 0xff)]! ^ t[5 * 256 + ((a >>> 16) & 0xff)]! ^ t[4 * 256 + (a >>> 24)]!
      ^ t[3 * 256 + data[i + 4]!]! ^ t[2 * 256 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
