// Writing a pass's result: nothing broken reaches the disk. The model is checked (graph, ops, finite weights) and
// loaded by onnxruntime before it is written atomically; a failure names the pass and writes nothing.
import { ValidationError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { assertSound } from '../core/soundness.js';
import { RuntimeError } from '../runtime/session.js';
import { nodeRuntime } from '../runtime/node.js';
import { SaveOptions, saveModel } from './io.js';

export interface CheckedSaveOptions extends SaveOptions {
  /** What produced the model, for errors: 'prune', 'quantize', 'stages[2] (cluster)'. */
  pass: string;
  /** The caller already ran this very model in onnxruntime (a measurement): skip loading it again. */
  loadedByRuntime?: boolean;
}

/** Throws naming the pass when `model` is malformed, holds NaN or Inf weights, or onnxruntime refuses it. */
export async function assertLoadable(model: Model, pass: string, loadedByRuntime = false): Promise<void> {
  assertSound(model, `the ${pass} pass`);
  if (loadedByRuntime) return;
  try {
    const session = await nodeRuntime.createSession(model, { threads: 1 });
    await session.release();
  } catch (e) {
    if (e instanceof RuntimeError) throw new ValidationError(`the ${pass} pass produced a model onnxruntime refuses: ${e.message.replace(/^onnxruntime cannot load the model: /, '')}`);
    throw e;
  }
}

export async function saveCheckedModel(model: Model, path: string, options: CheckedSaveOptions): Promise<ReturnType<typeof saveModel>> {
  const { pass, loadedByRuntime, ...save } = options;
  await assertLoadable(model, pass, loadedByRuntime);
  return saveModel(model, path, save);
}
