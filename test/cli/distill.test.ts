import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildArch } from '../../src/nn/zoo.js';
import { saveModel } from '../../src/node/io.js';
import { nnzip, tempDir } from '../helpers/cli.js';

const dir = tempDir('nnzip-distill-');
const teacher = join(dir, 'teacher.onnx');

test('distill an mlp student from a trained teacher on an MNIST subset; report teacher and student accuracies', () => {
  const t = nnzip(['train', '--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '3000', '--test-limit', '500', '--epochs', '2', '--lr', '0.05', '-o', teacher, '--json']);
  assert.equal(t.code, 0, t.stderr);
  const out = join(dir, 'student.onnx');
  const r = nnzip(['distill', '--teacher', teacher, '--student', 'mlp:784-30-10', '--data', 'mnist', '--limit', '3000', '--test-limit', '500',
    '--epochs', '2', '--lr', '0.05', '--schedule', 'cosine', '--temperature', '3', '--alpha', '0.8', '--seed', '1', '--threads', '1', '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const teacherEval = JSON.parse(nnzip(['eval', teacher, '--data', 'mnist', '--limit', '500', '--json']).stdout);
  assert.equal(j.teacherAccuracy, teacherEval.accuracy, 'the teacher accuracy is the same as nnzip eval finds');
  const studentEval = JSON.parse(nnzip(['eval', out, '--data', 'mnist', '--limit', '500', '--json']).stdout);
  assert.equal(j.studentAccuracyAfter, studentEval.accuracy, 'the written student has the reported accuracy');
  assert.ok(j.studentAccuracyBefore < 0.3 && j.studentAccuracyAfter > 0.8, `${j.studentAccuracyBefore} -> ${j.studentAccuracyAfter}`);
  assert.equal(j.mode, 'soft');
  assert.equal(j.temperature, 3);
  assert.equal(j.alpha, 0.8);
  assert.equal(j.history.length, 2);

  const hard = nnzip(['distill', '--teacher', teacher, '--student', 'mlp:784-30-10', '--data', 'mnist', '--limit', '2000', '--test-limit', '200',
    '--epochs', '1', '--lr', '0.05', '--mode', 'hard', '--threads', '1', '-o', join(dir, 'hard.onnx'), '--json']);
  assert.equal(hard.code, 0, hard.stderr);
  const h = JSON.parse(hard.stdout);
  assert.equal(h.mode, 'hard');
  assert.ok(h.relabelled > 0 && h.relabelled < 0.2, `the teacher relabels a few training samples: ${h.relabelled}`);
});

test('bad input: different output sizes, hint tensors that do not exist (available names listed), bad options', () => {
  const five = join(dir, 'five-classes.onnx');
  saveModel(buildArch('mlp:784-20-5', { inputShape: [784], classes: 5, seed: 1 }), five);
  const one = (args: string[], pattern: RegExp) => {
    const r = nnzip(['distill', '--data', 'mnist', '--limit', '100', '--test-limit', '50', '--epochs', '1', '--threads', '1', ...args]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.ok(!existsSync(join(dir, 'x.onnx')), 'nothing written');
  };
  one(['--teacher', teacher, '--student', five, '-o', join(dir, 'x.onnx')], /has 10 outputs but the student has 5/);
  one(['--teacher', teacher, '--student', 'mlp:784-30-10', '--hint', 'no_such:fc1', '-o', join(dir, 'x.onnx')], /has no tensor 'no_such'; available: .*/);
  one(['--teacher', teacher, '--student', 'mlp:784-30-10', '--hint', 'nocolon', '-o', join(dir, 'x.onnx')], /TEACHER_TENSOR:STUDENT_TENSOR/);
  one(['--teacher', teacher, '--student', 'mlp:784-30-10', '--alpha', '2', '-o', join(dir, 'x.onnx')], /--alpha must be in \[0, 1\]/);
  one(['--teacher', teacher, '--student', 'mlp:784-30-10', '--mode', 'medium', '-o', join(dir, 'x.onnx')], /medium/);
  one(['--teacher', teacher, '--student', 'mlp:784-30-10', '-o', teacher], /overwrite/);
});
