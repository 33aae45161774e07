// Fuzzing image decoding: mutated PNGs of every color type and bit depth and baseline JPEGs, into a data set; then,
// by hand, small files whose headers declare hundreds of megapixels (the decoders would allocate them first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../src/data/errors.js';
import { decodeImage } from '../../src/node/images.js';
import { assertRefusedFast, fuzzTest } from './suite.js';
import { MiB } from './target.js';
import { jpegOf, png, withChunkCrcs } from './targets/images.js';

fuzzTest('images');

/** A PNG whose IHDR says width x height, its CRC made right again. */
function pngClaiming(width: number, height: number, colorType = 0, interlace = false): Uint8Array {
  const bytes = png(4, 4, colorType, 8, interlace);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return withChunkCrcs(bytes);
}

/** A JPEG whose frame header (SOF0) says width x height. */
function jpegClaiming(width: number, height: number): Uint8Array {
  const bytes = jpegOf(8, 8, 90, false);
  let p = 2;
  while (bytes[p + 1] !== 0xc0) p += 2 + ((bytes[p + 2]! << 8) | bytes[p + 3]!);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint16(p + 5, height);
  view.setUint16(p + 7, width);
  return bytes;
}

test('images: a small PNG declaring a huge image is refused before pngjs allocates it', () => {
  assert.equal(decodeImage(pngClaiming(4, 4), 'a.png').width, 4);
  for (const [w, h, colorType, interlace] of [[20000, 20000, 0, false], [0x7fffffff, 0x7fffffff, 6, false], [30000, 30000, 2, true], [1, 2 ** 30, 0, false]] as const) {
    assertRefusedFast(() => decodeImage(pngClaiming(w, h, colorType, interlace), 'a.png'), DataError,
      new RegExp(`^a\\.png: cannot decode the PNG image \\(it declares ${w}x${h} pixels, more than its \\d+ bytes of image data can hold\\)$`), { maxBytes: 16 * MiB });
  }
});

test('images: a small JPEG declaring a huge frame is refused before jpeg-js allocates it', () => {
  assert.equal(decodeImage(jpegClaiming(8, 8), 'a.jpg').height, 8);
  for (const [w, h] of [[65535, 65535], [10000, 10000], [2000, 1000]]) {
    assertRefusedFast(() => decodeImage(jpegClaiming(w, h), 'a.jpg'), DataError,
      new RegExp(`^a\\.jpg: cannot decode the JPEG image \\(it declares ${w}x${h} pixels, more than its \\d+ bytes can hold\\)$`), { maxBytes: 16 * MiB });
  }
  // Under the bound the decoder runs, and what it makes of the missing data is its own typed refusal or an image.
  const before = process.memoryUsage();
  try {
    decodeImage(jpegClaiming(600, 600), 'a.jpg');
  } catch (e) {
    assert.ok(e instanceof DataError, String(e));
  }
  const after = process.memoryUsage();
  assert.ok(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers < 64 * MiB);
});
