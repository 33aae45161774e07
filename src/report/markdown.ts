// The report as Markdown: title, the models' table, the last model's layers, per-class, robustness and sensitivity
// tables; chart images only when the caller wrote them as files and passes their paths. Isomorphic.
import type { Report } from './model.js';
import { type Table, reportNotes, reportTables } from './tables.js';

export interface MarkdownOptions {
  /** Chart images to reference (e.g. SVG files written next to report.md), shown after the tables. */
  charts?: { title: string; path: string }[];
}

/** A table cell: pipes escaped, line breaks flattened. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function markdownTable(t: Table): string[] {
  const lines = [`## ${t.title}`, ''];
  if (t.note) lines.push(`${t.note}.`, '');
  lines.push(`| ${t.head.map(cell).join(' | ')} |`, `|${t.numeric.map((n) => (n ? '---:' : '---')).join('|')}|`);
  for (const row of t.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  lines.push('');
  return lines;
}

export function reportMarkdown(report: Report, options: MarkdownOptions = {}): string {
  const lines = [`# ${report.title}`, ''];
  const meta = [`Created ${report.created}`, report.recipe ? `recipe \`${report.recipe}\`` : undefined].filter(Boolean);
  lines.push(`${meta.join(', ')}.`, '');
  const [first, ...rest] = reportTables(report);
  if (first) lines.push(...markdownTable(first));
  const notes = reportNotes(report);
  if (notes.length) lines.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
  for (const t of rest) lines.push(...markdownTable(t));
  if (options.charts?.length) {
    lines.push('## Charts', '');
    for (const c of options.charts) lines.push(`![${c.title.replace(/[[\]]/g, '')}](${encodeURI(c.path)})`, '');
  }
  return lines.join('\n');
}
