// Reports: the data model, per-layer figures, chart specs, SVG rendering, Markdown and HTML writers.
export type { LayerSummary, Report, ReportEntry, WeightHistogram } from './model.js';
export { countDistinct, histogramOf, layerFigures, layerSummaries, layerWeights, weightHistogram, type LayerWeight } from './layers.js';
export { entryLabels, reportCharts, scoreMetric, type ChartSpec, type ScoreMetric } from './charts.js';
export { renderSvg } from './render.js';
export { reportTables, type Table } from './tables.js';
export { reportMarkdown, type MarkdownOptions } from './markdown.js';
export { escapeHtml, reportHtml } from './html.js';
export { REPORT_SPARSITIES, measureEntry, reportSensitivity, type EntryOptions } from './build.js';
