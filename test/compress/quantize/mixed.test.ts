import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeModel } from '../../../src/core/codec.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { FidelityReference, generatedFeeds } from '../../../src/eval/fidelity.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { quantizeMixedPrecision } from '../../../src/compress/quantize/mixed.js';

test('mixed precision meets the size budget, narrowing the layers that cost least per byte; unreachable budgets are refused', async () => {
  const model = buildArch('lenet-300-100', { seed: 4 });
  const reference = await FidelityReference.create(nodeRuntime, model, generatedFeeds(model, 128, { seed: 1 }), { threads: 1 });
  const measure = async (m: typeof model) => (await reference.compare(m)).meanCosine;
  const fp32 = encodeModel(model).bytes.byteLength;
  const candidates = [2, 4, 8];

  // Room for everything at 8 bits: nothing narrower is chosen.
  const roomy = await quantizeMixedPrecision(model, measure, { candidates, sizeBudget: fp32 });
  assert.deepEqual(roomy.report.layers.map((l) => l.bitsChosen), [8, 8, 8]);

  // A budget between all-4-bit and all-8-bit sizes.
  const all8 = roomy.report.bytes;
  const budget = Math.round(all8 * 0.7);
  const r = await quantizeMixedPrecision(model, measure, { candidates, sizeBudget: budget });
  assert.ok(r.report.bytes <= budget, `${r.report.bytes} bytes for a budget of ${budget}`);
  assert.ok(Math.abs(r.report.bytes - r.report.predictedBytes) < 0.01 * budget, `predicted ${r.report.predictedBytes}, got ${r.report.bytes}`);
  const bits = r.report.layers.map((l) => l.bitsChosen);
  assert.ok(bits.some((b) => b < 8), `${bits}`);
  // fc1 holds 88% of the weights: narrowing it saves most bytes, so it is narrowed first.
  assert.ok(bits[0]! < 8, `${bits}`);
  // Per-layer sensitivity is monotonic enough to trust: fewer bits, lower cosine similarity, for each layer.
  for (const l of r.report.layers) assert.ok(l.metrics[0]! <= l.metrics[2]! + 1e-9, `${l.weight}: ${l.metrics}`);
  // The chosen widths are what the written model stores.
  const stored = r.model.graph.initializers;
  for (const l of r.report.layers) {
    const q = [...stored.values()].find((t) => t.name.startsWith(l.weight) && t.dims.length === 2);
    assert.ok(q, `a quantized initializer for ${l.weight}`);
  }
  await assert.rejects(quantizeMixedPrecision(model, measure, { candidates, sizeBudget: 1000 }), /size budget 1000 bytes is out of reach/);
});
