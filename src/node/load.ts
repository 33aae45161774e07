// Opening a model file of either kind nnzip reads (ONNX with its external data, or a .nnz container) for running.
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { assertRunnable } from '../core/validate.js';
import { loadModel } from './io.js';
import { isNnzFile, loadNnz } from './nnz.js';

/** Loads a model file (ONNX or .nnz) and checks onnxruntime can run it; errors name the file. */
export function loadRunnableModel(path: string): Model {
  const model = isNnzFile(path) ? loadNnz(path) : loadModel(path);
  try {
    assertRunnable(model);
  } catch (e) {
    if (e instanceof NnzipError) e.message = `${path}: ${e.message}`;
    throw e;
  }
  return model;
}
