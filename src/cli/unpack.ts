// nnzip unpack IN.nnz -o MODEL.onnx: decodes a .nnz container back into the ONNX model that was packed (bit-exact).
import { Command } from 'commander';
import { NnzipError } from '../core/errors.js';
import { isNnzFile, loadNnz } from '../node/nnz.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { action, humanBytes, printJson, withCommonOptions } from './common.js';
import { statSync } from 'node:fs';

interface UnpackCliOptions {
  output: string;
  externalData?: boolean;
  json?: boolean;
}

export function unpackCommand(): Command {
  return withCommonOptions(new Command('unpack'))
    .description('decode a .nnz container back into the ONNX model that was packed')
    .argument('<in.nnz>', '.nnz file')
    .requiredOption('-o, --output <model.onnx>', 'where to write the ONNX model')
    .option('--external-data', "put tensors in an external data file '<output>.data' next to the model")
    .action(action(async (path: string, opts: UnpackCliOptions) => {
      if (!isNnzFile(path)) throw new NnzipError(`${path}: not an .nnz file (wrong magic bytes); 'nnzip pack' makes one`);
      const model = loadNnz(path);
      const written = await saveCheckedModel(model, opts.output, { pass: 'unpack', inputs: [path], externalData: opts.externalData });
      const nnzBytes = statSync(path).size;
      const result = {
        input: path, output: opts.output, nnzBytes, onnxBytes: written.bytes, externalBytes: written.externalBytes,
        externalPath: written.externalPath ?? null, initializers: model.graph.initializers.size,
      };
      if (opts.json) return printJson(result);
      process.stdout.write(`wrote ${opts.output}: ${humanBytes(written.bytes)}${written.externalPath ? ` + ${humanBytes(written.externalBytes)} in ${written.externalPath}` : ''} `
        + `from ${humanBytes(nnzBytes)} (${result.initializers} initializers)\n`);
    }));
}
