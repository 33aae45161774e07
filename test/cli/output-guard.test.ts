// An existing output is replaced only with --force, before any work starts; an output naming an input never.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/node/io.js';
import { fixture, nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir();

test('an existing output is refused without --force and replaced with it', () => {
  const out = join(dir, 'mlp-int8.onnx');
  writeFileSync(out, 'precious');
  const r = nnzip(['quantize', fixture('mlp.onnx'), '--mode', 'weight', '-o', out]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `nnzip: ${out}: already exists; pass --force to replace it\n`);
  assert.equal(readFileSync(out, 'utf8'), 'precious');
  const forced = nnzip(['quantize', fixture('mlp.onnx'), '--mode', 'weight', '-o', out, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(loadModel(out).graph.nodes.some((n) => n.opType === 'DequantizeLinear'));
});

test('an output that is an input is refused even with --force, whichever option names the input', () => {
  const model = join(dir, 'model.onnx');
  writeFileSync(model, readFileSync(fixture('mlp.onnx')));
  const before = statSync(model).mtimeMs;
  for (const args of [
    ['quantize', model, '--mode', 'weight', '-o', model, '--force'],
    ['train', '--init', model, '--data', 'mnist', '-o', model, '--force'],
    ['distill', '--teacher', model, '--student', 'mlp:784-30-10', '--data', 'mnist', '--epochs', '1', '-o', model, '--force'],
  ]) {
    const r = nnzip(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, `nnzip: ${model}: output would overwrite the input model; choose another output path\n`, args.join(' '));
  }
  assert.equal(statSync(model).mtimeMs, before);
});
