// Fuzzing external data (loadModel, resolveExternalLocation): mutated locations, offsets and lengths in a folder with
// links out of it; then each way out of the model's folder by hand, and sizes that would read far past the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Long from 'long';
import { ModelFormatError } from '../../src/core/codec.js';
import { DataType, bytesOf } from '../../src/core/dtype.js';
import { onnx } from '../../src/core/onnx/proto.js';
import { FileError, loadModel, resolveExternalLocation } from '../../src/node/io.js';
import { FUZZ_SEED, assertRefusedFast, fuzzTest } from './suite.js';

fuzzTest('external-data');

function withFolder(body: (root: string, folder: string) => void): void {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'nnzip-fuzz-ext-')));
  try {
    const folder = join(root, 'model');
    mkdirSync(folder);
    writeFileSync(join(root, 'outside.bin'), new Uint8Array(64).fill(0xee));
    writeFileSync(join(folder, 'weights.bin'), new Uint8Array(64).fill(1));
    symlinkSync(join(root, 'outside.bin'), join(folder, 'link-out.bin'));
    symlinkSync(root, join(folder, 'up'));
    mkdirSync(join(folder, 'afolder'));
    body(root, folder);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function external(location: string, extra: Record<string, string> = {}, dims = [4]): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: Long.fromNumber(8), opsetImport: [{ domain: '', version: Long.fromNumber(17) }],
    graph: {
      name: 'g', output: [{ name: 'w' }],
      initializer: [{
        name: 'w', dataType: DataType.FLOAT, dims: dims.map((d) => Long.fromNumber(d)), dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))],
      }],
    },
  }).finish();
}

test('external data: every way out of the model folder is refused before the file is read', () => {
  withFolder((root, folder) => {
    const modelPath = join(folder, 'm.onnx');
    const load = (location: string) => () => loadModel(modelPath, { bytes: external(location) });
    assert.deepEqual([...bytesOf(loadModel(modelPath, { bytes: external('weights.bin') }).graph.initializers.get('w')!.numeric())], new Array(16).fill(1));
    for (const location of ['../outside.bin', 'sub/../../outside.bin', '..', '.', join(root, 'outside.bin'), join(folder, 'weights.bin'), '/etc/passwd', 'C:\\outside.bin', 'c:/x']) {
      assertRefusedFast(load(location), ModelFormatError, /: external data location '.*' (is absolute|leaves the model's folder)/);
    }
    for (const location of ['link-out.bin', 'up/outside.bin', './up/../up/outside.bin']) {
      assertRefusedFast(load(location), ModelFormatError, /: external data location '.*' is a link that leads out of the model's folder$/);
    }
    // A link out that stays inside is fine; a folder is a FileError naming the tensor.
    assert.equal(loadModel(modelPath, { bytes: external('up/model/weights.bin') }).graph.initializers.get('w')!.dims[0], 4);
    assertRefusedFast(load('afolder'), FileError, /m\.onnx: tensor 'w': cannot read external data 'afolder'/);
    assertRefusedFast(load(''), ModelFormatError, /: tensor 'w' is marked external but has no location$/);
  });
});

test('external data: offsets and lengths past the file, or not byte counts, are refused without reading or allocating', () => {
  withFolder((_root, folder) => {
    const modelPath = join(folder, 'm.onnx');
    const load = (extra: Record<string, string>, dims?: number[]) => () => loadModel(modelPath, { bytes: external('weights.bin', extra, dims) });
    assertRefusedFast(load({ offset: '60' }), ModelFormatError, /: tensor 'w': external data 'weights\.bin' has 64 bytes, the tensor needs bytes 60\.\.76$/);
    assertRefusedFast(load({ offset: String(2 ** 53 - 1) }), ModelFormatError, /has 64 bytes, the tensor needs bytes/);
    assertRefusedFast(load({ length: String(2 ** 40) }), ModelFormatError, /: tensor 'w': external data 'weights\.bin' gives 1099511627776 bytes, float32\[4\] needs 16$/);
    assertRefusedFast(load({}, [2 ** 20, 2 ** 20]), ModelFormatError, /has 64 bytes, the tensor needs bytes 0\.\.4398046511104$/);
    for (const bad of ['-1', '1e3', '0x10', ' 16', '', '4.0', '18446744073709551616']) {
      assertRefusedFast(load({ offset: bad }), ModelFormatError, /: tensor 'w': external data offset '.*' is not a byte count$/);
    }
  });
});

test('resolveExternalLocation: no location string, however odd, resolves outside the folder', () => {
  withFolder((root, folder) => {
    const modelPath = join(folder, 'm.onnx');
    const parts = fc.constantFrom('..', '.', '', 'up', 'link-out.bin', 'weights.bin', 'model', 'afolder', '\\..', '..\\', '%2e%2e', '\0', root.slice(1));
    fc.assert(fc.property(fc.oneof(fc.array(parts, { maxLength: 6 }).map((p) => p.join('/')), fc.string({ maxLength: 12 })), (location) => {
      let resolved: string;
      try {
        resolved = resolveExternalLocation(modelPath, location);
      } catch (e) {
        assert.ok(e instanceof ModelFormatError, `${location}: ${e}`);
        return;
      }
      assert.ok(resolved.startsWith(`${folder}/`), `'${location}' resolved to ${resolved}`);
      let real = resolved;
      try { real = realpathSync(resolved); } catch { /* a file that does not exist cannot lead anywhere */ }
      assert.ok(real.startsWith(`${folder}/`), `'${location}' leads to ${real}`);
    }), { seed: FUZZ_SEED, numRuns: 10_000 });
  });
});
