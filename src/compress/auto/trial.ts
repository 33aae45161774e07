// One trial of the automated search: a recipe run on the original model, then measured on the validation data
// (accuracy, size, MACs, optionally latency). A trial never throws: whatever goes wrong becomes the result's `error`,
// so one bad candidate does not end a search. Isomorphic: the runtime, data and model come through the context.
import { Model } from '../../core/ir.js';
import { CalibrationFeeds } from '../quantize/calibrate.js';
import { DataLoader } from '../../data/loader.js';
import { LatencyOptions, measureModel } from '../../eval/measure.js';
import { RecipeResult, runRecipe } from '../../recipe/runner.js';
import { Recipe, validateRecipe } from '../../recipe/schema.js';
import { Runtime } from '../../runtime/session.js';
import { StepProgress } from '../../train/trainer.js';
import { Trial, TrialResult, TrialRunner } from './types.js';

export interface TrialContext {
  runtime: Runtime;
  /** The original model every trial starts from (not modified). */
  model: Model;
  /** Training data of fine-tuning, distillation, sparse schedules and calibration (without calibFeeds). */
  trainLoader?: DataLoader;
  /** Labelled data the accuracy is measured on: the search decides on it, so a validation split, not the test set. */
  evalLoader: DataLoader;
  /** Calibration inputs of static quantization. */
  calibFeeds?: () => CalibrationFeeds;
  /** onnxruntime threads of training, evaluation and latency. */
  threads?: number;
  /** Measure onnxruntime latency (p50 goes to latencyMs); without it, latency is not measured. */
  latency?: LatencyOptions;
  /** Reads a teacher model named by path in a recipe (Node passes its loadModel). */
  loadModel?: (path: string) => Model;
  onStep?: (p: StepProgress) => void;
}

/**
 * The `bytes` and `macs` of a failed trial. JSON cannot hold Infinity, and -1 would look like the smallest model to
 * anything that sorts by cost; the largest safe integer sorts as the worst cost and survives a JSON round trip.
 * Failed results also have accuracy 0 and no latencyMs; a search should skip results with `error` altogether.
 */
export const FAILED_COST = Number.MAX_SAFE_INTEGER;

/** JSON with object keys sorted at every level (arrays keep their order; undefined fields are left out, as JSON does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v as Record<string, unknown>).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a, 64 bits, over bytes; 16 hex digits. */
export function fnv1a64(bytes: Uint8Array): string {
  let h = FNV64_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV64_PRIME) & MASK64;
  return h.toString(16).padStart(16, '0');
}

/**
 * A trial's stable id: FNV-1a 64 (16 hex digits) of the canonical JSON of the recipe's stages. Key order does not
 * matter; the recipe's name and description do not count either (they do not change what runs), so a resumed search
 * recognizes a candidate whatever it was called.
 */
export function trialId(recipe: Recipe): string {
  return fnv1a64(new TextEncoder().encode(canonicalJson(recipe.stages)));
}

/** A trial's result and, when it succeeded, what the recipe produced (the model, and the .nnz bytes when it packs). */
export interface TrialOutcome {
  result: TrialResult;
  output?: RecipeResult;
}

function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/\s+/g, ' ').trim() || (e instanceof Error ? e.name : 'unknown error');
}

/** What a failed trial reports: the error, accuracy 0 and FAILED_COST for bytes and MACs. */
export function failedResult(trial: Trial, error: unknown, seconds: number): TrialResult {
  return { id: trial.id, origin: trial.origin, recipe: trial.recipe, accuracy: 0, bytes: FAILED_COST, macs: FAILED_COST, seconds, error: messageOf(error) };
}

/**
 * Runs a trial and keeps what it produced (for the search's final step, whose model is written out). The recipe is
 * validated first (trials cross threads and machines as plain JSON). Never throws.
 */
export async function runTrialWithModel(trial: Trial, ctx: TrialContext): Promise<TrialOutcome> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const recipe = validateRecipe(trial.recipe);
    const output = await runRecipe(ctx.model, recipe, {
      runtime: ctx.runtime, trainLoader: ctx.trainLoader, calibFeeds: ctx.calibFeeds, threads: ctx.threads, loadModel: ctx.loadModel, onStep: ctx.onStep,
    });
    // One measuring path for accuracy, ONNX size, MACs and latency: the same figures `nnzip compress` reports.
    const metrics = await measureModel(output.model, { runtime: ctx.runtime, threads: ctx.threads, testLoader: ctx.evalLoader, latency: ctx.latency, nnz: false });
    if (metrics.accuracy === undefined) throw new Error('the evaluation data gave no accuracy');
    const result: TrialResult = {
      id: trial.id, origin: trial.origin, recipe: trial.recipe,
      accuracy: metrics.accuracy,
      bytes: output.nnz?.byteLength ?? metrics.bytes.onnx,
      macs: metrics.macs,
      ...(metrics.latency ? { latencyMs: metrics.latency.p50Ms } : {}),
      seconds: seconds(),
    };
    return { result, output };
  } catch (e) {
    return { result: failedResult(trial, e, seconds()) };
  }
}

/** Runs a trial: the recipe on ctx.model, measured on ctx.evalLoader. Never throws: failures come back with `error`. */
export async function runTrial(trial: Trial, ctx: TrialContext): Promise<TrialResult> {
  return (await runTrialWithModel(trial, ctx)).result;
}

/** Runs trials one at a time in this thread (calls made meanwhile wait their turn, so timings do not interleave). */
export class InProcessRunner implements TrialRunner {
  readonly parallelism = 1;
  private last: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly ctx: TrialContext) {}

  run(trial: Trial): Promise<TrialResult> {
    if (this.closed) return Promise.reject(new Error(`trial ${trial.id}: the trial runner is closed`));
    const next = this.last.then(() => runTrial(trial, this.ctx));
    this.last = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.last;
  }
}
