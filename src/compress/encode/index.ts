// Deep Compression's third stage and the .nnz container: Huffman coding, sparse relative indices, packing.
export { NnzFormatError } from './errors.js';
export { ByteReader, ByteWriter, crc32 } from './bytes.js';
export {
  BitWriter, HuffmanEncoder, MAX_CODE_LENGTH, buildDecodeTable, canonicalCodes, codedBits, decodeSymbols, encodeSymbols,
  huffmanCodeLengths, readCodeLengths, writeCodeLengths,
} from './huffman.js';
export type { DecodeTable } from './huffman.js';
export {
  MAX_GAP_BITS, MAX_PALETTE, decodePalette, decodeSparse, encodePalette, encodeSparse, planPalette, planSparse, unitStats, unitsView,
} from './sparse.js';
export type { PalettePlan, SparsePlan, UnitStats, UnitWidth, Units } from './sparse.js';
export { ENCODING_NAMES, NnzEncoding, decodeTensorData, encodeTensorData, inflateExactly, unitWidthOf } from './tensor-codec.js';
export type { EncodedTensorData, NnzEncodingName, TensorEncodeOptions } from './tensor-codec.js';
export {
  GraphEncoding, NNZ_LOCATION, NNZ_MAGIC, NNZ_VERSION, createSessionFromNnz, isNnz, packModel, readNnz, unpackModel, writeNnz,
} from './nnz.js';
export type {
  NnzContainer, NnzEntry, NnzPackReport, NnzTensorReport, PackOptions, PackResult, ReadOptions, TensorRole, UnpackOptions,
} from './nnz.js';
