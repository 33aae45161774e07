// The vocabulary of automated compression: what a trial is (a recipe to run on the model), what it measures, and
// how the per-layer choices the search allocates look. Plain data, so trials cross worker threads and machines as
// JSON, and the search log is a file of these objects.
import type { Recipe } from '../../recipe/schema.js';

export type Objective = 'size' | 'latency' | 'macs';

/** One candidate: a recipe run on the original model, then measured. */
export interface Trial {
  /** Stable identity: the same recipe gives the same id (a hash of its JSON), so a resumed search skips it. */
  id: string;
  recipe: Recipe;
  /** Where it came from ('allocation 0.20', 'mutation of t12', 'final', ...), for the log and report. */
  origin: string;
}

export interface TrialResult {
  id: string;
  origin: string;
  recipe: Recipe;
  /** Test accuracy of the result (labelled data), in [0, 1]. */
  accuracy: number;
  /** The result's size: .nnz bytes when the recipe packs, else ONNX bytes. */
  bytes: number;
  /** Multiply-accumulates per sample. */
  macs: number;
  /** onnxruntime p50 latency (ms) at the search's latency batch, when measured. */
  latencyMs?: number;
  seconds: number;
  /** Set when the trial failed; the search goes on without it. */
  error?: string;
}

/** Runs trials. In-process, in worker threads, or (later) on other machines: the search only sees this. */
export interface TrialRunner {
  /** How many trials it runs at once (the search keeps that many in flight). */
  readonly parallelism: number;
  run(trial: Trial): Promise<TrialResult>;
  close(): Promise<void>;
}

/** One setting a layer can take in the allocation: its cost under the objective and its predicted accuracy drop. */
export interface LayerChoice {
  /** The setting itself (a sparsity, a bit width, a rank ratio, a channel ratio, ...). */
  value: number;
  /** Cost under the objective with this setting (bytes, ms, MACs): lower is better. */
  cost: number;
  /** Predicted accuracy drop (points) with only this layer changed; 0 for the untouched setting. */
  drop: number;
}

/** A layer (or a group of coupled tensors) and its choices; choices[0] is usually "leave it as it is". */
export interface LayerOptions {
  layer: string;
  choices: LayerChoice[];
}

/** One choice per layer: the index into each layer's choices, with the summed cost and predicted drop. */
export interface Allocation {
  picks: number[];
  cost: number;
  drop: number;
}
