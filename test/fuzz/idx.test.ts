// Fuzzing IDX parsing: mutated arrays of every type code, plain and gzip'd; then, by hand, dims that declare far more
// data than the file holds and gzip trailers that declare gigabytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'fflate';
import { DataError } from '../../src/data/errors.js';
import { parseIdx } from '../../src/data/idx.js';
import { idxBytes } from '../data/helpers.js';
import { assertRefusedFast, fuzzTest } from './suite.js';
import { MiB } from './target.js';

fuzzTest('idx');

test('idx: dims that declare far more data than the file holds are refused before anything is allocated', () => {
  assertRefusedFast(() => parseIdx(idxBytes(0x0e, [0xffff, 0xffff], new Uint8Array(24)), 'x.idx'), DataError,
    /^x\.idx: truncated: 65535x65535 double values need 34358689800 data bytes, the file has 24$/);
  assertRefusedFast(() => parseIdx(idxBytes(0x0e, [0xffffffff, 0xffffffff], []), 'x.idx'), DataError, /^x\.idx: 4294967295x4294967295 double values are too many to hold in memory$/);
  assertRefusedFast(() => parseIdx(idxBytes(0x08, new Array(255).fill(0xffffffff), []), 'x.idx'), DataError, /^x\.idx: 4294967295x.* ubyte values are too many to hold in memory$/);
  assertRefusedFast(() => parseIdx(Uint8Array.of(0, 0, 8, 200, 0, 0, 0, 1), 'x.idx'), DataError, /^x\.idx: truncated: 8 bytes, the header of 200 dimensions needs 804$/);
});

test('idx: a gzip trailer declaring 4 GiB is refused without allocating it; cut and damaged streams are refused', () => {
  const gz = gzipSync(idxBytes(0x08, [2, 2], [1, 2, 3, 4]));
  assert.deepEqual([...parseIdx(gz, 'x.idx.gz').data], [1, 2, 3, 4]);
  const hostile = new Uint8Array(gz);
  new DataView(hostile.buffer).setUint32(hostile.length - 4, 0xffffffff, true);
  // fflate's gunzipSync allocates what the trailer says: 4 GiB for this 40-byte file.
  assertRefusedFast(() => parseIdx(hostile, 'x.idx.gz'), DataError, /^x\.idx\.gz: not a valid gzip file \(it holds 16 bytes, its trailer says 4294967295: truncated or damaged\)$/, { maxBytes: 16 * MiB });
  assertRefusedFast(() => parseIdx(gz.subarray(0, gz.length - 12), 'x.idx.gz'), DataError, /^x\.idx\.gz: not a valid gzip file \(unexpected EOF\)$/);
  assertRefusedFast(() => parseIdx(gz.subarray(0, gz.length - 8), 'x.idx.gz'), DataError, /^x\.idx\.gz: not a valid gzip file \(it holds 16 bytes, its trailer says \d+: truncated or damaged\)$/);
  const damaged = new Uint8Array(gz);
  damaged[12] = 0xff;
  assertRefusedFast(() => parseIdx(damaged, 'x.idx.gz'), DataError, /^x\.idx\.gz: /);
});
