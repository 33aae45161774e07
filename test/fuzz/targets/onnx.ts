// ONNX protobuf bytes -> Model (src/core/codec.ts decodeModel). Seeds: two fixture exports, a builder-made MLP, and a
// hand-written proto that uses every tensor data field, every attribute type, subgraphs, value_info shapes, sparse
// initializers, functions and an external-data reference; mutations aim at its varints (lengths, dims, types).
import { readFileSync } from 'node:fs';
import Long from 'long';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { ModelFormatError, decodeModel, encodeModel, type ExternalDataReader } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { onnx } from '../../../src/core/onnx/proto.js';
import { fixture } from '../../fixtures/fixtures.js';
import fc from 'fast-check';
import { type MutatedBytes, type Seed, mutateTree, mutatedBytes, protobufFields, treeMutationArbitrary } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

/** Bytes of the pretend external data file: the size a reader would find on disk. */
const EXTERNAL_FILE_BYTES = 1 << 16;

/** A reader that behaves like loadModel's, over an in-memory file of EXTERNAL_FILE_BYTES zero bytes. */
export const inMemoryExternalReader: ExternalDataReader = (ref, tensorName, expectedBytes) => {
  const length = ref.length ?? expectedBytes;
  if (ref.offset + length > EXTERNAL_FILE_BYTES) {
    throw new ModelFormatError(`tensor '${tensorName}': external data '${ref.location}' has ${EXTERNAL_FILE_BYTES} bytes, the tensor needs bytes ${ref.offset}..${ref.offset + length}`);
  }
  return new Uint8Array(length);
};

const utf8 = new TextEncoder();
const long = (v: number) => Long.fromNumber(v);

function builtMlp(): Uint8Array {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  const w = b.floats('w', [4, 3], [0.5, -1, 2, 0, 1, 1, -0.25, 3, 0.125, 7, -2, 1]);
  const shape = b.int64s('shape', [-1, 3]);
  const y = b.op('Reshape', [b.op('Relu', [b.op('MatMul', [x, w])]), shape]);
  b.output(y, DataType.FLOAT, ['batch', 3]);
  return encodeModel(modelOf(b.graph, { '': 17 })).bytes;
}

function tensor(name: string, dataType: DataType, dims: number[], fields: Partial<onnx.ITensorProto>): onnx.ITensorProto {
  return { name, dataType, dims: dims.map(long), ...fields };
}

/** A proto exercising every field decodeModel reads. */
function everyField(): Uint8Array {
  const sub: onnx.IGraphProto = {
    name: 'then',
    node: [{ opType: 'Constant', output: ['c'], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: tensor('cv', DataType.FLOAT, [1], { floatData: [1] }) }] }],
    output: [{ name: 'c', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: long(1) }] } } } }],
    initializer: [tensor('sub_w', DataType.INT32, [2], { int32Data: [1, -1] })],
  };
  const AT = onnx.AttributeProto.AttributeType;
  const model: onnx.IModelProto = {
    irVersion: long(9),
    opsetImport: [{ domain: '', version: long(17) }, { domain: 'com.microsoft', version: long(1) }],
    producerName: 'fuzz', producerVersion: '1', domain: 'ai.fuzz', modelVersion: long(3), docString: 'seed',
    metadataProps: [{ key: 'k', value: 'v' }],
    functions: [{ name: 'F', domain: 'local', input: ['a'], output: ['b'], node: [{ opType: 'Identity', input: ['a'], output: ['b'] }], opsetImport: [{ domain: '', version: long(17) }] }],
    graph: {
      name: 'g',
      docString: 'graph',
      input: [{ name: 'x', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: long(2) }, {}] } } } },
        { name: 'seq', type: { sequenceType: { elemType: { tensorType: { elemType: DataType.FLOAT } } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DataType.FLOAT } } }],
      valueInfo: [{ name: 'h', type: { tensorType: { elemType: DataType.INT64, shape: { dim: [{ dimValue: long(5) }] } } }, docString: 'h' }],
      initializer: [
        tensor('f', DataType.FLOAT, [2, 2], { floatData: [1, 2, 3, 4] }),
        tensor('d', DataType.DOUBLE, [2], { doubleData: [0.5, -1e300] }),
        tensor('i8', DataType.INT8, [3], { int32Data: [-128, 0, 127] }),
        tensor('u16', DataType.UINT16, [2], { int32Data: [0, 65535] }),
        tensor('f16', DataType.FLOAT16, [2], { int32Data: [0x3c00, 0xc000] }),
        tensor('b', DataType.BOOL, [2], { int32Data: [0, 1] }),
        tensor('i64', DataType.INT64, [3], { int64Data: [long(-1), long(2 ** 40), long(0)] }),
        tensor('u32', DataType.UINT32, [1], { uint64Data: [long(4000000000)] }),
        tensor('u64', DataType.UINT64, [1], { uint64Data: [long(12345)] }),
        tensor('s', DataType.STRING, [2], { stringData: [utf8.encode('ab'), utf8.encode('')] }),
        tensor('c64', DataType.COMPLEX64, [1], { floatData: [1, -1] }),
        tensor('i4', DataType.INT4, [3], { rawData: Uint8Array.of(0x21, 0x0f) }),
        tensor('raw', DataType.INT16, [2, 1], { rawData: Uint8Array.of(1, 0, 255, 255) }),
        tensor('scalar', DataType.FLOAT, [], { rawData: Uint8Array.of(0, 0, 128, 63) }),
        tensor('empty', DataType.FLOAT, [0, 3], {}),
        tensor('ext', DataType.FLOAT, [4], {
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '64' }, { key: 'length', value: '16' }],
        }),
      ],
      sparseInitializer: [{ values: tensor('sv', DataType.FLOAT, [1], { floatData: [1] }), indices: tensor('si', DataType.INT64, [1], { int64Data: [long(0)] }), dims: [long(4)] }],
      node: [
        {
          opType: 'If', name: 'if', input: ['cond'], output: ['y'],
          attribute: [{ name: 'then_branch', type: AT.GRAPH, g: sub }, { name: 'else_branch', type: AT.GRAPH, g: sub }],
        },
        {
          opType: 'Custom', domain: 'com.microsoft', name: 'all_attributes', input: ['x', ''], output: ['h'], docString: 'node',
          attribute: [
            { name: 'f', type: AT.FLOAT, f: 0.5 },
            { name: 'i', type: AT.INT, i: long(-3) },
            { name: 's', type: AT.STRING, s: utf8.encode('text') },
            { name: 't', type: AT.TENSOR, t: tensor('at', DataType.INT64, [2], { int64Data: [long(1), long(2)] }) },
            { name: 'fs', type: AT.FLOATS, floats: [1, 2.5] },
            { name: 'is', type: AT.INTS, ints: [long(1), long(-1)] },
            { name: 'ss', type: AT.STRINGS, strings: [utf8.encode('a'), utf8.encode('b')] },
            { name: 'ts', type: AT.TENSORS, tensors: [tensor('at2', DataType.FLOAT, [1], { floatData: [3] })] },
            { name: 'gs', type: AT.GRAPHS, graphs: [sub] },
            { name: 'tp', type: AT.TYPE_PROTO, tp: { tensorType: { elemType: DataType.FLOAT } } },
            { name: 'ref', type: AT.INT, refAttrName: 'outer' },
            { name: 'untyped', ints: [long(4), long(5)] }, // IR version 1 style: the type is inferred
          ],
        },
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function seedOf(name: string, bytes: Uint8Array): Seed {
  return { name, bytes, ...protobufFields(bytes) };
}

export function onnxSeeds(): Seed[] {
  return [
    seedOf('typed_fields.onnx', readFileSync(fixture('typed_fields.onnx'))),
    seedOf('slice_opset9.onnx', readFileSync(fixture('slice_opset9.onnx'))),
    seedOf('mlp (builder)', builtMlp()),
    seedOf('every field', everyField()),
  ];
}

const toLong = (v: bigint, unsigned: boolean) => Long.fromString((unsigned ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v)).toString(), unsigned);

/** Seeds decoded, mutated as message trees, and encoded again: well-formed protobuf with odd field values. */
export function treeMutated(seeds: readonly Seed[], maxOps = 3): fc.Arbitrary<MutatedBytes> {
  return fc.record({ seed: fc.nat({ max: seeds.length - 1 }), ops: fc.array(treeMutationArbitrary, { minLength: 1, maxLength: maxOps }) })
    .map(({ seed, ops }) => {
      const s = seeds[seed]!;
      const tree = onnx.ModelProto.decode(s.bytes) as unknown as Record<string, unknown>;
      mutateTree(tree, ops, toLong);
      return { seed: s.name, ops, bytes: onnx.ModelProto.encode(tree as onnx.IModelProto).finish() };
    });
}

export const onnxTarget: FuzzTarget<MutatedBytes> = {
  name: 'onnx',
  parsers: 'decodeModel (src/core/codec.ts): ONNX protobuf, tensor data fields, attributes, subgraphs, external-data references',
  open() {
    const seeds = onnxSeeds();
    return {
      // Byte mutations test the protobuf framing; tree mutations reach what the fields mean.
      inputs: fc.oneof(mutatedBytes(seeds, { maxOps: 3 }), treeMutated(seeds)),
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes })),
      run: (input) => { decodeModel(input.bytes, { readExternal: inMemoryExternalReader }); },
      expected: [ModelFormatError],
      bytesOf: (input) => input.bytes,
      // Protobuf objects and the IR: a few hundred bytes of JavaScript objects per field, fields of a byte or two.
      allocationBound: (input) => allocationBound(input.bytes.length, 1024),
    };
  },
};
