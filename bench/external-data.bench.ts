// Loads and saves a 400 MB fp32 model stored with external data, in a fresh child process: wall time and peak RSS.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder, modelOf } from '../src/core/builder.js';
import { DataType, bytesOf } from '../src/core/dtype.js';
import { Model } from '../src/core/ir.js';
import { Tensor } from '../src/core/tensor.js';
import { loadModel, saveModel } from '../src/node/io.js';
import { below, type BenchResult, type BenchRow, type Benchmark } from './types.js';
import { type TimeReport, parseTimeReport } from './time-report.js';
import { uniformWeights } from './weights.js';

const WIDTH = 4096;
const LAYERS = 6; // 6 x (4096 x 4096 + 4096) = 100.7 M float parameters, 403 MB
const LOAD_SAVE_LIMIT_S = 3;
const RSS_LIMIT_FACTOR = 2;
/** Fresh child processes; timings vary a lot between runs on a shared VM, so the median is the figure. */
const RUNS = 3;
const MB = 1e6;

const compiledDir = dirname(fileURLToPath(import.meta.url));
const childScript = join(compiledDir, 'external-data.child.js');
const outRoot = resolve(compiledDir, '../../bench/out');

function buildMlp(): Model {
  const b = new GraphBuilder();
  let x = b.input('x', DataType.FLOAT, ['batch', WIDTH]);
  const scale = Math.sqrt(6 / WIDTH);
  for (let i = 0; i < LAYERS; i++) {
    const w = b.floats(`fc${i}.weight`, [WIDTH, WIDTH], uniformWeights(WIDTH * WIDTH, scale, 0x9e3779b9 + i));
    const bias = b.floats(`fc${i}.bias`, [WIDTH], uniformWeights(WIDTH, 0.01, 0x85ebca6b + i));
    x = b.op('Gemm', [x, w, bias], { transB: 1 }, { name: `fc${i}` });
    if (i < LAYERS - 1) x = b.op('Relu', [x], {}, { name: `relu${i}` });
  }
  b.output(x, DataType.FLOAT, ['batch', WIDTH]);
  return modelOf(b.graph, { '': 21 });
}

interface ChildReport {
  loadMs: number; saveMs: number; rssBeforeBytes: number; maxRssKiB: number;
  initializers: number; savedBytes: number; savedExternalBytes: number;
}

function runChild(input: string, output: string): { child: ChildReport; time?: TimeReport } {
  const haveTime = existsSync('/usr/bin/time');
  const [cmd, args] = haveTime
    ? ['/usr/bin/time', ['-v', process.execPath, childScript, input, output]]
    : [process.execPath, [childScript, input, output]];
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child process failed (status ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { child: JSON.parse(line) as ChildReport, time: haveTime ? parseTimeReport(r.stderr) : undefined };
}

/** Every initializer of `copy` has the same name, type, dims and bytes as in `original`. */
function compareTensors(original: Model, copy: Model): string[] {
  const problems: string[] = [];
  const a = original.graph.initializers;
  const b = copy.graph.initializers;
  if (a.size !== b.size) problems.push(`${a.size} initializers, the copy has ${b.size}`);
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u) { problems.push(`'${name}' missing from the copy`); continue; }
    if (u.dataType !== t.dataType || u.dims.join(',') !== t.dims.join(',')) { problems.push(`'${name}' type or dims differ`); continue; }
    if (!Buffer.from(bytesOf(t.numeric())).equals(bytesOf(u.numeric()))) problems.push(`'${name}' bytes differ`);
  }
  return problems;
}

function fileBytes(...paths: string[]): number {
  return paths.reduce((n, p) => n + statSync(p).size, 0);
}

const benchmark: Benchmark = {
  name: 'external-data',
  description: `loadModel + saveModel of a ${LAYERS}-layer ${WIDTH}-wide fp32 MLP (about 400 MB of external data), `
    + 'in a fresh child Node process; the saved copy is checked against the generated tensors.',
  async run(): Promise<BenchResult> {
    const dir = join(outRoot, `external-data-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const generateStart = performance.now();
      const model = buildMlp();
      const params = [...model.graph.initializers.values()].reduce((n, t: Tensor) => n + t.size, 0);
      const source = join(dir, 'mlp.onnx');
      saveModel(model, source, { externalData: true });
      const generateS = (performance.now() - generateStart) / 1000;
      const modelBytes = fileBytes(source, `${source}.data`);

      const copy = join(dir, 'mlp-copy.onnx');
      const runs = Array.from({ length: RUNS }, () => runChild(source, copy));
      const loadSaveMs = (r: { child: ChildReport }) => r.child.loadMs + r.child.saveMs;
      const byTime = [...runs].sort((a, b) => loadSaveMs(a) - loadSaveMs(b));
      const { child, time } = byTime[Math.floor(RUNS / 2)]!;
      const slowestS = loadSaveMs(byTime[RUNS - 1]!) / 1000;
      const peakKiB = (r: { child: ChildReport; time?: TimeReport }) => r.time?.maxRssKiB ?? r.child.maxRssKiB;
      const peakRssMB = Math.max(...runs.map((r) => peakKiB(r) * 1024)) / MB;

      const verifyStart = performance.now();
      const reloaded = loadModel(copy);
      const problems = compareTensors(model, reloaded);
      const allExternal = [...reloaded.graph.initializers.values()].every((t) => t.external);
      const verifyS = (performance.now() - verifyStart) / 1000;

      const loadSaveS = (child.loadMs + child.saveMs) / 1000;
      const childRssMB = Math.max(...runs.map((r) => r.child.maxRssKiB * 1024)) / MB;
      const rssLimitMB = (RSS_LIMIT_FACTOR * modelBytes) / MB;
      const rows: BenchRow[] = [
        { metric: 'parameters', value: `${(params / 1e6).toFixed(1)} M`, unit: 'float32' },
        { metric: 'model size (.onnx + .data)', value: modelBytes / MB, unit: 'MB' },
        { metric: 'loadModel (median run)', value: child.loadMs / 1000, unit: 's' },
        { metric: 'saveModel, external data, fsync (median run)', value: child.saveMs / 1000, unit: 's' },
        { metric: `load + save, median of ${RUNS} runs`, value: loadSaveS, unit: 's', target: below(loadSaveS, LOAD_SAVE_LIMIT_S, 's') },
        { metric: `load + save, slowest of ${RUNS} runs`, value: slowestS, unit: 's' },
        {
          metric: `peak RSS of the child, largest of ${RUNS} runs (${time ? '/usr/bin/time -v' : 'resourceUsage'})`,
          value: peakRssMB, unit: 'MB',
          target: { goal: `< ${RSS_LIMIT_FACTOR}x model = ${rssLimitMB.toFixed(0)} MB`, pass: peakRssMB < rssLimitMB },
        },
        { metric: 'peak RSS / model size', value: peakRssMB * MB / modelBytes, unit: 'x' },
      ];
      if (time) rows.push({ metric: 'peak RSS, child\'s own resourceUsage().maxRSS (largest)', value: childRssMB, unit: 'MB' });
      rows.push(
        { metric: 'RSS of the child before loading (Node + modules)', value: child.rssBeforeBytes / MB, unit: 'MB' },
      );
      if (time?.elapsedS !== undefined) rows.push({ metric: 'child process wall time (with Node start-up)', value: time.elapsedS, unit: 's' });
      rows.push({
        metric: 'saved copy reloads bit-identical',
        value: problems.length === 0 && allExternal ? 'yes' : 'no',
        unit: '',
        target: { goal: 'yes', pass: problems.length === 0 && allExternal },
      });
      const notes = [
        `The model (${LAYERS} Gemm layers of ${WIDTH}x${WIDTH} plus biases, deterministic pseudo-random weights) is generated and saved `
          + `with saveModel(..., {externalData: true}) by the harness in ${generateS.toFixed(1)} s; the child then runs loadModel and `
          + `saveModel (external data again, to another path) and reports its own timings; this is done in ${RUNS} fresh child processes `
          + `(load + save: ${runs.map((r) => (loadSaveMs(r) / 1000).toFixed(2)).join(', ')} s). Peak RSS is measured around each child.`,
        'The source files were just written, so loadModel reads them from the page cache; saveModel includes fsync of both files.',
        'MB = 10^6 bytes. Peak RSS includes Node itself (the "before loading" row).',
        `Check: the copy was loaded back in the harness (${verifyS.toFixed(1)} s) and each of its ${reloaded.graph.initializers.size} `
          + 'initializers compared byte for byte with the generated tensors'
          + (problems.length ? `: ${problems.slice(0, 3).join('; ')}` : '') + (allExternal ? '' : '; some tensors were not stored externally') + '.',
      ];
      if (!time) notes.push('/usr/bin/time was not found (Debian: apt-get install time); peak RSS is the child\'s own resourceUsage().maxRSS.');
      return { title: `load + save of a ${(modelBytes / MB).toFixed(0)} MB model with external data`, rows, notes };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default benchmark;
