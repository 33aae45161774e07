// NumPy .npy (src/core/npy.ts parseNpy, then npyDataset): every dtype nnzip reads, format versions 1, 2 and 3, the
// numpy-written fixtures; mutations hit the header length and the Python-literal header (tokens such as huge shapes,
// nested tuples, other dtypes), and a parsed array goes on to become a data set (inputs and labels).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, isFloatType } from '../../../src/core/dtype.js';
import { NpyFormatError, encodeNpy, parseNpy } from '../../../src/core/npy.js';
import { Tensor } from '../../../src/core/tensor.js';
import { DataError } from '../../../src/data/errors.js';
import { npyDataset } from '../../../src/data/npy-dataset.js';
import { FIXTURES } from '../../fixtures/fixtures.js';
import { type MutatedBytes, type Seed, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

const TOKENS = [
  "'descr': '<f4', ", "'shape': (", ')', '(', ',', ', ', '0', '1', '-1', '99999999999999999999', '4294967296', '9007199254740993', '1L',
  "'<f8'", "'>i4'", "'|b1'", "'<u8'", "'|O'", "'<U3'", "'<c8'", "[('a', '<f4')]", 'True', 'False', 'None', "'", '"', '{', '}', ':',
  "'<constructor'", "'|__proto__'", "'<toString'", "'fortran_order': True, ", "'__proto__': [], ", "'__proto__': None, ", "'descr': ", '((((((((((', '\\x', '\n', ' '.repeat(40), '\u00e9',
];

function npySeed(name: string, bytes: Uint8Array): Seed {
  const major = bytes[6]!;
  return { name, bytes, ints: [{ at: 6, width: 1, littleEndian: true }, { at: 8, width: major === 1 ? 2 : 4, littleEndian: true }] };
}

function builtSeeds(): Seed[] {
  const tensors = [
    Tensor.fromFloat32('f4', [3, 2], [1, 2, 3, 4, 5, 6]),
    new Tensor('f8', DataType.DOUBLE, [2], Float64Array.of(0.5, -2)),
    new Tensor('f2', DataType.FLOAT16, [2, 1], Uint16Array.of(0x3c00, 0x4000)),
    Tensor.fromInt64('i8', [3], [0, 2, 1]),
    new Tensor('i4', DataType.INT32, [2, 2], Int32Array.of(1, 0, 3, 2)),
    new Tensor('i2', DataType.INT16, [2], Int16Array.of(1, 7)),
    new Tensor('i1', DataType.INT8, [4], Int8Array.of(1, 2, 3, 0)),
    new Tensor('u8', DataType.UINT64, [2], BigUint64Array.of(1n, 0n)),
    new Tensor('u4', DataType.UINT32, [1, 3], Uint32Array.of(1, 2, 3)),
    new Tensor('u2', DataType.UINT16, [2], Uint16Array.of(3, 4)),
    new Tensor('u1', DataType.UINT8, [2, 2, 2], Uint8Array.of(0, 255, 1, 2, 3, 4, 5, 6)),
    new Tensor('b1', DataType.BOOL, [3], Uint8Array.of(0, 1, 1)),
    Tensor.fromFloat32('scalar', [], [7]),
    Tensor.fromFloat32('empty', [0, 4], []),
  ];
  return tensors.map((t) => npySeed(`${t.name}.npy`, encodeNpy(t)));
}

function fixtureSeeds(): Seed[] {
  const folder = join(FIXTURES, 'npy');
  return readdirSync(folder).filter((f) => f.endsWith('.npy') && !/big_endian|fortran/.test(f)).sort()
    .map((f) => npySeed(f, readFileSync(join(folder, f))));
}

/**
 * Parses the bytes, then makes a data set of the array: it is its own labels when it is float (regression
 * targets), else it gets N zero labels.
 */
function runNpy(bytes: Uint8Array): void {
  const t = parseNpy(bytes, 'fuzz', 'fuzz.npy');
  if (t.dims.length === 0) return;
  const n = t.dims[0]!;
  const ownLabels = isFloatType(t.dataType) || n > 1 << 16;
  const labels = ownLabels ? t : Tensor.zeros('labels', DataType.INT64, [n]);
  npyDataset(t, labels, { inputsSource: 'fuzz.npy', labelsSource: 'fuzz.npy' });
}

export const npyTarget: FuzzTarget<MutatedBytes> = {
  name: 'npy',
  parsers: 'parseNpy (src/core/npy.ts) and npyDataset (src/data/npy-dataset.ts): header, dtypes, shapes, data length',
  open() {
    const seeds = [...builtSeeds(), ...fixtureSeeds()];
    return {
      inputs: mutatedBytes(seeds, { maxOps: 4, tokens: TOKENS }),
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes })),
      run: (input) => runNpy(input.bytes),
      expected: [NpyFormatError, DataError],
      messagePrefix: /^fuzz\.npy: /,
      bytesOf: (input) => input.bytes,
      // The array is a view of the bytes; the data set holds it as float32 twice (4 bytes per 1-byte element each).
      allocationBound: (input) => allocationBound(input.bytes.length, 16),
    };
  },
};
