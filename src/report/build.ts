// Filling a Report: one entry per model (its metrics, per-layer figures, weight histogram, and for the models that
// matter most per-class scores and robustness), plus the pruning sensitivity of the first model. The caller decides
// what to measure; this module only runs the measurements in order. Isomorphic: the host passes the runtime and a
// memory reading through MeasureOptions.
import { Model } from '../core/ir.js';
import { layerSensitivity, type SensitivityReport } from '../compress/prune/sensitivity.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { MeasureOptions, measureModel } from '../eval/measure.js';
import { evaluatePerClass } from '../eval/per-class.js';
import { RobustnessOptions, evaluateRobustness } from '../eval/robustness.js';
import { layerSummaries, weightHistogram } from './layers.js';
import { ReportEntry } from './model.js';

export interface EntryOptions {
  measure: MeasureOptions;
  /** Labelled samples for per-class scores and robustness (a subset keeps reports quick). */
  detailLoader?: DataLoader;
  /** Strengths of the robustness measurement; absent: no robustness figures. */
  robustness?: RobustnessOptions;
}

/** Measures one model for the report; `detailed` adds per-class scores and robustness when labelled data is given. */
export async function measureEntry(name: string, model: Model, options: EntryOptions, detailed: boolean, seconds?: number): Promise<ReportEntry> {
  const entry: ReportEntry = {
    name, ...(seconds !== undefined ? { seconds } : {}),
    metrics: await measureModel(model, options.measure),
    layers: layerSummaries(model),
    histogram: weightHistogram(model),
  };
  const { runtime, threads } = options.measure;
  if (detailed && options.detailLoader) {
    entry.perClass = await evaluatePerClass(runtime, model, options.detailLoader, { threads });
    if (options.robustness) {
      try {
        entry.robustness = await evaluateRobustness(runtime, model, options.detailLoader, { threads, ...options.robustness });
      } catch (e) {
        // FGSM needs a gradient rule for every op (a MatMulNBits model has none): keep the noise figures.
        if (!options.robustness.fgsm?.length) throw e;
        entry.robustness = await evaluateRobustness(runtime, model, options.detailLoader, { threads, ...options.robustness, fgsm: [] });
        (entry.notes ??= []).push(`FGSM not measured: ${(e as Error).message}`);
      }
    }
  }
  return entry;
}

/** Sparsities of the report's sensitivity curves. */
export const REPORT_SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98];

/**
 * Pruning sensitivity of a model for the report: each layer pruned alone, accuracy on labelled data, or top-1
 * agreement with the model itself (through `fidelity`) without labels.
 */
export async function reportSensitivity(model: Model, options: EntryOptions): Promise<SensitivityReport | undefined> {
  const { runtime, threads, reference } = options.measure;
  if (options.detailLoader) {
    const loader = options.detailLoader;
    return layerSensitivity(model, REPORT_SPARSITIES, async (m) => (await evaluateClassifier(runtime, m, loader, { threads })).accuracy, { metric: 'accuracy' });
  }
  if (reference) {
    return layerSensitivity(model, REPORT_SPARSITIES, async (m) => {
      const r = await reference.compare(m);
      return r.top1Agreement ?? r.meanCosine;
    }, { metric: 'fidelity' });
  }
  return undefined;
}
