#!/usr/bin/env node
// The nnzip command line: one file per command, each a thin layer over the library.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { benchCommand } from './bench.js';
import { reportError } from './common.js';
import { inspectCommand } from './inspect.js';
import { runCommand } from './run.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { pruneCommand } from './prune.js';
import { compressCommand } from './compress.js';
import { quantizeCommand } from './quantize.js';
import { sensitivityCommand } from './sensitivity.js';
import { lowrankCommand } from './lowrank.js';
import { packCommand } from './pack.js';
import { unpackCommand } from './unpack.js';
import { hashCommand } from './hash.js';
import { clusterCommand } from './cluster.js';
import { distillCommand } from './distill.js';
import { optimizeCommand } from './optimize.js';
import { demoCommand } from './demo.js';
import { autoCommand } from './auto.js';
import { reportCommand } from './report.js';
import { installInterruptHandling } from '../node/interrupt.js';
import { guardOutputs } from './output-guard.js';

// commander's own errors (unknown option, bad value) in the same one-line form as nnzip's.
const oneLineErrors = { outputError: (str: string, write: (s: string) => void) => write(`nnzip: ${str.replace(/^error: /, '').trim()} (see --help)\n`) };

// `nnzip inspect big.onnx | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('nnzip')
  .description('make neural networks smaller and faster: ONNX in, ONNX out, onnxruntime as the engine')
  .version(pkg.version)
  .configureOutput(oneLineErrors);

for (const cmd of [demoCommand(), inspectCommand(), runCommand(), benchCommand(), trainCommand(), evalCommand(), pruneCommand(), sensitivityCommand(), quantizeCommand(), compressCommand(), lowrankCommand(), packCommand(), unpackCommand(), clusterCommand(), hashCommand(), distillCommand(), optimizeCommand(), reportCommand(), autoCommand()]) program.addCommand(cmd.configureOutput(oneLineErrors));

guardOutputs(program);
installInterruptHandling();
program.parseAsync(process.argv).catch((e: unknown) => {
  reportError(e, process.argv.includes('--debug'));
  process.exitCode = 1;
});
