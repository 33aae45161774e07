import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeModel } from '../../../src/core/codec.js';
import { onnx } from '../../../src/core/onnx/proto.js';
import { DataType } from '../../../src/core/dtype.js';
import { Graph, Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { pruneUnstructured } from '../../../src/compress/prune/index.js';
import { quantizeWeights } from '../../../src/compress/quantize/weight-only.js';
import { clusterWeights } from '../../../src/compress/share/cluster.js';
import { NnzFormatError } from '../../../src/compress/encode/errors.js';
import { ByteWriter, crc32 } from '../../../src/compress/encode/bytes.js';
import { NnzEncoding, encodeTensorData } from '../../../src/compress/encode/tensor-codec.js';
import {
  NNZ_MAGIC, createSessionFromNnz, isNnz, packModel, readNnz, unpackModel, writeNnz,
} from '../../../src/compress/encode/nnz.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { loadModel } from '../../../src/node/io.js';
import { readNpy } from '../../../src/node/npy.js';
import { ALL_MODELS, assertBitIdentical, fixture } from '../../fixtures/fixtures.js';
import { clusterForTest, onnxBytes, smallModel } from './helpers.js';

/** Packs and unpacks; asserts the unpacked model encodes to the very same ONNX bytes and every tensor is bit-identical. */
function assertRoundTrip(model: Model, what: string) {
  const packed = packModel(model);
  assert.ok(isNnz(packed.bytes));
  const back = unpackModel(packed.bytes);
  for (const [name, t] of model.graph.initializers) assertBitIdentical(back.graph.initializers.get(name)!, t, `${what}: ${name}`);
  assert.deepEqual([...back.graph.initializers.keys()], [...model.graph.initializers.keys()], `${what}: initializer order`);
  assert.ok(Buffer.from(onnxBytes(back)).equals(Buffer.from(onnxBytes(model))), `${what}: the unpacked model encodes to the same ONNX bytes`);
  for (const t of back.graph.initializers.values()) assert.equal(t.external, undefined, 'no reference to the container is left');
  return packed;
}

test('pack/unpack round-trips every fixture bit-exact (graph and tensors)', () => {
  for (const name of ALL_MODELS) {
    const path = fixture(`${name}.onnx`);
    const model = loadModel(path);
    const { report } = assertRoundTrip(model, name);
    // The file's own bytes decode to the same model as the unpacked one.
    assert.ok(Buffer.from(onnxBytes(unpackModel(packModel(decodeModel(readFileSync(path))).bytes))).equals(Buffer.from(onnxBytes(model))));
    assert.equal(report.totalBytes, packModel(model).bytes.byteLength, 'packing is deterministic');
    // Bytes as Node reads files: a Buffer at an odd offset (its slice() is a view, and typed arrays need alignment).
    const packed = packModel(model).bytes;
    const odd = Buffer.concat([Buffer.alloc(1), Buffer.from(packed)]).subarray(1);
    assert.ok(Buffer.from(onnxBytes(unpackModel(odd))).equals(Buffer.from(onnxBytes(model))), `${name}: from an unaligned Buffer`);
  }
});

test('a 90%-pruned lenet-300-100 packs much smaller than its ONNX file, as sparse relative indices', () => {
  const dense = buildArch('lenet-300-100', { seed: 1 });
  const pruned = pruneUnstructured(dense, { sparsity: 0.9 }).model;
  const { bytes, report } = assertRoundTrip(pruned, 'pruned lenet-300-100');
  const onnx = onnxBytes(pruned).byteLength;
  assert.ok(onnx / bytes.byteLength > 7, `ONNX ${onnx} B, .nnz ${bytes.byteLength} B: ${(onnx / bytes.byteLength).toFixed(2)}x`);
  const weights = report.tensors.filter((t) => t.dims.length === 2);
  assert.equal(weights.length, 3);
  for (const w of weights) {
    assert.equal(w.encoding, 'sparse', w.name);
    assert.ok(Math.abs(w.density! - 0.1) < 0.01, `${w.name} density ${w.density}`);
    // 4 value bytes per non-zero plus a few bits of gap: at most 4.8 bytes per kept weight.
    const kept = w.density! * w.dims[0]! * w.dims[1]!;
    assert.ok(w.bytesAfter < kept * 4.8 + 100, `${w.name}: ${w.bytesAfter} B for ${kept} non-zeros`);
  }
  assert.equal(report.float32WeightBytes, 4 * 266610, 'weights and biases of lenet-300-100 as float32');
  assert.equal(report.totalBytes, bytes.byteLength);
  assert.equal(report.headerBytes + report.graphBytes + report.tensorBytesAfter + 4, bytes.byteLength, 'the parts add up');
});

test('pruned and clustered (5-bit Gather codebooks) lenet-300-100: indices Huffman-coded with zeros as gaps, about 40x', () => {
  const pruned = pruneUnstructured(buildArch('lenet-300-100', { seed: 2 }), { sparsity: 0.92 }).model;
  const clustered = clusterForTest(pruned, 5);
  const { bytes, report } = assertRoundTrip(clustered, 'clustered lenet-300-100');
  const indices = report.tensors.filter((t) => t.role === 'cluster-indices');
  const books = report.tensors.filter((t) => t.role === 'codebook');
  assert.equal(indices.length, 3);
  assert.equal(books.length, 3);
  for (const t of indices) {
    assert.equal(t.encoding, 'sparse');
    assert.equal(t.values, 'palette');
  }
  const ratio = report.float32WeightBytes / bytes.byteLength;
  assert.equal(report.float32WeightBytes, 4 * 266610, 'codebooks excluded, each index counts as one float32 weight');
  assert.ok(ratio > 35, `${ratio.toFixed(1)}x smaller than the float32 weights`);
  // The clustered model still runs, and the unpacked one gives the same outputs.
  return (async () => {
    const inputName = clustered.graph.inputs[0]!.name;
    const x = { [inputName]: Tensor.fromFloat32(inputName, [2, 1, 28, 28], Float32Array.from({ length: 1568 }, (_, i) => (i % 13) / 13)) };
    const a = await nodeRuntime.createSession(clustered, { threads: 1 });
    const b = await createSessionFromNnz(nodeRuntime, bytes, { threads: 1 });
    const ya = Object.values(await a.run(x))[0]!.toFloat32();
    const yb = Object.values(await b.run(x))[0]!.toFloat32();
    assert.deepEqual(yb, ya);
    await a.release();
    await b.release();
  })();
});

test('models written by the share/cluster pass (gather and dense forms) round-trip, its indices recognized', () => {
  const pruned = pruneUnstructured(buildArch('lenet-300-100', { seed: 6 }), { sparsity: 0.9 }).model;
  const gather = clusterWeights(pruned, { bits: 5 }).model;
  const g = assertRoundTrip(gather, 'clusterWeights gather form');
  const indices = g.report.tensors.filter((t) => t.role === 'cluster-indices');
  assert.equal(indices.length, 3);
  assert.ok(indices.every((t) => t.encoding === 'sparse' && t.values === 'palette'));
  const dense = clusterWeights(pruned, { bits: 5, format: 'dense' }).model;
  const d = assertRoundTrip(dense, 'clusterWeights dense form');
  // Dense shared weights hold few distinct values: coded as a palette too, nearly as small as the gather form.
  assert.ok(d.bytes.byteLength < g.bytes.byteLength * 1.2, `dense form ${d.bytes.byteLength} B, gather form ${g.bytes.byteLength} B`);
  assert.ok(d.report.tensors.filter((t) => t.dims.length === 2).every((t) => t.values === 'palette'));
});

test('tensors inside subgraphs (If branches with same-named initializers) round-trip and run', async () => {
  const branch = (name: string, scale: number) => {
    const g = new Graph();
    g.name = name;
    g.initializers.set('w', Tensor.fromFloat32('w', [64], Float32Array.from({ length: 64 }, (_, i) => (i % 3 ? 0 : scale * i))));
    g.nodes.push(new Node('Mul', ['x', 'w'], [`${name}_y`], `${name}_mul`));
    g.outputs.push({ name: `${name}_y`, type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [64] } });
    return g;
  };
  const model = new Model();
  model.opsetImports.set('', 17);
  model.graph.inputs.push({ name: 'x', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [64] } }, { name: 'c', type: { kind: 'tensor', elemType: DataType.BOOL, shape: [] } });
  model.graph.nodes.push(new Node('If', ['c'], ['y'], 'if', '', [{ name: 'then_branch', type: 'GRAPH', value: branch('then', 1) }, { name: 'else_branch', type: 'GRAPH', value: branch('else', -2) }]));
  model.graph.outputs.push({ name: 'y', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [64] } });
  const { bytes, report } = packModel(model);
  assert.equal(report.tensors.length, 2, 'both branch tensors get entries');
  const back = unpackModel(bytes);
  assert.ok(Buffer.from(onnxBytes(back)).equals(Buffer.from(onnxBytes(model))));
  const session = await createSessionFromNnz(nodeRuntime, bytes, { threads: 1 });
  const x = Tensor.fromFloat32('x', [64], new Float32Array(64).fill(1));
  for (const [cond, scale] of [[1, 1], [0, -2]] as const) {
    const y = (await session.run({ x, c: new Tensor('c', DataType.BOOL, [], Uint8Array.of(cond)) })).y!.toFloat32();
    assert.equal(y[3], scale * 3);
    assert.equal(y[4], 0);
  }
  await session.release();
});

test('quantized models (int8 per channel, 4-bit log2 codebooks) round-trip bit-exact', async () => {
  const base = pruneUnstructured(buildArch('lenet-300-100', { seed: 3 }), { sparsity: 0.5 }).model;
  const int8 = (await quantizeWeights(base, { bits: 8 })).model;
  const packed = assertRoundTrip(int8, 'int8 lenet-300-100');
  const weights = packed.report.tensors.filter((t) => t.dataType === 'int8');
  assert.ok(weights.length >= 3);
  for (const w of weights) assert.ok(w.bytesAfter < w.bytesBefore * 0.8, `${w.name} (${w.encoding}): ${w.bytesAfter} of ${w.bytesBefore}`);
  const log2 = (await quantizeWeights(base, { bits: 4, levels: 'log2' })).model;
  const p2 = assertRoundTrip(log2, 'log2 lenet-300-100');
  assert.ok(p2.report.tensors.some((t) => t.role === 'cluster-indices'), 'codes -> Cast -> Gather(codebook) is recognized');
  const fp16 = buildArch('lenet-5', { seed: 4 });
  assertRoundTrip(fp16, 'lenet-5');
});

test('createSessionFromNnz decodes in memory into onnxruntime-node and onnxruntime-web sessions', async () => {
  const model = loadModel(fixture('mlp.onnx'));
  const input = readNpy(fixture('mlp.input.npy'));
  const expected = readNpy(fixture('mlp.output.npy')).toFloat32();
  const { bytes } = packModel(model);
  const name = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name))!.name;
  for (const runtime of [nodeRuntime, webRuntime]) {
    const session = await createSessionFromNnz(runtime, bytes, { threads: 1 });
    const y = Object.values(await session.run({ [name]: input.renamed(name) }))[0]!.toFloat32();
    assert.equal(y.length, expected.length);
    for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - expected[i]!) < 1e-4, `${runtime.name} output ${i}`);
    await session.release();
  }
  await assert.rejects(createSessionFromNnz(nodeRuntime, bytes.subarray(0, 100)), NnzFormatError);
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile input: every defect is a one-line NnzFormatError.

function assertFormatError(bytes: Uint8Array, pattern: RegExp | undefined, what: string) {
  let error: unknown;
  try {
    unpackModel(bytes);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof NnzFormatError, `${what}: expected NnzFormatError, got ${error instanceof Error ? `${error.name}: ${error.message}` : 'success'}`);
  assert.ok(!/\n/.test(error.message), `${what}: one line`);
  if (pattern) assert.match(error.message, pattern, what);
}

/** A container re-written with new CRC after `edit` changes its parsed form. */
function rewrite(bytes: Uint8Array, edit: (c: ReturnType<typeof readNnz>) => void): Uint8Array {
  const c = readNnz(bytes);
  c.entries = c.entries.map((e) => ({ ...e, dims: [...e.dims] }));
  edit(c);
  return writeNnz(c);
}

test('truncation at every length and bit flips at every byte give NnzFormatError', () => {
  const { bytes } = packModel(smallModel());
  assert.ok(bytes.byteLength > 300 && bytes.byteLength < 4000, `${bytes.byteLength} bytes`);
  const encodings = new Set(readNnz(bytes).entries.map((e) => e.encoding));
  assert.ok(encodings.has(NnzEncoding.SPARSE) && encodings.has(NnzEncoding.PALETTE) && encodings.has(NnzEncoding.RAW), `encodings ${[...encodings]}`);
  for (let len = 0; len < bytes.byteLength; len++) assertFormatError(bytes.subarray(0, len), len === 0 ? undefined : /truncated/, `truncated to ${len}`);
  let state = 99;
  for (let i = 0; i < bytes.byteLength; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    const flipped = bytes.slice();
    flipped[i]! ^= 1 << (state % 8);
    assertFormatError(flipped, i < 12 ? undefined : /checksum|truncated|corrupt/, `bit flip at byte ${i}`);
  }
  const longer = new Uint8Array(bytes.byteLength + 3);
  longer.set(bytes);
  assertFormatError(longer, /after the declared end|checksum/, 'trailing bytes');
});

test('wrong magic, unknown version, checksum mismatch: NnzFormatError naming the problem', () => {
  const { bytes } = packModel(smallModel());
  assertFormatError(onnxBytes(smallModel()), /not an .nnz file/, 'an ONNX file');
  assertFormatError(new TextEncoder().encode('hello world, this is text'), /wrong magic/, 'text');
  const v2 = bytes.slice();
  v2[8] = 2;
  assertFormatError(v2, /unsupported .nnz version 2\.0/, 'version 2');
  const payloadByte = bytes.slice();
  payloadByte[bytes.byteLength - 10]! ^= 0x40;
  assertFormatError(payloadByte, /checksum mismatch/, 'a flipped payload byte');
  const crc = bytes.slice();
  crc[bytes.byteLength - 1]! ^= 1;
  assertFormatError(crc, /checksum mismatch/, 'a flipped checksum');
});

test('valid checksums over hostile contents: bad Huffman tables, gaps past the tensor, huge sizes, bad references', () => {
  const { bytes } = packModel(smallModel());
  const sparseIndex = readNnz(bytes).entries.findIndex((e) => e.encoding === NnzEncoding.SPARSE);
  const sparse = readNnz(bytes).entries[sparseIndex]!;
  // Gap code lengths that are not a prefix code: a hand-built sparse payload, all four 2-bit gap codes of length 1.
  const hostile = new ByteWriter();
  hostile.u8(2).u8(0).u8(0).varint(1).varint(8).u8(0x11).u8(0x11).u8(7).u8(0);
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.payload = hostile.finish(); }), /not a prefix code/, 'over-subscribed gap code');
  // Gaps running past the tensor: the payload of a longer tensor with a non-zero near its end.
  const n = sparse.dims.reduce((a, b) => a * b, 1);
  const longer = new Uint8Array(n * 2);
  longer[n + 5] = 3;
  longer[7] = 1;
  const coded = encodeTensorData(longer, sparse.dataType, { deflate: false });
  assert.equal(coded.encoding, NnzEncoding.SPARSE);
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.payload = coded.payload; }), /gaps run past the tensor/, 'gaps past the end');
  // Huge declared sizes: refused before anything is allocated.
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.dims = [2 ** 20, 2 ** 20]; }), /over the limit/, '1 TiB tensor');
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.dims = [2 ** 30, 2 ** 30]; }), /too many elements|over the limit/, '2^60 elements');
  assertFormatError(rewrite(bytes, (c) => { c.graphBytes = 2 ** 30; }), /cannot hold|over the limit|graph/, 'huge graph');
  // Entries and graph that disagree.
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.dims = [sparse.dims[0]! - 1]; }), /graph expects/, 'wrong dims');
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.key += 1; }), /no entry has|not referred/, 'wrong key');
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.name = 'other'; }), /refers to the entry/, 'wrong name');
  assertFormatError(rewrite(bytes, (c) => { c.entries.push({ ...c.entries[0]!, key: 123456789 }); }), /not referred to/, 'orphan entry');
  assertFormatError(rewrite(bytes, (c) => { c.entries.push({ ...c.entries[0]! }); }), /share key/, 'duplicate key');
  assertFormatError(rewrite(bytes, (c) => { c.entries[sparseIndex]!.encoding = 7 as NnzEncoding; }), /unknown encoding 7/, 'unknown encoding');
  assertFormatError(rewrite(bytes, (c) => { c.graph = c.graph.subarray(0, c.graph.byteLength - 5); }), /graph/, 'cut graph section');
  assertFormatError(rewrite(bytes, (c) => { c.graph = new TextEncoder().encode('not a protobuf at all'); c.graphEncoding = 0; c.graphBytes = c.graph.byteLength; }), /graph section/, 'garbage graph');
  // A payload length pointing past the end: a header hand-edited to claim more bytes than the file holds.
  const c = readNnz(bytes);
  const header = new ByteWriter();
  header.varint(c.graphEncoding).varint(c.graph.byteLength).varint(c.graphBytes).varint(1).string('x').varint(0).varint(1).varint(1).varint(10).varint(0).varint(2 ** 40);
  const h = header.finish();
  const forged = new Uint8Array(16 + h.byteLength + 4);
  forged.set(NNZ_MAGIC);
  new DataView(forged.buffer).setUint16(8, 1, true);
  new DataView(forged.buffer).setUint32(12, h.byteLength, true);
  forged.set(h, 16);
  new DataView(forged.buffer).setUint32(forged.byteLength - 4, crc32(forged.subarray(0, forged.byteLength - 4)), true);
  assertFormatError(forged, /payload length|truncated/, 'payload past the end');
  // readNnz's limit is an option: raised, a file declaring more than the default is read.
  const zeros = packModel(modelWithZeros(2_500_000), { deflate: false }).bytes;
  assertFormatError(zeros, /over the limit/, 'legit but over the default limit');
  assert.equal(unpackModel(zeros, { maxDecodedBytes: 2 ** 30 }).graph.initializers.get("zeros")!.size, 2_500_000 * 8);
});

test('hostile graph sections and payloads behind a valid checksum: NnzFormatError, never another error', () => {
  const { bytes } = packModel(smallModel());
  // An inline tensor declaring 2^31 floats with no data: refused before the ONNX decoder would allocate 8 GiB.
  const proto = onnx.ModelProto.decode(onnxBytes(smallModel()));
  proto.graph!.initializer!.push(onnx.TensorProto.create({ name: 'huge', dims: [2 ** 31], dataType: 1 }));
  const graph = onnx.ModelProto.encode(proto).finish();
  const hostile = rewrite(bytes, (c) => { c.graph = graph; c.graphEncoding = 0; c.graphBytes = graph.byteLength; });
  const started = performance.now();
  assertFormatError(hostile, /declares 2147483648 elements/, 'huge inline tensor');
  assert.ok(performance.now() - started < 1000);
  // Random changes to every payload and to the graph section, the checksum recomputed each time.
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) >>> 0);
  const c = readNnz(bytes);
  const targets = [...c.entries.map((_, i) => i), -1];
  let rejected = 0, accepted = 0;
  for (const target of targets) {
    for (let trial = 0; trial < 150; trial++) {
      const mutated = rewrite(bytes, (k) => {
        const part = target < 0 ? k.graph : k.entries[target]!.payload;
        const copy = new Uint8Array(part);
        for (let f = 0; f <= next() % 3; f++) copy[next() % copy.byteLength] = next() & 0xff;
        if (target < 0) k.graph = copy;
        else k.entries[target]!.payload = copy;
      });
      try {
        unpackModel(mutated);
        accepted++;
      } catch (e) {
        assert.ok(e instanceof NnzFormatError, `${target < 0 ? 'graph' : `entry ${target}`} trial ${trial}: ${(e as Error).name}: ${(e as Error).message}`);
        rejected++;
      }
    }
  }
  assert.ok(rejected > 100, `${rejected} rejected, ${accepted} decoded to some model`);
});

function modelWithZeros(rows: number): Model {
  const m = smallModel();
  m.graph.initializers.set('zeros', Tensor.zeros('zeros', 1, [rows, 8]));
  return m;
}
