// What a report holds: the models measured (the stages of a recipe, or models compared side by side), their
// per-layer figures and weight histograms, and optional per-class, robustness and sensitivity results. The CLI
// fills it; the chart specs, Markdown and HTML writers only read it. Plain data (JSON-serializable, Infinity as a
// string), so report.json is this object and the browser studio can draw the same charts.
import type { SensitivityReport } from '../compress/prune/sensitivity.js';
import type { ModelMetrics } from '../eval/measure.js';
import type { PerClassResult } from '../eval/per-class.js';
import type { RobustnessResult } from '../eval/robustness.js';

/** One weight tensor of a layer (Conv/Gemm/MatMul/... weight), as stored in the model. */
export interface LayerSummary {
  /** The weight's initializer name (for quantized weights, the integer initializer feeding DequantizeLinear). */
  weight: string;
  /** The node that reads the weight (through DequantizeLinear when quantized). */
  node: string;
  opType: string;
  params: number;
  nonzeros: number;
  /** 1 - nonzeros / params. */
  sparsity: number;
  /** Bits per stored weight: 32 for float32, 16 for float16, 8 for int8, 4 for int4, ... */
  storageBits: number;
  /** Distinct values among the weights (after dequantization); a clustered layer has 2^bits of them at most. */
  distinctValues: number;
  /**
   * ceil(log2(distinctValues)), at most storageBits: the bits an index into the distinct values needs (weight
   * sharing); block-wise scales give more distinct values than the stored integers index.
   */
  effectiveBits: number;
}

/** A histogram of all prunable weights' (dequantized) values, zeros excluded (pruning would swamp the rest). */
export interface WeightHistogram {
  /** Bin edges: bins[i] covers [edges[i], edges[i+1]). */
  edges: number[];
  counts: number[];
  /** Zeros left out of the counts. */
  zeros: number;
}

/** One measured model: a recipe stage's output, or one of the models compared. */
export interface ReportEntry {
  /** 'original', '1: prune', ... or the compared file's name. */
  name: string;
  /** Seconds the stage took (recipes only). */
  seconds?: number;
  metrics: ModelMetrics;
  layers: LayerSummary[];
  histogram: WeightHistogram;
  perClass?: PerClassResult;
  robustness?: RobustnessResult;
  /** What could not be measured, and why. */
  notes?: string[];
}

/** One candidate of an automated search (nnzip auto), as measured. */
export interface SearchPoint {
  id: string;
  /** Cost under the objective (bytes, ms or MACs). */
  cost: number;
  accuracy: number;
  /** 'trial': short fine-tuning, validation data; 'final': the full recipe, test data. */
  phase: 'trial' | 'final';
  onFront: boolean;
  chosen: boolean;
}

export interface SearchSummary {
  objective: 'size' | 'latency' | 'macs';
  /** Axis title of the cost ('bytes (.nnz)', 'p50 latency (ms)', 'MACs per sample'). */
  costTitle: string;
  maxDrop: number;
  /** Validation accuracy of the original (the trials' reference). */
  baselineAccuracy: number;
  points: SearchPoint[];
}

export interface Report {
  /** 'compress': entries are the original and every stage in order; 'compare': independent models. */
  kind: 'compress' | 'compare';
  title: string;
  /** ISO date of the run. */
  created: string;
  /** The recipe file (compress). */
  recipe?: string;
  entries: ReportEntry[];
  /** Pruning sensitivity of the first entry (each layer pruned alone), when measured. */
  sensitivity?: SensitivityReport;
  /** The candidates of an automated search, for the Pareto chart. */
  search?: SearchSummary;
  /** Free-form extra figures (the comparison of first and last, each stage's own report). */
  extra?: Record<string, unknown>;
}
