// Existing files are not replaced by accident: a command whose -o/--output names a file that exists stops before it
// starts working, unless --force is given; an output that is the command's input model is refused even then.
import { Command, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NnzipError } from '../core/errors.js';

function hasOutputOption(cmd: Command): boolean {
  return cmd.options.some((o) => o.long === '--output');
}

/** Adds --force to every command with an --output option, and checks outputs before each such command runs. */
export function guardOutputs(program: Command): void {
  for (const cmd of program.commands) {
    if (hasOutputOption(cmd)) cmd.addOption(new Option('--force', 'replace the output if it exists (never the input model)'));
  }
  program.hook('preAction', (_program, command) => {
    if (!hasOutputOption(command)) return;
    const opts = command.opts<{ output?: string; force?: boolean }>();
    if (!opts.output) return;
    const output = resolve(opts.output);
    // Any other argument naming the same file is an input (the model, --init, --teacher, --resume, ...).
    const values = [...command.processedArgs, ...Object.entries(command.opts()).filter(([k]) => k !== 'output').map(([, v]) => v)];
    const inputs = values.flat().filter((v): v is string => typeof v === 'string');
    if (inputs.some((v) => resolve(v) === output)) {
      throw new NnzipError(`${opts.output}: output would overwrite the input model; choose another output path`);
    }
    // Folders are outputs of their own kind (a report directory, a model repository): their files are managed inside.
    if (existsSync(output) && !statSync(output).isDirectory() && !opts.force) {
      throw new NnzipError(`${opts.output}: already exists; pass --force to replace it`);
    }
  });
}
