// Runs the built nnzip CLI from a benchmark as a user would (`--json` appended), so a benchmark's figures are those of
// the documented commands; optionally reuses the report a previous run left beside the command's output file.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = resolve(dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

/** The command's JSON report, with `benchSeconds` (its wall time) added. */
export function nnzip(args: string[]): Record<string, unknown> {
  const started = performance.now();
  // Benchmarks own their output folders: a rerun replaces what the last one wrote.
  const force = args.includes('-o') || args.includes('--output') ? ['--force'] : [];
  const r = spawnSync(process.execPath, [cli, ...args, ...force, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`nnzip ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const report = JSON.parse(r.stdout) as Record<string, unknown>;
  report.benchSeconds = (performance.now() - started) / 1000;
  return report;
}

/** Runs the command, or with `reuse` returns the report it wrote last time (its output file must still exist). */
export function nnzipCached(args: string[], output: string, reuse: boolean): Record<string, unknown> {
  const cache = `${output}.json`;
  if (reuse && existsSync(cache) && existsSync(output)) return JSON.parse(readFileSync(cache, 'utf8')) as Record<string, unknown>;
  const report = nnzip(args);
  writeFileSync(cache, JSON.stringify(report));
  return report;
}
