// Fuzzing .nnz decoding: whole containers (unpackModel, half of them with the checksum recomputed) and single tensor
// payloads (decodeTensorData, Huffman tables and streams); then declared sizes far beyond the bytes present, by hand.
// test/compress/encode/nnz.test.ts holds the container's own hostile-input tests; these add the allocation bound.
import { test } from 'node:test';
import { DataType } from '../../src/core/dtype.js';
import { ByteReader, ByteWriter } from '../../src/compress/encode/bytes.js';
import { NnzFormatError } from '../../src/compress/encode/errors.js';
import { buildDecodeTable, decodeSymbols, readCodeLengths } from '../../src/compress/encode/huffman.js';
import { packModel, readNnz, unpackModel, writeNnz } from '../../src/compress/encode/nnz.js';
import { NnzEncoding, decodeTensorData } from '../../src/compress/encode/tensor-codec.js';
import { smallModel } from '../compress/encode/helpers.js';
import { assertRefusedFast, fuzzTest } from './suite.js';
import { MiB } from './target.js';

fuzzTest('nnz');
fuzzTest('nnz-payload');

/** The small model's container, one entry changed, the checksum recomputed. */
function edited(edit: (c: ReturnType<typeof readNnz>) => void): Uint8Array {
  const c = readNnz(packModel(smallModel()).bytes);
  c.entries = c.entries.map((e) => ({ ...e, dims: [...e.dims] }));
  edit(c);
  return writeNnz(c);
}

test('nnz: a small file declaring a huge tensor or graph is refused before decoding anything', () => {
  assertRefusedFast(() => unpackModel(edited((c) => { c.entries[0]!.dims = [1e6, 1e6]; })), NnzFormatError,
    /^\.nnz declares \d+ bytes of decoded data, over the limit of 67108864 for a \d+-byte file/, { maxBytes: 8 * MiB });
  assertRefusedFast(() => unpackModel(edited((c) => { c.entries[0]!.dims = [2 ** 40, 2 ** 40]; })), NnzFormatError, /too many elements/, { maxBytes: 8 * MiB });
  assertRefusedFast(() => unpackModel(edited((c) => { c.graphBytes = 2 ** 31; })), NnzFormatError, /over the limit/, { maxBytes: 8 * MiB });
});

test('nnz payloads: counts and sizes beyond what the payload can hold are refused before allocating', () => {
  const what = 'fuzz tensor';
  // Sparse: 2^40 entries declared for a 1 KiB tensor.
  const sparse = new ByteWriter().u8(4).u8(0).u8(0).varint(2 ** 40).finish();
  assertRefusedFast(() => decodeTensorData(NnzEncoding.SPARSE, sparse, DataType.UINT8, 1024, what), NnzFormatError, /^fuzz tensor: entry count is 1099511627776, at most 1024 is allowed$/);
  // Palette: 64 MiB of values from 12 bytes.
  const palette = new ByteWriter().varint(2).u8(0).u8(1).varint(4).u8(0x11).bytes(new Uint8Array(7)).finish();
  assertRefusedFast(() => decodeTensorData(NnzEncoding.PALETTE, palette, DataType.UINT8, 64 * MiB, what), NnzFormatError, /coded values cannot fit in 12 bytes$/, { maxBytes: 8 * MiB });
  // Deflate: 1 GiB from 100 bytes.
  assertRefusedFast(() => decodeTensorData(NnzEncoding.DEFLATE, new Uint8Array(100), DataType.FLOAT, 2 ** 30, what), NnzFormatError, /^fuzz tensor: 100 deflated bytes cannot hold 1073741824 bytes$/, { maxBytes: 8 * MiB });
  // Raw: the payload must be exactly the tensor.
  assertRefusedFast(() => decodeTensorData(NnzEncoding.RAW, new Uint8Array(8), DataType.FLOAT, 2 ** 30, what), NnzFormatError, /raw data has 8 bytes, the tensor needs 1073741824$/, { maxBytes: 8 * MiB });
  // Huffman: an alphabet size of 2^40, and 2^31 symbols from 4 bytes.
  assertRefusedFast(() => readCodeLengths(new ByteReader(new ByteWriter().varint(2 ** 41).finish(), 0, undefined, what), 4096, 'code lengths'), NnzFormatError, /code lengths size is 2199023255552, at most 8193 is allowed$/);
  const table = buildDecodeTable(Uint8Array.of(1, 1));
  assertRefusedFast(() => decodeSymbols(new Uint8Array(4), 2 ** 31, table, what), NnzFormatError, /^fuzz tensor: 2147483648 symbols cannot fit in 4 bytes$/);
});
