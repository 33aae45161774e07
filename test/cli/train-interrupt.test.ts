// A training run killed part-way (SIGINT, SIGTERM) writes a checkpoint and exits cleanly; resuming from it ends with
// exactly the weights of the uninterrupted run with the same seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/node/io.js';
import { nnzip, repoRoot, tempDir } from '../helpers/cli.js';

const dir = tempDir();
const cli = join(repoRoot, 'build', 'src', 'cli', 'main.js');

// Adam (its bias correction depends on the step count) with a cosine schedule (the learning rate on the step):
// both must go on from where the run stopped, and the shuffled order from the batch it stopped at.
const settings = ['--arch', 'lenet-300-100', '--data', 'mnist', '--limit', '6000', '--test-limit', '200', '--batch', '50', '--epochs', '3',
  '--optimizer', 'adam', '--lr', '0.002', '--schedule', 'cosine', '--seed', '11', '--threads', '2', '--quiet'];

/** Runs the CLI and sends `signal` once the first epoch is reported, i.e. early in the second epoch. */
function runAndInterrupt(args: string[], signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && /epoch 1\/3/.test(stderr)) { sent = true; child.kill(signal); }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function weights(path: string): Map<string, Float32Array> {
  return new Map([...loadModel(path).graph.initializers].map(([k, t]) => [k, t.toFloat32()]));
}

function assertSameWeights(actual: string, expected: string): void {
  const a = weights(actual), e = weights(expected);
  assert.deepEqual([...a.keys()].sort(), [...e.keys()].sort());
  for (const [name, w] of e) {
    const got = a.get(name)!;
    let differ = 0;
    for (let i = 0; i < w.length; i++) if (got[i] !== w[i]) differ++;
    assert.equal(differ, 0, `${name}: ${differ} of ${w.length} values differ from the uninterrupted run`);
  }
}

test('SIGINT mid-epoch writes a checkpoint; --resume ends with the uninterrupted run\'s weights', async () => {
  const straight = join(dir, 'straight.onnx');
  const s = nnzip(['train', ...settings, '-o', straight]);
  assert.equal(s.code, 0, s.stderr);

  const out = join(dir, 'killed.onnx');
  const killed = await runAndInterrupt(['train', ...settings, '-o', out], 'SIGINT');
  assert.equal(killed.code, 130, killed.stderr);
  const at = /interrupted at epoch (\d+), step (\d+)\/120/.exec(killed.stderr);
  assert.ok(at, killed.stderr);
  assert.ok(Number(at[2]) > 0, 'the signal came part-way through an epoch');
  assert.ok(!existsSync(out), 'no final model from an interrupted run');
  const checkpoint = join(dir, 'killed.interrupted.onnx');
  assert.ok(existsSync(checkpoint) && existsSync(join(dir, 'killed.interrupted.optimizer.onnx')));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');

  const resumed = nnzip(['train', ...settings.filter((a, i) => a !== '--arch' && settings[i - 1] !== '--arch'), '--resume', checkpoint, '-o', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /warning/);
  assertSameWeights(out, straight);
});

test('SIGTERM is handled the same way, and a resume with other settings warns that the result will differ', async () => {
  const out = join(dir, 'term.onnx');
  const killed = await runAndInterrupt(['train', ...settings, '-o', out, '--checkpoint-dir', join(dir, 'term-ckpt')], 'SIGTERM');
  assert.equal(killed.code, 130, killed.stderr);
  const checkpoint = join(dir, 'term-ckpt', 'interrupted.onnx');
  assert.ok(existsSync(checkpoint), killed.stderr);
  const args = settings.filter((a, i) => a !== '--arch' && settings[i - 1] !== '--arch').map((a) => (a === '11' ? '12' : a));
  const resumed = nnzip(['train', ...args, '--resume', checkpoint, '-o', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /warning: resuming with different seed \(was 11, now 12\)/);
});

test('a command without a checkpoint of its own (prune with fine-tuning) exits 130 on SIGINT with nothing written', async () => {
  const base = join(dir, 'straight.onnx'); // trained by the first test
  const out = join(dir, 'pruned.onnx');
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'prune', base, '--sparsity', '0.5', '--data', 'mnist', '--finetune-epochs', '20', '-o', out], { cwd: repoRoot });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    // Three seconds in, it is fine-tuning: 20 epochs of full MNIST are minutes away from done.
    setTimeout(() => child.kill('SIGINT'), 3000);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /nnzip: interrupted; nothing was written\n$/);
  assert.ok(!existsSync(out));
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});
