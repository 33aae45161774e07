// Classification metrics of a model over a data set, run in onnxruntime: accuracy, top-5, cross-entropy, speed.
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { DataLoader } from '../data/loader.js';
import { Runtime } from '../runtime/session.js';

export interface ClassificationResult {
  /** Fraction of samples whose top-1 class is the label. */
  accuracy: number;
  /** Fraction whose label is among the 5 highest scores; null with fewer than 10 classes. */
  top5: number | null;
  /** Mean softmax cross-entropy. */
  loss: number;
  samples: number;
  samplesPerSec: number;
}

/** Running sums of classification metrics over batches of logits. */
export class ClassificationMeter {
  correct = 0;
  correct5 = 0;
  lossSum = 0;
  samples = 0;

  add(logits: Tensor, labels: Tensor): void {
    const [n, c] = logits.dims as [number, number];
    const z = logits.toFloat32();
    for (let i = 0; i < n; i++) {
      const label = labels.at(i);
      const row = z.subarray(i * c, (i + 1) * c);
      let max = -Infinity, arg = 0;
      for (let j = 0; j < c; j++) if (row[j]! > max) { max = row[j]!; arg = j; }
      let sum = 0, above = 0;
      for (let j = 0; j < c; j++) {
        sum += Math.exp(row[j]! - max);
        if (row[j]! > row[label]!) above++;
      }
      this.lossSum += Math.log(sum) + max - row[label]!;
      if (arg === label) this.correct++;
      if (above < 5) this.correct5++;
    }
    this.samples += n;
  }

  result(classes: number, seconds: number): ClassificationResult {
    return {
      accuracy: this.samples ? this.correct / this.samples : 0,
      top5: classes >= 10 && this.samples ? this.correct5 / this.samples : null,
      loss: this.samples ? this.lossSum / this.samples : 0,
      samples: this.samples,
      samplesPerSec: seconds > 0 ? this.samples / seconds : 0,
    };
  }
}

/** A batch of samples reshaped for a model that takes them flat ([batch, features]) when the data is [batch, c, h, w]. */
export function asModelInput(inputs: Tensor, name: string, modelInputRank: number | undefined): Tensor {
  if (modelInputRank === 2 && inputs.dims.length > 2) {
    const n = inputs.dims[0]!;
    return new Tensor(name, inputs.dataType, [n, inputs.size / Math.max(1, n)], inputs.data);
  }
  return inputs.renamed(name);
}

function inputRank(model: Model, name: string): number | undefined {
  const t = model.graph.inputs.find((v) => v.name === name)?.type;
  return t?.kind === 'tensor' ? t.shape?.length : undefined;
}

export async function evaluateClassifier(runtime: Runtime, model: Model, loader: DataLoader, options: { threads?: number; output?: string; from?: string } = {}): Promise<ClassificationResult> {
  // `from`: a file (or URL) onnxruntime reads the same model from; `model` then only names the input and output.
  const session = await runtime.createSession(options.from ?? model, { threads: options.threads });
  const input = session.inputs[0]!.name;
  const rank = inputRank(model, input);
  const output = options.output ?? model.graph.outputs[0]!.name;
  const meter = new ClassificationMeter();
  let classes = 0;
  const started = performance.now();
  try {
    for (const batch of loader.batches(0)) {
      const out = await session.run({ [input]: asModelInput(batch.inputs, input, rank) }, [output]);
      classes = out[output]!.dims[1]!;
      meter.add(out[output]!, batch.labels);
    }
  } finally {
    await session.release();
  }
  return meter.result(classes, (performance.now() - started) / 1000);
}
