// Ctrl-C and SIGTERM. Without a handler Node dies at once, possibly in the middle of writing a file; with this one a
// signal lands between two steps of the event loop, after any synchronous write has finished. A command with work
// worth keeping (training, search) registers a handler that stops it cleanly and saves a checkpoint; otherwise the
// process exits with code 130 and nothing half-written. A second signal exits at once.
const handlers: ((signal: NodeJS.Signals) => void)[] = [];
let installed = false;
let signalled = false;

function onSignal(signal: NodeJS.Signals): void {
  const handler = handlers[handlers.length - 1];
  if (signalled || !handler) {
    if (!signalled) process.stderr.write('nnzip: interrupted; nothing was written\n');
    process.exit(130);
  }
  signalled = true;
  handler(signal);
}

/** Catches SIGINT and SIGTERM for the whole process (the CLI calls this once). */
export function installInterruptHandling(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Makes `handler` answer the next signal instead of exiting; returns the function that removes it again. */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  installInterruptHandling();
  handlers.push(handler);
  return () => {
    const i = handlers.lastIndexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
  };
}
