// Runs a training program step by step: one onnxruntime run per step, with the carried tensors (parameters,
// optimizer state, running statistics) handed from each step's outputs to the next step's inputs without copies.
import { NnzipError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { Runtime, Session } from '../runtime/session.js';
import { optimizerScalars, OptimizerSpec } from './optimizers.js';
import { TrainingProgram } from './training-graph.js';

export interface StepResult {
  loss: number;
  /** The model's output for the batch (logits), for training metrics. */
  output: Tensor;
}

/** A loss or a carried tensor became NaN or infinite: training stops, naming the step and the tensor. */
export class NonFiniteError extends NnzipError {
  constructor(message: string, readonly step: number, readonly tensor: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

export class TrainingSession {
  /** Current value of every carried tensor, by its input name. */
  readonly values = new Map<string, Tensor>();
  step = 0;

  private constructor(readonly program: TrainingProgram, private readonly session: Session, private readonly optimizer: OptimizerSpec) {
    // onnxruntime-node's BatchNormalization (training mode) writes the running variance into the buffer it was fed
    // (seen with 1.30): the statistics start from copies, or training would change the source model's initializers
    // (and a teacher or the next trial built from the same model). Parameters are not written to.
    for (const c of program.carried) {
      const init = c.role === 'statistic' ? new Tensor(c.init.name, c.init.dataType, c.init.dims, c.init.data.slice()) : c.init;
      this.values.set(c.input, init);
    }
  }

  static async create(runtime: Runtime, program: TrainingProgram, optimizer: OptimizerSpec, options: { threads?: number } = {}): Promise<TrainingSession> {
    const session = await runtime.createSession(program.model, { threads: options.threads });
    return new TrainingSession(program, session, optimizer);
  }

  /** Parameters and running statistics (what an inference model needs), by name. */
  modelValues(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const c of this.program.carried) if (c.role !== 'optimizer') out.set(c.input, this.values.get(c.input)!);
    return out;
  }

  /** Replaces carried values (resuming from a checkpoint); names that are not carried are refused. */
  load(values: Map<string, Tensor>): void {
    for (const [name, t] of values) {
      const current = this.values.get(name);
      if (!current) throw new NnzipError(`checkpoint tensor '${name}' is not a parameter or state of this training program`);
      if (current.dims.join(',') !== t.dims.join(',')) throw new NnzipError(`checkpoint tensor '${name}' has shape [${t.dims.join(',')}], the model needs [${current.dims.join(',')}]`);
      this.values.set(name, t.renamed(name));
    }
  }

  async run(data: Tensor, lossFeeds: Record<string, Tensor>, lr: number, options: { checkFinite?: boolean } = {}): Promise<StepResult> {
    const step = this.step + 1;
    const feeds: Record<string, Tensor> = { [this.program.dataInput]: data.renamed(this.program.dataInput), ...lossFeeds };
    for (const [name, t] of this.values) feeds[name] = t;
    for (const [name, v] of Object.entries(optimizerScalars(this.optimizer, step, lr))) feeds[name] = Tensor.fromFloat32(name, [], [v]);
    const out = await this.session.run(feeds);
    const loss = out[this.program.lossOutput]!.at(0);
    if (!Number.isFinite(loss)) {
      const bad = this.program.carried.find((c) => c.role === 'param' && !allFinite(out[c.output]!));
      throw new NonFiniteError(`step ${step}: the loss is ${loss}${bad ? `; parameter '${bad.input}' went non-finite first` : ''}`, step, bad?.input ?? this.program.lossOutput);
    }
    if (options.checkFinite) {
      const bad = this.program.carried.find((c) => !allFinite(out[c.output]!));
      if (bad) throw new NonFiniteError(`step ${step}: '${bad.input}' went non-finite`, step, bad.input);
    }
    for (const c of this.program.carried) this.values.set(c.input, out[c.output]!.renamed(c.input));
    this.step = step;
    return { loss, output: out[this.program.modelOutput]! };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function allFinite(t: Tensor): boolean {
  const d = t.numeric();
  if (!(d instanceof Float32Array) && !(d instanceof Float64Array)) return true;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return false;
  return true;
}
