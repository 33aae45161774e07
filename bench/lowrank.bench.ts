// Low-rank factorization's acceptance on full MNIST, by the documented CLI commands end to end: train an MLP with
// 1024-wide layers, factorize its two wide layers by truncated SVD to about half the MACs, fine-tune two epochs, and
// compare test error, MACs and onnxruntime latency (batch 32, 2 threads) with the unfactorized model. As a control,
// the baseline also gets the same two extra epochs, so that the comparison does not credit fine-tuning to the SVD.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nnzip, nnzipCached } from './cli-runner.js';
import type { BenchResult, BenchRow, Benchmark } from './types.js';

const compiledDir = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(compiledDir, '../../bench/out/lowrank');
/** NNZIP_BENCH_REUSE=1 reuses the models and reports of a previous run left in bench/out (e.g. to re-measure latency). */
const REUSE = process.env.NNZIP_BENCH_REUSE === '1';

const ARCH = 'mlp:784-1024-1024-10';
const TRAIN = ['--arch', ARCH, '--epochs', '5', '--lr', '0.05', '--schedule', 'cosine', '--weight-decay', '0.0001', '--seed', '1'];
/** fc1 [1024, 784] to rank 196 and fc2 [1024, 1024] to rank 256; the 10-class classifier stays whole. */
const LOWRANK = ['--rank-ratio', '0.25', '--exclude', 'fc3', '--finetune-epochs', '2', '--lr', '0.01', '--schedule', 'cosine', '--seed', '1'];
const CONTROL = ['--epochs', '2', '--lr', '0.01', '--schedule', 'cosine', '--seed', '1'];
const MAX_ERROR_INCREASE = 0.3;
const LATENCY_ROUNDS = 3;
const LATENCY = ['--batch', '32', '--threads', '2', '--runs', '300', '--warmup', '20'];



const pct = (v: number) => (100 * v).toFixed(2);

const benchmark: Benchmark = {
  name: 'lowrank',
  description: `Full MNIST: ${ARCH} trained 5 epochs, its 1024-wide layers factorized by truncated SVD (rank ratio 0.25, about `
    + 'half the MACs) and fine-tuned 2 epochs (cosine learning rate), against the unfactorized model: test error, MACs, and onnxruntime p50 latency '
    + 'at batch 32 on 2 threads. By the nnzip CLI.',
  async run(): Promise<BenchResult> {
    mkdirSync(outDir, { recursive: true });
    const base = join(outDir, 'mlp.onnx'), factorized = join(outDir, 'mlp-lowrank.onnx'), control = join(outDir, 'mlp-control.onnx');
    const trained = nnzipCached(['train', ...TRAIN, '--data', 'mnist', '-o', base], base, REUSE);
    const result = nnzipCached(['lowrank', base, ...LOWRANK, '--data', 'mnist', '--latency-runs', '0', '-o', factorized], factorized, REUSE);
    const controlRun = nnzipCached(['train', '--init', base, ...CONTROL, '--data', 'mnist', '-o', control], control, REUSE);
    const total = result.total as Record<string, number>;
    const layers = result.layers as { node: string; rank: number[]; factorized: boolean; energy: number }[];
    const baseError = 1 - total.accuracyBefore!;
    const cutError = 1 - total.accuracyFactorized!;
    const tunedError = 1 - total.accuracyAfter!;
    const controlError = 1 - (controlRun.accuracy as number);
    const increase = 100 * (tunedError - baseError);
    const macRatio = total.macsBefore! / total.macsAfter!;
    const latency = [Infinity, Infinity];
    for (let r = 0; r < LATENCY_ROUNDS; r++) {
      [base, factorized].forEach((m, i) => { latency[i] = Math.min(latency[i]!, nnzip(['bench', m, ...LATENCY]).p50Ms as number); });
    }
    const speedup = latency[0]! / latency[1]!;
    const rows: BenchRow[] = [
      { metric: 'baseline test error', value: pct(baseError), unit: '%' },
      { metric: 'factorized test error, before fine-tuning', value: pct(cutError), unit: '%' },
      { metric: 'factorized test error, after 2 epochs of fine-tuning', value: pct(tunedError), unit: '%' },
      { metric: 'error increase over the baseline', value: increase.toFixed(2), unit: 'points', target: { goal: `<= ${MAX_ERROR_INCREASE}`, pass: increase <= MAX_ERROR_INCREASE + 1e-9 } },
      { metric: 'control: baseline trained the same 2 extra epochs, test error', value: pct(controlError), unit: '%' },
      { metric: 'MACs per sample (baseline -> factorized)', value: `${total.macsBefore} -> ${total.macsAfter}`, unit: '' },
      { metric: 'MACs reduction', value: macRatio.toFixed(2), unit: 'x', target: { goal: '>= 2x', pass: macRatio >= 2 } },
      { metric: 'parameters (baseline -> factorized)', value: `${total.paramsBefore} -> ${total.paramsAfter}`, unit: '' },
      { metric: 'p50 latency at batch 32, 2 threads (baseline -> factorized)', value: `${latency[0]!.toFixed(3)} -> ${latency[1]!.toFixed(3)}`, unit: 'ms' },
      { metric: 'speed-up', value: speedup.toFixed(2), unit: 'x', target: { goal: '> 1x', pass: speedup > 1 } },
      { metric: 'SVD of both layers (plain TypeScript)', value: (result.factorizeSeconds as number).toFixed(2), unit: 's' },
    ];
    const ranks = layers.map((l) => `${l.node} ${l.factorized ? `rank ${l.rank[0]} (energy ${pct(l.energy)}%)` : 'kept'}`).join(', ');
    return {
      title: `Truncated SVD of ${ARCH} on full MNIST (nnzip CLI)`,
      rows,
      notes: [
        `\`nnzip train ${TRAIN.join(' ')} --data mnist -o mlp.onnx\` (${(trained.benchSeconds as number).toFixed(0)} s), then `
          + `\`nnzip lowrank mlp.onnx ${LOWRANK.join(' ')} --data mnist -o mlp-lowrank.onnx\` (${(result.benchSeconds as number).toFixed(0)} s); `
          + `control: \`nnzip train --init mlp.onnx ${CONTROL.join(' ')} --data mnist\` (${(controlRun.benchSeconds as number).toFixed(0)} s).`,
        `Layers: ${ranks}.`,
        'Errors on the full 10,000-image MNIST test set; MACs per sample from the inferred shapes (batch 1).',
        `Latency: \`nnzip bench MODEL ${LATENCY.join(' ')}\`, baseline and factorized alternating over ${LATENCY_ROUNDS} rounds, each one's best p50.`
          + `${REUSE ? ' This run reused the models and reports of the previous one (NNZIP_BENCH_REUSE=1).' : ''}`,
      ],
    };
  },
};

export default benchmark;
