// Vega-Lite chart specs from a report: sizes and accuracy per entry, per-layer sparsity and bits, weight histograms
// before and after, pruning sensitivity, accuracy against size, per-class results and robustness. Plain objects,
// data inlined, so the same specs render to SVG in Node (render.ts) and in the browser studio. Only charts whose data
// exist are returned. Isomorphic: no Node-only imports.
import type { TopLevelSpec } from 'vega-lite';
import type { Report, ReportEntry } from './model.js';
import { textWidth } from './text-width.js';

export interface ChartSpec {
  /** Stable id (HTML figures are `chart-${id}`). */
  id: string;
  title: string;
  spec: TopLevelSpec;
}

type Row = Record<string, string | number>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 240, titlePadding: 8 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320, symbolLimit: 40 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555' },
};

/** What the report scores models by: test accuracy where measured, else top-1 agreement with the original. */
export interface ScoreMetric {
  title: string;
  value(entry: ReportEntry): number | undefined;
}

/** A number, or undefined for anything else (a report read back from JSON holds null where a NaN was). */
const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function scoreMetric(report: Report): ScoreMetric | undefined {
  const accuracy = (e: ReportEntry) => finite(e.metrics.accuracy);
  if (report.entries.some((e) => accuracy(e) !== undefined)) return { title: 'accuracy', value: accuracy };
  const agreement = (e: ReportEntry) => finite(e.metrics.fidelity?.top1Agreement);
  if (report.entries.some((e) => agreement(e) !== undefined)) return { title: 'top-1 agreement with the original', value: agreement };
  return undefined;
}

/** Entry names made unique (charts key rows by them), in report order. */
export function entryLabels(report: Report): string[] {
  const seen = new Map<string, number>();
  return report.entries.map((e) => {
    const n = (seen.get(e.name) ?? 0) + 1;
    seen.set(e.name, n);
    return n === 1 ? e.name : `${e.name} (${n})`;
  });
}

const stagesOrModels = (report: Report) => (report.kind === 'compress' ? 'stage' : 'model');

/** Entries of the per-layer charts: all of them, or for a long recipe the first and the last. */
function layerEntries(report: Report, labels: string[]): { entry: ReportEntry; label: string }[] {
  const all = report.entries.map((entry, i) => ({ entry, label: labels[i]! })).filter((e) => e.entry.layers.length > 0);
  return report.kind === 'compress' && all.length > 4 ? [all[0]!, all[all.length - 1]!] : all;
}

function entryColor(labels: string[], title = null as string | null) {
  return { field: 'entry', type: 'nominal' as const, title, sort: labels, scale: { domain: labels } };
}

/** Subtitle lines of at most `width` characters: a long single line would widen the whole chart. */
function wrap(text: string, width = 56): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function base(title: string, subtitle: string | undefined, values: Row[]) {
  return {
    $schema: SCHEMA,
    title: subtitle ? { text: title, subtitle: wrap(subtitle) } : title,
    background: 'white',
    padding: 8,
    config: CONFIG,
    data: { values },
  };
}

function sizeChart(report: Report, labels: string[]): ChartSpec | undefined {
  const formats = ['ONNX', 'gzip', '.nnz'];
  const rows: Row[] = report.entries.flatMap((e, i) => {
    const b = e.metrics.bytes;
    return [b.onnx, b.gzip, b.nnz].flatMap((bytes, f) => (bytes === undefined ? [] : [{ entry: labels[i]!, format: formats[f]!, kib: bytes / 1024 }]));
  });
  if (!rows.length) return undefined;
  const title = `Size per ${stagesOrModels(report)}`;
  return {
    id: 'size', title,
    spec: {
      ...base(title, 'ONNX file, gzip of it, .nnz container', rows),
      width: Math.max(240, 70 * report.entries.length), height: 260,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'entry', type: 'nominal', sort: labels, title: null, axis: { labelAngle: -30 } },
        xOffset: { field: 'format', sort: formats },
        y: { field: 'kib', type: 'quantitative', title: 'KiB' },
        color: { field: 'format', type: 'nominal', sort: formats, scale: { domain: formats.filter((f) => rows.some((r) => r.format === f)) }, title: null },
      },
    },
  };
}

function scoreChart(report: Report, labels: string[]): ChartSpec | undefined {
  const metric = scoreMetric(report);
  if (!metric) return undefined;
  const rows: Row[] = report.entries.flatMap((e, i) => {
    const v = metric.value(e);
    return v === undefined ? [] : [{ entry: labels[i]!, value: v }];
  });
  const title = `${metric.title[0]!.toUpperCase()}${metric.title.slice(1)} per ${stagesOrModels(report)}`;
  const values = rows.map((r) => r.value as number);
  const x = { field: 'entry', type: 'nominal' as const, sort: labels, title: null, axis: { labelAngle: -30 } };
  const y = { field: 'value', type: 'quantitative' as const, title: metric.title, scale: { zero: false, padding: 12 }, axis: { format: percentFormat(Math.max(...values) - Math.min(...values)) } };
  return {
    id: 'accuracy', title,
    spec: {
      ...base(title, undefined, rows),
      width: Math.max(240, 70 * report.entries.length), height: 220,
      encoding: { x, y },
      layer: [
        ...(report.kind === 'compress' ? [{ mark: { type: 'line' as const, color: '#4c78a8' } }] : []),
        { mark: { type: 'point' as const, filled: true, size: 70, color: '#4c78a8', tooltip: true } },
        { mark: { type: 'text' as const, dy: -12, fontSize: 10 }, encoding: { text: { field: 'value', type: 'quantitative' as const, format: '.2%' } } },
      ],
    },
  };
}

function layerCharts(report: Report, labels: string[]): ChartSpec[] {
  const entries = layerEntries(report, labels);
  if (!entries.length) return [];
  const layerOrder = [...new Set(entries.flatMap((e) => e.entry.layers.map((l) => l.node)))];
  const entryOrder = entries.map((e) => e.label);
  const rows: Row[] = entries.flatMap(({ entry, label }) => entry.layers.map((l) => ({
    entry: label, layer: l.node, op: l.opType, weight: l.weight, sparsity: l.sparsity, effectiveBits: l.effectiveBits, storageBits: l.storageBits,
  })));
  const width = Math.max(260, layerOrder.length * Math.max(36, 16 * entryOrder.length));
  const x = { field: 'layer', type: 'nominal' as const, sort: layerOrder, title: 'layer', axis: { labelAngle: -35 } };
  const xOffset = { field: 'entry', sort: entryOrder };
  const color = entryColor(entryOrder);
  const subtitle = entries.length < report.entries.filter((e) => e.layers.length).length ? `${entries[0]!.label} and ${entries[entries.length - 1]!.label}` : undefined;
  const sparsityTitle = 'Sparsity per layer';
  const bitsTitle = 'Bits per weight, per layer';
  return [
    {
      id: 'layer-sparsity', title: sparsityTitle,
      spec: {
        ...base(sparsityTitle, subtitle, rows), width, height: 220,
        mark: { type: 'bar', tooltip: true },
        encoding: { x, xOffset, color, y: { field: 'sparsity', type: 'quantitative', title: 'sparsity', scale: { domain: [0, 1] }, axis: { format: '%' } } },
      },
    },
    {
      id: 'layer-bits', title: bitsTitle,
      spec: {
        ...base(bitsTitle, `bars: bits an index into the distinct values needs; ticks: bits stored${subtitle ? ` (${subtitle})` : ''}`, rows), width, height: 220,
        encoding: { x, xOffset, color },
        layer: [
          { mark: { type: 'bar', tooltip: true }, encoding: { y: { field: 'effectiveBits', type: 'quantitative', title: 'bits', scale: { domainMin: 0 } } } },
          { mark: { type: 'tick', thickness: 3, tooltip: true }, encoding: { y: { field: 'storageBits', type: 'quantitative' } } },
        ],
      },
    },
  ];
}

/**
 * The value range a histogram is drawn over: its edges, except that end bins much wider than the others (the
 * outliers' bins of histogramOf) are drawn one ordinary bin wide.
 */
function drawnRange(edges: readonly number[]): [number, number] {
  const n = edges.length - 1;
  if (n < 3) return [edges[0]!, edges[n]!];
  const widths = edges.slice(1).map((e, i) => e - edges[i]!);
  const typical = [...widths.slice(1, -1)].sort((a, b) => a - b)[Math.floor((n - 2) / 2)]!;
  return [widths[0]! > 1.5 * typical ? edges[1]! - typical : edges[0]!, widths[n - 1]! > 1.5 * typical ? edges[n - 1]! + typical : edges[n]!];
}

function histogramChart(report: Report, labels: string[]): ChartSpec | undefined {
  const withData = report.entries.map((entry, i) => ({ entry, label: labels[i]! })).filter((e) => e.entry.histogram.counts.length > 0);
  if (!withData.length) return undefined;
  const shown = withData.length === 1 ? withData : [withData[0]!, withData[withData.length - 1]!];
  const ranges = shown.map((e) => drawnRange(e.entry.histogram.edges));
  const lo = Math.min(...ranges.map((r) => r[0])), hi = Math.max(...ranges.map((r) => r[1]));
  const clipped = shown.some((e) => e.entry.histogram.edges[0]! < lo || e.entry.histogram.edges[e.entry.histogram.edges.length - 1]! > hi);
  const rows: Row[] = shown.flatMap(({ entry, label }) => {
    const { edges, counts } = entry.histogram;
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.map((c, i) => ({ entry: label, start: Math.max(lo, edges[i]!), end: Math.min(hi, edges[i + 1]!), share: total ? c / total : 0 }));
  });
  const order = shown.map((e) => e.label);
  const title = shown.length > 1 ? 'Weight histogram, before and after' : 'Weight histogram';
  const zeros = shown.map((e) => `${e.label}: ${e.entry.histogram.zeros.toLocaleString('en-US')}`).join('; ');
  const extremes = clipped
    ? `; the end bins also hold the outliers, from ${Math.min(...shown.map((e) => e.entry.histogram.edges[0]!)).toPrecision(3)} to ${Math.max(...shown.map((e) => e.entry.histogram.edges[e.entry.histogram.edges.length - 1]!)).toPrecision(3)}`
    : '';
  return {
    id: 'weight-histogram', title,
    spec: {
      ...base(title, `non-zero weights of all layers (zeros left out: ${zeros})${extremes}`, rows),
      width: 400, height: 240,
      mark: { type: 'rect', opacity: 0.55, tooltip: true },
      encoding: {
        x: { field: 'start', type: 'quantitative', title: 'weight value', scale: { domain: [lo, hi], nice: false, zero: false } },
        x2: { field: 'end' },
        y: { field: 'share', type: 'quantitative', title: 'share of non-zero weights', stack: null, axis: { format: '.1%' } },
        color: entryColor(order),
      },
    },
  };
}

function sensitivityChart(report: Report): ChartSpec | undefined {
  const s = report.sensitivity;
  if (!s || !s.layers.length || !s.sparsities.length) return undefined;
  const rows: Row[] = s.layers.flatMap((l) => s.sparsities.flatMap((sparsity, i) => {
    const v = l.metrics[i];
    return v === undefined || !Number.isFinite(v) ? [] : [{ layer: l.weight, sparsity, metric: v }];
  }));
  if (!rows.length) return undefined;
  const metric = s.metric ?? 'metric';
  // Accuracy-like metrics (all within [0, 1]) read as percentages, as the baseline in the subtitle does.
  const fractions = [s.baseline, ...rows.map((r) => r.metric as number)].every((v) => Math.abs(v) <= 1);
  const layers = s.layers.map((l) => l.weight);
  const title = 'Pruning sensitivity per layer';
  const color = { field: 'layer', type: 'nominal' as const, sort: layers, title: 'layer pruned alone', scale: { domain: layers, scheme: layers.length > 10 ? 'category20' : 'tableau10' } };
  return {
    id: 'sensitivity', title,
    spec: {
      ...base(title, `${metric} with one layer pruned (magnitude), the rest unchanged; dashed: unpruned ${formatMetric(s.baseline)}`, rows),
      width: 360, height: 260,
      layer: [
        {
          mark: { type: 'line', point: { filled: true, size: 40 }, tooltip: true },
          encoding: {
            x: { field: 'sparsity', type: 'quantitative', title: 'sparsity of that layer', axis: { format: '%' } },
            y: { field: 'metric', type: 'quantitative', title: metric, scale: { zero: false }, ...(fractions ? { axis: { format: '.1%' } } : {}) },
            color,
          },
        },
        { data: { values: [{ baseline: s.baseline }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { field: 'baseline', type: 'quantitative' } } },
      ],
    },
  };
}

function formatMetric(v: number): string {
  return Math.abs(v) <= 1 ? `${(100 * v).toFixed(2)}%` : v.toPrecision(4);
}

/** Where a point's label may go: offset from the point in pixels, and the text's anchor. */
const LABEL_PLACES = [
  { dx: 8, dy: 0, align: 'left', baseline: 'middle' },
  { dx: -8, dy: 0, align: 'right', baseline: 'middle' },
  { dx: 0, dy: -8, align: 'center', baseline: 'bottom' },
  { dx: 0, dy: 8, align: 'center', baseline: 'top' },
  { dx: 6, dy: -6, align: 'left', baseline: 'bottom' },
  { dx: 6, dy: 6, align: 'left', baseline: 'top' },
  { dx: -6, dy: -6, align: 'right', baseline: 'bottom' },
  { dx: -6, dy: 6, align: 'right', baseline: 'top' },
] as const;

interface Box { x0: number; y0: number; x1: number; y1: number }

const overlap = (a: Box, b: Box) => Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) * Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));

/**
 * A place (index into LABEL_PLACES) for each point's label: the first that overlaps no point, no label placed before
 * and stays inside the plot, else the one overlapping least. Vega-Lite has no label placement of its own.
 */
export function placeLabels(points: { x: number; y: number; label: string }[], width: number, height: number, fontSize: number): number[] {
  const textHeight = fontSize + 2;
  const taken: Box[] = points.map((p) => ({ x0: p.x - 6, y0: p.y - 6, x1: p.x + 6, y1: p.y + 6 }));
  const plot = { x0: 0, y0: 0, x1: width, y1: height };
  return points.map((p) => {
    const w = textWidth(p.label, fontSize);
    const boxes = LABEL_PLACES.map((place): Box => {
      const x = p.x + place.dx, y = p.y + place.dy;
      const x0 = place.align === 'left' ? x : place.align === 'right' ? x - w : x - w / 2;
      const y0 = place.baseline === 'top' ? y : place.baseline === 'bottom' ? y - textHeight : y - textHeight / 2;
      return { x0, y0, x1: x0 + w, y1: y0 + textHeight };
    });
    const costs = boxes.map((box) => taken.reduce((n, t) => n + overlap(box, t), 0) + w * textHeight - overlap(box, plot));
    const best = costs.indexOf(Math.min(...costs));
    taken.push(boxes[best]!);
    return best;
  });
}

/** A percentage format with enough decimals to tell ticks apart over a span of fractions. */
function percentFormat(span: number): string {
  const digits = span > 0 ? Math.max(0, Math.min(4, Math.ceil(-Math.log10(span * 100)) + 1)) : 2;
  return `.${digits}%`;
}

function scoreSizeChart(report: Report, labels: string[]): ChartSpec | undefined {
  const metric = scoreMetric(report);
  if (!metric) return undefined;
  const points = new Map<string, Row>();
  report.entries.forEach((e, i) => {
    const v = metric.value(e);
    if (v === undefined) return;
    for (const [format, bytes] of [['ONNX', e.metrics.bytes.onnx], ['.nnz', e.metrics.bytes.nnz]] as const) {
      if (bytes === undefined || !(bytes > 0)) continue;
      // Models of the same size and score (a packing stage leaves the ONNX size alone) share one labelled point.
      const key = `${format}|${bytes}|${v}`;
      const p = points.get(key);
      if (p) p.label = `${p.label}, ${labels[i]!}`;
      else points.set(key, { format, bytes, value: v, label: labels[i]! });
    }
  });
  if (!points.size) return undefined;
  const rows = [...points.values()];
  const formats = ['ONNX', '.nnz'].filter((f) => rows.some((r) => r.format === f));
  const title = `${metric.title[0]!.toUpperCase()}${metric.title.slice(1)} against size`;
  // Fixed domains, so that label places can be worked out in pixels here.
  const width = 380, height = 260, fontSize = 10;
  const bytes = rows.map((r) => r.bytes as number), values = rows.map((r) => r.value as number);
  const [bMin, bMax] = [Math.min(...bytes), Math.max(...bytes)];
  const xDomain = bMin === bMax ? [bMin / 3, bMax * 3] : [bMin / 1.6, bMax * 1.6];
  const [vMin, vMax] = [Math.min(...values), Math.max(...values)];
  const span = vMax - vMin || Math.max(Math.abs(vMax) * 0.01, 1e-3);
  const yDomain = [vMin - span * 0.15, vMax + span * 0.15];
  const px = (b: number) => (width * Math.log(b / xDomain[0]!)) / Math.log(xDomain[1]! / xDomain[0]!);
  const py = (v: number) => height * (1 - (v - yDomain[0]!) / (yDomain[1]! - yDomain[0]!));
  const places = placeLabels(rows.map((r) => ({ x: px(r.bytes as number), y: py(r.value as number), label: r.label as string })), width, height, fontSize);
  rows.forEach((r, i) => { r.place = places[i]!; });
  const encoding = {
    x: { field: 'bytes', type: 'quantitative' as const, title: 'size (bytes, log scale)', scale: { type: 'log' as const, domain: xDomain, nice: false }, axis: { format: '~s' } },
    y: { field: 'value', type: 'quantitative' as const, title: metric.title, scale: { domain: yDomain, nice: false, zero: false }, axis: { format: percentFormat(span) } },
  };
  return {
    id: 'accuracy-size', title,
    spec: {
      ...base(title, `every ${stagesOrModels(report)}, as ONNX${formats.includes('.nnz') ? ' and as .nnz' : ''}`, rows),
      width, height,
      encoding,
      layer: [
        {
          mark: { type: 'point', filled: true, size: 80, tooltip: true },
          encoding: {
            color: { field: 'format', type: 'nominal', sort: formats, scale: { domain: formats }, title: null },
            shape: { field: 'format', type: 'nominal', sort: formats, scale: { domain: formats }, title: null },
          },
        },
        // One text layer per label place in use (dx, dy and the anchor are mark properties, not encodings).
        ...[...new Set(places)].sort((a, b) => a - b).map((p) => ({
          transform: [{ filter: { field: 'place', equal: p } }],
          mark: { type: 'text' as const, fontSize, ...LABEL_PLACES[p]! },
          encoding: { text: { field: 'label', type: 'nominal' as const } },
        })),
      ],
    },
  };
}

/** 0 and the powers of ten up to `max`: legend steps a log colour scale spreads evenly. */
function legendSteps(max: number): number[] {
  // 1 sits too close to 0 on a symlog scale to label both, once 10 and beyond are shown.
  const steps = [0];
  for (let p = max >= 10 ? 10 : 1; p <= Math.max(1, max); p *= 10) steps.push(p);
  return steps;
}

function perClassCharts(report: Report, labels: string[]): ChartSpec[] {
  const withClasses = report.entries.map((entry, i) => ({ entry, label: labels[i]! })).filter((e) => e.entry.perClass);
  if (!withClasses.length) return [];
  const charts: ChartSpec[] = [];
  const last = withClasses[withClasses.length - 1]!;
  const confusion = last.entry.perClass!.confusion;
  const cells: Row[] = confusion.flatMap((row, label) => row.map((count, predicted) => ({ label, predicted, count })));
  if (cells.length) {
    const max = Math.max(...cells.map((c) => c.count as number));
    const cell = Math.max(14, Math.min(32, Math.floor(360 / confusion.length)));
    const title = `Confusion matrix (${last.label})`;
    const axis = (t: string) => ({ field: t === 'true class' ? 'label' : 'predicted', type: 'ordinal' as const, title: t, sort: null });
    charts.push({
      id: 'confusion', title,
      spec: {
        ...base(title, 'test samples by true class (rows) and predicted class (columns); colour on a log scale', cells),
        width: cell * confusion.length, height: cell * confusion.length,
        encoding: { x: { ...axis('predicted class'), axis: { labelAngle: 0, orient: 'top' } }, y: axis('true class') },
        layer: [
          { mark: { type: 'rect', tooltip: true }, encoding: { color: { field: 'count', type: 'quantitative', title: 'samples', scale: { type: 'symlog', scheme: 'blues' }, legend: { values: legendSteps(max) } } } },
          ...(confusion.length <= 20 ? [{
            mark: { type: 'text' as const, fontSize: Math.min(10, cell / 3) },
            encoding: {
              text: { field: 'count', type: 'quantitative' as const },
              color: { condition: { test: `datum.count > ${Math.sqrt(Math.max(1, max))}`, value: 'white' }, value: 'black' },
            },
          }] : []),
        ],
      },
    });
  }
  const rows: Row[] = withClasses.flatMap(({ entry, label }) => entry.perClass!.perClass.map((c) => ({ entry: label, class: c.label, f1: c.f1 })));
  if (rows.length) {
    const order = withClasses.map((e) => e.label);
    const title = `F1 per class, per ${stagesOrModels(report)}`;
    charts.push({
      id: 'per-class-f1', title,
      spec: {
        ...base(title, undefined, rows),
        width: Math.max(260, 34 * new Set(rows.map((r) => r.class)).size), height: 220,
        encoding: {
          x: { field: 'class', type: 'ordinal', title: 'class', axis: { labelAngle: 0 } },
          y: { field: 'f1', type: 'quantitative', title: 'F1', scale: { zero: false, padding: 10 } },
          color: entryColor(order),
        },
        layer: [{ mark: { type: 'line', strokeWidth: 1.5 } }, { mark: { type: 'point', filled: true, size: 50, tooltip: true } }],
      },
    });
  }
  return charts;
}

function robustnessCharts(report: Report, labels: string[]): ChartSpec[] {
  const withRobustness = report.entries.map((entry, i) => ({ entry, label: labels[i]! })).filter((e) => e.entry.robustness);
  const order = withRobustness.map((e) => e.label);
  const charts: ChartSpec[] = [];
  for (const [kind, id, title, axisTitle] of [
    ['noise', 'robustness-noise', 'Accuracy under Gaussian input noise', 'noise standard deviation'],
    ['fgsm', 'robustness-fgsm', 'Accuracy under FGSM perturbations', 'FGSM step ε'],
  ] as const) {
    const rows: Row[] = withRobustness.flatMap(({ entry, label }) => {
      const r = entry.robustness!;
      const points = r[kind];
      if (!points.length) return [];
      // The clean accuracy is the curve's start (strength 0), unless the strengths measured it already.
      const all = points.some((p) => p.strength === 0) ? points : [{ strength: 0, accuracy: r.clean }, ...points];
      return all.map((p) => ({ entry: label, strength: p.strength, accuracy: p.accuracy }));
    });
    if (!rows.length) continue;
    charts.push({
      id, title,
      spec: {
        ...base(title, 'strength 0: clean test accuracy', rows),
        width: 360, height: 240,
        mark: { type: 'line', point: { filled: true, size: 50 }, tooltip: true },
        encoding: {
          x: { field: 'strength', type: 'quantitative', title: axisTitle, axis: { tickCount: 6 } },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] }, axis: { format: '%' } },
          color: entryColor(order),
        },
      },
    });
  }
  return charts;
}

/** The search's candidates: accuracy against cost, the measured Pareto front as a line, the chosen model marked. */
function searchChart(report: Report): ChartSpec | undefined {
  const search = report.search;
  if (!search || !search.points.length) return undefined;
  const kind = (p: { phase: string; chosen: boolean; onFront: boolean }) => (p.chosen ? 'chosen (final, test)' : p.phase === 'final' ? 'final run (test)' : p.onFront ? 'trial on the front' : 'trial');
  const kinds = ['trial', 'trial on the front', 'final run (test)', 'chosen (final, test)'];
  const rows: Row[] = search.points.map((p) => ({ id: p.id, cost: p.cost, accuracy: p.accuracy, kind: kind(p), front: p.onFront ? 1 : 0 }));
  const budget = search.baselineAccuracy - search.maxDrop / 100;
  const title = 'Search: accuracy against cost';
  return {
    id: 'search-front', title,
    spec: {
      ...base(title, `${search.points.filter((p) => p.phase === 'trial').length} trials (validation accuracy after short fine-tuning); the line is their Pareto front; the dashed rule is the budget (${search.maxDrop} points below the original)`, rows),
      width: 460, height: 300,
      layer: [
        {
          transform: [{ filter: 'datum.front == 1' }],
          mark: { type: 'line', color: '#888', strokeWidth: 1.5 },
          encoding: { x: { field: 'cost', type: 'quantitative', sort: 'ascending' }, y: { field: 'accuracy', type: 'quantitative' } },
        },
        {
          mark: { type: 'point', filled: true, size: 70, tooltip: true },
          encoding: {
            x: { field: 'cost', type: 'quantitative', title: search.costTitle, scale: { type: 'log' } },
            y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { zero: false }, axis: { format: '.2%' } },
            color: { field: 'kind', type: 'nominal', title: null, sort: kinds, scale: { domain: kinds, range: ['#9ecae1', '#3182bd', '#fd8d3c', '#d62728'] } },
            shape: { field: 'kind', type: 'nominal', title: null, sort: kinds, scale: { domain: kinds, range: ['circle', 'circle', 'square', 'diamond'] } },
          },
        },
        { data: { values: [{ budget }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#d62728' }, encoding: { y: { field: 'budget', type: 'quantitative' } } },
      ],
    },
  };
}

/** Every chart the report has data for, in reading order. */
export function reportCharts(report: Report): ChartSpec[] {
  const labels = entryLabels(report);
  const charts: (ChartSpec | undefined)[] = [
    searchChart(report),
    sizeChart(report, labels),
    scoreChart(report, labels),
    scoreSizeChart(report, labels),
    ...layerCharts(report, labels),
    histogramChart(report, labels),
    sensitivityChart(report),
    ...perClassCharts(report, labels),
    ...robustnessCharts(report, labels),
  ];
  return charts.filter((c): c is ChartSpec => c !== undefined);
}
