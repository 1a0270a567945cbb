/**
 * The command-line entry: registers one module per command with commander and maps errors to exit codes.
 * Nothing here knows what a command does; each module in ./commands/ parses its options and calls the library.
 */
import { Command, CommanderError } from 'commander';
import { isSmigError } from '../errors.js';
import type { CliIO } from './io.js';
import { COMMANDS } from './commands/index.js';

export type { CliIO } from './io.js';

/** Runs smig with `argv` (without node and script), returning the exit status instead of exiting. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let status = 0;
  const program = new Command('smig')
    .description('stealth migration: move a workload so that no link gives it away, and measure that it did')
    .version(await packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    });
  for (const spec of COMMANDS) {
    const cmd = program.command(spec.name).description(spec.summary).exitOverride();
    cmd.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
    spec.configure(cmd);
    if (spec.examples.length > 0) {
      cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
    }
    if (spec.run) {
      const run = spec.run;
      cmd.action(async (...args: unknown[]) => {
        // commander passes (...positionals, options, command)
        const command = args.at(-1) as Command;
        status = await run(command.args, command.opts(), io, command);
      });
    }
  }
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (err) {
    return reportError(err, argv, io);
  }
}

function reportError(err: unknown, argv: string[], io: CliIO): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; everything else commander reports is bad usage (it already printed the message)
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return 2;
  }
  const cmd = argv.find((a) => !a.startsWith('-'));
  const prefix = cmd ? `smig ${cmd}` : 'smig';
  if (isSmigError(err)) {
    io.stderr.write(`${prefix}: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`${prefix}: internal error: ${message}\n`);
  if (process.env.SMIG_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return 1;
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
