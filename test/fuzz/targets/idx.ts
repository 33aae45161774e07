// IDX (src/data/idx.ts parseIdx and idxDataset): every type code, ranks 1 to 4, plain and gzip'd. Mutations hit the
// magic, the rank, the big-endian dims and the gzip header and trailer; some inputs are gzip'd after mutating, so a
// well-formed gzip stream carries a hostile IDX. A parsed array goes on to become images or labels of a data set.
import fc from 'fast-check';
import { gzipSync } from 'fflate';
import { isFloatType } from '../../../src/core/dtype.js';
import { DataError } from '../../../src/data/errors.js';
import { idxDataset, isGzip, parseIdx } from '../../../src/data/idx.js';
import { idxBytes } from '../../data/helpers.js';
import { type MutatedBytes, type Seed, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

const TYPES: [number, number][] = [[0x08, 1], [0x09, 1], [0x0b, 2], [0x0c, 4], [0x0d, 4], [0x0e, 8]];

function idxSeed(name: string, bytes: Uint8Array, rank: number): Seed {
  return {
    name, bytes,
    ints: [{ at: 2, width: 1, littleEndian: false }, { at: 3, width: 1, littleEndian: false },
      ...Array.from({ length: rank }, (_, i) => ({ at: 4 + 4 * i, width: 4 as const, littleEndian: false }))],
  };
}

function seeds(): Seed[] {
  const out: Seed[] = [];
  for (const [code, width] of TYPES) {
    for (const dims of [[5], [3, 2, 2], [2, 3]]) {
      const count = dims.reduce((a, b) => a * b, 1);
      const body = Uint8Array.from({ length: count * width }, (_, i) => (i % width === width - 1 ? i % 3 : 0));
      out.push(idxSeed(`type ${code.toString(16)} [${dims}]`, idxBytes(code, dims, body), dims.length));
    }
  }
  out.push(idxSeed('rank 4', idxBytes(0x08, [2, 1, 2, 2], new Uint8Array(8)), 4));
  // gzip'd files: mutations then hit the gzip header, the deflate stream and the size in the trailer.
  const gz = gzipSync(idxBytes(0x08, [4, 3, 3], Uint8Array.from({ length: 36 }, (_, i) => i * 7)));
  out.push({ name: 'gzip ubyte [4,3,3]', bytes: gz, ints: [{ at: gz.length - 4, width: 4, littleEndian: true }, { at: 3, width: 1, littleEndian: true }] });
  return out;
}

export interface IdxInput extends MutatedBytes {
  gzipAfter: boolean;
}

/** Parses; a parsed array of rank >= 2 becomes images with zero labels, an integer one of rank 1 the labels of blank images. */
function runIdx(bytes: Uint8Array): void {
  const parsed = parseIdx(bytes, 'fuzz-idx');
  const n = parsed.dims[0]!;
  if (n > 1 << 16 || (parsed.dims.length === 1 && isFloatType(parsed.dataType))) return;
  if (parsed.dims.length >= 2) idxDataset(bytes, idxBytes(0x08, [n], new Uint8Array(n)), { imagesSource: 'fuzz-idx', labelsSource: 'fuzz-idx labels' });
  else idxDataset(idxBytes(0x08, [n, 2, 2], new Uint8Array(4 * n)), bytes, { imagesSource: 'fuzz-idx images', labelsSource: 'fuzz-idx' });
}

export const idxTarget: FuzzTarget<IdxInput> = {
  name: 'idx',
  parsers: 'parseIdx and idxDataset (src/data/idx.ts): magic, type code, rank, dims, data length, gzip',
  open() {
    const all = seeds();
    const inputs = fc.tuple(mutatedBytes(all, { maxOps: 3 }), fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }))
      .map(([m, gzipAfter]): IdxInput => ({ ...m, gzipAfter, bytes: gzipAfter && !isGzip(m.bytes) ? gzipSync(m.bytes) : m.bytes }));
    return {
      inputs,
      seeds: all.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes, gzipAfter: false })),
      run: (input) => runIdx(input.bytes),
      expected: [DataError],
      messagePrefix: /^fuzz-idx/,
      bytesOf: (input) => input.bytes,
      // gzip expands at most 1032 times; the data set holds each 1-byte value as a 4-byte float.
      allocationBound: (input) => allocationBound(input.bytes.length, 1032 * 8),
    };
  },
};
