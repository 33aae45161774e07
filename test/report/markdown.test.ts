import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportMarkdown } from '../../src/report/markdown.js';
import type { Report } from '../../src/report/model.js';
import { CLASSES, LAYERS, fixtureReport } from './fixture.js';

/** The rows of the Markdown table under `## title`, as cells (header first, the alignment row left out). */
function tableUnder(md: string, title: string): string[][] {
  const lines = md.split('\n');
  const start = lines.indexOf(`## ${title}`);
  assert.ok(start >= 0, `no section '${title}'`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!;
    if (!line.startsWith('|') || /^\|[-:|]+\|$/.test(line)) continue;
    rows.push(line.slice(2, -2).split(/(?<!\\) \| /));
  }
  return rows;
}

test('the stages table: one row per entry with accuracy, sizes in KiB, counts, latency and memory', () => {
  const report = fixtureReport();
  const md = reportMarkdown(report);
  assert.ok(md.startsWith(`# ${report.title}\n`));
  assert.match(md, /recipe `recipes\/deep-compression-lenet-300-100\.json`/);
  const [head, ...rows] = tableUnder(md, 'Stages');
  assert.deepEqual(head, ['after', 'seconds', 'accuracy', 'ONNX KiB', 'gzip KiB', '.nnz KiB', 'params', 'non-zeros', 'MACs', 'p50 ms', 'p95 ms', 'peak memory MiB']);
  assert.equal(rows.length, report.entries.length);
  report.entries.forEach((e, i) => {
    const m = e.metrics;
    assert.deepEqual(rows[i], [
      e.name, e.seconds === undefined ? '-' : e.seconds.toFixed(1), `${(100 * m.accuracy!).toFixed(2)}%`,
      (m.bytes.onnx / 1024).toFixed(1), (m.bytes.gzip / 1024).toFixed(1), (m.bytes.nnz! / 1024).toFixed(1),
      m.params.toLocaleString('en-US'), m.nonzeroParams.toLocaleString('en-US'), m.macs.toLocaleString('en-US'),
      m.latency!.p50Ms.toFixed(3), m.latency!.p95Ms.toFixed(3), (m.peakMemoryBytes! / 2 ** 20).toFixed(1),
    ]);
  });
});

test('the last entry\'s layers, per-class, confusion, robustness and sensitivity tables', () => {
  const report = fixtureReport();
  const md = reportMarkdown(report);
  const last = report.entries[report.entries.length - 1]!;
  const [layerHead, ...layers] = tableUnder(md, `Layers of ${last.name}`);
  assert.equal(layerHead!.length, 9);
  assert.deepEqual(layers.map((r) => [r[0], r[2], r[6], r[7], r[8]]), last.layers.map((l) => [l.node, l.weight, String(l.storageBits), String(l.distinctValues), String(l.effectiveBits)]));
  assert.deepEqual(layers.map((r) => r[0]), LAYERS.map((l) => l.node));

  const [, ...classes] = tableUnder(md, 'Per-class precision, recall and F1');
  assert.equal(classes.length, CLASSES + 1);
  assert.deepEqual(classes[3]!.slice(-3), report.entries.map((e) => e.perClass!.perClass[3]!.f1.toFixed(4)));
  assert.deepEqual(classes[CLASSES]!.slice(-3), report.entries.map((e) => e.perClass!.macroF1.toFixed(4)));

  const [, ...confusion] = tableUnder(md, `Confusion matrix of ${last.name}`);
  assert.deepEqual(confusion.map((r) => r.slice(1).map((c) => Number(c.replace(/,/g, '')))), last.perClass!.confusion);

  const [robustHead, ...robust] = tableUnder(md, 'Robustness (accuracy)');
  assert.deepEqual(robustHead, ['after', 'clean', 'noise σ=0.1', 'noise σ=0.2', 'noise σ=0.3', 'FGSM ε=0.05', 'FGSM ε=0.1']);
  assert.deepEqual(robust.map((r) => r[4]), report.entries.map((e) => `${(100 * e.robustness!.noise[2]!.accuracy).toFixed(2)}%`));

  const [, ...sensitivity] = tableUnder(md, 'Pruning sensitivity');
  assert.deepEqual(sensitivity.map((r) => r[0]), report.sensitivity!.layers.map((l) => l.weight));
  assert.equal(sensitivity[0]![2], `${(100 * report.sensitivity!.layers[0]!.metrics[0]!).toFixed(2)}%`);
});

test('a bare comparison: only the models table; pipes in names escaped; notes and chart files listed', () => {
  const full = fixtureReport();
  const report: Report = {
    kind: 'compare', title: 'compare', created: '2025-01-01',
    entries: [{ name: 'a|b.onnx', metrics: { ...full.entries[0]!.metrics, latency: undefined, peakMemoryBytes: undefined, accuracy: undefined }, layers: [], histogram: { edges: [], counts: [], zeros: 0 }, notes: ['no labels'] }],
  };
  const md = reportMarkdown(report, { charts: [{ title: 'Size per model', path: 'charts/size.svg' }] });
  assert.deepEqual(md.split('\n').filter((l) => l.startsWith('## ')), ['## Models', '## Notes', '## Charts']);
  const [, row] = tableUnder(md, 'Models');
  assert.equal(row![0], 'a\\|b.onnx');
  // No seconds column (no stage timings): accuracy, then p50, p95 and memory last.
  assert.equal(row!.length, 11);
  assert.deepEqual([row![1], row![8], row![9], row![10]], ['-', '-', '-', '-']);
  assert.match(md, /^- a\|b\.onnx: no labels$/m);
  assert.match(md, /^!\[Size per model\]\(charts\/size\.svg\)$/m);
});
