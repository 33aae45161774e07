// nnzip auto's latency acceptance on full MNIST, by the documented command end to end: lenet-5 (trained as in the
// pruning-accuracy bench, reused when that bench left it in bench/out) searched with `--objective latency --max-drop
// 0.3`, then the original and the chosen model timed side by side with `nnzip bench` (batch 32, 2 threads).
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nnzip, nnzipCached } from './cli-runner.js';
import type { BenchResult, BenchRow, Benchmark } from './types.js';

const compiledDir = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(compiledDir, '../../bench/out/auto-latency');
const trainedByPruningBench = resolve(compiledDir, '../../bench/out/pruning-accuracy/lenet-5.onnx');
const TRAIN = ['--arch', 'lenet-5', '--epochs', '15', '--lr', '0.01', '--schedule', 'cosine', '--weight-decay', '0.0005', '--seed', '1'];
const AUTO = ['--data', 'mnist', '--max-drop', '0.3', '--objective', 'latency'];
const LATENCY_ROUNDS = 3;
const LATENCY = ['--batch', '32', '--threads', '2', '--runs', '300', '--warmup', '30'];

const benchmark: Benchmark = {
  name: 'auto-latency',
  description: 'Full MNIST: `nnzip auto lenet-5.onnx --max-drop 0.3 --objective latency` (defaults otherwise), then onnxruntime p50 '
    + 'latency of the original and the chosen model at batch 32 on 2 threads, alternating. By the nnzip CLI.',
  async run(): Promise<BenchResult> {
    mkdirSync(outDir, { recursive: true });
    const base = join(outDir, 'lenet-5.onnx'), chosen = join(outDir, 'lenet-5-auto.onnx');
    if (existsSync(trainedByPruningBench) && !existsSync(base)) copyFileSync(trainedByPruningBench, base);
    const trained = existsSync(base) ? undefined : nnzipCached(['train', ...TRAIN, '--data', 'mnist', '-o', base], base, false);
    // A fresh search every run: the log of an earlier one would be resumed otherwise.
    for (const f of [chosen, join(outDir, 'lenet-5-auto.recipe.json'), join(outDir, 'lenet-5-auto.auto-log.jsonl')]) rmSync(f, { force: true });
    const search = nnzip(['auto', base, ...AUTO, '-o', chosen]);
    const original = search.original as { testAccuracy: number };
    const result = search.chosen as { testAccuracy: number; dropPoints: number };
    const latency = [Infinity, Infinity];
    for (let r = 0; r < LATENCY_ROUNDS; r++) {
      [base, chosen].forEach((m, i) => { latency[i] = Math.min(latency[i]!, nnzip(['bench', m, ...LATENCY]).p50Ms as number); });
    }
    const speedup = latency[0]! / latency[1]!;
    const seconds = search.benchSeconds as number;
    const rows: BenchRow[] = [
      { metric: 'test accuracy (original -> chosen)', value: `${(100 * original.testAccuracy).toFixed(2)} -> ${(100 * result.testAccuracy).toFixed(2)}`, unit: '%' },
      { metric: 'accuracy drop', value: result.dropPoints.toFixed(2), unit: 'points', target: { goal: '<= 0.3', pass: result.dropPoints <= 0.3 + 1e-9 } },
      { metric: 'p50 latency at batch 32, 2 threads (original -> chosen)', value: `${latency[0]!.toFixed(3)} -> ${latency[1]!.toFixed(3)}`, unit: 'ms' },
      { metric: 'speed-up', value: speedup.toFixed(2), unit: 'x', target: { goal: '>= 2x', pass: speedup >= 2 } },
      { metric: 'search time (nnzip auto, wall)', value: seconds.toFixed(0), unit: 's', target: { goal: '<= 1800 s', pass: seconds <= 1800 } },
      { metric: 'trials / final runs', value: `${search.trials} / ${search.finals}`, unit: '' },
    ];
    return {
      title: 'nnzip auto, latency objective, lenet-5 on full MNIST',
      rows,
      notes: [
        `${trained ? `\`nnzip train ${TRAIN.join(' ')} --data mnist -o lenet-5.onnx\` (${(trained.benchSeconds as number).toFixed(0)} s), then ` : 'lenet-5 of the pruning-accuracy bench, then '}`
          + `\`nnzip auto lenet-5.onnx ${AUTO.join(' ')} -o lenet-5-auto.onnx\`.`,
        `Chosen recipe: ${JSON.stringify((search.chosen as { recipe: unknown }).recipe)}.`,
        `Latency: \`nnzip bench MODEL ${LATENCY.join(' ')}\`, original and chosen alternating over ${LATENCY_ROUNDS} rounds, each one's best p50.`,
      ],
    };
  },
};

export default benchmark;
