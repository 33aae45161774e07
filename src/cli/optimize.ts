// nnzip optimize MODEL -o OUT: lossless graph optimization (BatchNorm folding, constant folding, Identity/Dropout
// removal, shared duplicate initializers, unused values dropped). Both models run on the same seeded random inputs
// and the result is written only when their outputs agree within the tolerance.
import { Command } from 'commander';
import { isFloatType } from '../core/dtype.js';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { Tensor } from '../core/tensor.js';
import { validateModel } from '../core/validate.js';
import { optimizeModel } from '../compress/optimize/index.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { randomInputs } from '../runtime/inputs.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, humanBytes, nonNegativeInt, nonNegativeNumber, openModel, positiveInt, printJson, withCommonOptions } from './common.js';

interface OptimizeCliOptions {
  output: string;
  foldBn: boolean;
  foldConstants: boolean;
  tolerance: number;
  seed: number;
  batch: number;
  threads: number;
  json?: boolean;
}

export interface OutputDifference {
  output: string;
  maxAbs: number;
  /** maxAbs divided by the original output's largest magnitude (maxAbs itself when that is 0). */
  relative: number;
}

function valuesOf(t: Tensor): ArrayLike<number> {
  return isFloatType(t.dataType) ? t.toFloat32() : t.toNumbers();
}

/** Largest difference per output between two runs of the same feeds. */
export function outputDifferences(original: Record<string, Tensor>, optimized: Record<string, Tensor>): OutputDifference[] {
  return Object.keys(original).map((name) => {
    const a = valuesOf(original[name]!);
    const b = optimized[name] ? valuesOf(optimized[name]!) : undefined;
    if (!b || b.length !== a.length) return { output: name, maxAbs: Infinity, relative: Infinity };
    let maxAbs = 0, scale = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      // NaN in the same place on both sides is agreement; NaN on one side only is not.
      if (Number.isNaN(d)) { if (!(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) maxAbs = Infinity; continue; }
      maxAbs = Math.max(maxAbs, d);
      if (Number.isFinite(a[i]!)) scale = Math.max(scale, Math.abs(a[i]!));
    }
    return { output: name, maxAbs, relative: scale > 0 ? maxAbs / scale : maxAbs };
  });
}

async function runModel(model: Model, feeds: Record<string, Tensor>, threads: number): Promise<Record<string, Tensor>> {
  const session = await nodeRuntime.createSession(model, { threads });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function optimizeCommand(): Command {
  return withCommonOptions(new Command('optimize'))
    .description('lossless graph optimization: fold BatchNorm and constants, remove Identity/Dropout, share duplicate weights, drop unused values; checks the outputs against the original')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --output <out.onnx>', 'where to write the optimized model')
    .option('--no-fold-bn', 'leave BatchNormalization nodes in place')
    .option('--no-fold-constants', 'leave constant subgraphs (and Constant nodes) in place')
    .option('--tolerance <t>', 'largest allowed output difference, relative to the largest output magnitude', nonNegativeNumber('--tolerance'), 1e-4)
    .option('--seed <s>', 'seed of the random inputs the check runs on', nonNegativeInt('--seed'), 0)
    .option('--batch <b>', 'batch size of the check where the first input dimension is not fixed', positiveInt('--batch'), 2)
    .option('--threads <n>', 'onnxruntime threads', positiveInt('--threads'), 2)
    .action(action(async (path: string, opts: OptimizeCliOptions) => {
      const source = openModel(path, { runnable: true });
      const started = performance.now();
      const { model: optimized, report } = optimizeModel(source, { foldBatchNorm: opts.foldBn, foldConstants: opts.foldConstants });
      const seconds = (performance.now() - started) / 1000;
      validateModel(optimized);

      const fixedBatch = source.graph.inputs.some((v) => v.type?.kind === 'tensor' && typeof v.type.shape?.[0] === 'number');
      const feeds = randomInputs(source, { seed: opts.seed, batch: fixedBatch ? undefined : opts.batch });
      const differences = outputDifferences(await runModel(source, feeds, opts.threads), await runModel(optimized, feeds, opts.threads));
      const worst = differences.reduce((w, d) => (d.relative > w.relative ? d : w), { output: '', maxAbs: 0, relative: 0 });
      if (worst.relative > opts.tolerance) {
        throw new NnzipError(`optimized model's output '${worst.output}' differs from the original by ${worst.maxAbs.toExponential(3)} (relative ${worst.relative.toExponential(3)}, tolerance ${opts.tolerance}); ${opts.output} not written`);
      }
      await saveCheckedModel(optimized, opts.output, { inputs: [path], pass: 'optimize' });

      const out = { output: opts.output, seconds: Number(seconds.toFixed(3)), ...report, check: { seed: opts.seed, tolerance: opts.tolerance, maxAbs: Math.max(0, ...differences.map((d) => d.maxAbs)), maxRelative: worst.relative, outputs: differences } };
      if (opts.json) return printJson(out);
      const r = report;
      const lines = [
        `wrote ${opts.output}: ${r.nodesBefore} -> ${r.nodesAfter} nodes, ${humanBytes(r.bytesBefore)} -> ${humanBytes(r.bytesAfter)}`,
        `  BatchNorms folded: ${r.foldedBatchNorms}${r.batchNormsKept.length ? ` (${r.batchNormsKept.length} kept)` : ''}`,
        `  constant nodes folded: ${r.foldedConstantNodes}; Constant nodes moved to initializers: ${r.constantsToInitializers}`,
        `  Identity removed: ${r.removedIdentities}; Dropout removed: ${r.removedDropouts}`,
        `  duplicate initializers shared: ${r.dedupedInitializers} (${humanBytes(r.dedupedBytes)})`,
        `  unused nodes removed: ${r.removedNodes}; unused initializers removed: ${r.removedInitializers}`,
        ...r.batchNormsKept.map((k) => `  kept BatchNorm '${k.node}': ${k.reason}`),
        `outputs checked on seeded random inputs: largest difference ${out.check.maxAbs.toExponential(3)} (relative ${worst.relative.toExponential(3)})`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }));
}
