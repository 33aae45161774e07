// Fuzzing .npy parsing: mutated arrays of every dtype and format version; then, by hand, headers that declare far
// more data than the file holds, odd dtypes, and headers nested or sized to exhaust the parser.
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NpyFormatError, parseNpy } from '../../src/core/npy.js';
import { FileError } from '../../src/node/io.js';
import { readNpy } from '../../src/node/npy.js';
import { assertRefusedFast, fuzzTest } from './suite.js';

fuzzTest('npy');

/** .npy bytes with this header text (version 1.0) and `dataBytes` bytes of data. */
function npy(header: string, dataBytes = 0, major = 1): Uint8Array {
  const text = new TextEncoder().encode(`${header}\n`);
  const prefix = major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + text.length + dataBytes);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  return out;
}

const parse = (bytes: Uint8Array) => () => parseNpy(bytes, 'x', 'x.npy');

test('npy: shapes that declare far more data than the file holds are refused before anything is allocated', () => {
  assertRefusedFast(parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 16)), NpyFormatError,
    /^x\.npy: truncated: <f4\(1000000000000\) needs 4000000000000 data bytes, the file has 16$/);
  assertRefusedFast(parse(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }")), NpyFormatError, /^x\.npy: shape \(1099511627776, 1099511627776\) has too many elements$/);
  assertRefusedFast(parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }")), NpyFormatError, /'shape' is not a tuple of non-negative integers$/);
  assertRefusedFast(parse(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")), NpyFormatError, /'shape' is not a tuple of non-negative integers$/);
  // A version 2 header length of 2^32 - 1 in a 40-byte file.
  const long = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 2);
  new DataView(long.buffer).setUint32(8, 2 ** 32 - 1, true);
  assertRefusedFast(parse(long), NpyFormatError, /^x\.npy: truncated: header says 4294967295 header bytes/);
});

test('npy: dtypes that name inherited properties, and headers nested deep or tens of thousands of brackets long, are refused', () => {
  for (const descr of ['<constructor', '|__proto__', '<toString', '|O', '<U3', '>f4']) {
    assertRefusedFast(parse(npy(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, 4)), NpyFormatError, /dtype '.*' is not supported/);
  }
  assertRefusedFast(parse(npy(`{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(20)}1${')'.repeat(20)}, }`)), NpyFormatError, /^x\.npy: malformed header: nested too deep$/);
  assertRefusedFast(parse(npy(`{'descr': '<f4', 'shape': ${'('.repeat(60_000)}`, 0, 2)), NpyFormatError, /^x\.npy: malformed header: nested too deep$/);
  assertRefusedFast(parse(npy("{'descr': '<f4\n', 'fortran_order': False, 'shape': (1,), }", 4)), NpyFormatError, /^x\.npy: dtype '<f4\\x0a' is not supported/);
});

test('npy: readNpy names the file in every refusal', () => {
  const folder = mkdtempSync(join(tmpdir(), 'nnzip-fuzz-npy-'));
  try {
    const file = join(folder, 'a.npy');
    writeFileSync(file, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", 8));
    assertRefusedFast(() => readNpy(file), NpyFormatError, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated`));
    assertRefusedFast(() => readNpy(folder), FileError, /is a folder, not an \.npy file$/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
