// The search: the predictor's per-layer choices, allocated under a range of budgets, give the first candidates; an
// evolutionary loop mutates and crosses the best measured ones; every candidate is a recipe run and measured for
// real (on validation data, with short fine-tuning). The cheapest candidates within the budget then get the full
// recipe (longer fine-tuning, distillation from the original) and are checked on the test data, cheapest first,
// until one stays within the budget. Trials already in the log are not run again, so a search resumes where it
// stopped: the same seed and results replay the same choices.
import { seededRandom } from '../../runtime/inputs.js';
import type { Recipe, Stage } from '../../recipe/schema.js';
import { allocateFront } from './allocate.js';
import { crossover, mutate } from './mutate.js';
import { paretoFront } from './pareto.js';
import { ChannelPredictor, SizePredictor } from './predict.js';
import { failedResult, trialId } from './trial.js';
import { LayerOptions, Objective, Trial, TrialResult, TrialRunner } from './types.js';

export interface SearchSettings {
  objective: Objective;
  /** Accuracy drop allowed, in points (0.3 = 0.3 percentage points). */
  maxDrop: number;
  /** Candidates measured in the search phase (not counting final runs). */
  trials: number;
  /** Wall-clock limit of the search phase in ms (the final runs come after it). */
  timeLimitMs?: number;
  seed: number;
  /** Fine-tuning epochs of a search trial (on the search's training subset). */
  trialEpochs: number;
  /** Fine-tuning epochs per pruning round of the final recipe. */
  finalEpochs: number;
  /** Pruning rounds of the final recipe (size search; iterative:K). */
  finalRounds: number;
  lr: number;
  /** Distil from the original model while fine-tuning the final recipe. */
  teacher: boolean;
  /** Latency search: static int8 quantization is a gene of every candidate (off or on). */
  staticInt8?: boolean;
  /** Channels kept per group are rounded to a multiple of this (latency/MACs search). */
  channelMultiple?: number;
  /**
   * Trials fine-tune briefly, the final recipe much longer: candidates whose trial drop exceeds the budget by up to
   * this many points still get a final run (default 0).
   */
  trialSlack?: number;
  /** Final runs at most (default 3). */
  finalRuns?: number;
}

/** What the search knows about each layer: the size or the channel predictor. */
export type Predictor = { kind: 'size'; size: SizePredictor } | { kind: 'channels'; channels: ChannelPredictor };

export interface Candidate {
  picks: number[];
  trial: Trial;
  result?: TrialResult;
}

export interface SearchLog {
  /** Results already measured (from an earlier, interrupted run), by trial id. */
  known: Map<string, TrialResult>;
  /** Called for every new result (the CLI appends it to the log file). */
  record: (kind: 'trial' | 'final', result: TrialResult) => void;
}

export interface SearchResult {
  baselineAccuracy: number;
  candidates: Candidate[];
  /** Measured (validation) Pareto front: cost against accuracy. */
  front: TrialResult[];
  /** Final runs (full recipe, test data), in the order tried. */
  finals: TrialResult[];
  /** The first final run within the budget; undefined when none was. */
  chosen?: TrialResult;
  /** The test accuracy of the original, the reference of the final check. */
  testBaseline: number;
}

/** The measured cost of a result under the objective. */
export function costOf(r: TrialResult, objective: Objective): number {
  if (r.error) return Infinity;
  return objective === 'size' ? r.bytes : objective === 'macs' ? r.macs : r.latencyMs ?? Infinity;
}

/**
 * The search's genes: one per layer, plus for the latency search with int8 one gene for static int8 quantization
 * (off or on). int8 is not free (it made lenet-5 3x slower here, resnet-20 2x faster), so the predictor cannot
 * price it: both settings cost the same to the allocation, off is preferred (a nominal drop), and evolution tries it.
 */
function layerOptions(p: Predictor, s: SearchSettings): LayerOptions[] {
  if (p.kind === 'size') return p.size.layers;
  if (!s.staticInt8) return p.channels.layers;
  return [...p.channels.layers, { layer: 'static int8', choices: [{ value: 0, cost: 0, drop: 0 }, { value: 1, cost: 0, drop: 0.05 }] }];
}

/** The recipe a choice per layer stands for; `final` makes it the full recipe (longer fine-tuning, teacher). */
export function recipeOf(p: Predictor, picks: readonly number[], s: SearchSettings, final: boolean): Recipe {
  const teacher = final && s.teacher ? { teacher: 'original', temperature: 2, alpha: 0.7 } : {};
  // BatchNorm is folded (optimize) only after the pruning's fine-tuning: a network without its BatchNorm trains badly
  // (resnet-20 with folded BN lost 10 to 80 points in one epoch of fine-tuning); the clustered and quantized weights
  // are the folded ones.
  const stages: Stage[] = [];
  if (p.kind === 'size') {
    const sparsity: Record<string, number> = {};
    const bits: Record<string, number> = {};
    p.size.weights.forEach((w, i) => {
      const choice = p.size.settings[i]![picks[i]!]!;
      if (choice.sparsity > 0) sparsity[w] = choice.sparsity;
      bits[w] = choice.bits;
    });
    stages.push(
      {
        stage: 'prune', sparsity: 0, method: 'magnitude', layers: sparsity, schedule: final ? `iterative:${s.finalRounds}` : 'oneshot',
        finetuneEpochs: final ? s.finalEpochs : s.trialEpochs, lr: s.lr, ...teacher,
      },
      { stage: 'optimize' },
      { stage: 'cluster', layers: bits, init: 'linear', finetuneEpochs: 1, lr: s.lr / 20, lrSchedule: 'cosine' },
      { stage: 'pack' },
    );
  } else {
    const ratios: Record<string, number> = {};
    p.channels.patterns.forEach((pattern, i) => {
      const r = p.channels.ratios[i]![picks[i]!]!;
      if (r > 0) ratios[pattern] = r;
    });
    stages.push({
      stage: 'prune', structured: true, method: 'l1-norm', sparsity: 0, layers: ratios, channelMultiple: s.channelMultiple,
      finetuneEpochs: final ? s.finalEpochs : s.trialEpochs, lr: s.lr, lrSchedule: 'cosine', ...teacher,
    }, { stage: 'optimize' });
    if (s.staticInt8 && picks[p.channels.patterns.length] === 1) stages.push({ stage: 'quantize', mode: 'static', calibMethod: 'minmax', calibSamples: 256 });
  }
  return { name: final ? 'auto' : 'auto-trial', stages };
}

/**
 * Budgets (in multiples of --max-drop, in predicted points) of the first candidates: drops without fine-tuning
 * overstate real ones many times over (structured pruning of resnet-20: tens of points before one epoch of fine-tuning
 * brings them back under one), so the range reaches the cheapest allocation of all.
 */
const BUDGET_SCALES = [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, Infinity];

export async function searchCompression(
  predictor: Predictor, runner: TrialRunner, finalRunner: TrialRunner, settings: SearchSettings, log: SearchLog,
  hooks: { testBaseline: number; onResult?: (r: TrialResult, phase: 'trial' | 'final') => void },
): Promise<SearchResult> {
  const layers = layerOptions(predictor, settings);
  const baselineAccuracy = predictor.kind === 'size' ? predictor.size.baseline : predictor.channels.baseline;
  const random = seededRandom(settings.seed);
  const started = Date.now();
  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  const outOfTime = () => settings.timeLimitMs !== undefined && Date.now() - started > settings.timeLimitMs;

  /** Runs candidates (those already in the log are taken from it), `runner.parallelism` at a time. */
  const measure = async (batch: Candidate[]) => {
    const queue = [...batch];
    const work = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const known = log.known.get(c.trial.id);
        // A runner that rejects (a crashed worker) fails this trial only.
        c.result = known ?? await runner.run(c.trial).catch((e: unknown) => failedResult(c.trial, e, 0));
        if (!known) log.record('trial', c.result);
        hooks.onResult?.(c.result, 'trial');
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, runner.parallelism) }, work));
  };
  const propose = (picks: number[], origin: string): Candidate | undefined => {
    const recipe = recipeOf(predictor, picks, settings, false);
    const id = trialId(recipe);
    if (seen.has(id)) return undefined;
    seen.add(id);
    const c = { picks, trial: { id, recipe, origin } };
    candidates.push(c);
    return c;
  };

  // 1. Allocations under a range of budgets.
  const budgets = BUDGET_SCALES.map((k) => k * settings.maxDrop);
  // With the int8 gene (last), each allocation is tried with int8 on too: the predictor cannot price it.
  const int8Gene = predictor.kind === 'channels' && settings.staticInt8;
  const first = allocateFront(layers, budgets)
    .flatMap((a, i) => {
      const origin = `allocation at ${budgets[i]!.toFixed(2)} predicted points`;
      return int8Gene ? [[a.picks, origin], [[...a.picks.slice(0, -1), 1], `${origin}, int8`]] as const : [[a.picks, origin]] as const;
    })
    .map(([picks, origin]) => propose([...picks], origin)).filter((c): c is Candidate => !!c);
  // Uniform channel ratios too: the predictor prices each group alone without fine-tuning, which keeps it off the
  // residual groups of a ResNet, while cutting every group alike and fine-tuning is known to hold (docs/pruning.md).
  if (predictor.kind === 'channels') {
    const groups = predictor.channels.ratios.length;
    for (let j = 1; j < (predictor.channels.ratios[0]?.length ?? 0); j++) {
      const uniform = Array.from({ length: groups }, () => j);
      const origin = `uniform ratio ${predictor.channels.ratios[0]![j]}`;
      for (const picks of int8Gene ? [[...uniform, 0], [...uniform, 1]] : [uniform]) {
        const c = propose(picks, `${origin}${picks.length > groups && picks[groups] ? ', int8' : ''}`);
        if (c) first.push(c);
      }
    }
  }
  await measure(first.slice(0, settings.trials));

  // 2. Evolution: parents by tournament on the measured cost, infeasible ones penalised by how far they miss.
  const fitness = (c: Candidate) => {
    const r = c.result!;
    const cost = costOf(r, settings.objective);
    const miss = Math.max(0, 100 * (baselineAccuracy - r.accuracy) - settings.maxDrop);
    return cost * (1 + 2 * miss);
  };
  const tournament = (pool: Candidate[]) => {
    const a = pool[Math.floor(random() * pool.length)]!, b = pool[Math.floor(random() * pool.length)]!;
    return fitness(a) <= fitness(b) ? a : b;
  };
  let stale = 0;
  while (candidates.filter((c) => c.result).length < settings.trials && !outOfTime() && stale < 50) {
    const pool = candidates.filter((c) => c.result && !c.result.error);
    if (!pool.length) break;
    const children: Candidate[] = [];
    for (let k = 0; k < Math.max(1, runner.parallelism) && candidates.filter((c) => c.result).length + children.length < settings.trials; k++) {
      const a = tournament(pool);
      const picks = random() < 0.3 && pool.length > 1 ? mutate(crossover(a.picks, tournament(pool).picks, random), layers, random, { maxStep: 1 }) : mutate(a.picks, layers, random, { maxStep: 2 });
      const c = propose(picks, `mutation of ${a.trial.id}`);
      if (c) children.push(c);
    }
    if (!children.length) { stale++; continue; }
    stale = 0;
    await measure(children);
  }

  const measured = candidates.filter((c) => c.result && !c.result.error).map((c) => c.result!);
  const front = paretoFront(measured, (r) => costOf(r, settings.objective), (r) => r.accuracy);

  // 3. Final runs on the measured front (sorted by cost; accuracy rises with cost along it). Short trials overstate
  // what the full recipe loses, so the front up to the cheapest point whose trial stays within the budget (plus the
  // slack), a safe choice, is bisected for the cheapest point whose full recipe holds on the test data. The chosen
  // model is the cheapest final within the budget.
  const finals: TrialResult[] = [];
  const slack = settings.trialSlack ?? 0;
  const byId = new Map(candidates.map((c) => [c.trial.id, c]));
  const frontCandidates = front.map((r) => byId.get(r.id)!);
  const dropOf = (c: Candidate) => 100 * (baselineAccuracy - c.result!.accuracy);
  const withinTrial = frontCandidates.findIndex((c) => dropOf(c) <= settings.maxDrop + slack);
  const runFinal = async (c: Candidate): Promise<TrialResult> => {
    const recipe = recipeOf(predictor, c.picks, settings, true);
    const trial = { id: trialId(recipe), recipe, origin: `final of ${c.trial.id}` };
    const known = log.known.get(`final:${trial.id}`);
    const r = known ?? await finalRunner.run(trial);
    if (!known) log.record('final', r);
    hooks.onResult?.(r, 'final');
    finals.push(r);
    return r;
  };
  const holds = (r: TrialResult) => !r.error && 100 * (hooks.testBaseline - r.accuracy) <= settings.maxDrop;
  let chosen: TrialResult | undefined;
  // Bisect [cheapest, safe]; the last run, while nothing has held, goes to the most accurate point left.
  let lo = 0;
  let hi = withinTrial >= 0 ? withinTrial : frontCandidates.length - 1;
  for (let runs = settings.finalRuns ?? 3; runs > 0 && lo <= hi; runs--) {
    const at = runs === 1 && !chosen ? hi : Math.floor((lo + hi) / 2);
    const r = await runFinal(frontCandidates[at]!);
    if (holds(r)) {
      if (!chosen || costOf(r, settings.objective) < costOf(chosen, settings.objective)) chosen = r;
      hi = at - 1;
    } else {
      lo = at + 1;
      // Even the safe point failed: go on up the front, toward the more accurate points.
      if (lo > hi && !chosen) hi = frontCandidates.length - 1;
    }
  }
  return { baselineAccuracy, candidates, front, finals, chosen, testBaseline: hooks.testBaseline };
}
