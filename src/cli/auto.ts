// nnzip auto MODEL --data DATA --max-drop POINTS --objective size|latency|macs -o OUT: automated compression. The
// original is measured layer by layer (sensitivity without fine-tuning) on a validation split of the training data;
// the search allocates per-layer choices under a range of budgets, refines them by evolution, measures every
// candidate for real, then runs the full recipe of the cheapest candidates on the whole training set and checks
// each on the test set until one stays within the budget. Writes the model, its recipe (which `nnzip compress`
// reproduces), a log that --resume continues from, and with --report the report with the Pareto chart.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { NnzipError } from '../core/errors.js';
import { Model } from '../core/ir.js';
import { channelPredictor, sizePredictor } from '../compress/auto/predict.js';
import { Predictor, SearchSettings, costOf, searchCompression } from '../compress/auto/search.js';
import { InProcessRunner, TrialContext, runTrialWithModel } from '../compress/auto/trial.js';
import { Objective, Trial, TrialResult, TrialRunner } from '../compress/auto/types.js';
import { DataLoader } from '../data/loader.js';
import { evaluateClassifier } from '../eval/classification.js';
import { measureModel } from '../eval/measure.js';
import { loaderFeeds } from '../eval/fidelity.js';
import { writeFileAtomic } from '../node/io.js';
import { onInterrupt } from '../node/interrupt.js';
import { saveCheckedModel } from '../node/checked-save.js';
import { saveNnz } from '../node/nnz.js';
import { createWorkerRunner, loadRunnableModel, trialContextFrom, TrialSetup } from '../node/trial-workers.js';
import { EntryOptions, Report, measureEntry } from '../report/index.js';
import { nodeRuntime } from '../runtime/node.js';
import { action, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, printJson, withCommonOptions } from './common.js';
import { trainingProgress } from './progress.js';
import { writeReport } from './report-files.js';
import { openTaskData } from './task-data.js';

interface AutoOptions {
  data: string;
  maxDrop: number;
  objective: Objective;
  methods: string;
  trials: number;
  timeLimit: number;
  workers: number;
  trialEpochs: number;
  finalEpochs: number;
  finalRounds: number;
  trainLimit?: number;
  validation: number;
  sensitivitySamples: number;
  lr: number;
  batch: number;
  teacher: boolean;
  channelMultiple: number;
  trialSlack: number;
  finalRuns: number;
  latencyBatch: number;
  seed: number;
  threads: number;
  output: string;
  recipeOut?: string;
  log?: string;
  resume?: boolean;
  report?: string;
  json?: boolean;
}

const BUILT_METHODS = ['prune', 'cluster', 'quantize'];
const PLANNED_METHODS = ['lowrank', 'arch'];

function methodsOf(text: string, objective: Objective): Set<string> {
  const methods = new Set(text.split(',').map((m) => m.trim()).filter(Boolean));
  for (const m of methods) {
    if (PLANNED_METHODS.includes(m)) throw new NnzipError(`--methods: '${m}' is not part of the search yet (it searches ${BUILT_METHODS.join(', ')})`);
    if (!BUILT_METHODS.includes(m)) throw new NnzipError(`--methods: unknown method '${m}' (known: ${BUILT_METHODS.join(', ')})`);
  }
  if (!methods.has('prune')) throw new NnzipError(`--methods: the ${objective} search allocates pruning per layer: include 'prune'`);
  if (objective === 'size' && !methods.has('cluster')) throw new NnzipError("--methods: the size search allocates sparsity and bits per layer: include 'cluster'");
  return methods;
}

/** The search log: one JSON object per line; the first holds the predictor, the others trial and final results. */
interface LogLine { kind: 'predictor'; predictor: Predictor; testBaseline: number; settings: unknown }
type ResultLine = { kind: 'trial' | 'final'; result: TrialResult };

function readLog(path: string): { head?: LogLine; results: ResultLine[] } {
  if (!existsSync(path)) return { results: [] };
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  const parsed: (LogLine | ResultLine)[] = [];
  for (const [i, line] of lines.entries()) {
    try {
      parsed.push(JSON.parse(line));
    } catch {
      // A line cut short by an interruption is the last one: everything before it holds.
      if (i === lines.length - 1) break;
      throw new NnzipError(`${path}: line ${i + 1} is not JSON; the log is damaged (remove it to start afresh)`);
    }
  }
  const head = parsed[0]?.kind === 'predictor' ? parsed[0] as LogLine : undefined;
  return { head, results: parsed.filter((p): p is ResultLine => p.kind === 'trial' || p.kind === 'final') };
}

const COST_TITLES: Record<Objective, string> = { size: 'bytes (.nnz)', latency: 'p50 latency (ms)', macs: 'MACs per sample' };

function describe(r: TrialResult, objective: Objective, baseline: number): string {
  const cost = costOf(r, objective);
  const c = objective === 'size' ? `${(cost / 1024).toFixed(1)} KiB` : objective === 'latency' ? `${cost.toFixed(3)} ms` : `${Math.round(cost)} MACs`;
  return r.error ? `failed: ${r.error}` : `${c}, accuracy ${(100 * r.accuracy).toFixed(2)}% (${(100 * (r.accuracy - baseline)).toFixed(2)} points), ${r.seconds.toFixed(0)} s`;
}

export function autoCommand(): Command {
  return withCommonOptions(new Command('auto'))
    .description('automated compression: find the smallest, fastest or cheapest model within an accuracy budget')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--data <data>', "labelled data ('mnist', a folder, ...): a validation split of its training data steers the search, the test split checks the result")
    .requiredOption('--max-drop <points>', 'accuracy drop allowed, in percentage points (0.3 = 0.3 points)', nonNegativeNumber('--max-drop'))
    .addOption(new Option('--objective <objective>', 'what to minimise').choices(['size', 'latency', 'macs']).default('size'))
    .option('--methods <list>', 'methods to combine: prune, cluster (size), quantize (static int8 for latency)', 'prune,cluster,quantize')
    .option('--trials <n>', 'candidates measured in the search', positiveInt('--trials'), 24)
    .option('--time-limit <minutes>', 'wall-clock limit of the search phase (the final fine-tuning comes after it)', positiveNumber('--time-limit'), 20)
    .option('--workers <n>', 'worker threads running trials in parallel (each with --threads onnxruntime threads)', positiveInt('--workers'), 1)
    .option('--trial-epochs <n>', 'fine-tuning epochs of a search trial', positiveInt('--trial-epochs'), 1)
    .option('--final-epochs <n>', 'fine-tuning epochs per round of the final recipe', positiveInt('--final-epochs'), 4)
    .option('--final-rounds <n>', 'pruning rounds of the final recipe (size search)', positiveInt('--final-rounds'), 4)
    .option('--train-limit <n>', 'search trials train on the first N training samples', positiveInt('--train-limit'), 20000)
    .option('--validation <n>', 'the last N training samples are the validation split', positiveInt('--validation'), 5000)
    .option('--sensitivity-samples <n>', 'validation samples of the per-layer sensitivity', positiveInt('--sensitivity-samples'), 2000)
    .option('--lr <lr>', 'fine-tuning learning rate', positiveNumber('--lr'), 0.01)
    .option('--batch <b>', 'training batch size', positiveInt('--batch'), 64)
    .option('--no-teacher', 'do not distil from the original while fine-tuning the final recipe')
    .option('--trial-slack <points>', 'candidates whose trial drop exceeds --max-drop by up to this still get a final run (trials fine-tune briefly)', nonNegativeNumber('--trial-slack'), 0.2)
    .option('--final-runs <n>', 'final runs (full recipe, test check) at most', positiveInt('--final-runs'), 3)
    .option('--channel-multiple <n>', 'latency/MACs search: channels kept per group are a multiple of this', positiveInt('--channel-multiple'), 8)
    .option('--latency-batch <n>', 'batch of the latency measurement', positiveInt('--latency-batch'), 32)
    .option('--seed <s>', 'seed of the search and of training (nnzip compress --seed S reproduces the result)', nonNegativeInt('--seed'), 0)
    .option('--threads <n>', 'onnxruntime threads (per worker)', positiveInt('--threads'), 2)
    .requiredOption('-o, --output <out>', 'the chosen model (.nnz for the size search, .onnx otherwise)')
    .option('--recipe-out <file>', 'where to write the chosen recipe (default: OUT with .recipe.json)')
    .option('--log <file>', 'the search log (default: OUT with .auto-log.jsonl)')
    .option('--resume', 'continue the search in the log instead of starting afresh')
    .option('--report <dir>', 'write report.json, report.md and report.html (with the Pareto chart)')
    .action(action(async (path: string, opts: AutoOptions) => {
      const started = performance.now();
      const objective = opts.objective;
      const methods = methodsOf(opts.methods, objective);
      if (objective === 'size' && !opts.output.endsWith('.nnz')) throw new NnzipError(`-o ${opts.output}: the size search packs its result: name it *.nnz`);
      if (objective !== 'size' && !opts.output.endsWith('.onnx')) throw new NnzipError(`-o ${opts.output}: the ${objective} search writes ONNX: name it *.onnx`);
      const stem = opts.output.replace(/\.(nnz|onnx)$/, '');
      const logPath = opts.log ?? `${stem}.auto-log.jsonl`;
      const recipePath = opts.recipeOut ?? `${stem}.recipe.json`;
      for (const out of [opts.output, recipePath, logPath]) if (out === path) throw new NnzipError(`${out}: an output would overwrite the input model`);
      const say = (line: string) => { if (!opts.json) process.stderr.write(`${line}\n`); };
      const model = loadRunnableModel(path);
      const { train, test } = openTaskData(model, opts.data);
      if (train?.classes === undefined || !test) throw new NnzipError(`--data ${opts.data}: the search measures accuracy, which needs class labels`);
      const latency = objective === 'latency' ? { batch: opts.latencyBatch, runs: 60, warmup: 10 } : undefined;
      const setup: TrialSetup = {
        modelPath: path, data: opts.data, threads: opts.threads, batch: opts.batch, seed: opts.seed, trainLimit: opts.trainLimit,
        validation: { samples: opts.validation }, calibSamples: 256, latency,
      };
      const searchContext = trialContextFrom(setup, { model, train });

      // The log: a resumed search reuses its predictor and every result; a new one starts the file afresh.
      const previous = opts.resume ? readLog(logPath) : { results: [] };
      if (opts.resume && !previous.head) throw new NnzipError(`${logPath}: no search to resume (run without --resume to start one)`);
      if (!opts.resume && existsSync(logPath)) throw new NnzipError(`${logPath}: a search log exists; pass --resume to continue it, or remove it`);
      const known = new Map(previous.results.map((l) => [l.kind === 'final' ? `final:${l.result.id}` : l.result.id, l.result]));
      // Every measured result is already in the log (appended as it comes): an interruption loses only the trials running.
      onInterrupt(() => {
        process.stderr.write(`nnzip: interrupted; the results so far are in ${logPath}: the same command with --resume continues the search\n`);
        process.exit(130);
      });

      const testLoader = new DataLoader(test, { batchSize: 500 });
      let predictor: Predictor;
      let testBaseline: number;
      if (previous.head) {
        ({ predictor, testBaseline } = previous.head);
        say(`resuming ${logPath}: ${known.size} results already measured`);
      } else {
        testBaseline = (await evaluateClassifier(nodeRuntime, model, testLoader, { threads: opts.threads })).accuracy;
        const sensitivityLoader = new DataLoader(searchContext.evalLoader.dataset, { batchSize: 500, limit: opts.sensitivitySamples });
        const evaluate = async (m: Model) => (await evaluateClassifier(nodeRuntime, m, sensitivityLoader, { threads: opts.threads })).accuracy;
        const onProgress = ({ done, total }: { done: number; total: number }) => { if (!opts.json && process.stderr.isTTY) process.stderr.write(`\rsensitivity: ${done}/${total}${done === total ? '\n' : ''}`); };
        say(`measuring per-layer sensitivity on ${opts.sensitivitySamples} validation samples`);
        predictor = objective === 'size'
          ? { kind: 'size', size: await sizePredictor(model, evaluate, { onProgress }) }
          : { kind: 'channels', channels: await channelPredictor(model, evaluate, { channelMultiple: opts.channelMultiple, onProgress }) };
        writeFileAtomic(logPath, `${JSON.stringify({ kind: 'predictor', predictor, testBaseline, settings: { ...opts, path } })}\n`);
      }

      const settings: SearchSettings = {
        objective, maxDrop: opts.maxDrop, trials: opts.trials, timeLimitMs: opts.timeLimit * 60_000, seed: opts.seed,
        trialEpochs: opts.trialEpochs, finalEpochs: opts.finalEpochs, finalRounds: opts.finalRounds, lr: opts.lr, teacher: opts.teacher,
        staticInt8: objective === 'latency' && methods.has('quantize'), channelMultiple: opts.channelMultiple,
        trialSlack: opts.trialSlack, finalRuns: opts.finalRuns,
      };
      const runner: TrialRunner = opts.workers > 1 ? await createWorkerRunner({ ...setup, workers: opts.workers, threadsPerWorker: opts.threads }) : new InProcessRunner(searchContext);

      // The final runs: the whole training split, checked on the test split; the last model is kept to be written.
      const progress = trainingProgress(!opts.json);
      const finalContext: TrialContext = {
        runtime: nodeRuntime, model, trainLoader: new DataLoader(train, { batchSize: opts.batch, shuffle: true, seed: opts.seed }), evalLoader: testLoader,
        calibFeeds: () => [...loaderFeeds(model, new DataLoader(train, { batchSize: 64, limit: 256 }))], threads: opts.threads,
        latency: latency && { ...latency, seed: opts.seed }, loadModel: loadRunnableModel, onStep: progress.step,
      };
      const outputs = new Map<string, { model: Model; nnz?: Uint8Array }>();
      const finalRunner: TrialRunner = {
        parallelism: 1,
        run: async (trial: Trial) => {
          say(`final run of ${trial.origin.replace('final of ', '')} on the whole training set`);
          const { result, output } = await runTrialWithModel(trial, finalContext);
          progress.stop();
          if (output) outputs.set(trial.id, { model: output.model, nnz: output.nnz });
          return result;
        },
        close: async () => {},
      };
      const appendLog = (kind: 'trial' | 'final', result: TrialResult) => appendFileSync(logPath, `${JSON.stringify({ kind, result })}\n`);
      let search;
      try {
        search = await searchCompression(predictor, runner, finalRunner, settings, { known, record: appendLog }, {
          testBaseline,
          onResult: (r, phase) => say(`${phase} ${r.id}: ${describe(r, objective, phase === 'final' ? testBaseline : predictor.kind === 'size' ? predictor.size.baseline : predictor.channels.baseline)}`),
        });
      } finally {
        await runner.close();
        progress.stop();
      }
      const chosen = search.chosen;
      if (!chosen) {
        throw new NnzipError(`no candidate stayed within ${opts.maxDrop} points on the test data (${search.finals.length} final runs, ${search.candidates.filter((c) => c.result).length} trials; log ${logPath}): allow more trials, epochs or a larger --max-drop`);
      }
      // A resumed search whose chosen final was measured before the interruption runs it again to get the model.
      let out = outputs.get(chosen.id);
      if (!out) {
        const again = await runTrialWithModel({ id: chosen.id, recipe: chosen.recipe, origin: chosen.origin }, finalContext);
        progress.stop();
        if (!again.output) throw new NnzipError(`the chosen recipe failed when run again: ${again.result.error}`);
        out = { model: again.output.model, nnz: again.output.nnz };
      }
      if (out.nnz) saveNnz(out.nnz, opts.output, [path]);
      else await saveCheckedModel(out.model, opts.output, { inputs: [path], pass: 'auto' });
      writeFileAtomic(recipePath, `${JSON.stringify({ ...chosen.recipe, name: `auto-${objective}`, description: `Found by nnzip auto (${objective}, max drop ${opts.maxDrop} points) for ${path}.` }, null, 2)}\n`, [path]);

      // Latency of the original and the chosen model side by side, at the acceptance setting (batch, threads).
      const timing = { batch: opts.latencyBatch, runs: 200, warmup: 20, seed: opts.seed };
      const p50 = async (m: Model) => (await measureModel(m, { runtime: nodeRuntime, threads: opts.threads, latency: timing, nnz: false })).latency!.p50Ms;
      const originalMs = await p50(model), chosenMs = await p50(out.model);
      const front = new Set(search.front.map((r) => r.id));
      let html: string | undefined;
      if (opts.report) {
        const entryOptions: EntryOptions = { measure: { runtime: nodeRuntime, threads: opts.threads, testLoader, latency: { batch: opts.latencyBatch, runs: 100, warmup: 10, seed: opts.seed }, memory: () => process.memoryUsage().rss } };
        const report: Report = {
          kind: 'compare', title: `nnzip auto ${path} (${objective}, max drop ${opts.maxDrop} points)`, created: new Date().toISOString(),
          entries: [await measureEntry('original', model, entryOptions, false), await measureEntry('chosen', out.model, entryOptions, false)],
          search: {
            objective, costTitle: COST_TITLES[objective], maxDrop: opts.maxDrop, baselineAccuracy: search.baselineAccuracy,
            points: [
              ...search.candidates.filter((c) => c.result && !c.result.error).map((c) => ({ id: c.trial.id, cost: costOf(c.result!, objective), accuracy: c.result!.accuracy, phase: 'trial' as const, onFront: front.has(c.trial.id), chosen: false })),
              ...search.finals.filter((r) => !r.error).map((r) => ({ id: r.id, cost: costOf(r, objective), accuracy: r.accuracy, phase: 'final' as const, onFront: false, chosen: r === chosen })),
            ],
          },
          extra: { recipe: recipePath, log: logPath },
        };
        html = await writeReport(opts.report, report);
      }
      // The final run's data order is compress's for the same seed and batch: this command gives the same model.
      const reproduce = `nnzip compress ${path} --recipe ${recipePath} --data ${opts.data}${opts.seed ? ` --seed ${opts.seed}` : ''}${opts.batch !== 64 ? ` --batch ${opts.batch}` : ''} -o OUT`;
      const summary = {
        model: path, output: opts.output, recipe: recipePath, log: logPath, objective, maxDrop: opts.maxDrop, reproduce,
        original: { testAccuracy: testBaseline, p50Ms: originalMs },
        chosen: { testAccuracy: chosen.accuracy, dropPoints: 100 * (testBaseline - chosen.accuracy), bytes: chosen.bytes, macs: chosen.macs, p50Ms: chosenMs, speedup: originalMs / chosenMs, recipe: chosen.recipe },
        trials: search.candidates.filter((c) => c.result).length, finals: search.finals.length, seconds: (performance.now() - started) / 1000,
        ...(html ? { report: html } : {}),
      };
      if (opts.json) return printJson(summary);
      process.stdout.write(`chosen: ${describe(chosen, objective, testBaseline)} on the test data (original ${(100 * testBaseline).toFixed(2)}%); p50 at batch ${opts.latencyBatch}, ${opts.threads} threads: ${originalMs.toFixed(3)} -> ${chosenMs.toFixed(3)} ms (${(originalMs / chosenMs).toFixed(2)}x)\nwrote ${opts.output}, the recipe ${recipePath}${html ? ` and the report ${html}` : ''} (${summary.seconds.toFixed(0)} s)\nreproduce: ${reproduce}\n`);
    }));
}
