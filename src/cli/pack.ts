// nnzip pack MODEL -o OUT.nnz: writes the model as a .nnz container (graph + each tensor coded the smallest lossless
// way), checks every tensor decodes to the same bytes, and reports sizes per tensor and in total: against the ONNX file and
// against the weights as dense float32. The work is the library's packModelParts.
import Table from 'cli-table3';
import { Command } from 'commander';
import { packModelParts } from '../compress/encode/nnz.js';
import { saveNnz } from '../node/nnz.js';
import { action, bytesOnDisk, humanBytes, nonNegativeInt, openModel, printJson, withCommonOptions } from './common.js';

interface PackCliOptions {
  output: string;
  deflate: boolean;
  minTensorBytes: number;
  verify: boolean;
  tensors: string;
  json?: boolean;
}

export function packCommand(): Command {
  return withCommonOptions(new Command('pack'))
    .description('write a model as a compressed .nnz container (lossless: sparse relative indices, Huffman-coded cluster indices, deflate)')
    .argument('<model>', 'ONNX model file (or a .nnz to repack)')
    .requiredOption('-o, --output <out.nnz>', 'where to write the .nnz file')
    .option('--no-deflate', 'do not try deflate on tensors and on the graph section')
    .option('--min-tensor-bytes <n>', 'tensors smaller than this stay inside the graph section', nonNegativeInt('--min-tensor-bytes'), 64)
    .option('--no-verify', 'skip unpacking the result to check every tensor comes back bit-exact')
    .option('--tensors <n>', 'rows of the tensor table in text mode, largest first (0: all)', '20')
    .action(action(async (path: string, opts: PackCliOptions) => {
      const model = openModel(path);
      const onnxBytes = bytesOnDisk(path, model);
      // In parts, and checked tensor by tensor: a 1 GB model is neither copied whole nor unpacked whole beside itself.
      const packed = packModelParts(model, { deflate: opts.deflate, minTensorBytes: opts.minTensorBytes });
      const report = packed.report;
      if (opts.verify) packed.verify();
      saveNnz(packed.parts, opts.output, [path]);
      const bytes = { byteLength: report.totalBytes };
      const result = {
        input: path,
        output: opts.output,
        inputBytes: onnxBytes,
        nnzBytes: bytes.byteLength,
        ratioVsInput: onnxBytes / bytes.byteLength,
        ratioVsFloat32Weights: report.float32WeightBytes / bytes.byteLength,
        verified: opts.verify,
        ...report,
      };
      if (opts.json) return printJson(result);
      const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(a / b >= 10 ? 1 : 2)}x` : '-');
      const limit = Number(opts.tensors) || Infinity;
      const rows = [...report.tensors].sort((a, b) => b.bytesBefore - a.bytesBefore);
      const table = new Table({ head: ['tensor', 'type', 'role', 'encoding', 'density', 'before', 'after', 'ratio'], style: { head: [], border: [], compact: true } });
      for (const t of rows.slice(0, limit)) {
        const coding = t.encoding === 'sparse' ? `sparse ${t.gapBits}-bit gaps, ${t.values === 'palette' ? `${t.paletteSize}-value palette` : 'raw values'}`
          : t.encoding === 'palette' ? `palette of ${t.paletteSize}` : t.encoding;
        table.push([t.name, `${t.dataType}[${t.dims.join(',')}]`, t.role, coding, t.density === undefined ? '' : `${(100 * t.density).toFixed(1)}%`,
          humanBytes(t.bytesBefore), humanBytes(t.bytesAfter), ratio(t.bytesBefore, t.bytesAfter)]);
      }
      process.stdout.write(`${table.toString()}\n`);
      if (rows.length > limit) process.stdout.write(`... ${rows.length - limit} more tensors (--tensors 0 shows all, --json gives them all)\n`);
      process.stdout.write(
        `tensors     ${humanBytes(report.tensorBytesBefore)} -> ${humanBytes(report.tensorBytesAfter)} (${report.tensors.length} entries; ${report.inlineTensors} small tensors inside the graph)\n`
        + `graph       ${humanBytes(report.graphBytesRaw)} -> ${humanBytes(report.graphBytes)}${report.graphEncoding === 'deflate' ? ' (deflate)' : ''}, header ${humanBytes(report.headerBytes)}\n`
        + `wrote ${opts.output}: ${humanBytes(bytes.byteLength)}; ${path} (${humanBytes(onnxBytes)}) is ${ratio(onnxBytes, bytes.byteLength)} that, `
        + `its weights as float32 (${humanBytes(report.float32WeightBytes)}) ${ratio(report.float32WeightBytes, bytes.byteLength)}`
        + `${opts.verify ? '; checked: unpacks bit-exact' : ''}\n`,
      );
    }));
}
