// The report as one self-contained HTML page: inline CSS, every chart as inline SVG (rendered here, no script), the
// same tables as the Markdown. A Content-Security-Policy forbids every network fetch, so the page opens offline and
// cannot leak a request. Each chart sits in <figure id="chart-ID">. Isomorphic.
import { type ChartSpec, reportCharts } from './charts.js';
import type { Report } from './model.js';
import { renderSvg } from './render.js';
import { type Table, reportNotes, reportTables } from './tables.js';

export const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const STYLE = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d2330; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; }
p.meta { color: #555; margin: 0 0 16px; }
p.note { color: #555; margin: 0 0 8px; font-size: 13px; }
.scroll { display: inline-block; max-width: 100%; overflow-x: auto; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eceef2; text-align: left; white-space: nowrap; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; }
tbody tr:last-child td { border-bottom: none; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; padding: 10px; background: #fff; border: 1px solid #dde1e7; border-radius: 6px; max-width: 100%; overflow-x: auto; box-sizing: border-box; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; margin-top: 4px; }
`;

/** Vega numbers clip paths and gradients per process; prefix them per chart so inline SVGs never share an id. */
function scopeIds(svg: string, prefix: string): string {
  return svg.replace(/(\sid="|url\(#|href="#)([A-Za-z_][\w-]*)/g, (_m, lead: string, id: string) => `${lead}${prefix}-${id}`);
}

function htmlTable(t: Table): string {
  const th = t.head.map((h, i) => `<th${t.numeric[i] ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  const rows = t.rows.map((r) => `<tr>${r.map((c, i) => `<td${t.numeric[i] ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return [
    `<section id="table-${t.id}">`, `<h2>${escapeHtml(t.title)}</h2>`,
    t.note ? `<p class="note">${escapeHtml(t.note)}.</p>` : '',
    `<div class="scroll"><table><thead><tr>${th}</tr></thead>`, `<tbody>${rows}</tbody></table></div>`, '</section>',
  ].filter(Boolean).join('\n');
}

async function figure(chart: ChartSpec): Promise<string> {
  const id = `chart-${chart.id}`;
  let svg = scopeIds(await renderSvg(chart.spec), id);
  // The figure caption names the chart for screen readers; vega's own title is drawn inside the SVG.
  svg = svg.replace(/^<svg /, `<svg role="img" aria-label="${escapeHtml(chart.title)}" `);
  return `<figure id="${id}">\n${svg}\n</figure>`;
}

export async function reportHtml(report: Report): Promise<string> {
  const tables = reportTables(report);
  const figures: string[] = [];
  for (const chart of reportCharts(report)) figures.push(await figure(chart));
  const meta = [`Created ${report.created}`, report.recipe ? `recipe ${report.recipe}` : undefined].filter(Boolean).join(' · ');
  const [first, ...rest] = tables;
  const notes = reportNotes(report);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(report.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body><main>',
    `<h1>${escapeHtml(report.title)}</h1>`,
    `<p class="meta">${escapeHtml(meta)}</p>`,
    first ? htmlTable(first) : '',
    notes.length ? `<section id="notes">\n<h2>Notes</h2>\n<ul>${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>\n</section>` : '',
    figures.length ? `<section id="charts">\n<h2>Charts</h2>\n<div class="charts">\n${figures.join('\n')}\n</div>\n</section>` : '',
    ...rest.map(htmlTable),
    '</main></body>',
    '</html>',
    '',
  ].join('\n');
}
