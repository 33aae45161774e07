// Numeric comparisons shared by tests: largest magnitude, largest difference, and one model run in both runtimes.
import assert from 'node:assert/strict';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { webRuntime } from '../../src/runtime/web.js';

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs the model once in onnxruntime-node and once in onnxruntime-web (wasm), one thread each: [node, web] outputs. */
export async function runInBothRuntimes(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>[]> {
  const outs: Record<string, Tensor>[] = [];
  for (const runtime of [nodeRuntime, webRuntime]) {
    const s = await runtime.createSession(model, { threads: 1 });
    try {
      outs.push(await s.run(feeds));
    } finally {
      await s.release();
    }
  }
  return outs;
}
