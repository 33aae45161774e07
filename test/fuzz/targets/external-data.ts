// External data (src/node/io.ts loadModel + resolveExternalLocation): models whose tensors point at files by
// location, offset and length, loaded from a temporary folder that also holds symbolic links out of it, a folder
// where a file is expected, and a file beside the folder that must never be read. The property beyond "parsed or a
// typed error": no tensor ever holds bytes of the file outside, and a location that leaves the folder is refused.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Long from 'long';
import { ModelFormatError } from '../../../src/core/codec.js';
import { DataType, bytesOf } from '../../../src/core/dtype.js';
import { onnx } from '../../../src/core/onnx/proto.js';
import { FileError, loadModel } from '../../../src/node/io.js';
import { type Mutation, applyMutations, mutationArbitrary, protobufFields } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

/** Every byte of the file outside the model's folder: a tensor holding it was read from outside. */
const OUTSIDE_BYTE = 0xee;
const FILE_BYTES = 4096;

export interface ExternalInput {
  location: string;
  /** Whether the location, unmutated, leaves the model's folder (then it must be refused as such). */
  escapes: boolean;
  offset?: string;
  length?: string;
  dataType: DataType;
  dims: number[];
  /** Byte mutations of the encoded model, after the fields above. */
  ops: Mutation[];
  bytes: Uint8Array;
}

interface Layout {
  root: string;
  folder: string;
  modelPath: string;
  /** [location, leaves the folder] */
  locations: [string, boolean][];
}

/**
 * root/outside.bin              the file no tensor may read (all OUTSIDE_BYTE)
 * root/model/weights.bin        inside files (bytes 0..0xed, never OUTSIDE_BYTE)
 * root/model/sub/w2.bin
 * root/model/link-out.bin  ->   ../outside.bin  (a link leading out)
 * root/model/link-in.bin   ->   weights.bin     (a link staying in)
 * root/model/up            ->   ..              (a folder link leading out)
 * root/model/afolder/           a folder where a file is expected
 */
function makeLayout(): Layout {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'nnzip-fuzz-external-')));
  const folder = join(root, 'model');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  mkdirSync(join(folder, 'afolder'));
  writeFileSync(join(root, 'outside.bin'), new Uint8Array(FILE_BYTES).fill(OUTSIDE_BYTE));
  const inside = Uint8Array.from({ length: FILE_BYTES }, (_, i) => i % OUTSIDE_BYTE);
  writeFileSync(join(folder, 'weights.bin'), inside);
  writeFileSync(join(folder, 'sub', 'w2.bin'), inside);
  symlinkSync(join(root, 'outside.bin'), join(folder, 'link-out.bin'));
  symlinkSync(join(folder, 'weights.bin'), join(folder, 'link-in.bin'));
  symlinkSync(root, join(folder, 'up'));
  const locations: [string, boolean][] = [
    ['weights.bin', false], ['sub/w2.bin', false], ['./weights.bin', false], ['sub/../weights.bin', false], ['link-in.bin', false],
    ['sub//w2.bin', false], ['missing.bin', false], ['afolder', false], ['sub/', false], ['weights.bin\0.txt', false], ['x'.repeat(300), false],
    ['../outside.bin', true], ['sub/../../outside.bin', true], ['..', true], ['.', true], ['', true], ['link-out.bin', true], ['up/outside.bin', true],
    [join(root, 'outside.bin'), true], [join(folder, 'weights.bin'), true], ['/etc/passwd', true], ['C:\\outside.bin', true], ['c:/outside.bin', true],
    ['sub/../../model/weights.bin', false], ['up/model/weights.bin', false], ['..\\outside.bin', false], ['%2e%2e/outside.bin', false],
  ];
  return { root, folder, modelPath: join(folder, 'model.onnx'), locations };
}

const COUNTS = ['0', '4', '16', '64', '4080', '4092', '4096', '4097', '-1', '-4', '1e3', '0x10', ' 16', '16 ', '', '+8', '4.0',
  '2147483648', '4294967296', '9007199254740992', '18446744073709551615', '99999999999999999999999'];

function encode(input: Omit<ExternalInput, 'bytes' | 'ops'>): Uint8Array {
  const entries: onnx.IStringStringEntryProto[] = [{ key: 'location', value: input.location }];
  if (input.offset !== undefined) entries.push({ key: 'offset', value: input.offset });
  if (input.length !== undefined) entries.push({ key: 'length', value: input.length });
  return onnx.ModelProto.encode({
    irVersion: Long.fromNumber(8),
    opsetImport: [{ domain: '', version: Long.fromNumber(17) }],
    graph: {
      name: 'g',
      initializer: [{
        name: 'w', dataType: input.dataType, dims: input.dims.map((d) => Long.fromNumber(d)),
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: entries,
      }],
      node: [{ opType: 'Identity', input: ['w'], output: ['y'] }],
      output: [{ name: 'y' }],
    },
  }).finish();
}

/** The model encodes each external tensor's location; this finds the data a loaded model read. */
function readsOutside(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((b) => b === OUTSIDE_BYTE);
}

export const externalDataTarget: FuzzTarget<ExternalInput> = {
  name: 'external-data',
  parsers: 'loadModel + resolveExternalLocation (src/node/io.ts): external-data locations, offsets and lengths, in a folder with links out of it',
  open() {
    const layout = makeLayout();
    const fields = fc.record({
      location: fc.oneof(
        { arbitrary: fc.constantFrom(...layout.locations), weight: 8 },
        { arbitrary: fc.string({ maxLength: 24 }).map((s): [string, boolean] => [s, false]), weight: 1 },
        { arbitrary: fc.array(fc.constantFrom('..', '.', 'sub', 'up', 'weights.bin', 'link-out.bin', ''), { minLength: 1, maxLength: 5 }).map((p): [string, boolean] => [p.join('/'), false]), weight: 2 },
      ),
      offset: fc.option(fc.constantFrom(...COUNTS), { nil: undefined }),
      length: fc.option(fc.constantFrom(...COUNTS), { nil: undefined }),
      dataType: fc.constantFrom(DataType.FLOAT, DataType.UINT8, DataType.INT64, DataType.INT4, DataType.STRING, DataType.DOUBLE),
      dims: fc.array(fc.oneof(fc.nat({ max: 8 }), fc.constantFrom(1024, 4096, 2 ** 31, 2 ** 40)), { maxLength: 3 }),
      ops: fc.oneof({ arbitrary: fc.constant([] as Mutation[]), weight: 3 }, { arbitrary: fc.array(mutationArbitrary(), { minLength: 1, maxLength: 3 }), weight: 1 }),
    });
    const inputs = fields.map(({ location: [location, escapes], ops, ...rest }): ExternalInput => {
      const clean = encode({ location, escapes, ...rest });
      const bytes = ops.length ? applyMutations({ name: 'external', bytes: clean, ...protobufFields(clean) }, ops) : clean;
      return { location, escapes, ...rest, ops, bytes };
    });
    const seeds = ['weights.bin', 'sub/w2.bin', 'link-in.bin'].map((location): ExternalInput => {
      const fieldsOf = { location, escapes: false, offset: '64', length: '64', dataType: DataType.FLOAT, dims: [4, 4] };
      return { ...fieldsOf, ops: [], bytes: encode(fieldsOf) };
    });
    return {
      inputs,
      seeds,
      run(input) {
        const model = loadModel(layout.modelPath, { bytes: input.bytes });
        for (const t of model.graph.initializers.values()) {
          if (!t.isString && readsOutside(bytesOf(t.numeric()))) throw new Error(`tensor '${t.name}' holds the bytes of the file outside the model's folder (location '${input.location}')`);
        }
      },
      expected: [ModelFormatError, FileError],
      messagePrefix: new RegExp(`^${layout.modelPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
      bytesOf: (input) => input.bytes,
      // The tensor's bytes come from a 4 KiB file: only the parse itself counts.
      allocationBound: (input) => allocationBound(input.bytes.length, 1024),
      check(input, error) {
        if (!input.escapes || input.ops.length) return;
        // Refused, and for a reason found before the file was looked at (not its size, not its absence).
        if (!(error instanceof ModelFormatError) || /external data '.*' (has \d+ bytes|ended early)|not found|cannot read/.test(error.message)) {
          throw new Error(`location '${input.location}' leaves the model's folder but was not refused before reading (${error instanceof Error ? error.message : 'it loaded'})`);
        }
      },
      close: () => rmSync(layout.root, { recursive: true, force: true }),
    };
  },
};
