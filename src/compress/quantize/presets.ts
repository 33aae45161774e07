// The model variants transformers.js loads by dtype name, made the way its scripts/quantize.py makes them (over
// onnxruntime's quantizers), and the file names it looks for (DEFAULT_DTYPE_SUFFIX_MAPPING in src/utils/dtypes.js):
//
//   fp16   model_fp16.onnx       float16 compute, float32 graph inputs and outputs (Casts at the edges)
//   q8     model_quantized.onnx  dynamic int8: uint8 activations; int8 weights, or uint8 where the model has Conv
//                                (onnxruntime-web long lacked ConvInteger with int8 weights), MatMul/Gemm/Conv
//   int8   model_int8.onnx       q8 with int8 weights forced
//   uint8  model_uint8.onnx      q8 with uint8 weights forced
//   q4     model_q4.onnx         com.microsoft MatMulNBits, 4 bits, symmetric, block 32 (MatMul/Gemm)
//   q4f16  model_q4f16.onnx      q4, then fp16
//   bnb4   model_bnb4.onnx       com.microsoft MatMulBnb4, NF4, block 64 (MatMul/Gemm)
import { Model, walkNodes } from '../../core/ir.js';
import { QuantizationError } from './arithmetic.js';
import { type Bnb4Report, quantizeBnb4 } from './bnb4.js';
import { type DynamicQuantizeReport, quantizeDynamic } from './dynamic.js';
import { type Float16Report, convertFloat16 } from './float16.js';
import { type WeightQuantizationReport, quantizeWeights } from './weight-only.js';

export type PresetName = 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

export const PRESETS: readonly PresetName[] = ['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];

/** What transformers.js appends to a model file's stem for each dtype (fp32 is the unsuffixed file). */
export const PRESET_FILE_SUFFIX: Readonly<Record<PresetName, string>> = Object.freeze({
  fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4',
});

/** Ops whose presence makes q8 store uint8 weights (transformers.js' QUINT8_OPS). */
const UINT8_WEIGHT_OPS = new Set(['Conv', 'GroupQueryAttention', 'MultiHeadAttention']);

export interface PresetOptions {
  /** Dynamic presets (q8, int8, uint8): one weight scale per output channel (default false, as transformers.js). */
  perChannel?: boolean;
  /** Dynamic presets: 7-bit weights, for CPUs without AVX-512 VNNI (default false). */
  reduceRange?: boolean;
  /**
   * Node name patterns (`*` wildcard) left alone: not quantized (q8, int8, uint8, q4, bnb4; in q4f16 the q4 step),
   * or kept float32 (fp16).
   */
  exclude?: string[];
}

export type PresetStep =
  | { pass: 'dynamic'; report: DynamicQuantizeReport }
  | { pass: 'weight-only'; report: WeightQuantizationReport }
  | { pass: 'float16'; report: Float16Report }
  | { pass: 'bnb4'; report: Bnb4Report };

export interface PresetReport {
  preset: PresetName;
  /** The file name suffix transformers.js loads this variant by. */
  fileSuffix: string;
  /** The passes run, in order, with their reports. */
  steps: PresetStep[];
}

export function isPresetName(name: string): name is PresetName {
  return (PRESETS as readonly string[]).includes(name);
}

function checkPreset(name: string): asserts name is PresetName {
  if (!isPresetName(name)) throw new QuantizationError(`unknown preset '${name}': presets are ${PRESETS.join(', ')}`);
}

/**
 * The file a preset's variant is saved as, next to the original: 'onnx/model.onnx' -> 'onnx/model_q4.onnx'
 * (q8: 'onnx/model_quantized.onnx'). Only the name changes; directories are kept as given.
 */
export function presetOutputName(fileName: string, preset: PresetName): string {
  checkPreset(preset);
  if (!fileName.endsWith('.onnx') || fileName.endsWith('/.onnx')) throw new QuantizationError(`'${fileName}' is not an .onnx file name`);
  return `${fileName.slice(0, -'.onnx'.length)}${PRESET_FILE_SUFFIX[preset]}.onnx`;
}

/**
 * The preset whose variant a file name denotes ('model_q4f16.onnx' -> 'q4f16'), or undefined for an original
 * ('model.onnx'): a folder run skips the variants it finds. The longest matching suffix wins (_q4f16 over _fp16).
 */
export function presetOfFileName(fileName: string): PresetName | undefined {
  if (!fileName.endsWith('.onnx')) return undefined;
  const stem = fileName.slice(0, -'.onnx'.length);
  const matches = PRESETS.filter((p) => stem.endsWith(PRESET_FILE_SUFFIX[p]));
  return matches.sort((a, b) => PRESET_FILE_SUFFIX[b].length - PRESET_FILE_SUFFIX[a].length)[0];
}

/** The weight type q8 picks: uint8 when the model has an op in transformers.js' QUINT8_OPS, else int8. */
export function q8WeightType(model: Model): 'int8' | 'uint8' {
  for (const { node } of walkNodes(model.graph)) if (UINT8_WEIGHT_OPS.has(node.opType)) return 'uint8';
  return 'int8';
}

/**
 * Makes the transformers.js variant `name` of a float32 model. Returns a new model and the reports of the passes it
 * ran; the input is not changed. Throws a QuantizationError for an unknown preset and whatever the passes refuse
 * (quantized models, NaN/Inf weights, weights beyond float16's range).
 */
export async function applyPreset(model: Model, name: PresetName, options: PresetOptions = {}): Promise<{ model: Model; report: PresetReport }> {
  checkPreset(name);
  const steps: PresetStep[] = [];
  const exclude = options.exclude;
  const dynamic = (weightType: 'int8' | 'uint8') => {
    const r = quantizeDynamic(model, { weightType, perChannel: options.perChannel, reduceRange: options.reduceRange, ops: ['MatMul', 'Gemm', 'Conv'], exclude });
    steps.push({ pass: 'dynamic', report: r.report });
    return r.model;
  };
  const q4 = async () => {
    const r = await quantizeWeights(model, { bits: 4, symmetric: true, granularity: { block: 32 }, format: 'nbits', ops: ['MatMul', 'Gemm'], exclude });
    steps.push({ pass: 'weight-only', report: r.report });
    return r.model;
  };
  const fp16 = (m: Model, keepNodes?: string[]) => {
    const r = convertFloat16(m, { type: 'float16', keepIoFloat32: true, keepNodes });
    steps.push({ pass: 'float16', report: r.report });
    return r.model;
  };
  let out: Model;
  switch (name) {
    case 'fp16': out = fp16(model, exclude); break;
    case 'q8': out = dynamic(q8WeightType(model)); break;
    case 'int8': out = dynamic('int8'); break;
    case 'uint8': out = dynamic('uint8'); break;
    case 'q4': out = await q4(); break;
    case 'q4f16': out = fp16(await q4()); break;
    case 'bnb4': {
      const r = quantizeBnb4(model, { quantType: 'nf4', blockSize: 64, exclude });
      steps.push({ pass: 'bnb4', report: r.report });
      out = r.model;
      break;
    }
  }
  return { model: out, report: { preset: name, fileSuffix: PRESET_FILE_SUFFIX[name], steps } };
}
