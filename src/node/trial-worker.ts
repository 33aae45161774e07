// The worker-thread entry of createWorkerRunner (trial-workers.ts): builds the trial context from the setup and the
// shared samples, says 'ready' (or why it cannot), then answers each trial with its result, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { TrialContext, runTrial } from '../compress/auto/trial.js';
import { FromTrialWorker, ToTrialWorker, TrialWorkerData, datasetOfShared, trialContextFrom } from './trial-workers.js';

const port = parentPort;
if (!port) throw new Error('trial-worker.js runs as a worker thread of createWorkerRunner');
const send = (m: FromTrialWorker) => port.postMessage(m);

const { setup, samples } = workerData as TrialWorkerData;
let context: TrialContext | undefined;
try {
  context = trialContextFrom(setup, { train: datasetOfShared(samples) });
} catch (e) {
  send({ kind: 'setup-failed', error: e instanceof Error ? e.message : String(e) });
}

// The listener also keeps a worker whose setup failed alive until the main thread, told why, terminates it.
let last: Promise<void> = Promise.resolve();
port.on('message', (m: ToTrialWorker) => {
  const ctx = context;
  if (m.kind !== 'trial' || !ctx) return;
  // The main thread sends one trial at a time; chaining keeps the order even if it ever sends more.
  last = last.then(async () => send({ kind: 'result', result: await runTrial(m.trial, ctx) }));
});
if (context) send({ kind: 'ready' });
