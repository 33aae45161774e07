// Fidelity: how closely a candidate model (pruned, quantized, ...) reproduces a reference model's outputs on the
// same inputs, without labels: top-1 agreement, mean cosine similarity per sample, and SQNR. Isomorphic.
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { DataLoader, mixSeed } from '../data/loader.js';
import { asModelInput } from './classification.js';
import { concreteShape, feedableInputs, randomInputs } from '../runtime/inputs.js';
import { Runtime } from '../runtime/session.js';
import { argmaxRows } from './per-class.js';

/** Batches of model feeds (input name -> tensor), e.g. from loaderFeeds or generatedFeeds. */
export type FeedBatches = Iterable<Record<string, Tensor>> | AsyncIterable<Record<string, Tensor>>;

export interface FidelityOptions {
  threads?: number;
  /** The output compared (default: the reference's first graph output). */
  output?: string;
  /** A file (or URL) onnxruntime reads the reference from; the reference model then only names its outputs. */
  from?: string;
}

export interface FidelityResult {
  /** Per-sample output vectors compared (the first output dimension summed over batches; see FidelityReference). */
  samples: number;
  /** Fraction of samples whose argmax agrees; null unless the output is [N, classes] with 2 or more classes. */
  top1Agreement: number | null;
  /** Mean cosine similarity of the per-sample output vectors (1 for a zero vector against a zero vector, 0 against a non-zero one). */
  meanCosine: number;
  /** 10 log10(sum ref^2 / sum (ref - cand)^2) over every element; Infinity when the outputs are identical. */
  sqnrDb: number;
}


interface ReferenceBatch {
  feeds: Record<string, Tensor>;
  dims: readonly number[];
  values: Float32Array;
  /** Argmax per row, for [N, classes] outputs. */
  top1?: Int32Array;
}

/**
 * A reference model's outputs on a fixed set of inputs, computed once: compare() then runs only the candidate.
 * Sensitivity analysis compares many candidates against one reference, so the reference never runs again.
 * The feeds are kept (they are fed to every candidate), so the batches must own their tensors (a DataLoader with
 * reuseBuffers would overwrite them).
 *
 * Samples are the first output dimension: an output [N, ...] gives N vectors of the remaining elements; an output of
 * rank 0 or 1 counts as one vector per batch.
 */
export class FidelityReference {
  private constructor(
    private readonly runtime: Runtime,
    readonly output: string,
    private readonly batches: ReferenceBatch[],
    private readonly threads: number | undefined,
  ) {}

  static async create(runtime: Runtime, reference: Model, batches: FeedBatches, options: FidelityOptions = {}): Promise<FidelityReference> {
    const output = options.output ?? reference.graph.outputs[0]?.name;
    if (!output) throw new NnzipError('fidelity: the reference model has no outputs');
    const session = await runtime.createSession(options.from ?? reference, { threads: options.threads });
    const kept: ReferenceBatch[] = [];
    try {
      for await (const feeds of batches) {
        const out = (await session.run(feeds, [output]))[output]!;
        const values = out.toFloat32();
        const classification = out.dims.length === 2 && out.dims[1]! >= 2;
        kept.push({ feeds, dims: [...out.dims], values, top1: classification ? argmaxRows(values, out.dims[0]!, out.dims[1]!) : undefined });
      }
    } finally {
      await session.release();
    }
    if (!kept.length) throw new NnzipError('fidelity: no input batches to compare the models on');
    return new FidelityReference(runtime, output, kept, options.threads);
  }

  /** Whether compare() gives top-1 agreement: every reference output is [N, classes] with 2 or more classes. */
  get comparesTop1(): boolean {
    return this.batches.every((b) => b.top1 !== undefined);
  }

  /** Per-sample vectors compared per run of compare(). */
  get samples(): number {
    return this.batches.reduce((n, b) => n + (b.dims.length >= 2 ? b.dims[0]! : 1), 0);
  }

  /** Runs the candidate on the reference's inputs and compares its output with the reference's. */
  async compare(candidate: Model): Promise<FidelityResult> {
    const name = candidate.graph.outputs.some((v) => v.name === this.output) ? this.output : candidate.graph.outputs[0]?.name;
    if (!name) throw new NnzipError('fidelity: the candidate model has no outputs');
    const session = await this.runtime.createSession(candidate, { threads: this.threads });
    let samples = 0, agree = 0, cosineSum = 0, signal = 0, noise = 0;
    let top1 = true;
    try {
      for (const ref of this.batches) {
        const out = (await session.run(ref.feeds, [name]))[name]!;
        if (out.dims.join(',') !== ref.dims.join(',')) {
          throw new NnzipError(`fidelity: the candidate's output '${name}' has shape [${out.dims.join(', ')}], the reference's '${this.output}' [${ref.dims.join(', ')}]`);
        }
        const cand = out.toFloat32();
        const rows = ref.dims.length >= 2 ? ref.dims[0]! : 1;
        const width = rows ? ref.values.length / rows : 0;
        for (let i = 0; i < rows; i++) {
          let dot = 0, rr = 0, cc = 0;
          for (let j = i * width; j < (i + 1) * width; j++) {
            const r = ref.values[j]!, c = cand[j]!;
            dot += r * c; rr += r * r; cc += c * c;
            noise += (r - c) * (r - c);
          }
          signal += rr;
          cosineSum += rr === 0 && cc === 0 ? 1 : rr === 0 || cc === 0 ? 0 : dot / Math.sqrt(rr * cc);
        }
        samples += rows;
        if (ref.top1) {
          const c = argmaxRows(cand, rows, width);
          for (let i = 0; i < rows; i++) if (c[i] === ref.top1[i]) agree++;
        } else {
          top1 = false;
        }
      }
    } finally {
      await session.release();
    }
    return {
      samples,
      top1Agreement: top1 && samples ? agree / samples : null,
      meanCosine: samples ? cosineSum / samples : 0,
      sqnrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
    };
  }
}

/** Fidelity of one candidate against a reference (for many candidates, create a FidelityReference once). */
export async function measureFidelity(runtime: Runtime, reference: Model, candidate: Model, batches: FeedBatches, options: FidelityOptions = {}): Promise<FidelityResult> {
  return (await FidelityReference.create(runtime, reference, batches, options)).compare(candidate);
}

function modelInput(model: Model): { name: string; rank: number | undefined } {
  const input = feedableInputs(model)[0];
  if (!input) throw new NnzipError('fidelity: the model has no inputs to feed');
  return { name: input.name, rank: input.type?.kind === 'tensor' ? input.type.shape?.length : undefined };
}

/** The batches of a data set as feeds of the model's first input (labels unused; flat models get flattened samples). */
export function* loaderFeeds(model: Model, loader: DataLoader, epoch = 0): Generator<Record<string, Tensor>, void, undefined> {
  if (loader.reuseBuffers) throw new NnzipError('fidelity: a DataLoader with reuseBuffers cannot feed a fidelity reference, which keeps its batches');
  const { name, rank } = modelInput(model);
  for (const batch of loader.batches(epoch)) yield { [name]: asModelInput(batch.inputs, name, rank) };
}

/**
 * `samples` seeded random inputs for every feedable input (floats uniform in [-1, 1)), in batches of `batchSize`
 * (default 64), or of the input's fixed first dimension where the model fixes it.
 */
export function* generatedFeeds(model: Model, samples: number, options: { seed?: number; batchSize?: number } = {}): Generator<Record<string, Tensor>, void, undefined> {
  if (!Number.isInteger(samples) || samples < 1) throw new NnzipError(`fidelity: the number of generated samples must be a positive integer, got ${samples}`);
  const first = feedableInputs(model)[0];
  if (!first) throw new NnzipError('fidelity: the model has no inputs to feed');
  const declared = concreteShape(first)[0];
  const fixed = first.type?.kind === 'tensor' && typeof first.type.shape?.[0] === 'number' ? declared : undefined;
  const batchSize = fixed ?? options.batchSize ?? 64;
  for (let done = 0, b = 0; done < samples; b++) {
    const size = fixed ?? Math.min(batchSize, samples - done);
    yield randomInputs(model, { seed: mixSeed(options.seed ?? 0, b), batch: fixed === undefined ? size : undefined });
    done += size;
  }
}
