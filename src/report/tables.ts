// The report's tables as plain rows of text, shared by the Markdown and HTML writers: models, the last model's
// layers, per-class scores, the confusion matrix, robustness and pruning sensitivity. Isomorphic.
import { entryLabels, scoreMetric } from './charts.js';
import type { Report } from './model.js';

export interface Table {
  id: string;
  title: string;
  /** Shown under the title. */
  note?: string;
  head: string[];
  rows: string[][];
  /** Columns aligned right (numbers). */
  numeric: boolean[];
}

const dash = '-';
export const percent = (v: number | undefined | null, digits = 2) => (v === undefined || v === null || !Number.isFinite(v) ? dash : `${(100 * v).toFixed(digits)}%`);
export const kib = (v: number | undefined) => (v === undefined ? dash : (v / 1024).toFixed(1));
export const integer = (v: number | undefined) => (v === undefined ? dash : Math.round(v).toLocaleString('en-US'));
const ms = (v: number | undefined) => (v === undefined ? dash : v < 10 ? v.toFixed(3) : v.toFixed(1));
const mib = (v: number | undefined) => (v === undefined ? dash : (v / 2 ** 20).toFixed(1));
const fixed = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? dash : v.toFixed(digits));

function table(id: string, title: string, head: [string, boolean][], rows: string[][], note?: string): Table {
  return { id, title, note, head: head.map((h) => h[0]), numeric: head.map((h) => h[1]), rows };
}

function entriesTable(report: Report): Table {
  const labels = entryLabels(report);
  const metric = scoreMetric(report);
  const seconds = report.entries.some((e) => e.seconds !== undefined && e.seconds > 0);
  const head: [string, boolean][] = [
    [report.kind === 'compress' ? 'after' : 'model', false], ...(seconds ? [['seconds', true] as [string, boolean]] : []),
    [metric?.title ?? 'accuracy', true], ['ONNX KiB', true], ['gzip KiB', true], ['.nnz KiB', true], ['params', true],
    ['non-zeros', true], ['MACs', true], ['p50 ms', true], ['p95 ms', true], ['peak memory MiB', true],
  ];
  const rows = report.entries.map((e, i) => {
    const m = e.metrics;
    return [
      labels[i]!, ...(seconds ? [fixed(e.seconds, 1)] : []), percent(metric?.value(e)),
      kib(m.bytes.onnx), kib(m.bytes.gzip), kib(m.bytes.nnz), integer(m.params), integer(m.nonzeroParams), integer(m.macs),
      ms(m.latency?.p50Ms), ms(m.latency?.p95Ms), mib(m.peakMemoryBytes),
    ];
  });
  const title = report.kind === 'compress' ? 'Stages' : 'Models';
  return table('entries', title, head, rows, 'MACs per sample; latency is onnxruntime session.run on the measured batch');
}

function layersTable(report: Report): Table | undefined {
  const labels = entryLabels(report);
  const index = report.entries.map((e) => e.layers.length > 0).lastIndexOf(true);
  if (index < 0) return undefined;
  const head: [string, boolean][] = [
    ['layer', false], ['op', false], ['weight', false], ['params', true], ['non-zeros', true], ['sparsity', true],
    ['storage bits', true], ['distinct values', true], ['effective bits', true],
  ];
  const rows = report.entries[index]!.layers.map((l) => [
    l.node, l.opType, l.weight, integer(l.params), integer(l.nonzeros), percent(l.sparsity, 1),
    String(l.storageBits), integer(l.distinctValues), String(l.effectiveBits),
  ]);
  return table('layers', `Layers of ${labels[index]}`, head, rows, 'effective bits: the bits an index into the distinct (dequantized) values needs');
}

function perClassTables(report: Report): Table[] {
  const labels = entryLabels(report);
  const withClasses = report.entries.flatMap((e, i) => (e.perClass ? [{ result: e.perClass, label: labels[i]! }] : []));
  if (!withClasses.length) return [];
  const last = withClasses[withClasses.length - 1]!;
  const classes = Math.max(...withClasses.map((e) => e.result.perClass.length));
  const head: [string, boolean][] = [
    ['class', true], ['support', true], [`precision (${last.label})`, true], [`recall (${last.label})`, true],
    ...withClasses.map((e): [string, boolean] => [`F1 (${e.label})`, true]),
  ];
  const rows: string[][] = [];
  for (let c = 0; c < classes; c++) {
    const s = last.result.perClass[c];
    rows.push([
      String(s?.label ?? c), integer(s?.support), fixed(s?.precision, 4), fixed(s?.recall, 4),
      ...withClasses.map((e) => fixed(e.result.perClass[c]?.f1, 4)),
    ]);
  }
  rows.push(['macro', integer(last.result.samples), dash, dash, ...withClasses.map((e) => fixed(e.result.macroF1, 4))]);
  const tables = [table('per-class', 'Per-class precision, recall and F1', head, rows)];
  const confusion = last.result.confusion;
  if (confusion.length && confusion.length <= 20) {
    tables.push(table('confusion', `Confusion matrix of ${last.label}`, [['true \\ predicted', true], ...confusion.map((_, j): [string, boolean] => [String(j), true])],
      confusion.map((row, i) => [String(i), ...row.map((n) => integer(n))]), 'rows: true class; columns: predicted class'));
  }
  return tables;
}

function robustnessTable(report: Report): Table | undefined {
  const labels = entryLabels(report);
  const withRobustness = report.entries.flatMap((e, i) => (e.robustness ? [{ r: e.robustness, label: labels[i]! }] : []));
  if (!withRobustness.length) return undefined;
  const strengths = (kind: 'noise' | 'fgsm') => [...new Set(withRobustness.flatMap((e) => e.r[kind].map((p) => p.strength)))].sort((a, b) => a - b);
  const noise = strengths('noise'), fgsm = strengths('fgsm');
  const head: [string, boolean][] = [
    [report.kind === 'compress' ? 'after' : 'model', false], ['clean', true],
    ...noise.map((s): [string, boolean] => [`noise σ=${s}`, true]), ...fgsm.map((s): [string, boolean] => [`FGSM ε=${s}`, true]),
  ];
  const at = (points: { strength: number; accuracy: number }[], s: number) => points.find((p) => p.strength === s)?.accuracy;
  const rows = withRobustness.map(({ r, label }) => [
    label, percent(r.clean), ...noise.map((s) => percent(at(r.noise, s))), ...fgsm.map((s) => percent(at(r.fgsm, s))),
  ]);
  return table('robustness', 'Robustness (accuracy)', head, rows, `on ${integer(withRobustness[0]!.r.samples)} test samples`);
}

function sensitivityTable(report: Report): Table | undefined {
  const s = report.sensitivity;
  if (!s || !s.layers.length) return undefined;
  const head: [string, boolean][] = [['layer', false], ['params', true], ...s.sparsities.map((p): [string, boolean] => [percent(p, 0), true])];
  const value = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? dash : Math.abs(v) <= 1 ? percent(v) : v.toPrecision(4));
  const rows = s.layers.map((l) => [l.weight, integer(l.params), ...s.sparsities.map((_, i) => value(l.metrics[i]))]);
  return table('sensitivity', 'Pruning sensitivity', head, rows, `${s.metric ?? 'metric'} with each layer pruned alone to the sparsity of the column; unpruned: ${value(s.baseline)}`);
}

/** What could not be measured, per entry: 'name: note'. */
export function reportNotes(report: Report): string[] {
  const labels = entryLabels(report);
  return report.entries.flatMap((e, i) => (e.notes ?? []).map((n) => `${labels[i]}: ${n}`));
}

/** Every table the report has data for, in reading order. */
export function reportTables(report: Report): Table[] {
  return [entriesTable(report), layersTable(report), ...perClassTables(report), robustnessTable(report), sensitivityTable(report)]
    .filter((t): t is Table => t !== undefined);
}
