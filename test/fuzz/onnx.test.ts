// Fuzzing ONNX decoding (decodeModel): mutated models from four seeds, then hand-made hostile ones — dims that claim
// 10^12 elements with no data behind them, counts that disagree with the data, string tensors, deep subgraphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import { ModelFormatError, decodeModel } from '../../src/core/codec.js';
import { DataType } from '../../src/core/dtype.js';
import { onnx } from '../../src/core/onnx/proto.js';
import { encodeVarint } from './mutate.js';
import { assertRefusedFast, fuzzTest } from './suite.js';
import { MiB } from './target.js';
import { inMemoryExternalReader } from './targets/onnx.js';

fuzzTest('onnx');

const long = (v: number | bigint) => Long.fromString(String(v));

function modelWith(tensor: onnx.ITensorProto): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: long(8), opsetImport: [{ domain: '', version: long(17) }],
    graph: { name: 'g', initializer: [tensor], node: [{ opType: 'Identity', input: [tensor.name!], output: ['y'] }], output: [{ name: 'y' }] },
  }).finish();
}

const decode = (bytes: Uint8Array) => () => decodeModel(bytes, { readExternal: inMemoryExternalReader });

test('onnx: dims that claim far more elements than the data holds are refused before anything is allocated', () => {
  // Each would allocate gigabytes (or throw a RangeError) if the decoder sized its array from the dims first.
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(1e6), long(1e6)] })), ModelFormatError,
    /^tensor 'w': float_data has 0 values, float32\[1000000,1000000\] needs 1000000000000$/);
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(2 ** 28)], floatData: [1] })), ModelFormatError,
    /^tensor 'w': float_data has 1 values, float32\[268435456\] needs 268435456$/, { maxBytes: 16 * MiB });
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.INT64, dims: [long(2 ** 30), long(4)], int64Data: [long(1)] })), ModelFormatError, /int64_data has 1 values/, { maxBytes: 16 * MiB });
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(2 ** 27)], rawData: new Uint8Array(16) })), ModelFormatError,
    /^tensor 'w': raw_data has 16 bytes, float32\[134217728\] needs 536870912$/, { maxBytes: 16 * MiB });
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(2 ** 31), long(2 ** 31), long(2 ** 31)] })), ModelFormatError, /^tensor 'w' has too many elements$/);
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(-1)] })), ModelFormatError, /^tensor 'w' has bad dims \[-1\]$/);
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: DataType.FLOAT, dims: [long(2n ** 63n - 1n)] })), ModelFormatError, /^tensor 'w' has bad dims/);
  assertRefusedFast(decode(modelWith({ name: 'w', dataType: 77, dims: [long(1)] })), ModelFormatError, /^tensor 'w' has unknown data type 77$/);
});

test('onnx: string tensors whose count disagrees with their dims, or that claim external data, are refused', () => {
  const utf8 = new TextEncoder();
  assertRefusedFast(decode(modelWith({ name: 's', dataType: DataType.STRING, dims: [long(3)], stringData: [utf8.encode('a')] })), ModelFormatError,
    /^tensor 's': string_data has 1 values, string\[3\] needs 3$/);
  assertRefusedFast(decode(modelWith({ name: 's', dataType: DataType.STRING, dims: [long(1e12)] })), ModelFormatError, /string_data has 0 values/);
  assertRefusedFast(decode(modelWith({
    name: 's', dataType: DataType.STRING, dims: [long(2)], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [{ key: 'location', value: 'w.bin' }],
  })), ModelFormatError, /^tensor 's': string tensors cannot be stored as external data$/);
  // A name with a line break still gives a one-line message.
  assertRefusedFast(decode(modelWith({ name: 'a\nb', dataType: DataType.FLOAT, dims: [long(2)], floatData: [1] })), ModelFormatError, /^tensor 'a\\x0ab': float_data has 1 values/);
});

test('onnx: an external reference whose length disagrees with the tensor is refused before the data is read', () => {
  let reads = 0;
  const bytes = modelWith({
    name: 'w', dataType: DataType.FLOAT, dims: [long(4)], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: 'w.bin' }, { key: 'length', value: String(2 ** 40) }],
  });
  assertRefusedFast(() => decodeModel(bytes, { readExternal: (...args) => { reads++; return inMemoryExternalReader(...args); } }), ModelFormatError,
    /^tensor 'w': external data 'w\.bin' gives 1099511627776 bytes, float32\[4\] needs 16$/);
  assert.equal(reads, 0);
});

test('onnx: length fields that point past the end, and subgraphs nested thousands deep, are refused', () => {
  // GraphProto (field 7) whose length varint says 2^31 - 1 bytes follow, or 2^32 - 1 (not even a valid length).
  assertRefusedFast(decode(Uint8Array.from([0x08, 0x08, 0x3a, ...encodeVarint(2n ** 31n - 1n), 0x0a, 0x00])), ModelFormatError, /^not a readable ONNX model \(index out of range/);
  assertRefusedFast(decode(Uint8Array.from([0x08, 0x08, 0x3a, ...encodeVarint(2n ** 32n - 1n), 0x0a, 0x00])), ModelFormatError, /^not a readable ONNX model \(invalid length encoding\)$/);
  // Graph -> node -> attribute -> graph, 20000 times (1.7 MB): refused, not a stack overflow.
  const prefixes: number[][] = [];
  let inner = 0;
  for (let i = 0; i < 20000; i++) {
    const attribute = [0x0a, 1, 0x67, 0x20, 5, 0x32, ...encodeVarint(BigInt(inner))];
    const node = [0x2a, ...encodeVarint(BigInt(attribute.length + inner))];
    const graph = [0x0a, ...encodeVarint(BigInt(node.length + attribute.length + inner))];
    prefixes.push([...graph, ...node, ...attribute]);
    inner += graph.length + node.length + attribute.length;
  }
  const body = prefixes.reverse().flat();
  const nested = Uint8Array.from([0x08, 0x08, 0x3a, ...encodeVarint(BigInt(body.length)), ...body, 0x42, 0x02, 0x10, 0x11]);
  assertRefusedFast(decode(nested), ModelFormatError, /^not a readable ONNX model \(max depth exceeded\)$/, { maxMs: 2000 });
});
