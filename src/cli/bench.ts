// nnzip bench MODEL: onnxruntime latency (p50, p95) and throughput on seeded random inputs.
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { quantile } from '../eval/measure.js';
import { randomInputs } from '../runtime/inputs.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, collectPairs, nonNegativeInt, openModel, positiveInt, printJson, withCommonOptions } from './common.js';

export function benchCommand(): Command {
  return withCommonOptions(new Command('bench'))
    .description('measure onnxruntime latency (p50, p95) and throughput of a model on random inputs')
    .argument('<model>', 'ONNX model file')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: onnxruntime\'s choice)', positiveInt('--threads'))
    .option('--batch <b>', 'batch size for inputs whose first dimension is not fixed', positiveInt('--batch'), 1)
    .option('--runs <r>', 'timed runs', positiveInt('--runs'), 50)
    .option('--warmup <w>', 'untimed runs first', nonNegativeInt('--warmup'), 5)
    .option('--dim <name=n>', 'size of a symbolic dimension (repeatable)', collectPairs, {})
    .option('--seed <s>', 'seed of the random inputs', nonNegativeInt('--seed'), 0)
    .action(action(async (path: string, opts: { threads?: number; batch: number; runs: number; warmup: number; dim: Record<string, string>; seed: number; json?: boolean }) => {
      const model = openModel(path, { runnable: true });
      const dims: Record<string, number> = {};
      for (const [k, v] of Object.entries(opts.dim)) {
        if (!/^\d+$/.test(v) || Number(v) <= 0) throw new NnzipError(`--dim ${k}=${v}: the size must be a positive integer`);
        dims[k] = Number(v);
      }
      const feeds = randomInputs(model, { seed: opts.seed, batch: opts.batch, dims });
      const session = await nodeRuntime.createSession(model, { threads: opts.threads });
      for (let i = 0; i < opts.warmup; i++) await session.run(feeds);
      const times: number[] = [];
      const started = performance.now();
      for (let i = 0; i < opts.runs; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t0);
      }
      const total = performance.now() - started;
      await session.release();
      times.sort((a, b) => a - b);
      const round = (v: number) => Number(v.toFixed(4));
      const result = {
        file: path,
        executionProvider: session.executionProvider,
        threads: opts.threads ?? null,
        batch: opts.batch,
        runs: opts.runs,
        warmup: opts.warmup,
        p50Ms: round(quantile(times, 0.5)),
        p95Ms: round(quantile(times, 0.95)),
        meanMs: round(times.reduce((a, b) => a + b, 0) / times.length),
        minMs: round(times[0]!),
        maxMs: round(times[times.length - 1]!),
        throughput: round((opts.batch * opts.runs * 1000) / total),
      };
      if (opts.json) return printJson(result);
      process.stdout.write(
        `${path}: batch ${result.batch}, ${result.runs} runs after ${result.warmup} warm-up, threads ${result.threads ?? 'default'}, ${result.executionProvider}\n` +
        `  latency p50 ${result.p50Ms.toFixed(3)} ms  p95 ${result.p95Ms.toFixed(3)} ms  mean ${result.meanMs.toFixed(3)} ms  (min ${result.minMs.toFixed(3)}, max ${result.maxMs.toFixed(3)})\n` +
        `  throughput ${result.throughput.toFixed(1)} samples/s\n`,
      );
    }));
}
