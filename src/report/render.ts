// Vega-Lite spec -> SVG text, with vega's headless renderer ('none': no DOM, no canvas). Isomorphic: the same call
// works in browsers.
//
// Without a canvas (Node), vega sizes text at 0.8 em per character, about 1.5 times what Helvetica or Arial
// need: charts get wide empty margins and labels are cut at their limits early. Where vega has no canvas to measure
// with, text is measured with Helvetica's character widths (text-width.ts). With a canvas (browsers), vega measures
// itself.
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { textWidth } from './text-width.js';

interface TextItem { text?: unknown; fontSize?: number; fontWeight?: string | number; limit?: number }

function helveticaWidth(item: TextItem, line?: unknown): number {
  const text = String(line ?? '').trim();
  const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  const width = textWidth(text, size, item.fontWeight === 'bold' || Number(item.fontWeight) >= 600);
  // vega truncates text longer than its limit when it draws it.
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}

const metrics = (vega as unknown as { textMetrics: { width: unknown; estimateWidth: unknown } }).textMetrics;
if (metrics.width === metrics.estimateWidth) metrics.width = helveticaWidth;

/** The chart as a standalone SVG document (xmlns set, white background). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
