// Opens report.html in headless Chromium (Debian's /usr/bin/chromium through playwright-core): every chart must have
// rendered with data marks, the page must log no error and fetch nothing, and a full-page screenshot is saved to
// build/test-screenshots/report-html.png for a look.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { reportCharts } from '../../src/report/charts.js';
import { reportHtml } from '../../src/report/html.js';
import { repoRoot } from '../helpers/cli.js';
import { fixtureReport } from './fixture.js';
import { markGroups } from './svg.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(repoRoot, 'build', 'test-screenshots', 'report-html.png');

interface FigureMarks {
  id: string;
  svgs: number;
  /** Data-mark items by mark type (rect, symbol, line, text, rule). */
  marks: Record<string, number>;
  /** The figure is wider than its box (a clipped or scrolled chart). */
  overflows: boolean;
  width: number;
  height: number;
}

test('report.html in headless Chromium: every chart drawn with its data marks, no errors, no requests', async () => {
  if (!existsSync(CHROMIUM)) assert.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser test of report.html`);
  const report = fixtureReport();
  const html = await reportHtml(report);
  const dir = mkdtempSync(join(tmpdir(), 'nnzip-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, html);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('request', (r) => { if (r.url() !== pathToFileURL(file).href) requests.push(r.url()); });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const figures: FigureMarks[] = await page.evaluate(() => Array.from(document.querySelectorAll('figure')).map((f) => {
      const marks: Record<string, number> = {};
      for (const g of Array.from(f.querySelectorAll('svg g.role-mark'))) {
        const type = Array.from(g.classList).find((c) => c.startsWith('mark-'))!.slice(5);
        marks[type] = (marks[type] ?? 0) + g.querySelectorAll(':scope > path, :scope > text, :scope > line').length;
      }
      const box = f.querySelector('svg')?.getBoundingClientRect();
      return { id: f.id, svgs: f.querySelectorAll('svg').length, marks, overflows: f.scrollWidth > f.clientWidth, width: box?.width ?? 0, height: box?.height ?? 0 };
    }));

    const charts = reportCharts(report);
    assert.deepEqual(figures.map((f) => f.id), charts.map((c) => `chart-${c.id}`));
    for (const f of figures) {
      assert.equal(f.svgs, 1, f.id);
      assert.ok(f.width > 100 && f.height > 100, `${f.id}: drawn ${f.width}x${f.height}`);
      assert.ok(!f.overflows, `${f.id} is wider than the page allows`);
      // The marks the browser parsed are the ones in the file, and there are some of every kind the chart draws.
      const expected: Record<string, number> = {};
      for (const g of markGroups(/<figure id="([^"]+)">(.*?)<\/figure>/s.exec(html.slice(html.indexOf(`<figure id="${f.id}">`)))![2]!)) {
        expected[g.type] = (expected[g.type] ?? 0) + g.items.length;
      }
      assert.deepEqual(f.marks, expected, f.id);
      assert.ok(Object.values(f.marks).every((n) => n > 0), `${f.id}: ${JSON.stringify(f.marks)}`);
    }
    // Bars, points and lines where the charts have them.
    const byId = new Map(figures.map((f) => [f.id, f.marks]));
    assert.equal(byId.get('chart-size')!.rect, report.entries.length * 3);
    assert.equal(byId.get('chart-confusion')!.rect, 100);
    assert.equal(byId.get('chart-robustness-noise')!.line, report.entries.length);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);

    mkdirSync(join(repoRoot, 'build', 'test-screenshots'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(statSync(SCREENSHOT).size > 10_000);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
