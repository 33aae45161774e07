import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { reportCharts } from '../../src/report/charts.js';
import { reportHtml } from '../../src/report/html.js';
import { repoRoot } from '../helpers/cli.js';
import { fixtureReport } from './fixture.js';
import { markSummary } from './svg.js';

/** The markup of <figure id="ID">...</figure>. */
function figure(html: string, id: string): string | undefined {
  return new RegExp(`<figure id="${id}">(.*?)</figure>`, 's').exec(html)?.[1];
}

test('report.html holds every chart as inline SVG with its data marks, and every table', async () => {
  const report = fixtureReport();
  const html = await reportHtml(report);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  const charts = reportCharts(report);
  assert.equal(charts.length, 12);
  for (const c of charts) {
    const body = figure(html, `chart-${c.id}`);
    assert.ok(body, `no figure for chart ${c.id}`);
    assert.equal((body.match(/<svg /g) ?? []).length, 1, c.id);
    assert.ok(markSummary(body).length > 0 && markSummary(body).every((s) => !s.endsWith(':0')), `${c.id}: ${markSummary(body)}`);
  }
  assert.equal((html.match(/<figure /g) ?? []).length, charts.length);
  for (const id of ['entries', 'layers', 'per-class', 'confusion', 'robustness', 'sensitivity']) assert.match(html, new RegExp(`<section id="table-${id}">`));
  // The stage names appear in the models table.
  for (const e of report.entries) assert.match(html, new RegExp(`<td>${e.name}</td>`));
});

test('report.html is self-contained: no script, no external reference, ids unique across the inline SVGs', async () => {
  const html = await reportHtml(fixtureReport());
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<link\b/i);
  assert.doesNotMatch(html, /\b(src|href)="(?!#)/i);
  // URLs appear only as the SVG namespaces.
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => ({ url: m[0], before: html.slice(Math.max(0, m.index! - 16), m.index) }));
  const stray = urls.filter((u) => !/xmlns(:xlink)?="$/.test(u.before));
  assert.deepEqual(stray, []);
  assert.ok(urls.length > 0);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');
  // Every url(#id) points at an id of the page.
  for (const m of html.matchAll(/url\(#([^)]+)\)/g)) assert.ok(ids.includes(m[1]!), `dangling url(#${m[1]})`);
});

test('text from the report is escaped', async () => {
  const report = fixtureReport();
  report.title = 'a <b>&"c"</b>';
  report.entries[0]!.name = '<img src=x onerror=alert(1)>';
  const html = await reportHtml(report);
  assert.match(html, /<title>a &lt;b&gt;&amp;&quot;c&quot;&lt;\/b&gt;<\/title>/);
  assert.doesNotMatch(html, /<img/);
});

test('src/report imports nothing Node-only (the browser studio reuses it)', () => {
  const dir = join(repoRoot, 'src', 'report');
  const nodeOnly = /from\s+['"](node:|fs|path|os|child_process|worker_threads|zlib|crypto|url|util|stream)(\/[^'"]*)?['"]|\brequire\(|\bBuffer\b|\bprocess\./;
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && statSync(join(dir, f)).isFile());
  assert.ok(files.includes('html.ts') && files.includes('layers.ts'));
  const offenders = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n')
    .flatMap((line, i) => (nodeOnly.test(line.replace(/\/\/.*$/, '')) ? [`${relative(repoRoot, join(dir, f))}:${i + 1}: ${line.trim()}`] : [])));
  assert.deepEqual(offenders, []);
});
