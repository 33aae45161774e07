// PNG and JPEG images -> float channels in [0, 1], laid out [channels, height, width], and labelled image sets ->
// TensorDataset. Decoding uses pngjs and jpeg-js (pure JavaScript; pngjs needs a global Buffer, which Node has and
// browser bundles must polyfill). Alpha is ignored; grayscale is the BT.601 luma (as PIL's convert('L')).
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { TensorDataset } from '../data/dataset.js';
import { DataError } from '../data/errors.js';

/** 8-bit RGBA pixels, row after row. */
export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg';

export function imageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.byteLength >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => bytes[i] === b)) return 'png';
  if (bytes.byteLength >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

// Largest legitimate expansions: deflate (PNG's image data) at most 1032 times; a JPEG codes each 8x8 block of each
// component in at least one bit, so at most 512 pixels per byte (1024 leaves room).
const MAX_DEFLATE_RATIO = 1032;
const MAX_JPEG_PIXELS_PER_BYTE = 1024;
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * Refuses an image whose header declares more pixels than its bytes can hold, before a decoder allocates them
 * (pngjs and jpeg-js size their buffers from the header). Malformed headers are left to the decoders to report.
 */
function checkDeclaredSize(bytes: Uint8Array, format: ImageFormat, source: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    if (bytes.byteLength < 33 || view.getUint32(12) !== 0x49484452) return; // 'IHDR'
    const width = view.getUint32(16), height = view.getUint32(20), depth = bytes[24]!, channels = PNG_CHANNELS[bytes[25]!];
    if (!channels) return;
    let imageData = 0;
    for (let p = 8; p + 12 <= bytes.byteLength;) {
      const length = view.getUint32(p);
      if (view.getUint32(p + 4) === 0x49444154) imageData += Math.min(length, bytes.byteLength - p - 12); // 'IDAT'
      p += 12 + length;
    }
    const rowBytes = (w: number) => Math.ceil((w * channels * depth) / 8) + 1;
    const raw = bytes[28] === 1
      ? ADAM7.reduce((n, [x0, y0, dx, dy]) => { const w = Math.ceil((width - x0) / dx); return w > 0 ? n + Math.ceil((height - y0) / dy) * rowBytes(w) : n; }, 0)
      : height * rowBytes(width);
    if (raw > imageData * MAX_DEFLATE_RATIO + MAX_DEFLATE_RATIO) {
      throw new DataError(`${source}: cannot decode the PNG image (it declares ${width}x${height} pixels, more than its ${imageData} bytes of image data can hold)`);
    }
    return;
  }
  for (let p = 2; p + 9 <= bytes.byteLength;) {
    if (bytes[p] !== 0xff) return;
    const marker = bytes[p + 1]!;
    if (marker === 0xff) { p++; continue; }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) { p += 2; continue; }
    // Start of frame: every SOFn but DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = view.getUint16(p + 5), width = view.getUint16(p + 7);
      if (width * height > bytes.byteLength * MAX_JPEG_PIXELS_PER_BYTE) {
        throw new DataError(`${source}: cannot decode the JPEG image (it declares ${width}x${height} pixels, more than its ${bytes.byteLength} bytes can hold)`);
      }
      return;
    }
    p += 2 + view.getUint16(p + 2);
  }
}

/** Decodes a PNG (any bit depth, palette, interlace; 16-bit rounds to 8) or a baseline/progressive JPEG. */
export function decodeImage(bytes: Uint8Array, source = 'image'): DecodedImage {
  const format = imageFormat(bytes);
  if (!format) throw new DataError(`${source}: not a PNG or JPEG image`);
  checkDeclaredSize(bytes, format, source);
  try {
    if (format === 'png') {
      if (typeof Buffer === 'undefined') throw new Error('PNG decoding needs a global Buffer (bundle a Buffer polyfill for browsers)');
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    return { width: image.width, height: image.height, rgba: image.data };
  } catch (e) {
    throw new DataError(`${source}: cannot decode the ${format.toUpperCase()} image (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Whether red, green and blue are equal in every pixel. */
export function isGrayscale(image: DecodedImage): boolean {
  const p = image.rgba;
  for (let i = 0; i < p.length; i += 4) if (p[i] !== p[i + 1] || p[i] !== p[i + 2]) return false;
  return true;
}

/** Bilinear resize with pixel centers aligned (align_corners = false); no antialiasing when shrinking. */
export function resizeImage(image: DecodedImage, width: number, height: number): DecodedImage {
  if (image.width === width && image.height === height) return image;
  const { rgba: src, width: sw, height: sh } = image;
  const out = new Uint8Array(width * height * 4);
  const sx = sw / width;
  const sy = sh / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const top = src[(y0 * sw + x0) * 4 + c]! * (1 - wx) + src[(y0 * sw + x1) * 4 + c]! * wx;
        const bottom = src[(y1 * sw + x0) * 4 + c]! * (1 - wx) + src[(y1 * sw + x1) * 4 + c]! * wx;
        out[(y * width + x) * 4 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, rgba: out };
}

export type ColorMode = 'gray' | 'rgb';

/** Writes the image as [1 or 3, height, width] floats in [0, 1] into `out` at `offset`. */
export function imageToChannels(image: DecodedImage, color: ColorMode, out: Float32Array, offset = 0): void {
  const { rgba } = image;
  const plane = image.width * image.height;
  if (color === 'gray') {
    for (let i = 0; i < plane; i++) {
      out[offset + i] = (0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!) / 255;
    }
    return;
  }
  for (let i = 0; i < plane; i++) {
    out[offset + i] = rgba[4 * i]! / 255;
    out[offset + plane + i] = rgba[4 * i + 1]! / 255;
    out[offset + 2 * plane + i] = rgba[4 * i + 2]! / 255;
  }
}

export interface ImageFile {
  /** File name (or path), for messages. */
  name: string;
  bytes: Uint8Array;
  label: number;
}

export interface ImageDatasetOptions {
  /** Resize every image to [height, width]. Without it, every image must have the first image's size. */
  size?: readonly [number, number];
  /** 'auto' (default): gray when every image has equal red, green and blue, else rgb. */
  color?: ColorMode | 'auto';
  /** Class names in label order. */
  classNames?: readonly string[];
  /** Number of classes (default: classNames' length, or the largest label + 1). */
  classes?: number;
  /** What the images are (a folder), for messages. */
  source?: string;
}

/** Decodes labelled images into one data set of [channels, height, width] samples. */
export function imageDataset(files: readonly ImageFile[], options: ImageDatasetOptions = {}): TensorDataset {
  const source = options.source ?? 'images';
  if (files.length === 0) throw new DataError(`${source}: no PNG or JPEG images`);
  let size = options.size;
  let sizeFrom = 'the size given';
  let rgb = new Float32Array(0);
  let allGray = true;
  for (let n = 0; n < files.length; n++) {
    const file = files[n]!;
    let image = decodeImage(file.bytes, file.name);
    if (!size) {
      size = [image.height, image.width];
      sizeFrom = `${file.name}'s`;
      rgb = new Float32Array(files.length * 3 * image.height * image.width);
    } else if (rgb.length === 0) {
      if (!(size[0] > 0 && size[1] > 0 && Number.isInteger(size[0]) && Number.isInteger(size[1]))) throw new DataError(`${source}: bad image size ${size.join('x')}`);
      rgb = new Float32Array(files.length * 3 * size[0] * size[1]);
    }
    if (options.size) image = resizeImage(image, size[1], size[0]);
    else if (image.width !== size[1] || image.height !== size[0]) {
      throw new DataError(`${file.name}: image is ${image.width}x${image.height}, not ${sizeFrom} ${size[1]}x${size[0]}; all images must share one size (or give one to resize to)`);
    }
    if (allGray && options.color !== 'rgb') allGray = isGrayscale(image);
    imageToChannels(image, 'rgb', rgb, n * 3 * size[0] * size[1]);
  }
  const [height, width] = size!;
  const plane = height * width;
  const gray = options.color === 'gray' || (options.color !== 'rgb' && allGray);
  let inputs = rgb;
  if (gray) {
    // Luma from the float channels: the same value imageToChannels(image, 'gray') gives.
    inputs = new Float32Array(files.length * plane);
    for (let n = 0; n < files.length; n++) {
      const base = n * 3 * plane;
      for (let i = 0; i < plane; i++) inputs[n * plane + i] = 0.299 * rgb[base + i]! + 0.587 * rgb[base + plane + i]! + 0.114 * rgb[base + 2 * plane + i]!;
    }
  }
  const labels = Int32Array.from(files, (f) => f.label);
  return new TensorDataset({
    inputs, sampleShape: [gray ? 1 : 3, height, width], labels, classes: options.classes, classNames: options.classNames, source,
  });
}
