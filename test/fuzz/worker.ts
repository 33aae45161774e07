// The worker thread of runInWorker (harness.ts): runs one target's campaign and posts its result; started with
// --fuzz-child, the child process of runInChild, which runs the worker and reports its own peak RSS. Loaded as a plain
// module (the test runner may import it), it does nothing.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type CampaignOptions, type WorkerOptions, runInWorker, runTarget } from './harness.js';

interface FuzzWorkerData {
  targetName: string;
  options: CampaignOptions;
  shared: SharedArrayBuffer;
}

if (!isMainThread && parentPort && (workerData as FuzzWorkerData | undefined)?.targetName) {
  const { targetName, options, shared } = workerData as FuzzWorkerData;
  // Libraries' warnings (the yaml parser's about unknown tags) would print once per mutated input.
  process.removeAllListeners('warning');
  try {
    const result = runTarget(targetName, options, { counters: new Int32Array(shared, 0, 2), input: new Uint8Array(shared, 8) });
    parentPort.postMessage({ result });
  } catch (e) {
    parentPort.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

if (isMainThread && process.argv.includes('--fuzz-child') && process.send) {
  process.once('message', (m: { targetName: string; options: CampaignOptions; workerOptions: WorkerOptions }) => {
    runInWorker(m.targetName, m.options, m.workerOptions).then(
      (result) => process.send!({ result: { ...result, peakRss: process.resourceUsage().maxRSS * 1024 } }),
      (e: unknown) => process.send!({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
}
