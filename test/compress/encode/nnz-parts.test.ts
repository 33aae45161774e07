// Packing in parts (how big models are written): the parts joined are the packed bytes, and the check catches a
// payload that does not decode to the tensor it was packed from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packModel, packModelParts, unpackModel } from '../../../src/compress/encode/nnz.js';
import { pruneUnstructured } from '../../../src/compress/prune/index.js';
import { buildArch } from '../../../src/nn/zoo.js';

const model = pruneUnstructured(buildArch('lenet-300-100', { inputShape: [1, 28, 28], classes: 10, seed: 2 }), { sparsity: 0.8 }).model;

test('the parts, joined, are the bytes packModel writes, and unpack to the model', () => {
  const whole = packModel(model).bytes;
  const packed = packModelParts(model);
  const joined = Buffer.concat(packed.parts);
  assert.equal(joined.byteLength, packed.report.totalBytes);
  assert.ok(joined.equals(whole));
  packed.verify();
  const unpacked = unpackModel(joined);
  for (const [name, t] of model.graph.initializers) assert.deepEqual(unpacked.graph.initializers.get(name)!.toFloat32(), t.toFloat32(), name);
});

test('verify names the tensor whose payload does not decode to what was packed', () => {
  const packed = packModelParts(model);
  const entry = packed.container.entries.find((e) => e.name === 'fc2.weight')!;
  const tampered = Uint8Array.from(entry.payload);
  tampered[tampered.length >> 1] ^= 0x40; // a byte in the middle: the last may be padding bits
  entry.payload = tampered;
  assert.throws(() => packed.verify(), /pack check failed: tensor 'fc2\.weight' does not unpack to the same bytes|tensor 'fc2\.weight'/);
});
