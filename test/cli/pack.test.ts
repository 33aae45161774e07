import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModel } from '../../src/core/codec.js';
import { buildArch } from '../../src/nn/zoo.js';
import { pruneUnstructured } from '../../src/compress/prune/index.js';
import { loadModel, saveModel } from '../../src/node/io.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();

test('pack writes a .nnz with sizes per tensor and in total; unpack gives back the same model', () => {
  const source = join(dir, 'pruned.onnx');
  saveModel(pruneUnstructured(buildArch('lenet-300-100', { seed: 5 }), { sparsity: 0.9 }).model, source);
  const packed = join(dir, 'pruned.nnz');
  const r = nnzip(['pack', source, '-o', packed, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const nnzBytes = readFileSync(packed).byteLength;
  assert.equal(j.nnzBytes, nnzBytes);
  assert.equal(j.inputBytes, readFileSync(source).byteLength);
  assert.ok(j.ratioVsInput > 7, `ratio ${j.ratioVsInput}`);
  assert.equal(j.ratioVsFloat32Weights, j.float32WeightBytes / nnzBytes);
  assert.equal(j.verified, true);
  assert.ok(j.tensors.length >= 3 && j.tensors.every((t: { bytesAfter: number; bytesBefore: number }) => t.bytesAfter > 0 && t.bytesBefore > 0));
  assert.equal(j.tensors.find((t: { name: string }) => t.name === 'fc1.weight').encoding, 'sparse');

  const text = nnzip(['pack', source, '-o', join(dir, 'text.nnz')]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /fc1\.weight .*sparse/);
  assert.match(text.stdout, /wrote .*text\.nnz: .*; .*pruned\.onnx \(.*\) is [\d.]+x that, its weights as float32 \(.*\) [\d.]+x; checked: unpacks bit-exact/);

  const out = join(dir, 'back.onnx');
  const u = nnzip(['unpack', packed, '-o', out, '--json']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(JSON.parse(u.stdout).onnxBytes, readFileSync(out).byteLength);
  assert.ok(Buffer.from(encodeModel(loadModel(out)).bytes).equals(Buffer.from(encodeModel(loadModel(source)).bytes)), 'same model back');
});

test('run, inspect and eval-style commands take a .nnz where they take a model; fixtures pack and unpack', () => {
  const packed = join(dir, 'mlp.nnz');
  assert.equal(nnzip(['pack', fixture('mlp.onnx'), '-o', packed]).code, 0);
  const viaNnz = nnzip(['run', packed, '--input', `input=${fixture('mlp.input.npy')}`, '--json']);
  const viaOnnx = nnzip(['run', fixture('mlp.onnx'), '--input', `input=${fixture('mlp.input.npy')}`, '--json']);
  assert.equal(viaOnnx.code, 0, viaOnnx.stderr);
  assert.equal(viaNnz.code, 0, viaNnz.stderr);
  assert.deepEqual(JSON.parse(viaNnz.stdout).outputs, JSON.parse(viaOnnx.stdout).outputs);
  const inspect = nnzip(['inspect', packed, '--json']);
  assert.equal(inspect.code, 0, inspect.stderr);
  const onnxInspect = JSON.parse(nnzip(['inspect', fixture('mlp.onnx'), '--json']).stdout);
  const nnzInspect = JSON.parse(inspect.stdout);
  assert.equal(nnzInspect.params, onnxInspect.params);
  assert.equal(nnzInspect.bytes, readFileSync(packed).byteLength, 'size on disk is the .nnz file');
});

test('pack and unpack refuse bad input with one line and exit 1', () => {
  const packed = join(dir, 'small.nnz');
  assert.equal(nnzip(['pack', fixture('dwconv.onnx'), '-o', packed]).code, 0);
  const bytes = readFileSync(packed);
  const corrupt = join(dir, 'corrupt.nnz');
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 20]! ^= 4;
  writeFileSync(corrupt, flipped);
  for (const args of [['unpack', corrupt, '-o', join(dir, 'x.onnx')], ['inspect', corrupt], ['run', corrupt]]) {
    const r = nnzip(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /^nnzip: .*corrupt\.nnz: \.nnz corrupt: checksum mismatch\n$/, args.join(' '));
  }
  const truncated = join(dir, 'truncated.nnz');
  writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  assert.match(nnzip(['unpack', truncated, '-o', join(dir, 'y.onnx')]).stderr, /^nnzip: .*truncated\.nnz: \.nnz truncated: .*\n$/);
  const notNnz = nnzip(['unpack', fixture('mlp.onnx'), '-o', join(dir, 'z.onnx')]);
  assert.equal(notNnz.code, 1);
  assert.match(notNnz.stderr, /not an \.nnz file/);
  const overwrite = nnzip(['pack', packed, '-o', packed]);
  assert.equal(overwrite.code, 1);
  assert.match(overwrite.stderr, /overwrite the input/);
  assert.equal(nnzip(['pack', join(dir, 'missing.onnx'), '-o', join(dir, 'm.nnz')]).code, 1);
  for (const name of ['x.onnx', 'y.onnx', 'z.onnx', 'm.nnz']) assert.ok(!existsSync(join(dir, name)), `${name} was written`);
});
