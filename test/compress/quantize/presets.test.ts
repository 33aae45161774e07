// transformers.js presets: each variant of the fixtures runs in onnxruntime-node and onnxruntime-web, close to the
// float32 model, with the file names transformers.js loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { loadModel } from '../../../src/node/io.js';
import {
  PRESETS, PRESET_FILE_SUFFIX, PresetName, applyPreset, presetOfFileName, presetOutputName, q8WeightType,
} from '../../../src/compress/quantize/presets.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { maxAbs, maxDiff, runInBothRuntimes } from '../../helpers/compare.js';

/**
 * Largest |y - y_fp32| allowed, as a fraction of max |y_fp32|, on these small random-init fixtures. fp16: a few
 * roundings to 11 bits per layer (measured 0.05%); 8-bit dynamic: one weight and one activation step per layer
 * (measured 0.6-1%); 4-bit weights: a sixteenth of each block's range (measured q4 5-7%, bnb4 8-14%). The exact checks
 * against float simulations are in each pass's own tests; these bound the end-to-end drift.
 */
const TOLERANCE: Record<PresetName, number> = { fp16: 0.01, q8: 0.03, int8: 0.03, uint8: 0.03, q4: 0.15, q4f16: 0.15, bnb4: 0.2 };

/** The op each preset must leave in the graph. */
const SIGNATURE_OP: Record<PresetName, string> = {
  fp16: 'Cast', q8: 'MatMulInteger', int8: 'MatMulInteger', uint8: 'MatMulInteger', q4: 'MatMulNBits', q4f16: 'MatMulNBits', bnb4: 'MatMulBnb4',
};



async function runBoth(model: Model, feeds: Record<string, Tensor>): Promise<Tensor[]> {
  return (await runInBothRuntimes(model, feeds)).map((o) => Object.values(o)[0]!);
}

test('every preset of mlp.onnx and resnet_small.onnx runs in onnxruntime-node and -web close to float32', async () => {
  for (const file of ['mlp.onnx', 'resnet_small.onnx']) {
    const model = await loadModel(fixture(file));
    const feeds = randomInputs(model, { batch: 2, seed: 12 });
    const [reference] = await runBoth(model, feeds);
    const ref = reference!.toFloat32();
    for (const preset of PRESETS) {
      const { model: variant, report } = await applyPreset(model, preset);
      validateModel(variant);
      assert.equal(report.fileSuffix, PRESET_FILE_SUFFIX[preset]);
      assert.ok(variant.graph.nodes.some((n) => n.opType === SIGNATURE_OP[preset]), `${file} ${preset}: no ${SIGNATURE_OP[preset]}`);
      // transformers.js feeds and reads float32 whatever the variant.
      for (const v of [...variant.graph.inputs, ...variant.graph.outputs]) assert.equal(v.type?.kind === 'tensor' && v.type.elemType, DataType.FLOAT);
      for (const y of await runBoth(variant, feeds)) {
        assert.equal(y.dataType, DataType.FLOAT);
        const d = maxDiff(y.toFloat32(), ref);
        assert.ok(d <= TOLERANCE[preset] * maxAbs(ref), `${file} ${preset}: ${d} > ${TOLERANCE[preset]} of ${maxAbs(ref)}`);
      }
    }
  }
});

test('presets chain the passes transformers.js uses, with its weight types', async () => {
  const mlp = await loadModel(fixture('mlp.onnx'));
  const resnet = await loadModel(fixture('resnet_small.onnx'));
  // q8 stores uint8 weights when the model has a Conv, int8 otherwise; int8/uint8 force the type.
  assert.equal(q8WeightType(mlp), 'int8');
  assert.equal(q8WeightType(resnet), 'uint8');
  const weightTypes = async (model: Model, preset: PresetName) => {
    const { report } = await applyPreset(model, preset);
    const step = report.steps[0]!;
    assert.equal(step.pass, 'dynamic');
    return new Set(step.pass === 'dynamic' ? step.report.quantized.map((q) => q.weightType) : []);
  };
  assert.deepEqual(await weightTypes(mlp, 'q8'), new Set(['int8']));
  assert.deepEqual(await weightTypes(resnet, 'q8'), new Set(['uint8']));
  assert.deepEqual(await weightTypes(resnet, 'int8'), new Set(['int8']));
  assert.deepEqual(await weightTypes(mlp, 'uint8'), new Set(['uint8']));

  const q4f16 = await applyPreset(mlp, 'q4f16');
  assert.deepEqual(q4f16.report.steps.map((s) => s.pass), ['weight-only', 'float16']);
  const q4 = q4f16.report.steps[0]!;
  assert.ok(q4.pass === 'weight-only' && q4.report.weights.every((w) => w.bits === 4 && w.granularity === 'block 32' && w.format === 'nbits'));
  const nbits = q4f16.model.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
  assert.equal(nbits.length, 3);
  assert.ok(nbits.every((n) => n.int('block_size') === 32 && n.int('bits') === 4 && !n.input(3)), 'symmetric: no zero points');
  assert.ok(nbits.every((n) => q4f16.model.graph.initializers.get(n.inputs[2]!)!.dataType === DataType.FLOAT16), 'scales in float16');

  const bnb4 = await applyPreset(mlp, 'bnb4');
  const bnb = bnb4.model.graph.nodes.filter((n) => n.opType === 'MatMulBnb4');
  assert.ok(bnb.length === 3 && bnb.every((n) => n.int('block_size') === 64 && n.int('quant_type') === 1));

  // exclude reaches the pass: the first layer stays float in q8, float32 in fp16.
  const kept = await applyPreset(mlp, 'q8', { exclude: ['/fc1/*'], perChannel: true, reduceRange: true });
  const step = kept.report.steps[0]!;
  assert.ok(step.pass === 'dynamic' && step.report.quantized.length === 2 && step.report.quantized.every((q) => q.perChannel && q.bits === 7));
  const fp16 = await applyPreset(mlp, 'fp16', { exclude: ['/fc1/*'] });
  assert.ok(fp16.report.steps[0]!.pass === 'float16' && fp16.report.steps[0]!.report.keptNodes.some((k) => k.node === '/fc1/Gemm'));
});

test('file names follow transformers.js (DEFAULT_DTYPE_SUFFIX_MAPPING)', async () => {
  const names = PRESETS.map((p) => presetOutputName('onnx/model.onnx', p));
  assert.deepEqual(names, [
    'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx',
    'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_bnb4.onnx',
  ]);
  assert.equal(presetOutputName('decoder_model_merged.onnx', 'q4f16'), 'decoder_model_merged_q4f16.onnx');
  assert.deepEqual(names.map(presetOfFileName), PRESETS);
  assert.equal(presetOfFileName('onnx/model.onnx'), undefined);
  assert.equal(presetOfFileName('onnx/model_q4f16.onnx'), 'q4f16');
  assert.throws(() => presetOutputName('model.bin', 'q4'), /'model.bin' is not an .onnx file name/);
  await assert.rejects(applyPreset(await loadModel(fixture('mlp.onnx')), 'q2' as PresetName), /unknown preset 'q2': presets are fp16, q8/);
});
