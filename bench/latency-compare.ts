// Latency of models compared side by side: p50 of timed onnxruntime-node runs on seeded random inputs, alternating the
// models over rounds and keeping each one's best median, because this shared machine's speed drifts minute to minute.
import { Model } from '../src/core/ir.js';
import { randomInputs } from '../src/runtime/inputs.js';
import { nodeRuntime } from '../src/runtime/node.js';

export interface LatencyOptions {
  batch: number;
  threads: number;
  /** Timed runs per round (default 150) after `warmup` untimed ones (default 15). */
  runs?: number;
  warmup?: number;
  /** Rounds over which the models alternate (default 3). */
  rounds?: number;
}

/** Median latency (ms) of one model: one session, `warmup` runs, then `runs` timed runs. */
export async function p50Latency(model: Model, options: LatencyOptions): Promise<number> {
  const session = await nodeRuntime.createSession(model, { threads: options.threads });
  const feeds = randomInputs(model, { batch: options.batch, seed: 1 });
  for (let i = 0; i < (options.warmup ?? 15); i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < (options.runs ?? 150); i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Each model's best p50 over alternating rounds, in the order given. */
export async function compareLatency(models: Model[], options: LatencyOptions): Promise<number[]> {
  const best = models.map(() => Infinity);
  for (let r = 0; r < (options.rounds ?? 3); r++) {
    for (let i = 0; i < models.length; i++) best[i] = Math.min(best[i]!, await p50Latency(models[i]!, options));
  }
  return best;
}
