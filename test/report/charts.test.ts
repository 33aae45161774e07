import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeLabels, reportCharts } from '../../src/report/charts.js';
import type { Report } from '../../src/report/model.js';
import { renderSvg } from '../../src/report/render.js';
import { CLASSES, FGSM, LAYERS, NOISE, SEARCH_POINTS, SPARSITIES, fixtureReport } from './fixture.js';
import { barHeight, markGroups, markSummary, textOf } from './svg.js';

const report = fixtureReport();
const ENTRIES = report.entries.length;

/** Mark summaries with the text groups summed into one entry (the accuracy-size labels come in one group per place). */
function mergeTexts(summary: string[]): string[] {
  const texts = summary.filter((s) => s.startsWith('text:')).reduce((n, s) => n + Number(s.slice(5)), 0);
  return [...summary.filter((s) => !s.startsWith('text:')), ...(texts ? [`text:${texts}`] : [])];
}

async function rendered(r: Report): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of reportCharts(r)) out.set(c.id, await renderSvg(c.spec));
  return out;
}

test('the fixture report gets every chart, each rendered to SVG with its data marks', async () => {
  const svgs = await rendered(report);
  const layers = LAYERS.length;
  const expected: Record<string, string[]> = {
    // The front's line, every candidate, the budget rule.
    'search-front': ['line:1', `symbol:${SEARCH_POINTS.length}`, 'rule:1'],
    'size': [`rect:${ENTRIES * 3}`],
    'accuracy': ['line:1', `symbol:${ENTRIES}`, `text:${ENTRIES}`],
    // ONNX and .nnz points, all six apart, each labelled (text groups: one per label place in use, summed here).
    'accuracy-size': [`symbol:${ENTRIES * 2}`, `text:${ENTRIES * 2}`],
    'layer-sparsity': [`rect:${layers * ENTRIES}`],
    'layer-bits': [`rect:${layers * ENTRIES}`, `rect:${layers * ENTRIES}`],
    // First and last entries, 60 bins each.
    'weight-histogram': ['rect:120'],
    'sensitivity': [...LAYERS.map(() => 'line:1'), `symbol:${layers * SPARSITIES.length}`, 'rule:1'],
    'confusion': [`rect:${CLASSES * CLASSES}`, `text:${CLASSES * CLASSES}`],
    'per-class-f1': [...report.entries.map(() => 'line:1'), `symbol:${CLASSES * ENTRIES}`],
    // The clean accuracy starts each curve.
    'robustness-noise': [...report.entries.map(() => 'line:1'), `symbol:${(NOISE.length + 1) * ENTRIES}`],
    'robustness-fgsm': [...report.entries.map(() => 'line:1'), `symbol:${(FGSM.length + 1) * ENTRIES}`],
  };
  assert.deepEqual([...svgs.keys()], Object.keys(expected));
  for (const [id, svg] of svgs) {
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, id);
    assert.deepEqual(id === 'accuracy-size' ? mergeTexts(markSummary(svg)) : markSummary(svg), expected[id], id);
  }
});

test('bar heights follow the data: sizes in proportion to bytes, sparsity in proportion to zeros', async () => {
  const svgs = await rendered(report);
  const bars = markGroups(svgs.get('size')!)[0]!.items.map(barHeight);
  const bytes = report.entries.flatMap((e) => [e.metrics.bytes.onnx, e.metrics.bytes.gzip, e.metrics.bytes.nnz!]);
  // Bars are drawn entry by entry, format by format; the scale is linear from 0.
  const ratio = bars[0]! / bytes[0]!;
  bars.forEach((h, i) => assert.ok(Math.abs(h - bytes[i]! * ratio) < 0.01, `bar ${i}: ${h} against ${bytes[i]! * ratio}`));

  const sparsity = markGroups(svgs.get('layer-sparsity')!)[0]!.items.map(barHeight);
  const expected = report.entries.flatMap((e) => e.layers.map((l) => l.sparsity));
  // The y scale spans [0, 1] over the chart's 220 pixels.
  assert.deepEqual(sparsity.map((h) => Math.round(h)).sort((a, b) => a - b), expected.map((s) => Math.round(s * 220)).sort((a, b) => a - b));
});

test('labels carry the numbers: accuracy per stage as percentages, accuracy-size points by entry name', async () => {
  const svgs = await rendered(report);
  const accuracyText = markGroups(svgs.get('accuracy')!).find((g) => g.type === 'text')!.items.map(textOf);
  assert.deepEqual(accuracyText, report.entries.map((e) => `${(100 * e.metrics.accuracy!).toFixed(2)}%`));
  const labels = markGroups(svgs.get('accuracy-size')!).filter((g) => g.type === 'text').flatMap((g) => g.items.map(textOf));
  assert.deepEqual(labels.sort(), [...report.entries.map((e) => e.name), ...report.entries.map((e) => e.name)].sort());
  const confusion = markGroups(svgs.get('confusion')!).find((g) => g.type === 'text')!.items.map(textOf).map(Number);
  assert.deepEqual(confusion, report.entries[ENTRIES - 1]!.perClass!.confusion.flat());
});

test('only charts whose data exist: no layers, classes, robustness or sensitivity; fidelity instead of accuracy', async () => {
  const bare: Report = {
    kind: 'compare', title: 'two models', created: '2025-01-01',
    entries: report.entries.slice(0, 2).map((e, i) => ({
      name: `model-${i}.onnx`,
      metrics: { ...e.metrics, accuracy: undefined, fidelity: { top1Agreement: 1 - i * 0.01, meanCosine: 1, sqnrDb: 40 }, bytes: { onnx: e.metrics.bytes.onnx, gzip: e.metrics.bytes.gzip } },
      layers: [], histogram: { edges: [], counts: [], zeros: 0 },
    })),
  };
  const charts = reportCharts(bare);
  assert.deepEqual(charts.map((c) => c.id), ['size', 'accuracy', 'accuracy-size']);
  assert.match(charts[1]!.title, /^Top-1 agreement with the original per model$/);
  const svgs = await rendered(bare);
  assert.deepEqual(markSummary(svgs.get('size')!), ['rect:4']);
  // Compared models are not a sequence: points, no line.
  assert.deepEqual(markSummary(svgs.get('accuracy')!), ['symbol:2', 'text:2']);
  assert.deepEqual(mergeTexts(markSummary(svgs.get('accuracy-size')!)), ['symbol:2', 'text:2']);

  const unscored: Report = { ...bare, entries: bare.entries.map((e) => ({ ...e, metrics: { ...e.metrics, fidelity: undefined } })) };
  assert.deepEqual(reportCharts(unscored).map((c) => c.id), ['size']);
});

test('a long recipe shows the first and last stage per layer; points of equal size and score share one label', async () => {
  const long: Report = { ...report, entries: [...report.entries, ...report.entries.slice(1).map((e, i) => ({ ...e, name: `${i + 3}: more` }))] };
  assert.equal(long.entries.length, 5);
  const charts = reportCharts(long);
  const sparsity = charts.find((c) => c.id === 'layer-sparsity')!;
  const svg = await renderSvg(sparsity.spec);
  assert.deepEqual(markSummary(svg), [`rect:${LAYERS.length * 2}`]);
  const rows = (sparsity.spec as { data: { values: { entry: string }[] } }).data.values;
  assert.deepEqual([...new Set(rows.map((r) => r.entry))], ['original', '4: more']);
  // '1: prune' and '3: more' have the same sizes and accuracy: one point each for ONNX and .nnz, labelled with both.
  const labels = markGroups(await renderSvg(charts.find((c) => c.id === 'accuracy-size')!.spec)).filter((g) => g.type === 'text').flatMap((g) => g.items.map(textOf));
  assert.ok(labels.includes('1: prune, 3: more'));
  assert.ok(labels.includes('2: cluster, 4: more'));
});

test('point labels are placed apart: three labels on one point take three places; at the right edge a label goes left', () => {
  const places = placeLabels([{ x: 100, y: 100, label: 'alpha' }, { x: 100, y: 100, label: 'beta' }, { x: 100, y: 100, label: 'gamma' }], 380, 260, 10);
  assert.equal(new Set(places).size, 3);
  // Place 0 is to the right; 1 to the left (right-aligned).
  assert.deepEqual(placeLabels([{ x: 375, y: 100, label: 'a long label' }], 380, 260, 10), [1]);
  assert.deepEqual(placeLabels([{ x: 10, y: 100, label: 'a long label' }], 380, 260, 10), [0]);
});
