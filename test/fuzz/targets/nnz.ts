// The .nnz container (src/compress/encode/): unpackModel on whole files, and decodeTensorData on single payloads
// (raw, deflate, palette and sparse codings, with their Huffman code lengths and bit streams). Half the mutated
// containers get their CRC-32 recomputed, so mutations reach the header, graph and payload checks behind the checksum.
import fc from 'fast-check';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Tensor } from '../../../src/core/tensor.js';
import { ByteReader, ByteWriter, crc32 } from '../../../src/compress/encode/bytes.js';
import { NnzFormatError } from '../../../src/compress/encode/errors.js';
import { buildDecodeTable, decodeSymbols, encodeSymbols, huffmanCodeLengths, readCodeLengths, writeCodeLengths } from '../../../src/compress/encode/huffman.js';
import { packModel, unpackModel } from '../../../src/compress/encode/nnz.js';
import { NnzEncoding, decodeTensorData, encodeTensorData } from '../../../src/compress/encode/tensor-codec.js';
import { smallModel } from '../../compress/encode/helpers.js';
import { type MutatedBytes, type Seed, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** A model whose tensors take every coding: sparse, palette, deflate, raw; float, int8, int16, float16, int64. */
function mixedModel(): ReturnType<typeof smallModel> {
  const r = random(7);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 8]);
  const sparse = b.floats('sparse', [8, 32], Float32Array.from({ length: 256 }, () => (r() < 0.05 ? r() : 0)));
  const dense = b.floats('dense', [32, 4], Float32Array.from({ length: 128 }, () => r() - 0.5));
  const ramp = b.initializer(new Tensor('ramp', DataType.INT16, [6000], Int16Array.from({ length: 6000 }, (_, i) => i % 4500)));
  const codes = b.initializer(new Tensor('codes', DataType.INT8, [200], Int8Array.from({ length: 200 }, () => Math.floor(r() * 4) - 2)));
  const halves = b.initializer(new Tensor('halves', DataType.FLOAT16, [40], Uint16Array.from({ length: 40 }, () => (r() < 0.5 ? 0x3c00 : 0))));
  const shape = b.int64s('shape', [1, 4]);
  const y = b.op('Reshape', [b.op('MatMul', [b.op('MatMul', [x, sparse]), dense]), shape]);
  b.op('Identity', [ramp]);
  b.op('Identity', [codes]);
  b.op('Identity', [halves]);
  b.output(y, DataType.FLOAT, [1, 4]);
  return modelOf(b.graph, { '': 17 });
}

/** Offsets of the header's varints and the prefix's fixed fields, found by walking the header as the reader does. */
function containerSeed(name: string, bytes: Uint8Array): Seed {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const r = new ByteReader(bytes, 16, 16 + headerLength);
  const varints: number[] = [];
  const varint = () => { varints.push(r.pos); return r.varint('field'); };
  varint(); varint(); varint();
  const count = varint();
  for (let i = 0; i < count; i++) {
    r.bytes(varint(), 'name');
    varint(); varint();
    const rank = varint();
    for (let k = 0; k < rank; k++) varint();
    varint(); varint();
  }
  return { name, bytes, varints, ints: [{ at: 8, width: 2, littleEndian: true }, { at: 10, width: 2, littleEndian: true }, { at: 12, width: 4, littleEndian: true }] };
}

export interface NnzInput extends MutatedBytes {
  fixChecksum: boolean;
}

function withChecksum(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 20) return bytes;
  const out = new Uint8Array(bytes); // a copy (slice() of a Node Buffer would be a view)
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

export const nnzTarget: FuzzTarget<NnzInput> = {
  name: 'nnz',
  parsers: 'unpackModel (src/compress/encode/nnz.ts): framing, header, checksum, graph section, every tensor coding',
  open() {
    const seeds = [
      containerSeed('small model', packModel(smallModel()).bytes),
      containerSeed('small model, no deflate', packModel(smallModel(), { deflate: false }).bytes),
      containerSeed('mixed codings', packModel(mixedModel(), { minTensorBytes: 16 }).bytes),
    ];
    const inputs = fc.tuple(mutatedBytes(seeds, { maxOps: 3 }), fc.boolean()).map(([m, fixChecksum]): NnzInput => ({
      ...m, fixChecksum, bytes: fixChecksum ? withChecksum(m.bytes) : m.bytes,
    }));
    return {
      inputs,
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes, fixChecksum: false })),
      run: (input) => { unpackModel(input.bytes); },
      expected: [NnzFormatError],
      messagePrefix: /\.nnz/,
      bytesOf: (input) => input.bytes,
      // readNnz refuses files that declare more than max(64 MiB, 4096 x their size) of decoded data.
      allocationBound: (input) => allocationBound(input.bytes.length, 4096 + 1024),
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------

export interface PayloadInput extends MutatedBytes {
  kind: 'tensor' | 'huffman';
  encoding: number;
  dataType: DataType;
  /** Decoded bytes asked for (tensor) or symbols (huffman). */
  size: number;
  alphabet: number;
}

interface PayloadSeed extends Seed {
  kind: PayloadInput['kind'];
  encoding: number;
  dataType: DataType;
  size: number;
  alphabet: number;
}

function tensorPayloads(): PayloadSeed[] {
  const r = random(11);
  const cases: { name: string; dataType: DataType; data: ArrayBufferView & { length: number } }[] = [
    { name: 'sparse float', dataType: DataType.FLOAT, data: Float32Array.from({ length: 300 }, () => (r() < 0.1 ? r() : 0)) },
    { name: 'sparse uint8 indices', dataType: DataType.UINT8, data: Uint8Array.from({ length: 400 }, () => (r() < 0.2 ? 1 + Math.floor(r() * 7) : 0)) },
    { name: 'palette int8', dataType: DataType.INT8, data: Int8Array.from({ length: 256 }, () => Math.floor(r() * 6)) },
    { name: 'palette float16', dataType: DataType.FLOAT16, data: Uint16Array.from({ length: 128 }, () => [0x3c00, 0x4000, 0xbc00][Math.floor(r() * 3)]!) },
    { name: 'deflate int16 ramp', dataType: DataType.INT16, data: Int16Array.from({ length: 5000 }, (_, i) => i % 4400) },
    { name: 'raw float', dataType: DataType.FLOAT, data: Float32Array.from({ length: 48 }, () => r() - 0.5) },
    { name: 'sparse int64', dataType: DataType.INT64, data: BigInt64Array.from({ length: 64 }, () => (r() < 0.1 ? BigInt(Math.floor(r() * 1e9)) : 0n)) },
    { name: 'int4', dataType: DataType.INT4, data: Uint8Array.from({ length: 64 }, () => (r() < 0.3 ? 0x21 : 0)) },
  ];
  return cases.map(({ name, dataType, data }) => {
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const coded = encodeTensorData(raw, dataType);
    return { name: `${name} (${NnzEncoding[coded.encoding]})`, bytes: coded.payload, kind: 'tensor', encoding: coded.encoding, dataType, size: raw.byteLength, alphabet: 0 };
  });
}

function huffmanPayloads(): PayloadSeed[] {
  const r = random(13);
  return [[40, 3], [300, 20], [1000, 700]].map(([count, alphabet]) => {
    const symbols = Uint32Array.from({ length: count! }, () => Math.floor(r() ** 3 * alphabet!));
    const counts = new Float64Array(alphabet!);
    for (const s of symbols) counts[s]!++;
    const lengths = huffmanCodeLengths(counts);
    const w = new ByteWriter();
    writeCodeLengths(w, lengths);
    w.bytes(encodeSymbols(symbols, lengths));
    return { name: `huffman ${count} symbols of ${alphabet}`, bytes: w.finish(), kind: 'huffman' as const, encoding: -1, dataType: DataType.UINT8, size: count!, alphabet: alphabet! };
  });
}

function decodePayload(input: PayloadInput): void {
  if (input.kind === 'tensor') {
    decodeTensorData(input.encoding, input.bytes, input.dataType, input.size, 'fuzz payload');
    return;
  }
  const r = new ByteReader(input.bytes, 0, input.bytes.length, 'fuzz payload');
  const table = buildDecodeTable(readCodeLengths(r, input.alphabet, 'code lengths'), 'fuzz payload: code');
  decodeSymbols(input.bytes.subarray(r.pos), input.size, table, 'fuzz payload');
}

export const nnzPayloadTarget: FuzzTarget<PayloadInput> = {
  name: 'nnz-payload',
  parsers: 'decodeTensorData (tensor-codec.ts, sparse.ts, huffman.ts): one tensor payload of each coding, Huffman tables and streams',
  open() {
    const seeds = [...tensorPayloads(), ...huffmanPayloads()];
    // The container bounds a tensor's decoded size (by its own size); a payload is decoded into the size asked for.
    const sizes = (s: PayloadSeed) => fc.oneof(
      { arbitrary: fc.constant(s.size), weight: 8 },
      { arbitrary: fc.constantFrom(0, 1, s.size - 1, s.size + 1, s.size * 2, s.size + 4, Math.max(0, s.size - 4), 4096 * (s.bytes.length + 16)), weight: 2 },
    );
    const inputs = fc.nat({ max: seeds.length - 1 }).chain((i) => {
      const s = seeds[i]!;
      return fc.tuple(mutatedBytes([s], { maxOps: 3 }), sizes(s), fc.oneof({ arbitrary: fc.constant(s.encoding), weight: 9 }, { arbitrary: fc.nat({ max: 4 }), weight: 1 }))
        .map(([m, size, encoding]): PayloadInput => ({ ...m, kind: s.kind, encoding, dataType: s.dataType, size, alphabet: s.alphabet }));
    });
    return {
      inputs,
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes, kind: s.kind, encoding: s.encoding, dataType: s.dataType, size: s.size, alphabet: s.alphabet })),
      run: decodePayload,
      expected: [NnzFormatError],
      messagePrefix: /^fuzz payload/,
      bytesOf: (input) => input.bytes,
      // The decoded size is the caller's (the container bounds it); Huffman symbols take 4 bytes each.
      allocationBound: (input) => allocationBound(input.bytes.length, 1032) + 4 * input.size,
    };
  },
};
