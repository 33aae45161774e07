// Training checkpoints on disk: the plain inference model (runnable anywhere) with where the run stands in its
// metadata, and the optimizer state beside it, so a run can resume where it stopped and end as an uninterrupted run
// with the same settings would.
import { existsSync } from 'node:fs';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import type { EarlyStoppingState } from '../train/trainer.js';
import { loadModel, saveModel } from './io.js';

export const EPOCH_KEY = 'nnzip.train.epochs_done';
const STEP_IN_EPOCH_KEY = 'nnzip.train.step_in_epoch';
const STEP_KEY = 'nnzip.train.step';
const EARLY_STOPPING_KEY = 'nnzip.train.early_stopping';
const SETTINGS_KEY = 'nnzip.train.settings';

/** Where a run stands: complete epochs, steps done in the next one, optimizer steps in all (Adam's bias correction). */
export interface TrainingPosition {
  epochsDone: number;
  stepInEpoch?: number;
  step?: number;
  earlyStopping?: EarlyStoppingState;
  /** The settings that decide the result (data order, schedule, optimizer), to warn when a resume changes them. */
  settings?: Record<string, unknown>;
}

export function optimizerStatePath(checkpoint: string): string {
  return checkpoint.replace(/\.onnx$/, '') + '.optimizer.onnx';
}

/** Writes the inference model (with the position in its metadata) and, when given, the optimizer state beside it. */
export function saveCheckpoint(path: string, model: Model, position: TrainingPosition | number, optimizerState?: Map<string, Tensor>): void {
  const at = typeof position === 'number' ? { epochsDone: position } : position;
  const m = model.clone();
  m.metadata.set(EPOCH_KEY, String(at.epochsDone));
  if (at.stepInEpoch) m.metadata.set(STEP_IN_EPOCH_KEY, String(at.stepInEpoch));
  if (at.step !== undefined) m.metadata.set(STEP_KEY, String(at.step));
  // -Infinity (no evaluation yet) does not survive JSON; null stands for it.
  if (at.earlyStopping) m.metadata.set(EARLY_STOPPING_KEY, JSON.stringify({ ...at.earlyStopping, best: Number.isFinite(at.earlyStopping.best) ? at.earlyStopping.best : null }));
  if (at.settings) m.metadata.set(SETTINGS_KEY, JSON.stringify(at.settings));
  // The optimizer state first: a checkpoint model on disk always has its state beside it.
  if (optimizerState?.size) {
    // A model with no nodes: only a container of named tensors in the same format.
    const state = new Model();
    state.opsetImports.set('', 21);
    for (const [name, t] of optimizerState) state.graph.initializers.set(name, t.renamed(name));
    saveModel(state, optimizerStatePath(path));
  }
  saveModel(m, path);
}

export interface LoadedCheckpoint extends TrainingPosition {
  model: Model;
  optimizerState?: Map<string, Tensor>;
}

function count(model: Model, key: string, path: string): number | undefined {
  const text = model.metadata.get(key);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new NnzipError(`${path}: checkpoint metadata '${key}' is '${text}', not a count`);
  return n;
}

function json<T>(model: Model, key: string, path: string): T | undefined {
  const text = model.metadata.get(key);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new NnzipError(`${path}: checkpoint metadata '${key}' is not valid JSON`);
  }
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const model = loadModel(path);
  const statePath = optimizerStatePath(path);
  const optimizerState = existsSync(statePath) ? loadModel(statePath).graph.initializers : undefined;
  const early = json<{ best: number | null; bestEpoch: number; sinceBest: number }>(model, EARLY_STOPPING_KEY, path);
  return {
    model,
    epochsDone: count(model, EPOCH_KEY, path) ?? 0,
    stepInEpoch: count(model, STEP_IN_EPOCH_KEY, path),
    step: count(model, STEP_KEY, path),
    earlyStopping: early && { bestEpoch: early.bestEpoch, sinceBest: early.sinceBest, best: early.best ?? -Infinity },
    settings: json<Record<string, unknown>>(model, SETTINGS_KEY, path),
    optimizerState,
  };
}
