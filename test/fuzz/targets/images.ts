// PNG and JPEG images (src/node/images.ts decodeImage through imageDataset): PNGs of every color type and bit depth,
// interlaced or not, written here chunk by chunk; baseline JPEGs from jpeg-js. Mutations hit IHDR's dims, depth,
// color type and interlace, chunk lengths, and JPEG segment lengths and frame dims; half the mutated PNGs get their
// chunk CRCs recomputed, so the mutation reaches the decoder instead of the checksum.
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import { crc32 } from '../../../src/compress/encode/bytes.js';
import { DataError } from '../../../src/data/errors.js';
import { imageDataset, imageFormat } from '../../../src/node/images.js';
import { type IntField, type MutatedBytes, type Seed, concat, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Scanlines of a (sub)image: a filter byte (cycling through the five filters), then samples packed MSB first. */
function scanlines(width: number, height: number, channels: number, depth: number, sample: (x: number, y: number, c: number) => number): Uint8Array {
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const out = new Uint8Array(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const row = y * (rowBytes + 1);
    out[row] = y % 5;
    let bit = 0;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = sample(x, y, c) & ((1 << depth) - 1);
        if (depth === 16) { out[row + 1 + (bit >> 3)] = v >> 8; out[row + 2 + (bit >> 3)] = v & 0xff; }
        else out[row + 1 + (bit >> 3)]! |= v << (8 - depth - (bit & 7));
        bit += depth;
      }
    }
  }
  return out;
}

/** A PNG of a test pattern: any color type and bit depth, interlaced (Adam7) or not. */
export function png(width: number, height: number, colorType: number, depth: number, interlace: boolean): Uint8Array {
  const channels = CHANNELS[colorType]!;
  const sample = (x: number, y: number, c: number) => (x * 37 + y * 91 + c * 53) % (colorType === 3 ? 1 << Math.min(depth, 2) : 1 << depth);
  let raw: Uint8Array;
  if (!interlace) raw = scanlines(width, height, channels, depth, sample);
  else {
    raw = concat(...ADAM7.map(([x0, y0, dx, dy]) => {
      const w = Math.ceil((width - x0) / dx), h = Math.ceil((height - y0) / dy);
      return w > 0 && h > 0 ? scanlines(w, h, channels, depth, (x, y, c) => sample(x0 + x * dx, y0 + y * dy, c)) : new Uint8Array(0);
    }));
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, interlace ? 1 : 0], 8);
  const chunks = [chunk('IHDR', ihdr)];
  if (colorType === 3) {
    chunks.push(chunk('PLTE', Uint8Array.from({ length: 3 * (1 << depth) }, (_, i) => (i * 29) & 0xff)));
    chunks.push(chunk('tRNS', Uint8Array.of(0, 128)));
  }
  chunks.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return concat(PNG_SIGNATURE, ...chunks);
}

/** IHDR's fields and every chunk's length. */
function pngFields(bytes: Uint8Array): IntField[] {
  const fields: IntField[] = [
    { at: 16, width: 4, littleEndian: false }, { at: 20, width: 4, littleEndian: false },
    ...[24, 25, 26, 27, 28].map((at) => ({ at, width: 1 as const, littleEndian: false })),
  ];
  for (let p = 8; p + 12 <= bytes.length;) {
    fields.push({ at: p, width: 4, littleEndian: false });
    p += 12 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(p);
  }
  return fields;
}

/** Segment lengths, the frame's precision, dims and component count, up to the start of scan. */
function jpegFields(bytes: Uint8Array): IntField[] {
  const fields: IntField[] = [];
  for (let p = 2; p + 4 <= bytes.length && bytes[p] === 0xff;) {
    const marker = bytes[p + 1]!;
    fields.push({ at: p + 2, width: 2, littleEndian: false });
    if (marker === 0xc0 || marker === 0xc2) {
      fields.push({ at: p + 4, width: 1, littleEndian: false }, { at: p + 5, width: 2, littleEndian: false }, { at: p + 7, width: 2, littleEndian: false }, { at: p + 9, width: 1, littleEndian: false });
      for (let c = 0; c < bytes[p + 9]!; c++) fields.push({ at: p + 11 + 3 * c, width: 1, littleEndian: false });
    }
    if (marker === 0xda) break;
    p += 2 + ((bytes[p + 2]! << 8) | bytes[p + 3]!);
  }
  return fields;
}

/** A baseline JPEG of a test pattern (jpeg-js). */
export function jpegOf(width: number, height: number, quality: number, gray: boolean): Uint8Array {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const v = (i * 13) & 0xff;
    data.set(gray ? [v, v, v, 255] : [v, (i * 7) & 0xff, (i * 3) & 0xff, 255], 4 * i);
  }
  return new Uint8Array(jpeg.encode({ width, height, data }, quality).data);
}

function imageSeeds(): Seed[] {
  const pngs: [string, Uint8Array][] = [
    ['gray 8-bit', png(5, 4, 0, 8, false)], ['gray 1-bit', png(9, 3, 0, 1, false)], ['gray 16-bit interlaced', png(7, 6, 0, 16, true)],
    ['rgb 8-bit', png(4, 4, 2, 8, false)], ['rgb 16-bit', png(3, 2, 2, 16, false)], ['palette 2-bit', png(6, 5, 3, 2, false)],
    ['palette 4-bit interlaced', png(9, 9, 3, 4, true)], ['gray+alpha', png(3, 3, 4, 8, false)], ['rgba interlaced', png(10, 7, 6, 8, true)],
  ];
  const jpegs: [string, Uint8Array][] = [['jpeg 8x8', jpegOf(8, 8, 90, false)], ['jpeg 17x9', jpegOf(17, 9, 50, false)], ['jpeg gray 16x16', jpegOf(16, 16, 75, true)]];
  return [
    ...pngs.map(([name, bytes]) => ({ name: `png ${name}`, bytes, ints: pngFields(bytes) })),
    ...jpegs.map(([name, bytes]) => ({ name, bytes, ints: jpegFields(bytes) })),
  ];
}

/** Recomputes the CRC of every whole chunk of a PNG. */
export function withChunkCrcs(bytes: Uint8Array): Uint8Array {
  if (imageFormat(bytes) !== 'png') return bytes;
  const out = new Uint8Array(bytes); // a copy (slice() of a Node Buffer would be a view)
  const view = new DataView(out.buffer);
  for (let p = 8; p + 12 <= out.length;) {
    const length = view.getUint32(p);
    if (p + 12 + length > out.length) break;
    view.setUint32(p + 8 + length, crc32(out.subarray(p + 4, p + 8 + length)));
    p += 12 + length;
  }
  return out;
}

export interface ImageInput extends MutatedBytes {
  fixCrcs: boolean;
  /** Resize to [height, width], or keep the image's own size. */
  size?: [number, number];
}

function runImage(input: ImageInput): void {
  const name = imageFormat(input.bytes) === 'jpeg' ? 'fuzz.jpg' : 'fuzz.png';
  imageDataset([{ name, bytes: input.bytes, label: 0 }], { size: input.size, source: 'fuzz images' });
}

export const imagesTarget: FuzzTarget<ImageInput> = {
  name: 'images',
  parsers: 'decodeImage and imageDataset (src/node/images.ts): PNG (pngjs) and JPEG (jpeg-js) into a data set',
  open() {
    const seeds = imageSeeds();
    const inputs = fc.tuple(mutatedBytes(seeds, { maxOps: 3 }), fc.boolean(), fc.option(fc.constant<[number, number]>([5, 7]), { freq: 4 }))
      .map(([m, fixCrcs, size]): ImageInput => ({ ...m, fixCrcs, bytes: fixCrcs ? withChunkCrcs(m.bytes) : m.bytes, ...(size ? { size } : {}) }));
    return {
      inputs,
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes, fixCrcs: false })),
      run: runImage,
      expected: [DataError],
      messagePrefix: /^fuzz/,
      bytesOf: (input) => input.bytes,
      // PNG: deflate expands 1032 times, a 1-bit pixel becomes 4 bytes of RGBA and 16 of float channels.
      allocationBound: (input) => allocationBound(input.bytes.length, 20 * 8 * 1032),
    };
  },
};
